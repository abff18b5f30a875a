"""`make promote` / `make rollback` end to end against moto (S3, ECR, Budgets, EC2).

Two real bentos are published by `python -m ml.release.publish` (which moves `candidate`), their
images pushed to moto's ECR under the commit tag as `make image` does, then promoted to prod and
rolled back, through the real budget gate, cost estimate and rollout record. In place of
`pulumi up`, the rollout step sets the stack settings `make up IMAGE=... BENTO=...` sets
(ml/ci/stack.py config_commands) on a copy of Pulumi.prod.yaml and runs the offline plan on it:
the plan's Rollout must run the image the registry recorded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from ml.ci.stack import config_commands
from ml.core.identity import budget_name, load_identity
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT
from ml.release import aliases, promote, rollout_record
from ml.release.promote import RolloutError, Steps
from ml.release.signature import SignerPolicy, signature_key
from tests.support.tiny_bento import bentoml_env, build_tiny_bento

PROJECT = load_identity().project
SIGSTORE_DATA = REPO_ROOT / "tests" / "data" / "sigstore"
# Whom tests/data/sigstore's bundle names: a workflow of Sigstore's conformance suite, on main.
SIGNER = SignerPolicy(
    "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
    workflow=".github/workflows/extremely-dangerous-oidc-beacon.yml",
)
MODEL = "echo"
ROLLOUT_TYPE = "kubernetes:argoproj.io/v1alpha1:Rollout"
# `python -m infra.tools.plan --stack prod --format json` on the stack files of the working folder.
PLAN_IN_CWD = (
    "import functools, sys; from pathlib import Path; from infra.tools import plan\n"
    "plan.run = functools.partial(plan.run, root=Path.cwd())\n"
    "sys.exit(plan.main(['--stack', 'prod', '--format', 'json']))\n"
)


@pytest.fixture(scope="module")
def bentos(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """Two versions of a real bento in one BentoML home."""
    home = tmp_path_factory.mktemp("bentoml-home")
    src = tmp_path_factory.mktemp("echo")
    tags = [build_tiny_bento(src, home), build_tiny_bento(src, home)]
    assert tags[0] != tags[1]
    return tags, home


class Registry:
    """The prod stack's artifacts bucket and ECR repository in moto, and its budget."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bucket = f"artifacts-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=self.bucket)
        self.ecr = boto3.client("ecr")
        name = f"{PROJECT}-prod/bentos-{uuid.uuid4().hex[:6]}"
        self.repository = self.ecr.create_repository(repositoryName=name)["repository"]
        monkeypatch.setenv("ARTIFACTS_BUCKET", self.bucket)
        monkeypatch.setenv("ECR_REPOSITORY_URL", self.repository["repositoryUri"])
        monkeypatch.setenv("GITHUB_ACTOR", "release-manager")
        self.budget(actual="12.00")

    def budget(self, actual: str) -> None:
        """The prod stack's budget (moto's server is shared: replace whatever is there)."""
        client = boto3.client("budgets", region_name="us-east-1")
        account = boto3.client("sts").get_caller_identity()["Account"]
        name = budget_name(PROJECT, "prod")
        with contextlib.suppress(ClientError):
            client.delete_budget(AccountId=account, BudgetName=name)
        spend = {"ActualSpend": {"Amount": actual, "Unit": "USD"}}
        budget = {"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY"}
        budget |= {"BudgetLimit": {"Amount": "500", "Unit": "USD"}, "CalculatedSpend": spend}
        client.create_budget(AccountId=account, Budget=budget)

    def publish(self, tag: str, home: Path) -> str:
        """`make publish` then `make image` from a deploy run at a new commit; the image."""
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        env = bentoml_env(home, GITHUB_SHA=commit, GITHUB_ACTOR="deploy-bot")
        result = subprocess.run(
            [sys.executable, "-m", "ml.release.publish", "--bento", tag],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert f"`candidate` moved to `{tag.split(':')[1]}`" in result.stdout
        pushed = self.ecr.put_image(
            repositoryName=self.repository["repositoryName"],
            imageManifest=_manifest(tag),
            imageTag=commit,
        )
        return f"{self.repository['repositoryUri']}@{pushed['image']['imageId']['imageDigest']}"

    def production(self) -> aliases.AliasRecord | None:
        return aliases.read_alias(self.bucket, MODEL, "production").record


def _manifest(tag: str) -> str:
    """An image manifest with a layer of its own per bento (moto's digest hashes the layers'),
    so each image has its own digest."""
    layer = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": "sha256:" + "b" * 64,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 1024,
                    "digest": layer,
                }
            ],
        }
    )


