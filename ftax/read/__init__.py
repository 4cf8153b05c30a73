"""Loaded records into numbers and sentences; never measures, never writes.

Which rows a page shows, estimates and their calibrated intervals, paired ratios, the framework-
bound rule, findings, the tax model. Pure functions of loaded records.

May import: measure, store.
"""
