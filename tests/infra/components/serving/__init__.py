"""Tests of infra/components/serving, one module per concern."""
