"""`make ci-repro`: the DVC pipeline, pulling from the S3 remote when it can.

    python -m ml.ci.repro [--refresh-data] [--push]

With the default remote on S3 and AWS credentials present, `dvc repro --pull` fetches what the
remote already has instead of recomputing it; otherwise (a fork's pull request, a repository not
set up for AWS, the local remote) the pipeline runs from scratch here, which gives the same
results, only slower. `--refresh-data` reruns the ingest stage even if its inputs did not change
(new data at the source), and `--push` uploads the outputs to the remote afterwards.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from ml.ci import aws_credentials, capture, run, tool
from ml.core.paths import REPO_ROOT

# The stage that fetches the source table (dvc.yaml); forced by --refresh-data.
INGEST_STAGE = "ingest"


@dataclass(frozen=True)
class Remote:
    name: str
    url: str

    @property
    def on_s3(self) -> bool:
        return self.url.startswith("s3://")


def default_remote() -> Remote | None:
    name = capture([tool("dvc"), "remote", "default"], cwd=REPO_ROOT).stdout.strip()
    listing = capture([tool("dvc"), "remote", "list"], cwd=REPO_ROOT).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return Remote(name, parts[1])
    return None


def plan(remote: Remote | None, credentials: bool, refresh: bool, push: bool) -> list[list[str]]:
    """The dvc commands to run, and why, given the remote and the credentials found."""
    dvc = tool("dvc")
    pull = remote is not None and remote.on_s3 and credentials
    commands: list[list[str]] = []
    if refresh:
        commands.append([dvc, "repro", "--force", "--single-item", INGEST_STAGE])
    commands.append([dvc, "repro", *(["--pull"] if pull else [])])
    if push and pull:
        commands.append([dvc, "push"])
    return commands


def explain(remote: Remote | None, credentials: bool, push: bool) -> str:
    if remote is None:
        return "no default DVC remote: the pipeline runs here from scratch"
    if not remote.on_s3:
        return f"DVC remote {remote.name} ({remote.url}) is local: the pipeline runs here"
    if not credentials:
        return (
            f"no AWS credentials for DVC remote {remote.name} ({remote.url}), as in a fork's "
            "pull request: the pipeline runs here from scratch"
            + ("; nothing is pushed" if push else "")
        )
    return f"pulling from and reusing DVC remote {remote.name} ({remote.url})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh-data", action="store_true", help="rerun the ingest stage")
    parser.add_argument("--push", action="store_true", help="push outputs to the S3 remote")
    options = parser.parse_args(argv)
    remote, credentials = default_remote(), aws_credentials()
    print(f"ci-repro: {explain(remote, credentials, options.push)}", flush=True)
    for command in plan(remote, credentials, options.refresh_data, options.push):
        status = run(command, cwd=REPO_ROOT)
        if status:
            return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
