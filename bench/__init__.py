"""Benchmarks (not tests): ``python -m bench`` prints a table and writes JSON.

Every figure is a median over several runs, and every comparison is a ratio of two things
measured side by side in the same run, because these machines are noisy.
"""
