"""Benchmarks that print figures, and the loopback upstream that tests and benchmarks share.

Run them as modules from the repository root: ``python -m bench.<name> ...``.
"""
