"""Tests of ml/core."""
