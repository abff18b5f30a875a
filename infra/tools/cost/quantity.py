"""Kubernetes resource quantities (`16`, `16000m`, `64Gi`, `1e3`) as exact numbers.

The grammar is Kubernetes' own (k8s.io/apimachinery resource.Quantity): a decimal number, then
a binary suffix (Ki ... Ei), a decimal one (n u m k M G T P E) or an exponent.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from infra.tools.cost.errors import CostError

_QUANTITY = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exp>[+-]?\d+))?"
)
_BINARY = {f"{p}i": Decimal(2) ** (10 * (i + 1)) for i, p in enumerate("KMGTPE")}
_EXPONENTS = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL = {suffix: Decimal(10) ** exponent for suffix, exponent in _EXPONENTS.items()}
GIB = Decimal(2) ** 30


def quantity(value: Any) -> Decimal:
    """The number a quantity stands for: cores for `cpu`, bytes for `memory`, a count else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    match = _QUANTITY.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise CostError(f"{value!r} is not a Kubernetes quantity (like 16, 500m or 64Gi)")
    number = Decimal(match.group(1))
    if suffix := match.group("suffix"):
        return number * (_BINARY.get(suffix) or _DECIMAL[suffix])
    if exponent := match.group("exp"):
        return number.scaleb(int(exponent))
    return number


def gib(value: Any) -> float:
    """GiB in a storage size: a quantity (`50Gi`, `100G`, bytes when bare) or a number of GiB."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float(quantity(value) / GIB)
