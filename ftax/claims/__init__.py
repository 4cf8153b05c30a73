"""The paper's claims (a)-(g) and our (h), as verdicts per machine or per pair of machines.

Each claim's tests, the one rule that decides a machine from them, and the table of every verdict,
computed once from the visits.

May import: read, measure, store.
"""
