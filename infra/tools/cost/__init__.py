"""Offline monthly cost of a stack, from its offline plan and the dated price table.

`python -m infra.tools.cost --stack dev` runs `python -m infra.tools.plan` for the stack (or
reads `--plan`), prices what it declares three ways and breaks the totals down by resource and by
cost tag:

- idle: every node group at its minimum size (what the stack costs when nobody uses it), and
  Karpenter's GPU NodePools empty;
- typical: every node group at its desired size, the NodePools still empty (Karpenter starts
  GPU nodes only when pods ask for them);
- max: each NodePool at the most its `limits` allow (of its dearest instance type), GPU node
  groups at their maximum, the other groups as typical (a GPU burst).

Items billed by usage (S3 storage, NAT data, logs, images, queue requests) have no size in a
plan: they use the assumptions in the price table and are marked as such. Types without a rule
are listed as `not_priced`, and those pricers.py doesn't declare free also as `not_modelled`.
`--base old-plan.json` adds the difference against another plan, per resource and in total
(what a pull request changes).

`python -m infra.tools.cost pod --stack dev` prints the serving pods' hourly cost instead
(infra/tools/cost/pod.py), the figures a rollout record keeps. `python -m infra.tools.cost prices
--region R` (`make prices REGION=R`) fetches region R's list prices from AWS into the table
(infra/tools/cost/fetch.py).
"""

from infra.tools.cost.cli import main
from infra.tools.cost.errors import CostError
from infra.tools.cost.estimate import estimate, report
from infra.tools.cost.plan_input import Plan, load_plan, parse_plan
from infra.tools.cost.prices import PRICES_FILE, load_prices

__all__ = [
    "PRICES_FILE",
    "CostError",
    "Plan",
    "estimate",
    "load_plan",
    "load_prices",
    "main",
    "parse_plan",
    "report",
]
