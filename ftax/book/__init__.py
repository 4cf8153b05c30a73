"""The book: every study swept, every page run by papermill, the site built.

One sweep of every study, papermill runs of the notebook pages into `_build/source`, `jupyter-book
build`, and the Sphinx extension of the hosted pages. It builds what a reader sees from everything
below it; only the command line imports it.

May import: study, plan, sweep, pages, appendix, claims, figures, read, run, measure, store.
"""
