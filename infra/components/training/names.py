"""The names, type token, labels and users the training runners' objects share."""

from __future__ import annotations

import hashlib

from infra.settings import Naming

TRAINING_TYPE = "mlops:training:TrainingRunners"
# The README section that says how to create the GitHub App and set its secret.
README_SECTION = "Training on the cluster's GPUs"

# The controller (and each scale set's listener pod) lives apart from the runners it starts.
CONTROLLER_NAMESPACE = "arc-systems"
CONTROLLER_RELEASE = "arc"
# Named, not derived from the release: each scale set's chart binds its manager Role to it.
CONTROLLER_SERVICE_ACCOUNT = "arc-controller"
# The service account of every runner pod, the one subject the runners' IAM role trusts.
RUNNER_SERVICE_ACCOUNT = "training-runner"
RUNNER_ROLE_PURPOSE = "training-runner"
# The Secret the listeners authenticate to GitHub with (the keys ARC's chart documents).
GITHUB_APP_SECRET = "github-app"  # noqa: S105 (the Secret's name)
APP_ID_KEY = "github_app_id"
INSTALLATION_ID_KEY = "github_app_installation_id"
PRIVATE_KEY_KEY = "github_app_private_key"

# Runner pods say what they are next to the cost labels; Karpenter never evicts them mid-job.
WORKLOAD_KEY = "workload"
TRAINING_WORKLOAD = "training"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"

# The users the images run as: distroless `nonroot` (the controller and listener image) and
# the actions-runner image's `runner` (the runner image builds on it).
CONTROLLER_UID = 65532
RUNNER_UID = 1001
RUNNER_HOME = "/home/runner"
RUNNER_WORK_DIR = f"{RUNNER_HOME}/_work"

# ARC refuses longer scale set names (they name the AutoscalingRunnerSet too).
MAX_SCALE_SET_NAME = 45
_HASH_LENGTH = 6


def scale_set_name(naming: Naming, pool: str) -> str:
    """The runner scale set of a training pool: what workflows put in `runs-on` (the repository
    variable TRAINING_RUNNER). Every stack registers its sets with the same repository, so the
    name carries the stack's prefix; a name past ARC's limit keeps a prefix and a hash of it."""
    name = f"{naming.prefix}-{pool}"
    if len(name) <= MAX_SCALE_SET_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    head = name[: MAX_SCALE_SET_NAME - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"
