"""Tests of infra/policy."""
