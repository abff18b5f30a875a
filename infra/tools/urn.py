"""A component's URN in a stack, computed offline (no CLI, credentials or program run).

    python -m infra.tools.urn model-serving --stack dev

prints the URN of the stack's ModelServing component, which `make up IMAGE=...` (ml/ci/stack.py)
targets to roll a model out alone (`pulumi up --target <urn> --target-dependents`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from infra.components.serving import model_serving_urn
from ml.core.identity import load_identity

# Component -> its URN from (project, stack).
COMPONENTS: dict[str, Callable[[str, str], str]] = {"model-serving": model_serving_urn}


def urn(component: str, stack: str) -> str:
    return COMPONENTS[component](load_identity().project, stack)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("component", choices=sorted(COMPONENTS))
    parser.add_argument("--stack", required=True)
    options = parser.parse_args(argv)
    print(urn(options.component, options.stack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
