"""Benchmarks of the pipeline against the notebook baseline and the read floor (``python -m benchmarks``).

See benchmarks/README.md.
"""
