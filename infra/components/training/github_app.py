"""The GitHub App the listeners and runners authenticate with: its ids are stack settings, its
private key the Pulumi secret `githubAppPrivateKey`; together they make the Secret ARC reads.

Until all three are set the scale sets are declared all the same (a plan shows them) and the
Secret is not: nothing registers with GitHub, and `pulumi up` warns. A private key set as plain
config stops the program: the stack file would hold it in clear text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.config import is_config_secret

from infra.components.training.args import TrainingRunnersArgs
from infra.components.training.names import (
    APP_ID_KEY,
    GITHUB_APP_SECRET,
    INSTALLATION_ID_KEY,
    PRIVATE_KEY_KEY,
    README_SECTION,
)
from infra.settings import GITHUB_APP_KEY_SETTING, SettingsError


def app_private_key(setting: str) -> pulumi.Output[str] | None:
    """The App's private key (`<project>:githubAppPrivateKey`), or None while it is unset."""
    project, key = setting.split(":", 1)
    value = pulumi.Config(project).get_secret(key)
    if value is None:
        return None
    if not is_config_secret(setting):
        raise SettingsError(
            [
                f"{setting}: the GitHub App's private key is plain config, in clear text in the "
                f"stack file; generate a new key in the App's settings, `pulumi config rm {key}`, "
                f"then `pulumi config set --secret {key} < app.pem` (README: {README_SECTION})"
            ]
        )
    return value


def _missing(args: TrainingRunnersArgs, has_key: bool) -> list[str]:
    ids = [] if args.settings.github_app else ["training.githubAppId", "githubAppInstallationId"]
    return ids if has_key else [*ids, f"the secret {GITHUB_APP_KEY_SETTING}"]


def app_secret(
    name: str,
    args: TrainingRunnersArgs,
    labels: Mapping[str, str],
    *,
    parent: pulumi.Resource,
    after: Sequence[pulumi.Resource],
) -> k8s.core.v1.Secret | None:
    """The Secret `github-app` in the runners' namespace, with the keys ARC's chart documents
    for a pre-defined GitHub App secret; None (and a warning) while the App is not set up."""
    key = app_private_key(args.app_key_setting)
    app = args.settings.github_app
    if app is None or key is None:
        missing = ", ".join(_missing(args, key is not None))
        pulumi.log.warn(
            f"the GitHub App is not configured yet (not set: {missing}): the runner scale sets "
            "are declared, but no runner registers with GitHub until it is; see the README, "
            f"{README_SECTION}",
            resource=parent,
        )
        return None
    app_id, installation_id = app
    return k8s.core.v1.Secret(
        f"{name}-github-app",
        metadata={
            "name": GITHUB_APP_SECRET,
            "namespace": args.settings.namespace,
            "labels": dict(labels),
        },
        type="Opaque",
        # ARC reads the ids as strings (the chart's values say: quote them).
        string_data={
            APP_ID_KEY: str(app_id),
            INSTALLATION_ID_KEY: str(installation_id),
            PRIVATE_KEY_KEY: key,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)),
    )
