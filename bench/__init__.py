"""Load and latency benchmarks that print figures (not tests).

Each public module (`bench/api.py`, ...) is one benchmark with a `main(argv) -> int`;
`python -m bench` runs them all, `python -m bench NAME [ARGS...]` one. Helper modules start
with an underscore. Results are printed and written to `bench/results/NAME.json`.
"""
