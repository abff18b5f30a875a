"""The project's identity and its cost-allocation label keys, read by both ml/ and infra/.

Every cloud resource (infra/helpers/tags.py), every Kubernetes workload and every bento carries the
same keys, so spend is attributable per project, team, environment and model version.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml.core.errors import dotted_key, problems
from ml.core.paths import PARAMS_FILE
from ml.core.yaml_file import load_mapping

# Cost-allocation keys shared by bentos, pods and AWS resources (exactly these spellings).
COST_LABEL_KEYS: tuple[str, ...] = ("project", "environment", "team", "cost-center")
# AWS resources also say who manages them and which repository declares them.
MANAGED_BY_KEY = "managed-by"
REPOSITORY_KEY = "repository"
COST_TAG_KEYS: tuple[str, ...] = (*COST_LABEL_KEYS, MANAGED_BY_KEY, REPOSITORY_KEY)

# Kubernetes label values: at most 63 characters, alphanumerics with - _ . inside.
_LABEL_VALUE = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE)]
# A DNS-safe name: it becomes bucket, repository, cluster and bento names.
DnsName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]


class Identity(BaseModel):
    """Who owns this project and where its spend is booked."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    project: DnsName
    team: LabelValue
    cost_center: LabelValue = Field(alias="cost-center")
    repository: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
    environment: LabelValue

    @field_validator("project")
    @classmethod
    def _no_double_dash(cls, value: str) -> str:
        if "--" in value:
            raise ValueError("must not contain '--'")
        return value

    def cost_labels(self, environment: str | None = None) -> dict[str, str]:
        """The four cost labels, optionally for another environment (a stack's)."""
        return {
            "project": self.project,
            "environment": environment or self.environment,
            "team": self.team,
            "cost-center": self.cost_center,
        }

    def cost_tags(self, environment: str | None = None) -> dict[str, str]:
        """The AWS tags: the cost labels plus who manages the resource and from which repo."""
        return {
            **self.cost_labels(environment),
            MANAGED_BY_KEY: "pulumi",
            REPOSITORY_KEY: self.repository,
        }


class IdentityError(ValueError):
    """params.yaml's identity section is missing or wrong; the message names the key."""


def parse_identity(raw: object) -> Identity:
    if not isinstance(raw, dict):
        raise IdentityError("identity: missing section in params.yaml")
    try:
        return Identity.model_validate(raw)
    except ValidationError as error:
        raise IdentityError(
            "; ".join(problems(error, lambda loc: dotted_key(loc, ("identity",))))
        ) from None


@cache
def load_identity(params_file: Path = PARAMS_FILE) -> Identity:
    """Read the identity section of params.yaml, failing with the key that is wrong (an
    IdentityError) or, when the file is no YAML mapping, with where (a ConfigFileError)."""
    return parse_identity(load_mapping(params_file).get("identity"))


def budget_name(project: str, environment: str) -> str:
    """A stack's monthly AWS Budget: infra/components/budget.py creates it,
    ml/release/budget_gate.py reads it."""
    return f"{project}-{environment}"


def slug(value: str) -> str:
    """A value made safe for a Kubernetes label or a resource name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-_.")[:63]
