"""End to end on a real Kubernetes cluster: ``bash deploy.sh --yes`` in the k8s sandbox.

``/work/shared/k8s-sandbox/run-e2e`` (``../shared/k8s-sandbox`` next to the repository) starts a
fresh single-node cluster, runs the command in the repository with stdin from /dev/null, and
tears the cluster down. deploy.sh itself checks the page, /api/status and results.json through
the NodePort from the host and keeps copies in ``output_plots/fetched/``; the results land in
``output_plots/`` through the hostPath volume. These tests then compare them with a run of
``hzz run`` on one machine over the same files, and check that deploy.sh deleted what it made.

Needs root, Docker and the sandbox; takes about 10 minutes (the first time longer: images).
pyproject.toml's addopts deselect the ``k8s`` marker; select it explicitly:

    .venv/bin/python -m pytest -m k8s tests/test_deploy_e2e.py -v -s

The output of each run goes to ``test-artifacts/k8s-e2e-*.log``; the sandbox's own diagnostics
(every object, event and pod log) to ``/opt/k8s-sandbox/logs/e2e-diagnostics.txt``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "output_plots"
ARTIFACTS = REPO / "test-artifacts"
SANDBOX = Path(os.environ.get("K8S_SANDBOX_DIR", REPO.parent / "shared" / "k8s-sandbox"))
REAL_DATA = REPO.parent / "shared" / "atlas-open-data" / "2020-4lep"
#: Events of the scaling run: with chunks of 10 000, about 3 minutes of work for 4 workers on 2 cores.
SCALING_EVENTS = 16_000_000
#: Its dataset (1.6 GB, two minutes to generate) is kept between runs.
SCALING_DATASET = Path(
    os.environ.get("HZZ_K8S_SCALING_DATASET", f"/tmp/hzz-k8s-e2e-scaling-llll-{SCALING_EVENTS // 1_000_000}M")
)

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(2700)]

#: Runs deploy.sh, then checks from inside the sandbox (before run-e2e tears the cluster down)
#: that nothing deploy.sh created is left.
DEPLOY_AND_CHECK_CLEANUP = r"""
bash deploy.sh "$@"
rc=$?
echo "deploy.sh exited with status $rc"
kubectl get namespace hzz >/dev/null 2>&1 && echo "LEFTOVER: namespace hzz"
kubectl get persistentvolume hzz-output >/dev/null 2>&1 && echo "LEFTOVER: persistentvolume hzz-output"
echo "cleanup checked"
exit "$rc"
"""


@pytest.fixture(autouse=True)
def _sandbox_is_usable(request: pytest.FixtureRequest) -> None:
    # pyproject's addopts say -m "not k8s", but any -m on the command line (e.g. -m "not slow")
    # replaces that; minutes of cluster runs must never start by accident.
    markexpr = request.config.getoption("markexpr") or ""
    if "k8s" not in markexpr.replace("not k8s", ""):
        pytest.skip("runs a real cluster for ~10 minutes: select it explicitly with -m k8s")
    if not (SANDBOX / "run-e2e").is_file():
        pytest.skip(f"no k8s sandbox at {SANDBOX} (set K8S_SANDBOX_DIR)")
    if os.geteuid() != 0:
        pytest.skip("the k8s sandbox runs as root")
    if not shutil.which("docker"):
        pytest.skip("docker is not installed")


@pytest.fixture
def dataset_dir() -> Iterator[Path]:
    """A folder the pods can read: world-readable, outside pytest's private (0700) tmp tree."""
    folder = Path(tempfile.mkdtemp(prefix="hzz-k8s-e2e-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def make_readable(folder: Path) -> None:
    """The pods run as user 10001: every folder and file must be readable by others."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | (0o111 if path.is_dir() else 0))


def generate(folder: Path, samples: str, events: int, seed: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hzz.devtools.samplegen",
            "--out",
            str(folder),
            "--samples",
            samples,
            "--events",
            str(events),
            "--seed",
            str(seed),
            "--quiet",
        ],
        cwd=REPO,
        check=True,
    )


def add_real_data(folder: Path) -> list[str]:
    """Copies of the real data files in Data/ (the originals are never touched)."""
    (folder / "Data").mkdir(exist_ok=True)
    names = []
    for original in sorted(REAL_DATA.glob("*.4lep.root")):
        shutil.copyfile(original, folder / "Data" / original.name)
        names.append(original.name.removesuffix(".4lep.root"))
    assert names, f"no real data files in {REAL_DATA}"
    return names


def run_deploy(name: str, *deploy_args: str, timeout: int) -> tuple[int, str, float]:
    """run-e2e REPO -- deploy.sh ARGS: (exit status, output, seconds). Output saved under test-artifacts/."""
    # output_plots/ must exist before the cluster starts: `down` removes host folders that a
    # hostPath volume created during the run.
    OUTPUT.mkdir(exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"k8s-e2e-{name}.log"
    command = [
        str(SANDBOX / "run-e2e"),
        str(REPO),
        "--timeout",
        str(timeout),
        "--",
        "bash",
        "-c",
        DEPLOY_AND_CHECK_CLEANUP,
        "deploy",
        *deploy_args,
    ]
    start = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    text = log.read_text(errors="replace")
    print(f"\n{name}: run-e2e exited with {result.returncode} after {seconds:.0f} s; output in {log}")
    for line in text.splitlines():
        if re.search(r"(run complete|timings:|workers:|built in|run-e2e: finished)", line):
            print("  " + line.strip())
    return result.returncode, text, seconds


def assert_deployed_and_cleaned_up(rc: int, output: str) -> None:
    assert rc == 0, f"run-e2e/deploy.sh failed ({rc}); the end of its output:\n{output[-6000:]}"
    # Whole lines only: run-e2e also echoes the command, which contains these words.
    lines = output.splitlines()
    assert "cleanup checked" in lines, output[-3000:]
    assert not [line for line in lines if line.startswith("LEFTOVER: ")], output[-3000:]


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def assert_fetched_through_the_service(results: dict[str, Any]) -> None:
    """deploy.sh's copies of what it fetched through the NodePort match the hostPath files."""
    fetched = OUTPUT / "fetched"
    assert "<html" in (fetched / "index.html").read_text().lower()
    assert load(fetched / "status.json")["state"] == results["state"]
    served = load(fetched / "results.json")
    assert served["run_id"] == results["run_id"]
    assert served["tally"] == results["tally"]
    assert served["samples"] == results["samples"]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def running_workers_over_time(log: Path) -> list[tuple[datetime, int]]:
    """(time, worker pods Running) of each block of pod_scaling.log."""
    blocks: list[tuple[datetime, int]] = []
    for line in log.read_text().splitlines():
        if line.startswith("=== "):
            blocks.append((datetime.fromisoformat(line[4:].strip().replace("Z", "+00:00")), 0))
        elif blocks and len(line.split()) >= 3 and line.split()[2] == "Running":
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1)
    return blocks


def test_deploy_sh_runs_the_pipeline_on_kubernetes_like_one_machine_and_cleans_up(
    dataset_dir: Path, tmp_path: Path
) -> None:
    # Given a local dataset: generated MC samples plus copies of the real data files
    generate(dataset_dir, "llll,ggH125_ZZ4lep,Zee,ttbar_lep", 4000, seed=11)
    data = add_real_data(dataset_dir)
    make_readable(dataset_dir)
    samples = ",".join([*data, "llll", "ggH125_ZZ4lep", "Zee", "ttbar_lep"])
    # and the expected results from one machine (no Kubernetes, no RabbitMQ)
    expected_dir = tmp_path / "one-machine"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hzz",
            "run",
            "--dataset",
            str(dataset_dir),
            "--samples",
            samples,
            "--chunk-size",
            "1000",
            "--transport",
            "embedded",
            "--output-dir",
            str(expected_dir),
            "--quiet",
        ],
        cwd=REPO,
        check=True,
    )
    expected = load(expected_dir / "results.json")
    assert expected["state"] == "complete"

    # When deploy.sh runs on a fresh cluster, asking for KEDA (which the sandbox lacks)
    rc, output, _ = run_deploy(
        "deploy",
        *("--yes", "--keda", "--dataset", str(dataset_dir), "--samples", samples),
        *("--chunk-size", "1000", "--min-workers", "1", "--max-workers", "3"),
        timeout=1500,
    )

    # Then it succeeded, fell back to the CPU HPA, and deleted everything it created
    assert_deployed_and_cleaned_up(rc, output)
    assert "KEDA is not installed" in output
    # and its results, on the host through the hostPath volume, are complete
    results = load(OUTPUT / "results.json")
    assert results["state"] == "complete"
    assert results["tally"]["done"] == results["tally"]["total"] > len(samples.split(","))
    assert results["tally"]["failed"] == 0
    # and the same as the one-machine run's, sample by sample
    assert set(results["samples"]) == set(expected["samples"]) == set(samples.split(","))
    for name, want in expected["samples"].items():
        got = results["samples"][name]
        assert (got["events_read"], got["events_selected"]) == (want["events_read"], want["events_selected"]), name
        assert all(map(close, got["sumw"], want["sumw"])), name
        assert all(map(close, got["sumw2"], want["sumw2"])), name
    assert results["data"]["counts"] == expected["data"]["counts"]
    # and the page, the status and results.json answered through the Service
    assert_fetched_through_the_service(results)
    for name in ("hzz_m4l.png", "hzz_m4l.svg", "pod_scaling.log", "hpa_metrics.log", "pod_scaling.csv", "scaling.png"):
        assert (OUTPUT / name).stat().st_size > 0, name


