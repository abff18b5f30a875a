"""`make sign-image` / `make verify-image`: a keyless Sigstore signature of the pushed image.

    python -m ml.release.signature sign --image REPO@sha256:HEX [--bucket B]
    python -m ml.release.signature verify --image REPO@sha256:HEX [--bucket B] [--online]

The signed artifact is the image's digest itself (the sha256 of its manifest, the one a pod
pulls): `sign` gets a short-lived Fulcio certificate for the GitHub Actions workflow running it
(its ambient OIDC token, `id-token: write`), signs the digest, logs it in public-good Rekor and
stores the bundle in the stack's registry (its artifacts bucket) under `signature_key(digest)`,
so a promotion or a rollback of an old image finds its signature beside the bento.

`verify` (and `make up IMAGE=...`, `make promote`, `make rollback` before they ship) checks the
bundle offline against the trusted root sigstore-python embeds (`--online` refreshes it from
Sigstore's TUF repository first) and the policy: the certificate was issued by GitHub's OIDC
issuer to the signing workflow of this repository (ml/core/identity.py) on its main branch.

The escape hatch, for a platform engineer shipping an image from before signing or during a
Sigstore outage, is `--allow-unsigned REASON` (make: ALLOW_UNSIGNED=...): verification still
runs, its failure is printed as a warning (a GitHub annotation in Actions) and the reason lands
in the job summary (`make up`'s and `make promote`'s). No workflow passes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml.core.artifacts import ShipError, artifacts_bucket, write_summary
from ml.core.identity import load_identity
from ml.core.s3 import is_missing_key

SIGNATURE_PREFIX = "signatures"
ISSUER = "https://token.actions.githubusercontent.com"
# The workflow that builds, pushes and signs images, and the only ref it signs from.
SIGNING_WORKFLOW = ".github/workflows/rollout.yml"
SIGNING_REF = "refs/heads/main"
_BY_DIGEST = re.compile(r"^[^@\s]+@sha256:([0-9a-f]{64})$")


class SignatureError(ShipError):
    """The image has no valid signature; the message names the image and why."""


def image_digest(image: str) -> str:
    """The hex sha256 an image reference pins; only `REPO@sha256:<64 hex>` pins one."""
    match = _BY_DIGEST.match(image)
    if not match:
        raise SignatureError(
            f"{image!r} is no image by digest: a signature covers one digest, "
            "so the reference must be REPO@sha256:<64 hex> (`make image` prints it)"
        )
    return match.group(1)


def signature_key(digest: str) -> str:
    """The registry key of an image's Sigstore bundle; `digest` is `sha256:<hex>` or the hex."""
    hex_digest = digest.removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", hex_digest):
        raise SignatureError(f"{digest!r} is no sha256 digest")
    return f"{SIGNATURE_PREFIX}/sha256/{hex_digest}.sigstore.json"


@dataclass(frozen=True)
class SignerPolicy:
    """Who must have signed: a GitHub Actions workflow of `repository` at `ref`."""

    repository: str
    workflow: str = SIGNING_WORKFLOW
    ref: str = SIGNING_REF
    issuer: str = ISSUER

    @property
    def identity(self) -> str:
        """The certificate's SAN: GitHub puts the workflow file's ref there (job_workflow_ref),
        also when deploy.yml calls rollout.yml."""
        return f"https://github.com/{self.repository}/{self.workflow}@{self.ref}"

    def describe(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


def default_policy() -> SignerPolicy:
    return SignerPolicy(load_identity().repository)


# sigstore is imported where it is used: `make stack-env` and `make preview` import this module
# (through ml/ci/stack.py) and need none of it.
def _hashed(hex_digest: str) -> Any:
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(hex_digest))


