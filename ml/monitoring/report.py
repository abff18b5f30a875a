"""The drift report a person reads: verdict first, then the numbers, then the pictures.

One self-contained HTML file (no scripts, no external assets) with an inline SVG histogram per
feature, reference vs current, so it opens from a CI artifact or an S3 console as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np

_BINS = 20
_WIDTH, _HEIGHT, _AXIS = 300, 110, 16
_REFERENCE_COLOUR, _CURRENT_COLOUR = "#4c78a8", "#f58518"

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
.verdict { padding: .8rem 1.2rem; border-radius: 6px; font-size: 1.3rem; font-weight: 600; }
.drift { background: #fde2e1; border: 1px solid #d62728; }
.ok { background: #e3f4e1; border: 1px solid #2ca02c; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.drifted td { background: #fde2e1; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figcaption { font-weight: 600; }
.key { display: inline-block; width: .8em; height: .8em; margin: 0 .3em 0 1em; }
"""


def _number(value: float) -> str:
    return f"{value:.4g}"


def _histogram(reference: np.ndarray, current: np.ndarray) -> str:
    """Two overlaid histograms of row shares on common equal-width bins."""
    low = float(min(reference.min(), current.min()))
    high = float(max(reference.max(), current.max()))
    edges = np.linspace(low, high if high > low else low + 1.0, _BINS + 1)
    shares = [np.histogram(values, edges)[0] / len(values) for values in (reference, current)]
    top = max(float(max(s.max() for s in shares)), 1e-12)
    plot_height, bar_width = _HEIGHT - _AXIS, _WIDTH / _BINS
    bars = []
    for colour, series in zip((_REFERENCE_COLOUR, _CURRENT_COLOUR), shares, strict=True):
        for index, share in enumerate(series):
            height = share / top * plot_height
            bars.append(
                f'<rect x="{index * bar_width:.1f}" y="{plot_height - height:.1f}" '
                f'width="{bar_width:.1f}" height="{height:.1f}" fill="{colour}" '
                f'fill-opacity="0.55"/>'
            )
    axis = (
        f'<line x1="0" y1="{plot_height}" x2="{_WIDTH}" y2="{plot_height}" stroke="#888"/>'
        f'<text x="0" y="{_HEIGHT - 3}" font-size="10">{_number(low)}</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT - 3}" font-size="10" text-anchor="end">'
        f"{_number(high)}</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img">{"".join(bars)}{axis}</svg>'
    )


def _verdict(report: Mapping[str, Any]) -> str:
    drifted = report["drifted_features"]
    if report["drift_detected"]:
        parts = []
        if drifted:
            parts.append(
                f"{len(drifted)} of {len(report['features'])} features drifted: "
                + ", ".join(escape(name) for name in drifted)
            )
        if report["class_shift"].get("detected"):
            parts.append("the predicted-class mix shifted")
        text = "Drift detected: " + "; ".join(parts)
    else:
        text = f"No drift detected in {len(report['features'])} features"
    css = "drift" if report["drift_detected"] else "ok"
    return f'<p class="verdict {css}" id="verdict">{text}</p>'


def _summary(report: Mapping[str, Any]) -> str:
    limits = report["thresholds"]
    return (
        f"<p>{report['n_current']} current rows (<code>{escape(report['current'])}</code>) "
        f"against {report['n_reference']} reference rows "
        f"(<code>{escape(report['reference'])}</code>), {escape(report['generated_at'])}.</p>"
        "<p>A feature drifts when its two-sample Kolmogorov-Smirnov p-value, adjusted for "
        f"testing all features at once (Benjamini-Hochberg), is below {limits['fdr_alpha']} "
        f"<em>and</em> its PSI ({limits['psi_bins']} quantile bins of the reference) is at "
        f"least {limits['psi']}: significant and large enough to matter.</p>"
    )


def _class_table(shift: Mapping[str, Any]) -> str:
    if "skipped" in shift:
        return f"<h2>Predicted classes</h2><p>Skipped: {escape(shift['skipped'])}.</p>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_number(shift['reference'][name])}</td>"
        f"<td>{_number(shift['current'][name])}</td></tr>"
        for name in shift["reference"]
    )
    state = "shifted" if shift["detected"] else "stable"
    return (
        "<h2>Predicted classes</h2>"
        f"<p>The class mix is <strong>{state}</strong>: PSI {_number(shift['psi'])}, "
        f"chi-square {_number(shift['chi2'])}, p-value {_number(shift['p_value'])} "
        f"(reference: {escape(shift['reference_basis'])}; current: "
        f"{escape(shift['current_basis'])}).</p>"
        '<table id="classes"><tr><th>Class</th><th>Reference share</th><th>Current share</th>'
        f"</tr>{rows}</table>"
    )


# The per-feature statistics the features table shows, in column order after the name.
FEATURE_COLUMNS = (
    "psi",
    "ks_statistic",
    "p_value",
    "p_value_adjusted",
    "reference_mean",
    "current_mean",
)


def _feature_table(features: Mapping[str, Mapping[str, Any]]) -> str:
    order = sorted(
        features, key=lambda name: (not features[name]["drifted"], -features[name]["psi"])
    )
    head = "".join(
        f"<th>{label}</th>"
        for label in (
            "Feature",
            "PSI",
            "KS statistic",
            "p-value",
            "adjusted p-value",
            "reference mean",
            "current mean",
            "drifted",
        )
    )
    body = "".join(
        f'<tr class="{"drifted" if features[name]["drifted"] else ""}">'
        f"<td>{escape(name)}</td>"
        + "".join(f"<td>{_number(features[name][column])}</td>" for column in FEATURE_COLUMNS)
        + f"<td>{'yes' if features[name]['drifted'] else 'no'}</td></tr>"
        for name in order
    )
    return f'<h2>Features</h2><table id="features"><tr>{head}</tr>{body}</table>'


def _figures(samples: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    legend = (
        f'<p><span class="key" style="background:{_REFERENCE_COLOUR}"></span>reference'
        f'<span class="key" style="background:{_CURRENT_COLOUR}"></span>current '
        "(share of rows per bin)</p>"
    )
    figures = "".join(
        f"<figure><figcaption>{escape(name)}</figcaption>{_histogram(*pair)}</figure>"
        for name, pair in samples.items()
    )
    return f'<h2>Distributions</h2>{legend}<div class="figures">{figures}</div>'


def render(report: Mapping[str, Any], samples: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """The whole page for a drift.json `report` and each checked feature's (reference, current)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Drift report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Drift report</h1>{_verdict(report)}{_summary(report)}"
        f"{_class_table(report['class_shift'])}{_feature_table(report['features'])}"
        f"{_figures(samples)}</body></html>\n"
    )
