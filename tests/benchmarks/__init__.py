"""Tests of the benchmark models (benchmarks/)."""
