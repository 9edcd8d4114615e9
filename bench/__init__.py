"""StoreMesh benchmarks: `python -m bench` (or `make bench`) writes docs/benchmarks.md.

Every figure is measured next to a raw baseline (bare psycopg, bare nats-py) in the same
run, on the same servers. `BENCH_QUICK=1` runs small sizes for development. Sections live
in `bench.sections`, one module per figure, listed in `bench.sections.REGISTRY`.
"""