def test_deploy_sh_shows_the_hpa_scaling_the_workers_during_a_long_run() -> None:
    # Given a dataset that keeps the workers busy for minutes: 16 million llll events, cut
    # into chunks of 10 000 (1600 tasks; a small chunk costs one worker about 0.25 s of CPU)
    if not (SCALING_DATASET / ".complete").is_file():
        shutil.rmtree(SCALING_DATASET, ignore_errors=True)
        SCALING_DATASET.mkdir(parents=True)
        generate(SCALING_DATASET, "llll", SCALING_EVENTS, seed=5)
        (SCALING_DATASET / ".complete").touch()
    make_readable(SCALING_DATASET)

    # When deploy.sh runs it with one to four workers
    rc, output, _ = run_deploy(
        "scaling",
        *("--yes", "--dataset", str(SCALING_DATASET), "--samples", "llll"),
        *("--chunk-size", "10000", "--min-workers", "1", "--max-workers", "4"),
        timeout=1800,
    )

    # Then the run is complete
    assert_deployed_and_cleaned_up(rc, output)
    results = load(OUTPUT / "results.json")
    assert results["state"] == "complete"
    assert results["samples"]["llll"]["events_read"] == SCALING_EVENTS
    assert_fetched_through_the_service(results)
    # and the pod log shows more than the minimum of one worker Running before it finished
    blocks = running_workers_over_time(OUTPUT / "pod_scaling.log")
    finished = datetime.fromisoformat(results["finished_at"].replace("Z", "+00:00"))
    during = [(t, n) for t, n in blocks if t <= finished]
    most = max(n for _, n in during)
    first_scaled = next(t for t, n in during if n > 1)
    print(
        f"  workers: at most {most} Running; above the minimum from {first_scaled:%H:%M:%S}, "
        f"{(first_scaled - blocks[0][0]).total_seconds():.0f} s after the first log line; "
        f"run from {results['started_at']} to {results['finished_at']} ({results['elapsed_seconds']:.0f} s)"
    )
    assert most > 1
    # and so do the CSV and the chart made from it
    csv_rows = (OUTPUT / "pod_scaling.csv").read_text().splitlines()
    header = csv_rows[0].split(",")
    pods = [int(row.split(",")[header.index("pods")]) for row in csv_rows[1:]]
    assert max(pods) == max(n for _, n in blocks)
    assert (OUTPUT / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((OUTPUT / "hpa_metrics.csv").read_text().splitlines()) > 2
