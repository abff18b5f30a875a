"""The table's columns and their physical domain: the single list the pipeline, the service and
drift detection share.

A fork that plugs in its own data source changes these names and domains (and
ml/pipeline/ingest.py) and nothing else needs to learn them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Physically possible values of each nucleus measurement (Wisconsin Diagnostic Breast Cancer
# images), lower and upper bound, both included. None is negative. The size measurements allow
# about twice the largest nucleus in the table (radius 36, perimeter 251, area 4254, grey-level
# spread 50) and a circle of radius 60 has a perimeter of 377; the shape measurements are ratios
# of at most 1 (compactness and concavity, up to 1.25 in the table, get 2). Wide enough for new
# scans and drifted traffic, tight enough to catch a sign error, a unit mix-up or a 1e308. The
# standard error ("... error") and the worst value of a measurement share its domain.
_MEASUREMENT_DOMAIN: dict[str, tuple[float, float]] = {
    "radius": (0.0, 60.0),
    "texture": (0.0, 100.0),
    "perimeter": (0.0, 400.0),
    "area": (0.0, 10_000.0),
    "smoothness": (0.0, 1.0),
    "compactness": (0.0, 2.0),
    "concavity": (0.0, 2.0),
    "concave points": (0.0, 1.0),
    "symmetry": (0.0, 1.0),
    "fractal dimension": (0.0, 1.0),
}
_FEATURE_MEASUREMENTS: dict[str, str] = {
    f"{prefix}{measurement}{suffix}": measurement
    for prefix, suffix in (("mean ", ""), ("", " error"), ("worst ", ""))
    for measurement in _MEASUREMENT_DOMAIN
}

FEATURE_NAMES: tuple[str, ...] = tuple(_FEATURE_MEASUREMENTS)
# The one declaration of each feature's (low, high) domain: the validate stage's schema
# (ml/pipeline/schema.py) checks the table against it and the service (ml/serving/service.py)
# answers 400 to a request outside it. Read-only: a caller cannot widen it for everyone else.
FEATURE_DOMAIN: Mapping[str, tuple[float, float]] = MappingProxyType(
    {name: _MEASUREMENT_DOMAIN[measurement] for name, measurement in _FEATURE_MEASUREMENTS.items()}
)
TARGET = "target"
# Index = the encoded target value, as in scikit-learn's breast-cancer table.
CLASS_NAMES: tuple[str, ...] = ("malignant", "benign")
