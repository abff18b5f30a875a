"""GitHub Actions' way into AWS: OIDC federation, no stored keys, three narrowly scoped roles.

- `plan`: pull requests (and the configured branches) read the stack: DVC data, artifacts,
  images, stack outputs in the state bucket, the cluster's description and the budget.
- `deploy`: the model deploy (deploy.yml -> rollout.yml), from the configured branches and
  GitHub environments: push images, write DVC data and artifacts, write this stack's state, and
  `pulumi up --target` the ModelServing component. In the cluster it is a member of a group that
  the serving component binds to the objects ModelServing declares, in the deploy namespaces
  only; it can change no AWS resource of the stack.
- `infra`: the whole `pulumi up` (infra.yml), only from jobs bound to the `ci.infraEnvironments`
  GitHub environments (restrict them to the main branch, with reviewers for prod). It manages
  the stack's AWS resources, scoped to their names, tags and region, and is cluster admin.

Trust pins the audience to STS and the subject to the exact repository and refs (never a
wildcard repository); permissions name this stack's ARNs. `component` holds CiAccess,
`subjects` the trusted OIDC subjects, `policies` each role's policy, built from `statements`
(one module per AWS service).
"""

from infra.components.ci_access.component import DEPLOY_GROUP, CiAccess, CiAccessArgs
from infra.components.ci_access.subjects import (
    GITHUB_OIDC_HOST,
    GITHUB_OIDC_URL,
    deploy_subjects,
    infra_subjects,
    plan_subjects,
)

__all__ = [
    "DEPLOY_GROUP",
    "GITHUB_OIDC_HOST",
    "GITHUB_OIDC_URL",
    "CiAccess",
    "CiAccessArgs",
    "deploy_subjects",
    "infra_subjects",
    "plan_subjects",
]
