"""Monthly USD in the three scenarios (idle, typical, max) and the bill lines that carry it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SCENARIOS = ("idle", "typical", "max")


@dataclass(frozen=True)
class Cost:
    """Monthly USD in the three scenarios."""

    idle: float = 0.0
    typical: float = 0.0
    max: float = 0.0

    @classmethod
    def flat(cls, amount: float) -> Cost:
        return cls(amount, amount, amount)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.idle + other.idle, self.typical + other.typical, self.max + other.max)

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.idle - other.idle, self.typical - other.typical, self.max - other.max)

    def as_dict(self) -> dict[str, float]:
        return {s: round(getattr(self, s), 2) for s in SCENARIOS}

    def is_zero(self) -> bool:
        return all(abs(getattr(self, s)) < 0.005 for s in SCENARIOS)


def total(costs: Iterable[Cost]) -> Cost:
    result = Cost()
    for cost in costs:
        result = result + cost
    return result


@dataclass(frozen=True)
class Item:
    """One line of a resource's bill."""

    description: str
    cost: Cost
    usage_based: bool = False
