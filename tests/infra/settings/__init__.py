"""Tests of infra/settings."""
