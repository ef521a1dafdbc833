"""Benchmarks of the Shoa API against a bare Litestar app: ``python -m bench <benchmark>``."""
