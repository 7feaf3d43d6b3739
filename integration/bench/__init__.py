"""Benchmarks against the rig: each script prints its figures (not timed tests)."""
