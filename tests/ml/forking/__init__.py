"""Tests of ml/forking."""
