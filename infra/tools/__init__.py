"""Offline command lines: the plan under mocks, the cost estimate, state bootstrap, settings docs."""
