"""The drift statistics: KS with Benjamini-Hochberg per feature, PSI, and the class-mix shift.

A feature counts as drifted only when both agree: the KS p-value adjusted for testing every
feature at once is below `fdr_alpha` AND its PSI reaches `psi_threshold`. The predicted-class
mix is compared by a chi-square test and its PSI.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ml.core.features import CLASS_NAMES, FEATURE_NAMES
from ml.core.params import MonitoringParams
from ml.monitoring.inputs import Sample

# Floor for an empty bin's share: keeps log(0) out of the PSI and caps one bin's contribution.
_PSI_FLOOR = 1e-4


def _psi_of_counts(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over the shares of each bin."""
    expected_shares = np.clip(expected / max(expected.sum(), 1), _PSI_FLOOR, None)
    actual_shares = np.clip(actual / max(actual.sum(), 1), _PSI_FLOOR, None)
    return float(
        np.sum((actual_shares - expected_shares) * np.log(actual_shares / expected_shares))
    )


def psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """Population Stability Index on `bins` quantile bins of the reference."""
    inner_edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))[1:-1]
    slots = len(inner_edges) + 1
    return _psi_of_counts(
        np.bincount(np.searchsorted(inner_edges, reference, "right"), minlength=slots),
        np.bincount(np.searchsorted(inner_edges, current, "right"), minlength=slots),
    )


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: MonitoringParams
) -> dict[str, dict[str, Any]]:
    names = list(settings.features or FEATURE_NAMES)
    rows = {}
    for name in names:
        ref, cur = reference[name].to_numpy(), current[name].to_numpy()
        test = stats.ks_2samp(ref, cur)
        rows[name] = {
            "psi": psi(ref, cur, settings.psi_bins),
            "ks_statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "reference_mean": float(ref.mean()),
            "current_mean": float(cur.mean()),
        }
    adjusted = stats.false_discovery_control([rows[n]["p_value"] for n in names], method="bh")
    for name, p_adjusted in zip(names, adjusted, strict=True):
        row = rows[name]
        row["p_value_adjusted"] = float(p_adjusted)
        row["drifted"] = bool(
            p_adjusted < settings.fdr_alpha and row["psi"] >= settings.psi_threshold
        )
    return rows


def class_shift(reference: Sample, current: Sample, settings: MonitoringParams) -> dict[str, Any]:
    if current.classes is None:
        return {
            "skipped": "no predicted classes for the current rows: neither logged "
            "predictions, a predicted_class column nor a model at --model"
        }
    if reference.classes is None:
        return {"skipped": "no classes for the reference: no model at --model, no target column"}
    ref_counts = reference.classes.value_counts().reindex(CLASS_NAMES, fill_value=0).to_numpy()
    cur_counts = current.classes.value_counts().reindex(CLASS_NAMES, fill_value=0).to_numpy()
    table = np.array([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]  # a class neither side saw carries no evidence
    if table.shape[1] < 2:
        chi2, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(table)
        chi2, p_value = float(result.statistic), float(result.pvalue)
    value = _psi_of_counts(ref_counts, cur_counts)
    return {
        "reference_basis": reference.classes_basis,
        "current_basis": current.classes_basis,
        "reference": dict(zip(CLASS_NAMES, (ref_counts / ref_counts.sum()).tolist(), strict=True)),
        "current": dict(zip(CLASS_NAMES, (cur_counts / cur_counts.sum()).tolist(), strict=True)),
        "psi": value,
        "chi2": chi2,
        "p_value": p_value,
        "detected": bool(p_value < settings.fdr_alpha and value >= settings.class_psi_threshold),
    }
