"""The validation appendix: its tables, sentences and figures, and the calibration report.

May import: figures, read, measure, store.
"""
