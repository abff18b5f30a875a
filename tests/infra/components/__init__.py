"""Tests of infra/components, one file per component."""
