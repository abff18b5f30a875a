"""`make stack-env`, `make preview`, `make up`: the Pulumi CLI steps of the workflows.

    python -m ml.ci.stack env --stack dev
    python -m ml.ci.stack preview --stack dev
    python -m ml.ci.stack up --stack dev [--image REF@sha256:... --bento NAME:VERSION]
        [--allow-unsigned REASON]

`env` turns the stack's outputs into the variables the shipping steps read (ARTIFACTS_BUCKET,
ECR_REPOSITORY_URL), appended to $GITHUB_ENV in GitHub Actions, printed as `export` lines
otherwise. `up --image` ships a model: it sets the stack's `serving` image, model version and
bento tag, then runs `pulumi up --target` of the ModelServing component and what depends on it
(the CI deploy role may change nothing else; `python -m infra.tools.urn` names it), which waits
for the canary to finish (infra/components/serving). Before any of that, the image's Sigstore
signature must verify (ml/release/signature.py: signed by rollout.yml on main, the bundle in the
stack's registry); `--allow-unsigned REASON` ships it anyway, with the reason in the job summary.
`up` and `preview` without an image cover the whole stack (the infra role, a platform engineer)
and keep the model that is deployed: the stack's newest rollout record
(ml/release/rollout_record.py) names it, since CI never commits the config it sets; before the
first shipped model there is none and the stack declares no service.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ml.ci import aws_credentials, capture, run
from ml.core.artifacts import (
    BUCKET_ENV,
    DRIFT_MODULE,
    FLAT_LAYOUT_DRIFT_MODULE,
    ShipError,
    split_tag,
    write_summary,
)
from ml.core.cli import emit
from ml.core.paths import REPO_ROOT
from ml.release.signature import SignatureError, check_image
from ml.release.signature import reason as signature_reason

# Stack output -> the variable the shipping steps read it from.
OUTPUT_ENV = {"artifactsBucket": BUCKET_ENV, "ecrRepositoryUrl": "ECR_REPOSITORY_URL"}
# The stack file's `serving` section (infra/settings ServingSettings), set with --path.
SERVING_KEYS = {"image": "serving.image", "model_version": "serving.modelVersion"}
SERVING_KEYS |= {"bento_tag": "serving.bentoTag", "drift_module": "serving.driftModule"}

Runner = Callable[[Sequence[str]], int]


def stack_outputs(stack: str) -> dict[str, Any]:
    """`pulumi stack output --json`; empty for a stack that was never deployed."""
    result = capture(["pulumi", "stack", "output", "--json", "--stack", stack], cwd=REPO_ROOT)
    if result.returncode:
        raise ShipError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip()}")
    return json.loads(result.stdout or "{}")


def env_lines(outputs: Mapping[str, Any]) -> list[str]:
    missing = [name for name in OUTPUT_ENV if not outputs.get(name)]
    if missing:
        raise ShipError(f"the stack has no {', '.join(missing)} output: run `make up` once")
    return [f"{env}={outputs[name]}" for name, env in OUTPUT_ENV.items()]


def config_commands(
    stack: str, image: str, bento: str, drift_module: str = DRIFT_MODULE
) -> list[list[str]]:
    """`pulumi config set` of the serving section for one shipped model; `drift_module` is the
    drift module the image holds (an image built from this checkout holds this layout's)."""
    _, version = split_tag(bento)
    values = {"image": image, "model_version": version, "bento_tag": bento}
    values |= {"drift_module": drift_module}
    return [
        ["pulumi", "config", "set", "--stack", stack, "--path", SERVING_KEYS[key], value]
        for key, value in values.items()
    ]


def preview_command(stack: str) -> list[str]:
    return ["pulumi", "preview", "--stack", stack, "--diff", "--non-interactive"]


def up_command(stack: str, target: str | None = None) -> list[str]:
    """`pulumi up`; with `target` (a URN), only that resource, its children and dependents."""
    command = ["pulumi", "up", "--stack", stack, "--yes", "--diff", "--non-interactive"]
    return [*command, "--target", target, "--target-dependents"] if target else command


def model_serving_urn(stack: str) -> str:
    """The URN of the stack's ModelServing component, from infra's offline command."""
    command = [sys.executable, "-m", "infra.tools.urn", "model-serving", "--stack", stack]
    result = capture(command, cwd=REPO_ROOT)
    urn = result.stdout.strip()
    if result.returncode or not urn.startswith("urn:pulumi:"):
        shown = f"`python {' '.join(command[1:])}`"
        raise ShipError(f"{shown} failed: {result.stderr.strip() or 'no URN printed'}")
    return urn


def model_up_command(stack: str) -> list[str]:
    """`pulumi up` of the model service alone, as the CI deploy role may run it."""
    return up_command(stack, model_serving_urn(stack))


def deployed_model(stack: str, outputs: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(image, bento tag, drift module) of the stack's newest rollout record, or None before
    the first; a record from before the packages names no module: its image has the flat one."""
    from ml.release.rollout_record import latest_record

    bucket = outputs.get("artifactsBucket")
    if not bucket:
        return None
    record = latest_record(str(bucket), stack)
    if not record:
        return None
    return (
        record["image"],
        record["bento_tag"],
        record.get("drift_module", FLAT_LAYOUT_DRIFT_MODULE),
    )


def set_deployed_config(
    stack: str, outputs: Mapping[str, Any] | None = None, runner: Runner = run
) -> bool:
    """Point the serving config at the deployed model; False when none was ever shipped."""
    try:
        found = deployed_model(stack, stack_outputs(stack) if outputs is None else outputs)
    except (ClientError, BotoCoreError) as error:
        raise ShipError(f"cannot read the rollout records of {stack}: {error}") from None
    if found is None:
        print(f"stack: no model shipped to {stack} yet; it declares no service", flush=True)
        return False
    image, bento, drift_module = found
    print(f"stack: keeping the deployed model {bento} ({image})", flush=True)
    for command in config_commands(stack, image, bento, drift_module):
        if runner(command):
            raise ShipError(f"`{' '.join(command[:4])} ...` failed")
    return True


def check_signature(stack: str, image: str, allow_unsigned: str | None = None) -> None:
    """Refuse (SignatureError) an image whose digest has no valid signature in the stack's
    registry, before any `pulumi config set` or `pulumi up`."""
    bucket = stack_outputs(stack).get("artifactsBucket")
    if not bucket:
        raise SignatureError(
            f"{image}: {stack} has no artifactsBucket output to find its signature"
        )
    line = check_image(image, str(bucket), allow_unsigned)
    print(f"stack: {line}", flush=True)
    write_summary(line)


def _write_env(lines: Sequence[str]) -> None:
    target = os.environ.get("GITHUB_ENV")
    if target:
        with Path(target).open("a", encoding="utf-8") as env:
            env.write("".join(f"{line}\n" for line in lines))
    for line in lines:
        emit(f"export {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=("env", "preview", "up"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("--image", help="ship this image (REF@sha256:...)")
    parser.add_argument("--bento", help="the bento tag the image was built from")
    parser.add_argument(
        "--allow-unsigned", metavar="REASON", type=signature_reason, help="ship an unsigned image"
    )
    options = parser.parse_args(argv)
    if bool(options.image) != bool(options.bento):
        print("stack: --image and --bento go together", file=sys.stderr)
        return 2
    if options.allow_unsigned and not (options.image and options.action == "up"):
        print("stack: --allow-unsigned goes with `up --image`", file=sys.stderr)
        return 2
    if options.action == "preview" and not aws_credentials():
        # A fork's pull request or a laptop without a profile: the offline plan covers it.
        print(f"stack: no AWS credentials, skipping pulumi preview of {options.stack}")
        return 0
    try:
        if options.action == "env":
            _write_env(env_lines(stack_outputs(options.stack)))
            return 0
        if options.image:
            if options.action == "up":
                check_signature(options.stack, options.image, options.allow_unsigned)
            for command in config_commands(options.stack, options.image, options.bento):
                if run(command):
                    return 1
        else:
            set_deployed_config(options.stack)
    except (ShipError, subprocess.SubprocessError) as error:
        print(f"stack: {error}", file=sys.stderr)
        return 2
    if options.action == "preview":
        return run(preview_command(options.stack), cwd=REPO_ROOT)
    try:
        command = model_up_command(options.stack) if options.image else up_command(options.stack)
    except ShipError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 2
    return run(command, cwd=REPO_ROOT)


if __name__ == "__main__":
    raise SystemExit(main())