def verify_bundle(
    image: str, bundle_json: bytes, policy: SignerPolicy, *, offline: bool = True
) -> None:
    """Raise SignatureError unless `bundle_json` is a valid Sigstore signature of the image's
    digest by `policy`'s workflow."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    hex_digest = image_digest(image)
    try:
        bundle = Bundle.from_json(bundle_json)
    except (SigstoreError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise SignatureError(
            f"{image}: its signature is no valid Sigstore bundle: {reason}"
        ) from None
    # sigstore refuses another digest too, as "message digest mismatch"; this names the digest.
    signature = bundle._inner.message_signature
    signed = signature.message_digest if signature else None
    if signed is not None and signed.digest.hex() != hex_digest:
        raise SignatureError(
            f"{image}: the stored signature is for another digest, sha256:{signed.digest.hex()}"
        )
    if offline:
        # Offline is this module's choice, not a degraded mode worth a warning on every check.
        logging.getLogger("sigstore._internal.tuf").setLevel(logging.ERROR)
    try:
        verifier = Verifier.production(offline=offline)
        verifier.verify_artifact(
            _hashed(hex_digest), bundle, Identity(identity=policy.identity, issuer=policy.issuer)
        )
    except SigstoreError as error:
        raise SignatureError(
            f"{image}: the signature does not verify as {policy.describe()}: {error}"
        ) from None


def read_bundle(image: str, bucket: str, s3: Any = None) -> bytes:
    key = signature_key(image_digest(image))
    try:
        body = (s3 or boto3.client("s3")).get_object(Bucket=bucket, Key=key)["Body"]
        return body.read()
    except ClientError as error:
        if is_missing_key(error):
            raise SignatureError(
                f"{image}: no signature in the registry (s3://{bucket}/{key}); "
                "rollout.yml's `make sign-image` signs what `make image` pushed"
            ) from None
        raise SignatureError(f"{image}: reading s3://{bucket}/{key} failed: {error}") from None
    except BotoCoreError as error:
        raise SignatureError(f"{image}: reading s3://{bucket}/{key} failed: {error}") from None


def verify_image(
    image: str,
    bucket: str,
    policy: SignerPolicy | None = None,
    *,
    s3: Any = None,
    offline: bool = True,
) -> str:
    """Refuse (SignatureError) an image without a valid signature in the stack's registry;
    the markdown line saying who signed it."""
    policy = policy or default_policy()
    verify_bundle(image, read_bundle(image, bucket, s3), policy, offline=offline)
    return f"Signature: `{image}` verified, signed by `{policy.identity}`."


def check_image(
    image: str,
    bucket: str,
    allow_unsigned: str | None = None,
    policy: SignerPolicy | None = None,
    *,
    s3: Any = None,
) -> str:
    """`verify_image`, or with a reason, a loud warning instead of a refusal: printed, and a
    GitHub annotation in Actions; the markdown line for the job summary either way."""
    try:
        return verify_image(image, bucket, policy, s3=s3)
    except SignatureError as error:
        if allow_unsigned is None:
            raise
        line = f"**Unsigned image shipped** ({allow_unsigned}): {error}"
        print(f"signature: WARNING: {error}; shipped anyway: {allow_unsigned}", file=sys.stderr)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            print(
                f"::warning title=Unsigned image::{_escaped(f'{error} (reason: {allow_unsigned})')}"
            )
        return line


def _escaped(text: str) -> str:
    """A workflow command's message: a newline in it must not start another command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def reason(value: str) -> str:
    """argparse type of --allow-unsigned: a reason is required, not just the flag."""
    if not value.strip():
        raise argparse.ArgumentTypeError("needs a reason (ALLOW_UNSIGNED=...)")
    return value.strip()


def ambient_token() -> Any:
    """The GitHub Actions OIDC token for Sigstore, through `id` (needs `id-token: write`)."""
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential

    try:
        raw = detect_credential()
        if not raw:
            raise SignatureError(
                "no ambient OIDC credential: signing runs in GitHub Actions with `id-token: write`"
            )
        return IdentityToken(raw)
    except IdentityError as error:
        raise SignatureError(f"no OIDC token for signing: {error}") from None


def sign_image(
    image: str,
    bucket: str,
    policy: SignerPolicy | None = None,
    *,
    token: Any = None,
    s3: Any = None,
) -> str:
    """Sign the image's digest keylessly and store the bundle; returns its s3:// URI. The bundle
    is verified before it is stored: a run outside the signing workflow fails here, not later."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    hex_digest = image_digest(image)
    identity = token or ambient_token()
    try:
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(identity, cache=False) as signer:
            bundle = signer.sign_artifact(_hashed(hex_digest)).to_json().encode()
    except (SigstoreError, OSError) as error:  # requests' errors are OSErrors
        raise SignatureError(f"signing {image} failed: {error}") from None
    verify_bundle(image, bundle, policy or default_policy())
    key = signature_key(hex_digest)
    try:
        (s3 or boto3.client("s3")).put_object(
            Bucket=bucket, Key=key, Body=bundle, ContentType="application/json"
        )
    except (ClientError, BotoCoreError) as error:
        raise SignatureError(
            f"storing the signature at s3://{bucket}/{key} failed: {error}"
        ) from None
    return f"s3://{bucket}/{key}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=("sign", "verify"))
    parser.add_argument("--image", required=True, help="REPO@sha256:<hex>, as `make image` pushed")
    parser.add_argument("--bucket", help="artifacts bucket (default: $ARTIFACTS_BUCKET)")
    parser.add_argument(
        "--online", action="store_true", help="verify: refresh Sigstore's trusted root first"
    )
    options = parser.parse_args(argv)
    try:
        bucket = artifacts_bucket(options.bucket)
        if options.action == "sign":
            uri = sign_image(options.image, bucket)
            markdown = f"Signature: `{options.image}` signed keylessly, bundle `{uri}`."
        else:
            markdown = verify_image(options.image, bucket, offline=not options.online)
    except ShipError as error:
        print(f"signature: {error}", file=sys.stderr)
        return 1
    print(f"signature: {markdown}", flush=True)
    write_summary(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
