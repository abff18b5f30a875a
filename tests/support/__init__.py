"""Helpers the suites share: repository copies, plans and renders under mocks, recorders,
tiny bentos."""
