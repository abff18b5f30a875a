"""`python -m infra.tools.cost`: the monthly cost estimate of a stack (`make cost`)."""

from infra.tools.cost.cli import main

raise SystemExit(main())
