"""Tests of ml/bench."""
