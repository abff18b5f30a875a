"""Turning the template into a new project (`make init`, copier); standard library only."""
