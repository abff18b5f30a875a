"""`python -m infra.tools.cost`: the monthly cost estimate of a stack (`make cost`), and `pod`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.tools.cost.errors import CostError
from infra.tools.cost.estimate import report
from infra.tools.cost.plan_input import Plan, load_plan, run_plan
from infra.tools.cost.prices import PRICES_ENV, PRICES_FILE, load_prices
from infra.tools.cost.render import render_markdown, render_text
from ml.core.cli import emit

DESCRIPTION = "Offline monthly cost of a stack, from its offline plan and the dated price table."
POD_COMMAND = "pod"
PRICES_COMMAND = "prices"
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": lambda r: json.dumps(r, indent=2),
    "text": render_text,
    "markdown": render_markdown,
}


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m infra.tools.cost",
        description=DESCRIPTION,
        epilog=f"`python -m infra.tools.cost {POD_COMMAND} --stack dev`: the serving pods' "
        f"hourly cost instead; `python -m infra.tools.cost {PRICES_COMMAND} --region R`: fetch "
        "R's list prices into the table (see their --help).",
    )
    result.add_argument("--stack", required=True, help="the stack to price (dev, prod, ...)")
    result.add_argument(
        "--plan", type=Path, help="a plan JSON file instead of running infra.tools.plan"
    )
    result.add_argument("--base", type=Path, help="a plan JSON file to compare against")
    result.add_argument(
        "--prices",
        type=Path,
        default=Path(os.environ.get(PRICES_ENV) or PRICES_FILE),
        help=f"the price table (default: ${PRICES_ENV} or infra/tools/cost/prices.yaml)",
    )
    result.add_argument("--region", help="the region when the plan's AWS provider names none")
    result.add_argument("--format", choices=tuple(RENDERERS), default="text")
    return result


def _report(args: argparse.Namespace) -> dict[str, Any]:
    prices = load_prices(args.prices)
    plan = load_plan(args.plan) if args.plan else run_plan(args.stack)
    if not plan.stack:
        plan = Plan(stack=args.stack, resources=plan.resources)
    base = load_plan(args.base) if args.base else None
    return report(plan, prices, base, args.region)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [POD_COMMAND]:
        # Imported here: the pod estimate reads stack files through infra.tools.plan (Pulumi's
        # runtime), which the plan estimate and the policy pack's import of this package skip.
        from infra.tools.cost import pod

        return pod.main(argv[1:])
    if argv[:1] == [PRICES_COMMAND]:
        # Imported here too: it reads the stack files and asks AWS, which the estimate never does.
        from infra.tools.cost import fetch

        return fetch.main(argv[1:])
    args = parser().parse_args(argv)
    try:
        result = _report(args)
    except CostError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    emit(RENDERERS[args.format](result))
    return 0
