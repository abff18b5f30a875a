"""The table's contract: its CSV format and the schema the validate stage checks it against.

Each feature's range is its physical domain, `FEATURE_DOMAIN` of ml/core/features.py: declared once
there, so the service refuses exactly what this stage refuses. A fork with its own data changes it
there; the checks that come from params.yaml (row count, nulls, class balance) stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from ml.core.features import CLASS_NAMES, FEATURE_DOMAIN, TARGET
from ml.core.params import ValidateParams

# Ten significant digits hold every value of the source exactly and make the bytes reproducible.
FLOAT_FORMAT = "%.10g"


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
    """Columns and ranges from ml/core/features.py; row count, nulls and balance from params."""
    features = {
        name: pa.Column(
            float,
            checks=[pa.Check.in_range(low, high), _max_null_fraction(params.max_null_fraction)],
            nullable=True,
        )
        for name, (low, high) in FEATURE_DOMAIN.items()
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
