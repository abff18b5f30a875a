"""The estimate as text for a terminal and as markdown for a pull-request comment."""

from __future__ import annotations

from typing import Any

from infra.tools.cost.money import SCENARIOS


def _money(amount: float, signed: bool = False) -> str:
    text = f"${abs(amount):,.2f}"
    if signed:
        return ("+" if amount >= 0 else "-") + text
    return text


def render_text(report: dict[str, Any]) -> str:
    lines = [
        f"Monthly cost of stack {report['stack'] or '?'} "
        f"({report['hours_per_month']:g} h, prices as of {report['prices_as_of']})",
        f"  idle    {_money(report['idle_monthly_usd']):>12}   every node pool at its minimum",
        f"  typical {_money(report['typical_monthly_usd']):>12}   desired sizes",
        f"  max     {_money(report['max_monthly_usd']):>12}   GPU pools at their maximum (limits)",
        "",
        f"{'idle':>10} {'typical':>10} {'max':>10}  resource",
    ]
    for resource in report["by_resource"]:
        lines.append(
            f"{_money(resource['idle']):>10} {_money(resource['typical']):>10} "
            f"{_money(resource['max']):>10}  {resource['type'].rsplit(':', 1)[-1]} "
            f"{resource['name']}"
        )
        for item in resource["items"]:
            mark = " (usage assumed)" if item["usage_based"] else ""
            lines.append(f"{'':>33}    {item['description']}{mark}")
    if report.get("not_modelled"):
        lines += ["", f"Not modelled, counted as $0: {', '.join(report['not_modelled'])}"]
    lines += ["", "By cost tag (typical):"]
    for key, values in report["by_tag"].items():
        shares = ", ".join(f"{value} {_money(cost['typical'])}" for value, cost in values.items())
        lines.append(f"  {key}: {shares}")
    if "delta" in report:
        lines += ["", _diff_text(report)]
    return "\n".join(lines)


def _diff_text(report: dict[str, Any]) -> str:
    delta, base = report["delta"], report["base"]
    lines = ["Against the base plan:"]
    for scenario in SCENARIOS:
        key = f"{scenario}_monthly_usd"
        lines.append(
            f"  {scenario:<8}{_money(base[key]):>12} -> {_money(report[key]):>12} "
            f"({_money(delta[key], signed=True)})"
        )
    for change in report["changes"]:
        lines.append(
            f"  {_money(change['typical'], signed=True):>12}  {change['change']:<8}"
            f"{change['type'].rsplit(':', 1)[-1]} {change['name']}"
        )
    return "\n".join(lines)


def _row(label: str, values: dict[str, Any], signed: bool = False) -> str:
    cells = " | ".join(_money(values[f"{s}_monthly_usd"], signed) for s in SCENARIOS)
    return f"| {label} | {cells} |"


def render_markdown(report: dict[str, Any]) -> str:
    """A pull-request comment: totals, and the per-resource difference when there is a base."""
    rows = [_row("this change", report)]
    if "delta" in report:
        rows = [_row("base", report["base"]), *rows, _row("difference", report["delta"], True)]
    lines = [
        f"### Monthly cost estimate: stack `{report['stack'] or '?'}`",
        "",
        "| | idle | typical | max |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Idle: every node pool at its minimum; typical: desired sizes; max: GPU pools at their "
        f"maximum (NodePools: their limits). {report['hours_per_month']:g} h/month, list prices "
        f"as of {report['prices_as_of']}; usage-priced items use the price table's assumptions.",
    ]
    if report.get("not_modelled"):
        types = ", ".join(f"`{t}`" for t in report["not_modelled"])
        lines += ["", f"Not modelled, counted as $0: {types}."]
    if report.get("changes"):
        lines += ["", "| resource | change | idle | typical | max |", "|---|---|---:|---:|---:|"]
        lines += [
            f"| `{c['type'].rsplit(':', 1)[-1]}` {c['name']} | {c['change']} | "
            + " | ".join(_money(c[s], True) for s in SCENARIOS)
            + " |"
            for c in report["changes"]
        ]
    return "\n".join(lines)
