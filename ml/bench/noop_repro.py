"""The time of a `dvc repro` with nothing to do, as `make repro` runs it (a report).

    python -m ml.bench.noop_repro [--runs 5] [--warmup 1] [--out reports/bench-noop.json]
                                  [--repo PATH] [--dvc COMMAND]

Checks first that `dvc status` finds the pipeline up to date (a benchmark must never run a
stage), then runs `dvc repro` `--warmup` times unmeasured and `--runs` times measured, each in
a fresh process, and reports the median, every run's wall and CPU seconds, the load average and
the versions. A run that starts a stage, fails or rewrites dvc.lock stops the benchmark. Wall
time depends on whatever else the machine runs: compare runs on the same machine only; the CPU
seconds (user + system of the `dvc` process) move less with the load. `--repo` measures another
checkout (a fresh clone, say) with this environment's DVC; `--dvc` times another way of starting
DVC (`--dvc "python -m dvc"`), given as the words before `repro`.

Then one more no-op shows where the time goes. A child process of this interpreter imports DVC's
command line, runs `dvc repro` twice and prints the time at each step; with when the parent
started it and when it was gone, the phases of one no-op are:

- start: the interpreter and `site` (the venv's .pth files), until the first line runs;
- imports: DVC's command line, and the modules `repro` imports as it goes (the first run's time
  less the second's, which finds them all imported);
- check: the second run, which only checks the pipeline (reads dvc.yaml, dvc.lock and
  params.yaml, compares the hashes);
- exit: the interpreter's teardown once the command returned (its last garbage collections and
  the modules' deallocation).

Their sum is about one no-op: the second run is a little cheaper than the first's own work (warm
caches), and the exit follows two runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.core.paths import REPO_ROOT, REPORTS_DIR

NOOP_FILE = REPORTS_DIR / "bench-noop.json"
TARGET_S = 1.0
# What `dvc repro` prints when it starts a stage's command.
RUNNING_STAGE = "Running stage '"


class NoopBenchError(RuntimeError):
    """The benchmark cannot run, or a run was not a no-op; the message says why."""


@dataclass(frozen=True)
class Run:
    """One finished process: its exit code, output, wall and CPU seconds."""

    returncode: int
    output: str
    wall_s: float
    cpu_s: float


# Runs a command in a folder.
Runner = Callable[[Sequence[str], Path], Run]


def default_dvc() -> list[str]:
    """This interpreter's DVC: the venv's `dvc` script, as the Makefile runs it."""
    script = Path(sys.executable).with_name("dvc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dvc"]


def run_process(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> Run:
    """Run `command` in `cwd`; by default in this environment with its bin first on PATH, so a
    stage would find the same python (as the Makefile's PATH does)."""
    if env is None:
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(result.returncode, result.stdout + result.stderr, wall, cpu)


def check_up_to_date(repo: Path, runner: Runner, dvc: Sequence[str]) -> None:
    """Refuse to start unless `dvc status` says no stage would run."""
    status = runner([*dvc, "status", "--quiet"], repo)
    if status.returncode != 0:
        detail = runner([*dvc, "status"], repo).output.strip()
        raise NoopBenchError(
            "the pipeline is not up to date, so `dvc repro` would run stages: run `dvc repro` "
            f"first, then benchmark.\n{detail}"
        )


def check_noop(run: Run, lock_before: bytes | None, lock_after: bytes | None) -> None:
    """A measured run must succeed, start no stage and leave dvc.lock as it was."""
    if run.returncode != 0:
        raise NoopBenchError(f"`dvc repro` exited with {run.returncode}:\n{run.output}")
    if RUNNING_STAGE in run.output:
        raise NoopBenchError(f"`dvc repro` ran a stage, so it was not a no-op:\n{run.output}")
    if lock_before != lock_after:
        raise NoopBenchError("`dvc repro` rewrote dvc.lock, so it was not a no-op")


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def measure(
    runs: int,
    warmup: int,
    repo: Path = REPO_ROOT,
    runner: Runner = run_process,
    dvc: Sequence[str] | None = None,
) -> list[Run]:
    """`warmup` unmeasured no-op repros in `repo`, then `runs` measured ones, each checked."""
    if runs < 1 or warmup < 0:
        raise NoopBenchError(f"--runs must be at least 1 and --warmup at least 0: {runs}, {warmup}")
    if not (repo / "dvc.yaml").is_file():
        raise NoopBenchError(f"no dvc.yaml in {repo}: --repo must be a checkout of the project")
    dvc = list(dvc) if dvc else default_dvc()
    check_up_to_date(repo, runner, dvc)
    lock_file = repo / "dvc.lock"
    measured: list[Run] = []
    for index in range(warmup + runs):
        lock_before = _read(lock_file)
        run = runner([*dvc, "repro"], repo)
        check_noop(run, lock_before, _read(lock_file))
        if index >= warmup:
            measured.append(run)
    return measured


def summary(
    runs: Sequence[Run], versions: dict[str, str], dvc: Sequence[str] = ("dvc",)
) -> dict[str, Any]:
    """The report: medians, every run, the machine's cores and load, the versions."""
    walls = [round(run.wall_s, 3) for run in runs]
    cpus = [round(run.cpu_s, 3) for run in runs]
    median = round(statistics.median(walls), 3)
    return {
        "command": " ".join([Path(dvc[0]).name, *dvc[1:], "repro"]),
        "runs": len(runs),
        "median_s": median,
        "min_s": min(walls),
        "max_s": max(walls),
        "wall_s": walls,
        "median_cpu_s": round(statistics.median(cpus), 3),
        "cpu_s": cpus,
        "target_s": TARGET_S,
        "under_target": median < TARGET_S,
        "cores": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "versions": versions,
    }


def versions() -> dict[str, str]:
    """The versions that decide a no-op's cost: Python, DVC, the YAML parser and its C part."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("dvc", "ruamel.yaml", "ruamel.yaml.clib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


PHASES_MARK = "NOOP_PHASES "
# Runs in the child: the stamps go to stderr, on one line after DVC's own output.
PHASES_SCRIPT = f"""
import json, sys, time
started = time.time()
from dvc.cli import main
imported = time.time()
first = main(["repro"])
checked = time.time()
second = main(["repro"])
done = time.time()
print("\\n{PHASES_MARK}" + json.dumps([started, imported, checked, done]), file=sys.stderr)
sys.exit(first or second)
"""


def split_phases(output: str, spawned: float, ended: float) -> dict[str, float]:
    """The phases in seconds from the child's stamps and the parent's start and end times."""
    lines = [line for line in output.splitlines() if line.startswith(PHASES_MARK)]
    if not lines:
        raise NoopBenchError(f"the phased run printed no timings:\n{output[-2000:]}")
    started, imported, checked, done = json.loads(lines[-1][len(PHASES_MARK) :])
    check = done - checked
    phases = {
        "start_s": started - spawned,
        "imports_s": (imported - started) + (checked - imported - check),
        "check_s": check,
        "exit_s": ended - done,
    }
    return {name: round(max(0.0, value), 3) for name, value in phases.items()}


def measure_phases(repo: Path, runner: Runner = run_process) -> dict[str, float]:
    """One phased no-op in `repo` (already up to date), checked like every measured run."""
    lock = repo / "dvc.lock"
    before = _read(lock)
    spawned = time.time()
    run = runner([sys.executable, "-c", PHASES_SCRIPT], repo)
    ended = time.time()
    check_noop(run, before, _read(lock))
    return split_phases(run.output, spawned, ended)


PHASE_NAMES = {
    "start_s": "interpreter start",
    "imports_s": "imports",
    "check_s": "pipeline check",
    "exit_s": "interpreter exit",
}


def describe(phases: Mapping[str, float]) -> str:
    """One line: each phase and its share of their sum."""
    total = sum(phases.values()) or 1.0
    parts = [
        f"{PHASE_NAMES[key]} {value:.2f} s ({value / total:.0%})"
        for key, value in phases.items()
        if key in PHASE_NAMES
    ]
    return "where one no-op goes: " + ", ".join(parts)


def noop_report(
    runs: int = 5, warmup: int = 1, repo: Path = REPO_ROOT, dvc: Sequence[str] | None = None
) -> dict[str, Any]:
    """Measure the no-op `dvc repro` in `repo` and summarize it (what `make bench` reports)."""
    measured = measure(runs, warmup, repo, dvc=dvc)
    report = summary(measured, versions(), dvc or ["dvc"])
    report["phases_s"] = measure_phases(repo)
    return report


def print_summary(report: Mapping[str, Any]) -> None:
    """One line: the median, each run, the CPU median, the verdict and the machine's load."""
    runs = ", ".join(f"{wall:.2f}" for wall in report["wall_s"])
    verdict = "under" if report["under_target"] else "NOT under"
    print(
        f"no-op `{report['command']}`: median {report['median_s']:.2f} s of {report['runs']} runs "
        f"({runs}), CPU median {report['median_cpu_s']:.2f} s: {verdict} the "
        f"{report['target_s']:.1f} s target ({report['cores']} cores, load "
        f"{report['load_average']})"
    )
    if "phases_s" in report:
        print(describe(report["phases_s"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default 1)")
    parser.add_argument("--out", type=Path, default=NOOP_FILE, help="the JSON report")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to measure")
    parser.add_argument("--dvc", type=shlex.split, help="how to start DVC (default: `dvc`)")
    args = parser.parse_args(argv)
    try:
        report = noop_report(args.runs, args.warmup, args.repo.resolve(), args.dvc)
    except NoopBenchError as exc:
        sys.exit(f"noop_repro: {exc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_summary(report)


if __name__ == "__main__":
    main()
