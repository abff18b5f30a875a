"""Benchmarks of the service against peer servers and in-process predict (`make bench`)."""
