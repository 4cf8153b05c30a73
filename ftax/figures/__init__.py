"""The pages' figures: matplotlib, and the Vega-Lite twins a reader's browser draws.

May import: read, measure, store.
"""
