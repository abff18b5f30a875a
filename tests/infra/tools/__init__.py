"""Tests of infra/tools."""
