"""`make image` for real: the pipeline's bento built into an image with buildah (no Docker), on
the upstream Python base or the Debian one `python -m ml.release.base_image` makes, then started
with podman as the cluster's pods start it (uid 1034, read-only root filesystem) and asked for
predictions.

The base is tests/support/images.py's. The image is IMAGE,
`localhost/<params.yaml's package.model_name>:e2e`, built once per session
by `ensure_built(pipeline_run)` (behind the `built_image` fixture) and left in buildah's and
podman's store afterwards. Other slow tests (the SBOM's) import `ensure_built` or the fixture
from here: the build is cached in this module, so the session builds the image only once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.core.artifacts import ShipError
from ml.core.identity import load_identity
from ml.core.params import load_params
from ml.core.paths import REPO_ROOT, SAMPLE_REQUEST
from ml.release import image
from ml.release.containers import run_command
from ml.release.image_build import HOME, PORT, UID, BuiltImage
from ml.serving.demo import malformed_body, post
from tests.support.images import base_image
from tests.support.network import free_port
from tests.support.repo import PipelineRun

pytestmark = pytest.mark.slow

IMAGE = f"localhost/{load_params().package.model_name}:e2e"
READY_SECONDS = 180
# Asked inside the image: what a runtime image must not hold, and who runs in it.
INSPECT = """
import importlib.util, json, os, shutil
print(json.dumps({
    "tools": {name: shutil.which(name) for name in ("gcc", "cc", "g++", "make", "git", "pip",
                                                     "pip3", "uv")},
    "modules": {name: importlib.util.find_spec(name) is not None
                for name in ("pip", "setuptools")},
    "caches": [path for path in ("/root/.cache", "/var/cache/apt/archives/partial",
                                 "/usr/share/python-wheels") if os.path.exists(path)]
              + [f"/var/lib/apt/lists/{name}" for name in os.listdir("/var/lib/apt/lists")
                 if name not in ("lock", "partial", "auxfiles")],
    "uid": os.getuid(),
    "gid": os.getgid(),
}))
"""


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class LocalImage:
    ref: str
    # What `make image` printed: image=..., size=...
    printed: dict[str, str]
    # The commit of the copy it was built from.
    revision: str
    base: str


_built: dict[Path, LocalImage] = {}


def ensure_built(pipeline_run: PipelineRun) -> LocalImage:
    """IMAGE, built by `python -m ml.release.image --tag e2e` in the pipeline's copy, once."""
    repo = pipeline_run.repo
    if repo.root in _built:
        return _built[repo.root]
    base = base_image()
    # The previous session's image goes, rather than staying behind untagged.
    podman("rmi", "--force", IMAGE)
    result = repo.run(
        sys.executable,
        "-m",
        "ml.release.image",
        "--tag",
        "e2e",
        env={"IMAGE_BUILDER": "buildah", "BASE_IMAGE": base, "ECR_REPOSITORY_URL": ""},
    )
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    revision = repo.git("rev-parse", "HEAD").stdout.strip()
    _built[repo.root] = LocalImage(IMAGE, printed, revision, base)
    return _built[repo.root]


@pytest.fixture(scope="module")
def built_image(pipeline_run: PipelineRun) -> LocalImage:
    return ensure_built(pipeline_run)


