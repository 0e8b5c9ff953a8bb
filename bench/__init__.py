"""Benchmarks: `python -m bench [NAME] [options]` (`make bench` runs the default, `wipe`).

Each benchmark is a module bench/NAME.py with a `main(argv: list[str]) -> int` and a
one-line docstring; `python -m bench --list` shows them. Results are written under
bench/results/ as JSON and Markdown. Benchmarks are never timed assertions in tests.
"""
