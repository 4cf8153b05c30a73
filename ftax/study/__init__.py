"""The studies: what each page measures, and `open_study`, the one call a notebook makes.

The catalogue of grids per study and profile (data: `catalogue.yaml`), a page's parameters applied
to them, the probes stored beside the records; and the runs that are not a page's sweep: `ftax
predict`'s inputs, the validation appendix's measurements, a tiered run under a time budget.

May import: plan, sweep, run, measure, store.
"""
