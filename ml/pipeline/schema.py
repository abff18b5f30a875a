"""The table's contract: its CSV format and the schema the validate stage checks it against.

A fork with its own data changes `COLUMN_RANGES` (and ml/core/features.py) here; the checks that
come from params.yaml (row count, nulls, class balance) stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from ml.core.features import CLASS_NAMES, FEATURE_NAMES, TARGET
from ml.core.params import ValidateParams

# Ten significant digits hold every value of the source exactly and make the bytes reproducible.
FLOAT_FORMAT = "%.10g"

# Physically possible values of each nucleus measurement (Wisconsin Diagnostic Breast Cancer
# images): wide enough for new scans, tight enough to catch a sign error or a unit mix-up. The
# standard error ("... error") and the worst value of a measurement share its range.
_MEASUREMENT_RANGES: dict[str, tuple[float, float]] = {
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


def _measurement(column: str) -> str:
    return column.removeprefix("mean ").removeprefix("worst ").removesuffix(" error")


COLUMN_RANGES: dict[str, tuple[float, float]] = {
    name: _MEASUREMENT_RANGES[_measurement(name)] for name in FEATURE_NAMES
}


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def write_table(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def _max_null_fraction(limit: float) -> pa.Check:
    # ignore_na=False: the check must see the nulls it counts.
    return pa.Check(
        lambda column: float(column.isna().mean()) <= limit,
        ignore_na=False,
        name=f"max_null_fraction({limit})",
    )


def _min_class_fraction(limit: float) -> pa.Check:
    # A class that is missing entirely counts as a share of 0.
    def balanced(target: pd.Series) -> bool:
        shares = target.value_counts(normalize=True).reindex(range(len(CLASS_NAMES)), fill_value=0)
        return float(shares.min()) >= limit

    return pa.Check(balanced, name=f"min_class_fraction({limit})")


def build_schema(params: ValidateParams) -> pa.DataFrameSchema:
    """Columns, dtypes and ranges declared here; row count, nulls and balance from params."""
    features = {
        name: pa.Column(
            float,
            checks=[pa.Check.in_range(low, high), _max_null_fraction(params.max_null_fraction)],
            nullable=True,
        )
        for name, (low, high) in COLUMN_RANGES.items()
    }
    target = pa.Column(
        int,
        checks=[
            pa.Check.isin(list(range(len(CLASS_NAMES)))),
            _min_class_fraction(params.min_class_fraction),
        ],
    )
    return pa.DataFrameSchema(
        {**features, TARGET: target},
        checks=[
            pa.Check(
                lambda table: len(table) >= params.min_rows, name=f"min_rows({params.min_rows})"
            )
        ],
        strict=True,
        name="breast_cancer",
    )
