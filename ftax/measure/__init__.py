"""Clocks and counters for callables: timing, profiling, memory, probes, the lock.

The one timed call, devices and their synchronization, the profiler's decomposition, memory and
energy, the machine's probes, the measuring lock, the validation appendix's spec and store. It knows
nothing of models or runtimes.

May import: store.
"""
