"""`make runner-image`: the runner image's tag, its Dockerfile, and the build and push.

No container tool runs here: the build, login and push commands are recorded instead, and the
push puts a manifest into moto's ECR, so the "already there" check is the real API call.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.tools import runner_image
from infra.tools.runner_image import (
    CONTEXT_FILES,
    DOCKERFILE,
    Repository,
    RunnerImageError,
    push_image,
    runner_image_tag,
)
from ml.core.paths import REPO_ROOT
from tests.ml.release.test_image import MANIFEST

TAG = re.compile(r"py3\.11-[0-9a-f]{12}")


def checkout(tmp_path: Path) -> Path:
    """A copy of the files the tag depends on, to change one at a time."""
    root = tmp_path / "repo"
    for path in (DOCKERFILE, *CONTEXT_FILES):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / path, root / path)
    return root


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_tag_names_the_python_series_and_a_content_hash() -> None:
    assert TAG.fullmatch(runner_image_tag())


def test_the_tag_is_stable_for_the_same_inputs(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    assert runner_image_tag(root) == runner_image_tag(root) == runner_image_tag()
    # Files the image is not built from don't move it.
    (root / "README.md").write_text("# another readme\n", encoding="utf-8")
    (root / "infra" / "images" / "runner" / "notes.txt").write_text("x\n", encoding="utf-8")
    assert runner_image_tag(root) == runner_image_tag()


def test_crlf_line_endings_give_the_same_tag(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    constraints = root / "constraints.txt"
    constraints.write_bytes(constraints.read_bytes().replace(b"\n", b"\r\n"))
    assert runner_image_tag(root) == runner_image_tag()


@pytest.mark.parametrize("changed", [*CONTEXT_FILES, DOCKERFILE], ids=str)
def test_the_tag_changes_with_each_input(tmp_path: Path, changed: Path) -> None:
    root = checkout(tmp_path)
    append(root / changed, "\n# one more line\n")
    tag = runner_image_tag(root)
    assert TAG.fullmatch(tag)
    assert tag != runner_image_tag()


def test_a_new_pin_in_the_constraints_changes_the_tag(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    constraints = root / "constraints.txt"
    text = constraints.read_text(encoding="utf-8")
    bumped = re.sub(r"^(numpy==)(\d+)", lambda m: f"{m[1]}{int(m[2]) + 1}", text, flags=re.M)
    assert bumped != text
    constraints.write_text(bumped, encoding="utf-8")
    assert runner_image_tag(root) != runner_image_tag()


def test_the_tag_needs_the_dockerfiles_python_version(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    dockerfile = root / DOCKERFILE
    dockerfile.write_text(
        re.sub(r"(?m)^ARG PYTHON_VERSION=.*$", "ARG PYTHON_VERSION", dockerfile.read_text()),
        encoding="utf-8",
    )
    with pytest.raises(RunnerImageError, match="PYTHON_VERSION"):
        runner_image_tag(root)
    (root / "constraints.txt").unlink()
    with pytest.raises(RunnerImageError, match=r"constraints\.txt"):
        runner_image_tag(root)


def test_the_cli_prints_the_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner_image.main(["tag"]) == 0
    assert capsys.readouterr().out == f"{runner_image_tag()}\n"


# --- the Dockerfile ---------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


DOCKERFILE_STEPS = instructions((REPO_ROOT / DOCKERFILE).read_text(encoding="utf-8"))


def final_stage() -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(DOCKERFILE_STEPS) if keyword == "FROM"]
    return DOCKERFILE_STEPS[starts[-1] :]


def test_the_image_runs_as_the_runners_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage must name its user"
    assert users[-1] in {"runner", "1001"}


def test_the_base_images_are_pinned() -> None:
    stages = set()
    for keyword, args in DOCKERFILE_STEPS:
        if keyword != "FROM":
            continue
        image, _, stage = args.partition(" AS ")
        name, _, tag = image.rpartition(":")
        pinned = "@sha256:" in image or re.fullmatch(r"v?\d+(\.\d+)+", tag)
        assert name and pinned, f"FROM {image}: pin a version tag or a digest"
        stages.add(stage.strip())
    # Every COPY --from names a stage above, whose FROM is pinned.
    sources = re.findall(r"--from=(\S+)", " ".join(a for k, a in DOCKERFILE_STEPS if k == "COPY"))
    assert sources
    assert set(sources) <= stages


def test_the_dependencies_install_at_the_pinned_versions_without_the_project() -> None:
    runs = [args for keyword, args in DOCKERFILE_STEPS if keyword == "RUN"]
    (install,) = [args for args in runs if "pip install" in args]
    assert re.search(r"(^|\s)-c constraints\.txt(\s|$)", install)
    assert re.search(r"(^|\s)-r pyproject\.toml(\s|$)", install)
    # `make setup` installs '.[dev]': the image holds the same set, less the project itself.
    assert "--extra dev" in install
    assert not re.search(r"(^|\s)(-e|--editable)\s", install)
    assert not re.search(r"(^|\s)\.(\[|\s|$)", install)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    copied = set()
    for keyword, args in DOCKERFILE_STEPS:
        if keyword == "COPY" and "--from=" not in args:
            copied |= {word for word in args.split()[:-1] if not word.startswith("--")}
    assert copied == {path.name for path in CONTEXT_FILES}
    ignore = (REPO_ROOT / DOCKERFILE).with_name("Dockerfile.dockerignore").read_text()
    allowed = {line[1:] for line in ignore.splitlines() if line.startswith("!")}
    assert "*" in ignore.splitlines()
    assert allowed == copied


def test_make_setup_fills_the_environment_the_image_provides(tmp_path: Path) -> None:
    env_lines = " ".join(args for keyword, args in final_stage() if keyword == "ENV")
    venv = re.search(r"\bVENV=(\S+)", env_lines)
    assert venv, "the image must name its environment in VENV (the Makefile's)"
    assert re.search(rf"\bPATH={re.escape(venv[1])}/bin:\$PATH\b", env_lines)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile"],
        cwd=REPO_ROOT,
        env={**environ, "VENV": venv[1]},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert re.search(rf"(?m)^STAMP := {re.escape(venv[1])}/\.installed$", database)
    assert re.search(rf"(?m)^PY := {re.escape(venv[1])}/bin/python$", database)


# --- building and pushing ---------------------------------------------------------------------


@pytest.fixture
def repository(aws_env: str) -> Repository:
    name = f"runners-{uuid.uuid4().hex[:6]}"
    url = boto3.client("ecr").create_repository(
        repositoryName=name, imageTagMutability="IMMUTABLE"
    )["repository"]["repositoryUri"]
    return Repository.parse(url)


class FakeTool:
    """Records commands and what the build context held; a push lands a manifest in ECR."""

    def __init__(self, repository: Repository, tool: str = "podman") -> None:
        self.repository = repository
        self.tool = tool
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.context: dict[str, bytes] = {}

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.calls.append((cmd, kwargs))
        if cmd[:2] == [self.tool, "build"]:
            context = Path(cmd[-1])
            self.context = {p.name: p.read_bytes() for p in context.iterdir()}
        if cmd[:2] == [self.tool, "push"]:
            boto3.client("ecr").put_image(
                repositoryName=self.repository.name,
                imageManifest=MANIFEST,
                imageTag=cmd[2].rsplit(":", 1)[1],
            )
        return subprocess.CompletedProcess(cmd, 0)


def test_build_login_push_once_then_leave_the_tag_alone(repository: Repository) -> None:
    tool = FakeTool(repository)
    image = repository.ref(runner_image_tag())
    assert push_image(repository, "podman", run=tool) == runner_image.PushResult(image, True)

    commands = [cmd for cmd, _ in tool.calls]
    assert commands[0][:2] == ["podman", "build"]
    assert commands[0][commands[0].index("-t") + 1] == image
    assert commands[0][commands[0].index("--platform") + 1] == "linux/amd64"
    assert commands[1:] == [
        ["podman", "login", "--username", "AWS", "--password-stdin", repository.host],
        ["podman", "push", image],
    ]
    # The context is the Dockerfile and the two files it copies, nothing else.
    assert tool.context == {
        "Dockerfile": (REPO_ROOT / DOCKERFILE).read_bytes(),
        **{path.name: (REPO_ROOT / path).read_bytes() for path in CONTEXT_FILES},
    }
    # The ECR password travels on stdin only.
    _, password = runner_image.ecr_credentials(boto3.client("ecr"))
    assert tool.calls[1][1]["input"] == password
    assert all(password not in " ".join(cmd) for cmd in commands)

    again = FakeTool(repository)
    assert push_image(repository, "podman", run=again) == runner_image.PushResult(image, False)
    assert again.calls == []


def test_the_cli_leaves_an_image_already_pushed_alone(
    repository: Repository, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("ecr").put_image(
        repositoryName=repository.name, imageManifest=MANIFEST, imageTag=runner_image_tag()
    )
    monkeypatch.setenv(runner_image.REPOSITORY_ENV, repository.url)
    assert runner_image.main(["push", "--tool", "docker"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{repository.ref(runner_image_tag())}\n"
    assert "already in the repository" in captured.err


def test_repository_urls() -> None:
    repo = Repository.parse("https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-dev/runners/")
    assert repo.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert repo.name == "ml-dev/runners"
    assert repo.region == "eu-west-1"
    assert repo.ref("py3.11-0123456789ab") == f"{repo.url}:py3.11-0123456789ab"
    for bad in ("", "host-only", "host/repo:tag", "host/repo@sha256:abc"):
        with pytest.raises(RunnerImageError, match="not a repository URL"):
            Repository.parse(bad)


def completed(returncode: int = 0, stdout: str = "", stderr: str = "") -> Any:
    return lambda cmd, **_: subprocess.CompletedProcess(cmd, returncode, stdout, stderr)


def test_the_repository_comes_from_the_stack_output() -> None:
    url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-dev/runners"
    output = f'{{"runnerImageRepositoryUrl": "{url}", "region": "eu-west-1"}}'
    assert runner_image.stack_repository("dev", run=completed(stdout=output)) == url
    with pytest.raises(RunnerImageError, match="no runnerImageRepositoryUrl output"):
        runner_image.stack_repository("dev", run=completed(stdout="{}"))
    with pytest.raises(RunnerImageError, match="no stack named"):
        runner_image.stack_repository("dev", run=completed(1, stderr="no stack named 'dev'"))


def test_docker_when_its_daemon_answers_else_podman_else_buildah() -> None:
    def which(*present: str) -> Any:
        return lambda name: f"/usr/bin/{name}" if name in present else None

    pick = runner_image.container_tool
    assert pick(which=which("docker", "podman"), run=completed(0)) == "docker"
    assert pick(which=which("docker", "podman", "buildah"), run=completed(1)) == "podman"
    assert pick(which=which("buildah")) == "buildah"
    assert pick("buildah", which=which("docker")) == "buildah"
    with pytest.raises(RunnerImageError, match="daemon is not running"):
        pick(which=which("docker"), run=completed(1))
    with pytest.raises(RunnerImageError, match="no container tool"):
        pick(which=which())
    with pytest.raises(RunnerImageError, match="pick one of"):
        pick("nerdctl", which=which("docker"))
