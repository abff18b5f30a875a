"""Image signatures: a real public-good Sigstore bundle verified offline, and every refusal.

tests/data/sigstore/a.txt.sigstore.json is a production bundle a GitHub Actions workflow signed
(tests/data/sigstore/SOURCES.md); its artifact's sha256 stands in for an image digest, and the
policy names the identity its certificate carries, so the acceptance path is the one a rollout
takes: the bundle from the stack's registry (moto's S3), verified with the embedded trusted root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path

import boto3
import pytest

from ml.core.identity import load_identity
from ml.release import signature
from ml.release.signature import SignatureError, SignerPolicy

DATA = Path(__file__).parents[2] / "data" / "sigstore"
BUNDLE = (DATA / "a.txt.sigstore.json").read_bytes()
DIGEST = hashlib.sha256((DATA / "a.txt").read_bytes()).hexdigest()
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/project-prod/bentos"
IMAGE = f"{REPO}@sha256:{DIGEST}"
# The identity the bundle's certificate carries: another repository's workflow, on main.
SIGNER = SignerPolicy(
    "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
    workflow=".github/workflows/extremely-dangerous-oidc-beacon.yml",
)


@pytest.fixture(autouse=True)
def fresh_trust_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No TUF cache from an earlier online run: the trusted root sigstore-python embeds."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"artifacts-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def _store(bucket: str, digest: str, body: bytes) -> None:
    key = signature.signature_key(digest)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def test_a_real_bundle_verifies_offline_from_the_registry(bucket: str) -> None:
    _store(bucket, DIGEST, BUNDLE)
    line = signature.verify_image(IMAGE, bucket, SIGNER)
    assert line == f"Signature: `{IMAGE}` verified, signed by `{SIGNER.identity}`."


def test_the_default_signer_is_this_repositorys_rollout_workflow_on_main() -> None:
    policy = signature.default_policy()
    repository = load_identity().repository
    assert policy.identity == (
        f"https://github.com/{repository}/.github/workflows/rollout.yml@refs/heads/main"
    )
    assert policy.issuer == "https://token.actions.githubusercontent.com"


def test_another_identity_is_refused(bucket: str) -> None:
    _store(bucket, DIGEST, BUNDLE)
    with pytest.raises(SignatureError, match=f"{IMAGE}: the signature does not verify as") as info:
        signature.verify_image(IMAGE, bucket)
    assert signature.default_policy().identity in str(info.value)
    assert "SANs do not match" in str(info.value)
    # Same workflow, another branch: refused too.
    branch = SignerPolicy(SIGNER.repository, workflow=SIGNER.workflow, ref="refs/heads/dev")
    with pytest.raises(SignatureError, match="SANs do not match"):
        signature.verify_image(IMAGE, bucket, branch)
    # The right SAN from another issuer.
    issuer = SignerPolicy(SIGNER.repository, SIGNER.workflow, issuer="https://accounts.google.com")
    with pytest.raises(SignatureError, match="OIDCIssuer does not match"):
        signature.verify_image(IMAGE, bucket, issuer)


def test_a_signature_of_another_digest_is_refused(bucket: str) -> None:
    other = hashlib.sha256(b"another image").hexdigest()
    # Someone copied a valid bundle to the other image's key.
    _store(bucket, other, BUNDLE)
    with pytest.raises(SignatureError, match=f"is for another digest, sha256:{DIGEST}"):
        signature.verify_image(f"{REPO}@sha256:{other}", bucket, SIGNER)


def _tampered(change: str) -> bytes:
    bundle = json.loads(BUNDLE)
    message = bundle["messageSignature"]
    if change == "signature":
        raw = bytearray(base64.b64decode(message["signature"]))
        raw[-1] ^= 1
        message["signature"] = base64.b64encode(bytes(raw)).decode()
    elif change == "digest":
        message["messageDigest"]["digest"] = base64.b64encode(b"\0" * 32).decode()
    return json.dumps(bundle).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_tampered("signature"), "the signature does not verify as .*: Signature is invalid"),
        (_tampered("digest"), "is for another digest, sha256:0000"),
        (BUNDLE[: len(BUNDLE) // 2], "no valid Sigstore bundle"),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "no valid Sigstore"),
    ],
    ids=["flipped-signature-bit", "other-digest-inside", "truncated", "empty-bundle"],
)
def test_a_corrupted_bundle_is_refused(bucket: str, body: bytes, reason: str) -> None:
    _store(bucket, DIGEST, body)
    with pytest.raises(SignatureError, match=reason):
        signature.verify_image(IMAGE, bucket, SIGNER)


def test_a_missing_bundle_is_refused_naming_where_it_looked(bucket: str) -> None:
    key = signature.signature_key(DIGEST)
    with pytest.raises(SignatureError) as info:
        signature.verify_image(IMAGE, bucket, SIGNER)
    assert str(info.value).startswith(
        f"{IMAGE}: no signature in the registry (s3://{bucket}/{key})"
    )


@pytest.mark.parametrize(
    "ref",
    [f"{REPO}:latest", f"{REPO}@sha256:{DIGEST[:-1]}", f"{REPO}@sha512:{DIGEST}", DIGEST, ""],
)
def test_a_reference_without_a_digest_is_refused(ref: str) -> None:
    with pytest.raises(SignatureError, match=r"is no image by digest: .* REPO@sha256:<64 hex>"):
        signature.image_digest(ref)


def test_the_key_follows_the_digest_alone() -> None:
    key = signature.signature_key(DIGEST)
    assert key == f"signatures/sha256/{DIGEST}.sigstore.json"
    assert signature.signature_key(f"sha256:{DIGEST}") == key
    with pytest.raises(SignatureError, match="is no sha256 digest"):
        signature.signature_key("sha256:../../aliases")


def test_allow_unsigned_ships_loudly_with_its_reason(
    bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(SignatureError, match="no signature in the registry"):
        signature.check_image(IMAGE, bucket, None, SIGNER)
    line = signature.check_image(IMAGE, bucket, "image from before signing", SIGNER)
    assert line.startswith("**Unsigned image shipped** (image from before signing): ")
    out, err = capsys.readouterr()
    assert out.startswith("::warning title=Unsigned image::")
    assert "shipped anyway: image from before signing" in err
    # A newline in the reason cannot start another workflow command.
    signature.check_image(IMAGE, bucket, "outage\n::error::forged", SIGNER)
    (annotation,) = capsys.readouterr().out.splitlines()
    assert annotation.endswith("(reason: outage%0A::error::forged)")
    # A valid signature needs no reason and records none.
    _store(bucket, DIGEST, BUNDLE)
    assert signature.check_image(IMAGE, bucket, "unused", SIGNER).startswith("Signature: ")


def test_the_command_refuses_with_the_image_and_why(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert signature.main(["verify", "--image", IMAGE, "--bucket", bucket]) == 1
    assert f"signature: {IMAGE}: no signature in the registry" in capsys.readouterr().err
    assert signature.main(["verify", "--image", f"{REPO}:v1", "--bucket", bucket]) == 1
    assert "is no image by digest" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("github_actions", "why"),
    [
        ("", "no ambient OIDC credential: signing runs in GitHub Actions with `id-token: write`"),
        ("true", "no OIDC token for signing: GitHub: missing or insufficient OIDC token"),
    ],
    ids=["laptop", "workflow-without-id-token"],
)
def test_signing_without_an_oidc_token_fails_before_contacting_sigstore(
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    github_actions: str,
    why: str,
) -> None:
    for key in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", github_actions)
    assert signature.main(["sign", "--image", IMAGE, "--bucket", bucket]) == 1
    assert why in capsys.readouterr().err
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=bucket)
