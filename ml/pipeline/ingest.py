"""Stage 1, ingest: bring the raw table into the repository as `params.ingest.output`.

This is the place a fork plugs in its own source (a warehouse query, files in S3, an API): replace
`load_source()` so it returns one row per example with the columns of ml/core/features.py
(`FEATURE_DOMAIN`, which names each feature with its physical domain, and `TARGET`), then adapt
the data-quality checks of ml/pipeline/schema.py. Everything downstream reads the CSV this stage
writes, never the source itself.

The template's source is scikit-learn's bundled breast-cancer table (569 rows, no network), so
the pipeline runs anywhere, offline, with the same bytes every time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml.core.features import FEATURE_NAMES, TARGET
from ml.core.params import Params, stage_params
from ml.core.paths import REPO_ROOT
from ml.pipeline.schema import write_table


def load_source() -> pd.DataFrame:
    """The raw examples, with the feature columns and the encoded target."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return frame[[*FEATURE_NAMES, TARGET]]


def raw_table_path(params: Params) -> Path:
    """Where ingest writes the raw table, for the stages that read it."""
    return REPO_ROOT / params.ingest.output


def ingest(output: Path) -> Path:
    write_table(load_source(), output)
    return output


def main() -> None:
    params = stage_params()
    ingest(raw_table_path(params))
    print(f"ingest: wrote {params.ingest.output}")


if __name__ == "__main__":
    main()
