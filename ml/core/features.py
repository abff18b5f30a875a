"""The table's columns: the single list the pipeline, the service and drift detection share.

A fork that plugs in its own data source changes these names (and ml/pipeline/ingest.py) and nothing
else needs to learn them.
"""

from __future__ import annotations

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"{prefix}{name}{suffix}"
    for prefix, suffix in (("mean ", ""), ("", " error"), ("worst ", ""))
    for name in (
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    )
)
TARGET = "target"
# Index = the encoded target value, as in scikit-learn's breast-cancer table.
CLASS_NAMES: tuple[str, ...] = ("malignant", "benign")
