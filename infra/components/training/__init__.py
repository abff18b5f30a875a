"""GitHub Actions runners on the cluster's training GPU pools (GitHub's Actions Runner
Controller, pinned charts gha-runner-scale-set-controller and gha-runner-scale-set).

One module per concern:

- `component`: TrainingRunners, which declares the rest in order: the controller's and the
  runners' namespaces (both "restricted" Pod Security; the runners' with containers' default
  resources and no ingress), the runners' service account, the GitHub App's Secret, the
  controller, and a scale set per `training` NodePool.
- `controller`: the controller's release, on the system pool, watching the runners' namespace.
- `scale_set`: a scale set's values: `minRunners: 0`, `maxRunners` from the pool, the listener
  on the system pool, and the runner pod (one GPU, the pool's taints tolerated, non-root,
  `karpenter.sh/do-not-disrupt`).
- `access`: the runners' IAM role (IRSA): the DVC remote read and write, the artifacts bucket
  read, the stack key through S3; nothing else.
- `github_app`: the App's ids (stack settings) and private key (a Pulumi secret) as the Secret
  the listeners authenticate with; a warning instead while the App is not configured.

A scale set's name (`scale_set_name`) is what workflows put in `runs-on`, through the
repository variable TRAINING_RUNNER.
"""

from infra.components.training.args import TrainingRunnersArgs
from infra.components.training.component import TrainingRunners
from infra.components.training.names import TRAINING_TYPE, scale_set_name

__all__ = ["TRAINING_TYPE", "TrainingRunners", "TrainingRunnersArgs", "scale_set_name"]