@pytest.fixture
def registry(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Registry:
    return Registry(monkeypatch)


class PlannedRollout:
    """The rollout step with the offline plan in place of `pulumi up`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, str, str]] = []
        self.plans: list[dict[str, Any]] = []
        (root / "Pulumi.yaml").write_text((REPO_ROOT / "Pulumi.yaml").read_text())

    def __call__(self, stack: str, image: str, bento: str) -> None:
        self.calls.append((stack, image, bento))
        stack_file = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())
        config = stack_file["config"]
        # `pulumi config set --stack <stack> --path serving.<key> <value>`, as `make up` runs it.
        for *_, path, value in config_commands(stack, image, bento):
            section, key = path.split(".")
            config[f"{PROJECT}:{section}"][key] = value
        (self.root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_file))
        result = subprocess.run(
            [sys.executable, "-c", PLAN_IN_CWD],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        self.plans.append(json.loads(result.stdout))

    def rollout(self) -> dict[str, Any]:
        (rollout,) = [r for r in self.plans[-1]["resources"] if r["type"] == ROLLOUT_TYPE]
        return rollout["inputs"]


# moto's ECR images have no Sigstore signature: the tests of the rest ship them as a platform
# engineer ships an image from before signing; the signature tests pass `unsigned=None`.
UNSIGNED = "moto's images are unsigned"


def _release(action: str, steps: Steps, *args: str, unsigned: str | None = UNSIGNED) -> int:
    allow = ["--allow-unsigned", unsigned] if unsigned else []
    argv = [action, "--stack", "prod", "--model", MODEL, *args, *allow]
    return promote.main(argv, steps=steps)


def test_rollback_restores_the_previous_production_version_end_to_end(
    registry: Registry,
    bentos: tuple[list[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (first, second), home = bentos
    planned = PlannedRollout(tmp_path)
    steps = Steps(rollout=planned)

    first_image = registry.publish(first, home)
    assert _release("promote", steps) == 0
    second_image = registry.publish(second, home)
    assert second_image != first_image
    assert _release("promote", steps) == 0
    production = registry.production()
    assert production and (production.version, production.image) == (
        second.split(":")[1],
        second_image,
    )
    assert production.previous == first.split(":")[1]
    capsys.readouterr()

    assert _release("rollback", steps) == 0

    # The alias is back on the first version, which knows what it replaced.
    production = registry.production()
    assert production
    assert (production.version, production.bento, production.image) == (
        first.split(":")[1],
        first,
        first_image,
    )
    assert (production.previous, production.reason) == (
        second.split(":")[1],
        f"rollback from {second.split(':')[1]}",
    )
    history = aliases.read_history(registry.bucket, MODEL, "production")
    assert [r.bento for r in history] == [first, second, first]
    # The rollout shipped the first image again, no rebuild: the plan's Rollout runs its digest.
    assert planned.calls == [
        ("prod", first_image, first),
        ("prod", second_image, second),
        ("prod", first_image, first),
    ]
    spec = planned.rollout()["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == first_image
    assert first_image.rpartition("@")[2] in json.dumps(planned.rollout())
    assert second_image.rpartition("@")[2] not in json.dumps(planned.plans[-1])
    # The rollback's record is the stack's newest: `make up` without a model keeps it deployed.
    record = rollout_record.latest_record(registry.bucket, "prod")
    assert record and (record["bento_tag"], record["image"]) == (first, first_image)
    assert record["reason"] == production.reason
    assert production.rollout_record and production.rollout_record.startswith("rollouts/prod/")
    assert record == json.loads(
        boto3.client("s3")
        .get_object(Bucket=registry.bucket, Key=production.rollout_record)["Body"]
        .read()
    )
    out = capsys.readouterr().out
    assert "Budget " in out and "Rollout allowed." in out
    assert "### Alias production of echo" in out and "### Rollout to prod" in out


def test_rollback_without_a_previous_version_fails_naming_the_alias(
    registry: Registry,
    bentos: tuple[list[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (first, _), home = bentos
    calls: list[tuple[str, ...]] = []
    steps = Steps(rollout=lambda *call: calls.append(call))
    assert _release("rollback", steps) == 2
    never = f"production of echo in s3://{registry.bucket} was never moved"
    assert never in capsys.readouterr().err

    registry.publish(first, home)
    assert _release("promote", steps) == 0
    capsys.readouterr()
    assert _release("rollback", steps) == 2
    err = capsys.readouterr().err
    assert f"production of echo in s3://{registry.bucket} has no previous version" in err
    assert f"it names {first.split(':')[1]}, its first" in err
    assert len(calls) == 1


def _reports(folder: Path, bento: str) -> tuple[Path, Path]:
    """The package stage's reports and dvc.lock of a checkout that built `bento`."""
    folder.mkdir()
    report = {"bento": bento, "model": f"{MODEL}:m", "labels": {}}
    (folder / "bento.json").write_text(json.dumps(report), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.97}), encoding="utf-8")
    lock = folder / "dvc.lock"
    outs = [{"path": load_params().ingest.output, "md5": "d41d8"}]
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"ingest": {"outs": outs}}}))
    return folder, lock


