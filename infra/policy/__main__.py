"""Entry point the Pulumi CLI runs for `--policy-pack infra/policy` (it serves the policies)."""

from pulumi_policy import PolicyPack

from infra.policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies())
