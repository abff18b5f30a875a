"""The one error of the cost estimate: an unusable plan, price table or stack file."""

from __future__ import annotations


class CostError(ValueError):
    """The plan or the price table is unusable; the message names the file and the key."""
