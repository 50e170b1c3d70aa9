"""Benchmarks of Segmentation Studio: library overhead, browser latency, load (see README.md)."""
