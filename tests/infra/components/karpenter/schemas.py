"""The upstream Karpenter CRDs and chart defaults (tests/data/crds/karpenter/), as checks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import jsonschema

from tests.infra.components.karpenter.stack import load_yaml

CRD_FILES = {
    "NodePool": "karpenter.sh_nodepools.yaml",
    "EC2NodeClass": "karpenter.k8s.aws_ec2nodeclasses.yaml",
}
# Chart values that are maps of the user's own keys (labels, annotations, resources).
FREE_FORM_VALUES = frozenset(
    {"podLabels", "additionalLabels", "serviceAccount.annotations", "nodeSelector"}
    | {"controller.resources"}
)


@cache
def crd(kind: str) -> dict[str, Any]:
    document = load_yaml(CRD_FILES[kind])
    assert document["spec"]["names"]["kind"] == kind
    return document


@cache
def crd_validator(kind: str) -> jsonschema.Draft202012Validator:
    """The v1 openAPIV3Schema of the kind's CRD (CEL rules are the API server's, not checked)."""
    (version,) = [v for v in crd(kind)["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft202012Validator(version["schema"]["openAPIV3Schema"])


def as_object(kind: str, api_version: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A custom resource's inputs as the object the API server receives."""
    return {"apiVersion": api_version, "kind": kind, **{k: v for k, v in inputs.items()}}


def _validations(node: Any) -> Iterator[dict[str, str]]:
    if isinstance(node, dict):
        yield from node.get("x-kubernetes-validations", [])
        for value in node.values():
            yield from _validations(value)
    elif isinstance(node, list):
        for value in node:
            yield from _validations(value)


def reserved_tags() -> tuple[set[str], set[str]]:
    """The EC2NodeClass tag keys the CRD refuses, exactly and by prefix, read from its rules."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for rule in _validations(crd("EC2NodeClass")):
        if found := re.fullmatch(r"self\.all\(k, k ?!= ?'([^']+)'\)", rule["rule"]):
            exact.add(found[1])
        elif found := re.fullmatch(r"self\.all\(k, !k\.startsWith\('([^']+)'\) ?\)", rule["rule"]):
            prefixes.add(found[1])
    return exact, prefixes


def unknown_values(values: Any, defaults: Any, path: str = "") -> list[str]:
    """Paths of `values` the chart's defaults do not have (or hold as another type)."""
    if path in FREE_FORM_VALUES:
        return []
    if isinstance(values, dict):
        if not isinstance(defaults, dict):
            return [path]
        return [
            problem
            for key, value in values.items()
            for problem in (
                unknown_values(value, defaults[key], f"{path}.{key}".lstrip("."))
                if key in defaults
                else [f"{path}.{key}".lstrip(".")]
            )
        ]
    if defaults is None or _numbers(values, defaults):
        return []
    return [] if isinstance(values, type(defaults)) else [path]


def _numbers(*values: Any) -> bool:
    # Protobuf carries every number as a double: 2 comes back as 2.0.
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
