"""Tests of ml/monitoring."""
