"""Settings fields: none has a silent default, and each says what it does."""

from __future__ import annotations

from pydantic import BaseModel

from infra.settings import StackSettings


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for candidate in (*getattr(field.annotation, "__args__", ()), field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found += _models(candidate)
    return found


def test_no_setting_has_a_silent_default() -> None:
    # Every key must be written in the stack file, so a stack file says all it deploys.
    defaults = [
        f"{model.__name__}.{name}"
        for model in _models(StackSettings)
        for name, field in model.model_fields.items()
        if not field.is_required() and model.__module__.startswith("infra.settings.")
    ]
    assert defaults == []


def test_every_setting_says_what_it_does() -> None:
    # The README's table of settings is generated from these descriptions.
    missing = [
        f"{model.__name__}.{name}"
        for model in _models(StackSettings)
        for name, field in model.model_fields.items()
        if model.__module__.startswith("infra.settings.") and not (field.description or "").strip()
    ]
    assert missing == []
    assert {m.__name__ for m in _models(StackSettings)} >= {
        "MonitoringSettings",
        "BudgetSettings",
        "ServingSettings",
        "CiSettings",
    }
