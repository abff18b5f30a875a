"""Checking a component's Args when they are made: the constraints of their `Annotated` fields.

Args are frozen dataclasses; a field typed `Annotated[str, Field(pattern=...)]` (or any pydantic
constraint) is checked in `__post_init__` by `validate_fields`, so a wrong value stops the program
naming the field before a resource is declared.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, get_origin, get_type_hints

from pydantic import BaseModel, Field, ValidationError, create_model

from ml.core.errors import problems

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")]
Url = Annotated[str, Field(pattern=r"^https?://\S+$")]
# params.yaml `package.model_name`: it names the bento and every object made for it.
ModelName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")]
# A name AWS accepts for a budget or an SNS topic.
AwsName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


@cache
def _checks(cls: type) -> type[BaseModel]:
    """A pydantic model of the class's `Annotated` fields: their constraints are the checks."""
    hints = get_type_hints(cls, include_extras=True)
    fields: dict[str, Any] = {
        name: (hint, ...) for name, hint in hints.items() if get_origin(hint) is Annotated
    }
    return create_model(cls.__name__, **fields)


def validate_fields(args: object) -> None:
    """Raise ValueError("<Args>: field: message; ...") when an `Annotated` field of the
    dataclass `args` breaks its constraints."""
    checks = _checks(type(args))
    try:
        checks.model_validate({name: getattr(args, name) for name in checks.model_fields})
    except ValidationError as error:
        raise ValueError(f"{type(args).__name__}: {'; '.join(problems(error))}") from None
