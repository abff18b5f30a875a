"""The `state` section: where Pulumi keeps the stack's state."""

from __future__ import annotations

from typing import Literal

from infra.settings.fields import Section, describe


class StateSettings(Section):
    backend: Literal["s3", "cloud"] = describe(
        "Where Pulumi keeps the state: s3 (the bucket `make bootstrap-state` creates; CI roles "
        "may read and write this stack's state) or cloud (Pulumi Cloud)."
    )
