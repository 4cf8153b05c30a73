"""Many configs into records, in interleaved rounds, locally or on a Ray cluster.

Grids (what to measure: a cartesian product of configs, checked before anything runs), profiles (the
stop rule and the rounds), the local sweep (resumable, failures as records) and the Ray engine.

May import: run, measure, store.
"""
