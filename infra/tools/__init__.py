"""Offline command lines: the plan under mocks, cost estimate, state bootstrap, settings docs."""
