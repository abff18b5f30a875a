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
from ml.core.cli import emit
from ml.core.identity import IdentityError, load_identity
from ml.core.yaml_file import ConfigFileError

# Component -> its URN from (project, stack).
COMPONENTS: dict[str, Callable[[str, str], str]] = {"model-serving": model_serving_urn}


def urn(component: str, stack: str) -> str:
    return COMPONENTS[component](load_identity().project, stack)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("component", choices=sorted(COMPONENTS))
    parser.add_argument("--stack", required=True)
    options = parser.parse_args(argv)
    try:
        found = urn(options.component, options.stack)
    except ConfigFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except IdentityError as error:
        print(f"error: params.yaml {error}", file=sys.stderr)
        return 2
    emit(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