@pytest.fixture(scope="module")
def server(built_image: LocalImage) -> Iterator[str]:
    """The image serving on a free loopback port, as a pod runs it; yields its URL."""
    name, port = f"image-e2e-{uuid.uuid4().hex[:8]}", free_port()
    command = run_command(
        "podman",
        built_image.ref,
        [],
        name=name,
        ports={port: PORT},
        detach=True,
        read_only=True,
        tmpfs=["/tmp", f"{HOME}/prometheus_multiproc_dir"],
    )
    started = subprocess.run(command, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{started.stderr}")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, name)
        yield url
    finally:
        podman("rm", "--force", name)


def wait_ready(url: str, name: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:  # refused, reset or timed out while the server starts
            pass
        if podman("container", "exists", name).returncode != 0:
            break
        time.sleep(1)
    pytest.fail(f"the image never became ready:\n{podman('logs', name).stderr}")


def test_make_image_prints_the_ref_and_the_size(built_image: LocalImage) -> None:
    assert built_image.printed["image"] == IMAGE
    size = podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip()
    assert built_image.printed["size"] == size
    assert "digest" not in built_image.printed


def test_labels_say_where_the_image_comes_from(built_image: LocalImage) -> None:
    inspected = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    labels = inspected["Labels"]
    assert labels["org.opencontainers.image.revision"] == built_image.revision
    source = f"https://github.com/{load_identity().repository}"
    assert labels["org.opencontainers.image.source"] == source
    assert labels["org.opencontainers.image.base.name"] == built_image.base
    assert inspected["Config"]["User"] == f"{UID}:{UID}"


def test_no_compiler_git_pip_or_caches_and_not_root(built_image: LocalImage) -> None:
    command = run_command("podman", built_image.ref, ["-c", INSPECT], entrypoint="python")
    found = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert found["tools"] == dict.fromkeys(found["tools"])
    assert found["modules"] == {"pip": False, "setuptools": False}
    assert found["caches"] == []
    assert (found["uid"], found["gid"]) == (UID, UID)


def test_serves_a_prediction_and_names_the_bad_field(server: str) -> None:
    sample = json.loads(SAMPLE_REQUEST.read_text(encoding="utf-8"))
    status, answer = post(server, SAMPLE_REQUEST.read_bytes())
    assert status == 200
    assert isinstance(answer, list) and len(answer) == len(sample["rows"])
    assert all(row["label"] in ("benign", "malignant") for row in answer)
    assert all(0.5 <= row["probability"] <= 1 for row in answer)

    _, body = malformed_body(sample)
    status, answer = post(server, body)
    assert status == 400
    assert "worst symmetry" in json.dumps(answer)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_sbom_lists_the_models_packages_at_their_pins(
    built_image: LocalImage, pipeline_run: PipelineRun
) -> None:
    root = pipeline_run.repo.root
    tag = json.loads((root / "reports" / "bento.json").read_text(encoding="utf-8"))["bento"]
    name, version = tag.split(":")
    bom = json.loads((root / "build" / "sbom" / f"{name}-{version}.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    subject = bom["metadata"]["component"]
    assert (subject["name"], subject["version"]) == tuple(IMAGE.rsplit(":", 1))
    assert {"name": "bento", "value": tag} in subject["properties"]
    found = {_normal(c["name"]): c for c in bom["components"]}
    pins = dict(
        (_normal(line.split("==")[0]), line.split("==")[1].strip())
        for line in (REPO_ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    # What the model needs to load and serve, each at exactly its pin, with its purl.
    for package in ("bentoml", "scikit-learn", "numpy", "pandas", "scipy", "joblib", "orjson"):
        assert found[package]["version"] == pins[package], package
        assert found[package]["purl"] == f"pkg:pypi/{package}@{pins[package]}"
    assert {n: c["version"] for n, c in found.items() if n in pins} == {
        n: pins[n] for n in found if n in pins
    }
    assert "pip" not in found and "setuptools" not in found


def test_a_pushed_image_needs_the_registry_for_its_sbom(
    built_image: LocalImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    built = BuiltImage(IMAGE, "buildah", built_image.base, None, {})
    digest = "sha256:" + "ab" * 32
    with pytest.raises(ShipError, match=r"its SBOM .* needs the registry: set ARTIFACTS_BUCKET"):
        image.image_sbom(built, "breast-cancer-classifier:e2e", digest, out=tmp_path)
    # The local copy is written all the same, naming the pushed digest.
    (written,) = tmp_path.glob("*.cdx.json")
    assert digest in written.read_text(encoding="utf-8")
