"""`make promote` / `make rollback STACK=<stack>`: move the stack's stage, then roll it out.

    python -m ml.release.promote promote --stack prod [--version V] [--override "reason"]
    python -m ml.release.promote rollback --stack prod [--override "reason"]
    (both take [--allow-unsigned "reason"])

The stack's stage is `staging` for dev and `production` for prod (ml/release/aliases.py), in the
stack's own registry (its artifacts bucket, the only one its deploy role reads). `promote` takes
the version `candidate` names (what the last deploy published to this stack: for prod, only after
dev's rollout of it succeeded and a reviewer approved) or the one given; `rollback` the version
the stage named before, with no retraining and no rebuild: the published bento and the image that
ran then. A second rollback returns to where the first left, as `kubectl rollout undo` does.

Both go the way deploy.yml's rollouts go (rollout.yml), minus publishing, building and signing:
the image's signature check (ml/release/signature.py: its digest signed by rollout.yml on main,
the bundle in the stack's registry; refused before anything moves, unless `--allow-unsigned
REASON`, recorded in the job summary, e.g. for an image from before signing), the budget gate
(`make rollout-check`), the alias move, `pulumi up` of the model service with that image and
bento (`make up IMAGE=... BENTO=...`, which waits for the Argo Rollouts canary) and the rollout
record (`make rollout-record`), whose key the alias names. The move comes before the rollout, as
the one conditional write that decides between two concurrent releases: the loser stops before it
touches the cluster. A rollout that fails moves the alias back to what it named (the canary's
abort left the old version serving); the history keeps both moves.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import ShipError, artifacts_bucket, write_summary
from ml.core.cli import emit
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from ml.release import budget_gate
from ml.release.aliases import (
    CANDIDATE,
    AliasState,
    image_of,
    move_alias,
    new_record,
    read_alias,
    read_history,
    required_stack_alias,
    restored,
)
from ml.release.aliases import to_markdown as alias_markdown
from ml.release.image import REPOSITORY_ENV, Repository, ecr_client, pushed_digest
from ml.release.publish import RegistryEntry, read_entry
from ml.release.rollout_record import (
    estimated_cost,
    record_key,
    registry_record,
    write_record,
)
from ml.release.rollout_record import to_markdown as record_markdown
from ml.release.signature import SignatureError, SignerPolicy, check_image
from ml.release.signature import reason as signature_reason

# (stack, override reason or None) -> exit status, 0 to go ahead.
Gate = Callable[[str, str | None], int]
# (stack, image by digest, bento tag): ship them; raises RolloutError when the rollout fails.
Rollout = Callable[[str, str, str], None]
Cost = Callable[[str], Mapping[str, Any]]


class RolloutError(RuntimeError):
    """The rollout itself failed (the canary aborted, `pulumi up` failed)."""


class RefusedError(RuntimeError):
    """The budget gate or the signature check refused the rollout; nothing moved."""


def budget_check(stack: str, override: str | None) -> int:
    """`make rollout-check`: the same module, the same log lines and job summary."""
    return budget_gate.main(["--stack", stack, *(["--override", override] if override else [])])


def pulumi_up(stack: str, image: str, bento: str, allow_unsigned: str | None = None) -> None:
    """`make up IMAGE=... BENTO=...`: `pulumi up` of the model service, waiting for the canary
    (it checks the image's signature again, as any `make up` does)."""
    module = ["ml.ci.stack", "up", "--stack", stack, "--image", image, "--bento", bento]
    module += ["--allow-unsigned", allow_unsigned] if allow_unsigned else []
    print(f"$ python -m {' '.join(module)}", flush=True)
    status = subprocess.run([sys.executable, "-m", *module], cwd=REPO_ROOT, check=False)
    if status.returncode:
        raise RolloutError(f"`make up` of {bento} on {stack} failed ({status.returncode})")


@dataclass(frozen=True)
class Steps:
    """The rollout's steps, in the order deploy.yml runs them; tests put the offline plan in
    place of `pulumi up`, and another signer (None: this repository's rollout.yml on main)."""

    gate: Gate = budget_check
    rollout: Rollout = pulumi_up
    cost: Cost = estimated_cost
    signer: SignerPolicy | None = None


@dataclass(frozen=True)
class Release:
    """One release to a stack's stage: where, and the alias as this process read it."""

    bucket: str
    stack: str
    state: AliasState
    override: str | None
    s3: Any
    allow_unsigned: str | None = None


def image_by_commit(commit: str) -> str | None:
    """The image `make image` pushed for a commit (its tag) in the stack's ECR repository."""
    url = os.environ.get(REPOSITORY_ENV, "")
    if not url:
        return None
    repository = Repository.parse(url)
    digest = pushed_digest(ecr_client(repository), repository, commit)
    return f"{repository.url}@{digest}" if digest else None


def shipped_image(release: Release, version: str) -> str:
    """The image of a published version: the one a move of the stage or of `candidate` recorded,
    else the one `make image` pushed from the commit that published it (its tag in ECR)."""
    bucket, model, s3 = release.bucket, release.state.model, release.s3
    stage = read_history(bucket, model, release.state.alias, s3)
    candidates = read_history(bucket, model, CANDIDATE, s3)
    found = image_of(stage, version) or image_of(candidates, version)
    if not found:
        commits = [r.commit for r in reversed(candidates) if r.version == version and r.commit]
        found = next(filter(None, map(image_by_commit, dict.fromkeys(commits))), None)
    if not found:
        ecr = "ECR" if os.environ.get(REPOSITORY_ENV) else f"ECR (set {REPOSITORY_ENV})"
        raise ShipError(
            f"no image of {model}:{version} is recorded in s3://{bucket} or found in {ecr}; "
            f"`make image BENTO={model}:{version}` at the commit that published it pushes one"
        )
    return found


def promote_target(release: Release, version: str | None) -> str:
    """The version `promote` ships: the one given, else what `candidate` names."""
    if version:
        return version
    candidate = read_alias(release.bucket, release.state.model, CANDIDATE, release.s3)
    if candidate.record is None:
        raise ShipError(
            f"{CANDIDATE} of {release.state.model} is not set in s3://{release.bucket}: "
            "`make publish` moves it; or name a published version (VERSION=...)"
        )
    return candidate.record.version


def rollback_target(release: Release) -> str:
    """The version `rollback` ships: the one the stage named before."""
    state = release.state
    if state.record is None:
        raise ShipError(
            f"{state.alias} of {state.model} in s3://{release.bucket} was never moved: "
            "there is nothing to roll back"
        )
    if not state.record.previous:
        raise ShipError(
            f"{state.alias} of {state.model} in s3://{release.bucket} has no previous version: "
            f"it names {state.record.version}, its first; nothing to roll back to"
        )
    return state.record.previous


def check_signature(release: Release, image: str, signer: SignerPolicy | None) -> str:
    """The image's signature, before the gate and the move: its markdown line."""
    try:
        return check_image(image, release.bucket, release.allow_unsigned, signer, s3=release.s3)
    except SignatureError as error:
        raise RefusedError(f"{error}; nothing moved") from None


def ship(release: Release, entry: RegistryEntry, image: str, reason: str, steps: Steps) -> str:
    """Verify, gate, move, roll out, record; returns the markdown of what happened."""
    stack, state = release.stack, release.state
    signed = check_signature(release, image, steps.signer)
    status = steps.gate(stack, release.override)
    if status:
        raise RefusedError(f"the budget gate stopped the rollout to {stack}: nothing moved")
    cost = steps.cost(stack)
    at = datetime.now(UTC)
    key = record_key(stack, at, entry.version)
    record = new_record(state, entry.bento_tag, image=image, reason=reason, rollout_record=key)
    moved = move_alias(release.bucket, state, record, release.s3)
    print(f"release: {state.alias} -> {entry.version} ({image}); rolling out", flush=True)
    try:
        steps.rollout(stack, image, entry.bento_tag)
    except (RolloutError, ShipError, OSError, subprocess.SubprocessError) as error:
        raise RolloutError(f"{error}; {move_back(release, moved, entry.version)}") from None
    rollout = registry_record(stack, entry, image, cost, at, reason)
    try:
        uri = write_record(rollout, release.bucket, key, release.s3)
    except (ClientError, BotoCoreError) as error:
        message = f"{entry.bento_tag} is rolled out, but writing its record {key} failed: {error}"
        raise ShipError(message) from None
    return f"{alias_markdown(record)}\n{record_markdown(rollout)}\nRecord: `{uri}`\n\n{signed}\n"


def move_back(release: Release, moved: AliasState, version: str) -> str:
    """After a failed rollout: the alias back to what it named; the sentence that says so."""
    before = release.state.record
    if before is None:
        return (
            f"{release.state.alias} stays on {version}: it named nothing before, and a first "
            "Rollout revision has no older one to go back to"
        )
    back = restored(before, f"rollout of {version} to {release.stack} failed")
    try:
        move_alias(release.bucket, moved, back, release.s3)
    except ShipError as error:
        return f"moving {release.state.alias} back to {before.version} failed: {error}"
    return f"{release.state.alias} moved back to {before.version}"


def run(
    action: str,
    stack: str,
    *,
    bucket: str,
    model: str,
    version: str | None = None,
    override: str | None = None,
    allow_unsigned: str | None = None,
    steps: Steps | None = None,
    s3: Any = None,
) -> str:
    """`promote` or `rollback` the stack; the markdown of what happened."""
    state = read_alias(bucket, model, required_stack_alias(stack), s3)
    release = Release(bucket, stack, state, override, s3 or boto3.client("s3"), allow_unsigned)
    steps = steps or Steps()
    if allow_unsigned and steps.rollout is pulumi_up:
        # `make up` checks again: it ships the image only with the same reason.
        steps = replace(steps, rollout=partial(pulumi_up, allow_unsigned=allow_unsigned))
    if action == "rollback":
        target = rollback_target(release)
        reason = f"rollback from {state.version}"
    else:
        target = promote_target(release, version)
        reason = f"promotion of {target}" + ("" if version else f" ({CANDIDATE})")
    entry = read_entry(bucket, f"{model}:{target}", release.s3)
    image = shipped_image(release, target)
    return ship(release, entry, image, reason, steps)


def main(argv: Sequence[str] | None = None, steps: Steps | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=("promote", "rollback"))
    parser.add_argument("--stack", required=True)
    parser.add_argument("--version", help="promote: this published version (default: candidate)")
    parser.add_argument("--model", help="model name (default: params.yaml package.model_name)")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument("--override", metavar="REASON", help="past a spent budget, for this reason")
    parser.add_argument(
        "--allow-unsigned", metavar="REASON", type=signature_reason, help="ship an unsigned image"
    )
    options = parser.parse_args(argv)
    if options.version and options.action == "rollback":
        parser.error("rollback goes to the previous version; promote takes --version")
    if options.override is not None and not options.override.strip():
        print(f"{options.action}: an override needs a reason (REASON=...)", file=sys.stderr)
        return 2
    try:
        markdown = run(
            options.action,
            options.stack,
            bucket=artifacts_bucket(options.bucket),
            model=options.model or load_params().package.model_name,
            version=options.version,
            override=options.override,
            allow_unsigned=options.allow_unsigned,
            steps=steps,
        )
    except (RefusedError, RolloutError) as error:
        print(f"{options.action}: {error}", file=sys.stderr)
        write_summary(f"### {options.action.capitalize()} of {options.stack} failed\n\n{error}")
        return 1
    except (ShipError, ClientError, BotoCoreError) as error:
        print(f"{options.action}: {error}", file=sys.stderr)
        return 2
    emit(markdown)
    write_summary(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