def test_rollback_goes_back_to_what_the_deploy_path_recorded(
    registry: Registry,
    bentos: tuple[list[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """deploy.yml's `make rollout-record` moves production with the image it shipped."""
    tags, home = bentos
    monkeypatch.setenv("GITHUB_SHA", "3f2a9c1" + "0" * 33)
    images = []
    for index, tag in enumerate(tags):
        images.append(registry.publish(tag, home))
        reports, lock = _reports(tmp_path / f"run-{index}", tag)
        args = ["--stack", "prod", "--image", images[-1], "--reports", str(reports)]
        assert rollout_record.main([*args, "--dvc-lock", str(lock)]) == 0
        production = registry.production()
        assert production and (production.bento, production.image) == (tag, images[-1])
        assert production.reason == "rolled out to prod"
        record = rollout_record.latest_record(registry.bucket, "prod")
        assert production.rollout_record and record and record["bento_tag"] == tag
        assert production.rollout_record.endswith(f"-{tag.split(':')[1]}.json")
    calls: list[tuple[str, ...]] = []

    assert _release("rollback", Steps(rollout=lambda *call: calls.append(call))) == 0

    assert calls == [("prod", images[0], tags[0])]


def _fail(stack: str, image: str, bento: str) -> None:
    raise RolloutError(f"`make up` of {bento} on {stack} failed (1)")


def test_a_failed_rollout_moves_the_alias_back(
    registry: Registry, bentos: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (first, second), home = bentos
    registry.publish(first, home)
    assert _release("promote", Steps(rollout=lambda *_: None)) == 0
    before = registry.production()
    registry.publish(second, home)

    assert _release("promote", Steps(rollout=_fail)) == 1

    err = capsys.readouterr().err
    assert f"`make up` of {second} on prod failed (1); production moved back to" in err
    after = registry.production()
    assert before and after
    assert (after.version, after.image, after.previous, after.rollout_record) == (
        before.version,
        before.image,
        before.previous,
        before.rollout_record,
    )
    assert after.reason == f"rollout of {second.split(':')[1]} to prod failed"
    moves = aliases.read_history(registry.bucket, MODEL, "production")
    assert [r.bento for r in moves] == [first, second, first]
    record = rollout_record.latest_record(registry.bucket, "prod")
    assert record and record["bento_tag"] == first


def test_a_spent_budget_refuses_before_anything_moves(
    registry: Registry, bentos: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (first, _), home = bentos
    registry.publish(first, home)
    registry.budget(actual="500.00")
    calls: list[tuple[str, ...]] = []

    assert _release("promote", Steps(rollout=lambda *a: calls.append(a))) == 1

    assert "Rollout refused" in capsys.readouterr().err
    assert (registry.production(), calls) == (None, [])


def test_only_published_versions_with_an_image_are_promoted(
    registry: Registry,
    bentos: tuple[list[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (first, _), home = bentos
    steps = Steps(rollout=lambda *_: None)
    assert _release("promote", steps) == 2
    assert "candidate of echo is not set in s3://" in capsys.readouterr().err
    assert _release("promote", steps, "--version", "nope") == 2
    assert "echo:nope is not published in s3://" in capsys.readouterr().err

    registry.publish(first, home)
    monkeypatch.delenv("ECR_REPOSITORY_URL")
    assert _release("promote", steps) == 2
    err = capsys.readouterr().err
    assert f"no image of {first} is recorded" in err and "set ECR_REPOSITORY_URL" in err
    assert registry.production() is None


def test_an_unsigned_image_is_refused_before_anything_moves(
    registry: Registry, bentos: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (first, _), home = bentos
    image = registry.publish(first, home)
    gated: list[str] = []
    calls: list[tuple[str, ...]] = []
    steps = Steps(
        gate=lambda stack, _: gated.append(stack) or 0, rollout=lambda *a: calls.append(a)
    )

    assert _release("promote", steps, unsigned=None) == 1

    err = capsys.readouterr().err
    assert f"promote: {image}: no signature in the registry (s3://{registry.bucket}/" in err
    assert err.rstrip().endswith("; nothing moved")
    assert (registry.production(), gated, calls) == (None, [], [])


def test_rollback_verifies_the_signature_of_the_image_it_ships(
    registry: Registry,
    bentos: tuple[list[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An old signed image rolls back; going back to an unsigned one is refused, nothing moves."""
    tags, home = bentos
    repository = registry.repository["repositoryUri"]
    digest = hashlib.sha256((SIGSTORE_DATA / "a.txt").read_bytes()).hexdigest()
    bundle = (SIGSTORE_DATA / "a.txt.sigstore.json").read_bytes()
    boto3.client("s3").put_object(Bucket=registry.bucket, Key=signature_key(digest), Body=bundle)
    images = [f"{repository}@sha256:{digest}", f"{repository}@sha256:" + "e" * 64]
    monkeypatch.setenv("GITHUB_SHA", "3f2a9c1" + "0" * 33)
    for index, (tag, image) in enumerate(zip(tags, images, strict=True)):
        registry.publish(tag, home)
        reports, lock = _reports(tmp_path / f"run-{index}", tag)
        args = ["--stack", "prod", "--image", image, "--reports", str(reports)]
        assert rollout_record.main([*args, "--dvc-lock", str(lock)]) == 0
    calls: list[tuple[str, ...]] = []
    # One real cost estimate for the three releases: the signature is what this test is about.
    cost = functools.cache(rollout_record.estimated_cost)
    steps = Steps(rollout=lambda *call: calls.append(call), cost=cost, signer=SIGNER)
    capsys.readouterr()

    assert _release("rollback", steps, unsigned=None) == 0

    assert calls == [("prod", images[0], tags[0])]
    assert f"Signature: `{images[0]}` verified, signed by `{SIGNER.identity}`." in (
        capsys.readouterr().out
    )
    # Back to the unsigned image: refused, production stays on the signed one.
    assert _release("rollback", steps, unsigned=None) == 1
    assert f"{images[1]}: no signature in the registry" in capsys.readouterr().err
    production = registry.production()
    assert production and production.image == images[0] and len(calls) == 1
    # A platform engineer ships it anyway, the reason in what the summary gets.
    assert _release("rollback", steps, unsigned="image from before signing") == 0
    out = capsys.readouterr().out
    assert f"**Unsigned image shipped** (image from before signing): {images[1]}: no sig" in out
    assert calls[-1] == ("prod", images[1], tags[1])


def test_the_rollout_step_is_what_make_up_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        seen.append(command)
        return subprocess.CompletedProcess(command, 3)

    recipe = subprocess.run(
        ["make", "-n", "--no-print-directory", "up", "STACK=prod", "IMAGE=x", "BENTO=y"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m ml.ci.stack up --stack" in recipe and '--image "$IMAGE" --bento "$BENTO"' in recipe
    # The escape hatch reaches each command through the environment, never pasted into shell.
    for target in ("up", "promote", "rollback"):
        make = ["make", "-n", "--no-print-directory", target, "STACK=prod", "IMAGE=x", "BENTO=y"]
        unsafe = subprocess.run(
            [*make, "ALLOW_UNSIGNED=reason"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert '--allow-unsigned "$ALLOW_UNSIGNED"' in unsafe, target
    monkeypatch.setattr(promote.subprocess, "run", fake_run)
    with pytest.raises(RolloutError, match="failed \\(3\\)"):
        promote.pulumi_up("prod", "repo@sha256:" + "a" * 64, "echo:v1")
    shipped = ["--image", "repo@sha256:" + "a" * 64, "--bento", "echo:v1"]
    assert seen == [[sys.executable, "-m", "ml.ci.stack", "up", "--stack", "prod", *shipped]]
    # `make up` checks the signature again: an unsigned image goes with the same reason.
    with pytest.raises(RolloutError):
        promote.pulumi_up("prod", "repo@sha256:" + "a" * 64, "echo:v1", "before signing")
    assert seen[-1][-2:] == ["--allow-unsigned", "before signing"]
