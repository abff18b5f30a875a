"""Tests of ml/pipeline: one module per stage."""
