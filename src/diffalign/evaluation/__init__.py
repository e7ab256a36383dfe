"""Evaluation: the reference evaluator of the shapes world and per-category benchmarks."""
