"""`make rollout-check STACK=<stack>`: the budget gate in front of every rollout.

    python -m ml.release.budget_gate --stack prod [--override "reason"]

Reads the stack's AWS Budget (ml.core.identity.budget_name, the name infra/components/budget.py
gives it) and refuses the rollout, exit status 1, once the actual spend this period has reached the
limit: more pods would only add to an overrun. `--override REASON` (`make rollout-check FORCE=1
REASON=...`) lets it through and prints the reason to the log and the job summary, so the decision
is on record. A budget that does not exist is an error (exit 2), never a pass.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import write_summary
from ml.core.identity import budget_name, load_identity

# AWS Budgets is a global service answered from us-east-1.
BUDGETS_REGION = "us-east-1"


class BudgetError(RuntimeError):
    """The budget cannot be read; the message names it and the account."""


@dataclass(frozen=True)
class BudgetStatus:
    name: str
    actual: Decimal
    limit: Decimal
    unit: str
    forecast: Decimal | None = None

    @property
    def percent(self) -> Decimal:
        return (self.actual / self.limit * 100).quantize(Decimal("0.1"))

    @property
    def exhausted(self) -> bool:
        return self.actual >= self.limit

    def figures(self) -> str:
        text = (
            f"actual {self.actual:.2f} {self.unit} of {self.limit:.2f} {self.unit} "
            f"({self.percent}%)"
        )
        if self.forecast is not None:
            text += f", forecast {self.forecast:.2f} {self.unit}"
        return text


def read_budget(name: str, account_id: str | None = None, budgets: Any = None) -> BudgetStatus:
    """The budget's limit and this period's actual (and forecast) spend."""
    account = account_id or ""
    try:
        account = account or boto3.client("sts").get_caller_identity()["Account"]
        client = budgets or boto3.client("budgets", region_name=BUDGETS_REGION)
        budget = client.describe_budget(AccountId=account, BudgetName=name)["Budget"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NotFoundException":
            raise BudgetError(
                f"budget {name!r} not found in account {account}: `pulumi up` creates it "
                "(infra/components/budget.py); without it there is nothing to gate the rollout on"
            ) from None
        raise BudgetError(f"cannot read budget {name!r}: {error}") from None
    except BotoCoreError as error:
        raise BudgetError(f"cannot reach AWS to read budget {name!r}: {error}") from None
    limit = budget["BudgetLimit"]
    spend = budget.get("CalculatedSpend", {})
    actual = spend.get("ActualSpend", {"Amount": "0", "Unit": limit["Unit"]})
    forecast = spend.get("ForecastedSpend")
    if Decimal(limit["Amount"]) <= 0:
        raise BudgetError(f"budget {name!r} has a limit of {limit['Amount']}: nothing to compare")
    return BudgetStatus(
        name=name,
        actual=Decimal(actual["Amount"]),
        limit=Decimal(limit["Amount"]),
        unit=limit["Unit"],
        forecast=Decimal(forecast["Amount"]) if forecast else None,
    )


def verdict(status: BudgetStatus, override: str | None) -> tuple[bool, str]:
    """Whether the rollout may go on, and the sentence that says why."""
    if not status.exhausted:
        return True, f"Budget {status.name}: {status.figures()}. Rollout allowed."
    if override:
        return True, (
            f"Budget {status.name} is exhausted: {status.figures()}. "
            f"Rollout allowed by override: {override}"
        )
    return False, (
        f"Budget {status.name} is exhausted: {status.figures()}. Rollout refused; "
        "rerun with FORCE=1 REASON='...' (or --override) to go ahead anyway."
    )


def main(argv: Sequence[str] | None = None) -> int:
    identity = load_identity()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default=identity.environment, help="stack (environment)")
    parser.add_argument("--budget", help="budget name (default: <project>-<stack>)")
    parser.add_argument("--override", metavar="REASON", help="go ahead anyway, for this reason")
    options = parser.parse_args(argv)
    if options.override is not None and not options.override.strip():
        print("rollout-check: an override needs a reason (REASON=...)", file=sys.stderr)
        return 2
    name = options.budget or budget_name(identity.project, options.stack)
    try:
        status = read_budget(name)
    except BudgetError as error:
        print(f"rollout-check: {error}", file=sys.stderr)
        write_summary(f"### Budget gate: error\n\n{error}")
        return 2
    allowed, message = verdict(status, options.override)
    print(message, file=sys.stdout if allowed else sys.stderr)
    write_summary(f"### Budget gate: {'passed' if allowed else 'refused'}\n\n{message}")
    return 0 if allowed else 1


if __name__ == "__main__":
    raise SystemExit(main())
