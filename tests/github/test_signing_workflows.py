"""The image's provenance and signature in the workflows: the rollout signs what it pushed before
it ships it, with the identity ml/release/signature.py verifies, and nothing ships unsigned."""

from __future__ import annotations

from ml.core.paths import REPO_ROOT
from ml.release.signature import SIGNING_WORKFLOW
from tests.github.test_workflows import GITHUB, WORKFLOWS, load, make_calls


def test_the_signing_workflow_signs_what_it_pushes_before_it_rolls_out() -> None:
    # The policy names this file: the certificate's identity is its path.
    (job,) = load(REPO_ROOT / SIGNING_WORKFLOW)["jobs"].values()
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["attestations"] == "write"
    calls = [call for step in job["steps"] for call in make_calls(step.get("run", ""))]
    assert calls.index("image") < calls.index("sign-image") < calls.index("up")
    attest = [s for s in job["steps"] if s.get("uses", "").startswith("actions/attest-build-")]
    assert [s["with"]["subject-digest"] for s in attest] == ["${{ steps.image.outputs.digest }}"]
    # A called workflow gets at most what its caller grants.
    deploy = load(GITHUB / "workflows" / "deploy.yml")["jobs"]
    for stack in ("dev", "prod"):
        assert deploy[stack]["permissions"]["attestations"] == "write", stack


def test_no_workflow_ships_an_unsigned_image() -> None:
    for path in WORKFLOWS:
        text = path.read_text(encoding="utf-8")
        assert "ALLOW_UNSIGNED" not in text and "allow-unsigned" not in text, path.name
