"""What a sweep will cost before it runs, and where a time budget cuts it.

Each visit priced by a cost model whose figures are fitted to stored records (or labelled defaults),
tier by tier.

May import: sweep, run, measure, store.
"""
