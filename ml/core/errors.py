"""pydantic validation errors as the one-line "key: message" problems every config file reports.

params.yaml, the stack settings and the price table all fail the same way: one line per problem,
naming the dotted key a user writes in the file (`train.model.max_iter`,
`cluster.nodePools[0].instanceFamilies`), never pydantic's internal location or its prefixes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import ValidationError

Loc = Sequence[int | str]


def dotted_key(loc: Loc, prefix: Iterable[int | str] = (), skip: Iterable[str] = ()) -> str:
    """`("cluster", "nodePools", 0, "name")` -> `cluster.nodePools[0].name`.

    `skip` drops path parts pydantic adds for tagged unions (the tag), which are no YAML key.
    """
    hidden = frozenset(skip)
    key = ""
    for part in (*prefix, *loc):
        if isinstance(part, int):
            key += f"[{part}]"
        elif part not in hidden:
            key += f".{part}" if key else str(part)
    return key


def message(item: Any) -> str:
    """pydantic's message without its "Value error, " prefix; an extra key is "unknown key"."""
    if item["type"] == "extra_forbidden":
        return "unknown key"
    return str(item["msg"]).removeprefix("Value error, ")


def problems(error: ValidationError, key: Callable[[Loc], str] = dotted_key) -> list[str]:
    """One "key: message" line per error, the key rendered by `key` from pydantic's location."""
    return [f"{key(tuple(item['loc']))}: {message(item)}" for item in error.errors()]
