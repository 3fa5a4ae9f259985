"""End to end on a real Kubernetes cluster: ``bash deploy.sh --yes`` in the k8s sandbox.

``/work/shared/k8s-sandbox/run-e2e`` (``../shared/k8s-sandbox`` next to the repository) starts a
fresh single-node cluster, runs the command in the repository with stdin from /dev/null, and
tears the cluster down. deploy.sh itself checks the page, /api/status and results.json through
the NodePort from the host and keeps copies in ``output_plots/fetched/``; the results land in
``output_plots/`` through the hostPath volume. The first test compares them with a run of
``hzz run`` on one machine over the same files, looks at the deployment it left with ``--keep``
(hardening, the scaling record going on) and deletes it with ``deploy.sh --delete``; the second
runs the scaling workload (``--scaling-demo``) and checks, in the files deploy.sh leaves, the
scale-up and the scale-down, the queue running empty, per-pod throughput and a scaling.md
whose numbers are those of the raw log.

Needs root, Docker and the sandbox; takes about 10 minutes (the first time longer: images).
pyproject.toml's addopts deselect the ``k8s`` marker; select it explicitly:

    .venv/bin/python -m pytest -m k8s tests/test_deploy_e2e.py -v -s

The output of each run goes to ``test-artifacts/k8s-e2e-*.log``; the sandbox's own diagnostics
(every object, event and pod log) to ``/opt/k8s-sandbox/logs/e2e-diagnostics.txt``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import stat
import statistics
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
#: What deploy.sh --scaling-demo runs (deploy.sh's DEMO_EVENTS and DEMO_CHUNK_SIZE).
DEMO_EVENTS, DEMO_CHUNK_SIZE = 4_000_000, 2000

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

#: Runs deploy.sh --keep, looks at what it left running (kept in output_plots/kept/), deletes it
#: with deploy.sh --delete, and checks that nothing is left.
KEEP_INSPECT_DELETE = r"""
bash deploy.sh --keep "$@"
rc=$?
echo "deploy.sh exited with status $rc"
if [ "$rc" = 0 ]; then
  kept=output_plots/kept
  mkdir -p "$kept"
  # The record goes on after deploy.sh has exited: three samples later the log is longer.
  wc -l <output_plots/pod_scaling.log >"$kept/log-lines-at-exit"
  sleep 16
  wc -l <output_plots/pod_scaling.log >"$kept/log-lines-later"
  kubectl -n hzz get pods -o json >"$kept/pods.json"
  kubectl -n hzz get networkpolicies -o json >"$kept/networkpolicies.json"
  kubectl -n hzz exec deploy/hzz-rabbitmq -- id -u >"$kept/rabbitmq-uid" 2>&1
  has_token='test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo token || echo none'
  for name in worker aggregator webserver rabbitmq monitor; do
    kubectl -n hzz exec "deploy/hzz-$name" -- sh -c "$has_token" >"$kept/token-$name" 2>"$kept/token-$name.err"
  done
  bash deploy.sh --delete
  rc=$?
  echo "deploy.sh --delete exited with status $rc"
fi
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


def run_deploy(
    name: str, *deploy_args: str, timeout: int, script: str = DEPLOY_AND_CHECK_CLEANUP
) -> tuple[int, str, float]:
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
        script,
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
        if re.search(
            r"(run complete|timings:|workers:|built in|run-e2e: finished|scale-up|throughput|saturated|back to"
            r"|warning)",
            line,
        ):
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


#: A summary line of pod_scaling.log, read here independently of hzz.shared.scaling.
SUMMARY = re.compile(
    r"^=== (?P<t>\S+)  pods: (?P<desired>\S+) desired, (?P<running>\S+) running, (?P<ready>\S+) ready, "
    r"(?P<total>\S+) in all \| queue: (?P<queue>\S+) ready, (?P<unacked>\S+) unacked \| chunks: \S+ \| "
    r"\S+ chunks/s, (?P<rate>\S+) events/s \| cpu: \S+ per pod, node (?P<node>\S+) of \S+ cores$"
)


def timeline(log: Path) -> list[dict[str, Any]]:
    """The summary of each block of pod_scaling.log: time and numbers (None for "?")."""
    rows = []
    for line in log.read_text().splitlines():
        match = SUMMARY.match(line)
        if match:
            row: dict[str, Any] = {"t": when(match["t"])}
            for key in ("desired", "running", "ready", "total", "queue", "unacked", "rate", "node"):
                value = match[key].rstrip("%")
                row[key] = None if value == "?" else float(value)
            rows.append(row)
    return rows


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def report_table(path: Path) -> dict[str, str]:
    """The measure → value table of scaling.md."""
    return dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", path.read_text(), re.M))


def first_number(text: str) -> float:
    match = re.match(r"([\d,]+(?:\.\d+)?)", text)
    assert match, f"no number at the start of {text!r}"
    return float(match.group(1).replace(",", ""))


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
    # and an output folder that an older deploy.sh left writable for everyone
    OUTPUT.mkdir(exist_ok=True)
    OUTPUT.chmod(0o777)

    # When deploy.sh runs on a fresh cluster, asking for KEDA (which the sandbox lacks), and
    # keeps the deployment, which is then looked at and deleted with deploy.sh --delete
    rc, output, _ = run_deploy(
        "deploy",
        *("--yes", "--keda", "--dataset", str(dataset_dir), "--samples", samples),
        *("--chunk-size", "1000", "--min-workers", "1", "--max-workers", "3"),
        timeout=1500,
        script=KEEP_INSPECT_DELETE,
    )

    # Then it succeeded, fell back to the CPU HPA, and --delete removed everything it created
    assert_deployed_and_cleaned_up(rc, output)
    assert "KEDA is not installed" in output
    assert "deploy.sh --delete exited with status 0" in output.splitlines()
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
    # and the pods' user was given the output folder, which nobody else may write into
    folder = OUTPUT.stat()
    assert folder.st_uid == 10001 and not folder.st_mode & stat.S_IWOTH

    # and with --keep the scaling record went on after deploy.sh had exited
    kept = OUTPUT / "kept"
    at_exit, later = (int((kept / name).read_text()) for name in ("log-lines-at-exit", "log-lines-later"))
    assert later > at_exit
    # and the deployment ran hardened: the broker as its own unprivileged user, a service-account
    # token only in the monitor's pod, every pod under the runtime's seccomp profile, ingress
    # limited by NetworkPolicies
    assert (kept / "rabbitmq-uid").read_text().strip() == "999"
    tokens = {
        name: (kept / f"token-{name}").read_text().strip()
        for name in ("worker", "aggregator", "webserver", "rabbitmq", "monitor")
    }
    assert tokens == {
        "worker": "none",
        "aggregator": "none",
        "webserver": "none",
        "rabbitmq": "none",
        "monitor": "token",
    }
    pods = load(kept / "pods.json")["items"]
    assert {p["metadata"]["labels"]["app"] for p in pods} >= {
        "hzz-worker",
        "hzz-aggregator",
        "hzz-webserver",
        "hzz-rabbitmq",
        "hzz-monitor",
    }
    for pod in pods:
        assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, pod["metadata"]["name"]
    policies = {p["metadata"]["name"] for p in load(kept / "networkpolicies.json")["items"]}
    assert policies == {"hzz-deny-ingress", "hzz-webserver", "hzz-rabbitmq"}
    # and --delete wrote the final scaling report before deleting
    assert (OUTPUT / "scaling.md").read_text().startswith(f"# Scaling report: run {results['run_id']}")


def test_deploy_sh_scaling_demo_records_the_autoscaler_s_whole_life_and_a_report_that_agrees_with_it() -> None:
    # When deploy.sh runs its scaling workload on a fresh cluster, offline (generated data)
    rc, output, seconds = run_deploy("scaling-demo", "--scaling-demo", "--yes", timeout=2400)

    # Then the run is complete, and everything was deleted afterwards
    assert_deployed_and_cleaned_up(rc, output)
    results = load(OUTPUT / "results.json")
    assert results["state"] == "complete"
    assert results["samples"]["llll"]["events_read"] == DEMO_EVENTS
    assert results["tally"]["done"] == DEMO_EVENTS // DEMO_CHUNK_SIZE
    assert_fetched_through_the_service(results)
    start, end = when(results["started_at"]), when(results["finished_at"])
    rows = timeline(OUTPUT / "pod_scaling.log")
    assert len(rows) == (OUTPUT / "pod_scaling.log").read_text().count("\n=== ") + 1  # every block read
    during = [r for r in rows if start <= r["t"] <= end]
    after = [r for r in rows if r["t"] > end]
    at_start = [r for r in rows if r["t"] < start and r["desired"] is not None][-1]["desired"]

    # and the log shows a scale-up during the run: more pods desired, and more than one working
    up = next(r for r in rows if r["t"] >= start and (r["desired"] or 0) > at_start)
    peak = max(r["ready"] for r in during)
    assert peak > 1 and up["t"] < end
    # and a scale-down after it: back to one pod desired and present
    back = next(r for r in after if r["desired"] == 1 and r["total"] == 1)
    assert max(r["desired"] for r in during) > 1
    # and the task queue filling and then running empty
    queue_peak = max(r["queue"] or 0 for r in during)
    emptied = next(r for r in rows if r["t"] > start and r["queue"] == 0 and r["unacked"] == 0 and r["t"] > up["t"])
    assert queue_peak > 100 and emptied["t"] <= back["t"]
    # and per-pod throughput: in results.json, and pod by pod in the log
    workers = results["workers"]
    pods = {name.split(":")[0] for name in workers}
    assert len(pods) >= 2
    assert sum(w["chunks"] for w in workers.values()) == results["tally"]["done"]
    assert all(w["events_per_second"] > 0 for w in workers.values())
    pod_rates = re.findall(r"^(hzz-worker-\S+) .* events/s=([\d.]+)$", (OUTPUT / "pod_scaling.log").read_text(), re.M)
    assert len({pod for pod, rate in pod_rates if float(rate) > 0}) >= 2
    assert "worker_pods.csv" in {p.name for p in OUTPUT.iterdir()}

    # and scaling.md's numbers are those of the raw log, by the definitions it states
    table = report_table(OUTPUT / "scaling.md")
    assert first_number(table["time to first scale-up"]) == round((up["t"] - start).total_seconds())
    assert table["peak pods"].startswith(f"{peak:.0f} Ready")
    peak_at = next(r for r in rows if r["t"] >= start and r["ready"] == peak)
    assert table["peak pods"].endswith(f"first at {(peak_at['t'] - start).total_seconds():.0f} s")
    assert first_number(table["time to scale back down"]) == round((back["t"] - end).total_seconds())

    def phase(pods: float) -> list[float]:
        return [
            b["rate"]
            for a, b in itertools.pairwise(during)
            if a["ready"] == b["ready"] == pods and b["rate"] is not None
        ]

    one, top = statistics.median(phase(1)), statistics.median(phase(peak))
    assert first_number(table["throughput with one pod"]) == round(one)
    assert first_number(table["throughput at peak"]) == round(top)
    assert first_number(table["speed-up"]) == round(top / one, 2)
    node = statistics.median(
        b["node"] for a, b in itertools.pairwise(during) if a["ready"] == b["ready"] == peak and b["node"] is not None
    )
    assert first_number(table["node CPU at peak"]) == round(node)
    # and the chart and the CSVs were written; the HPA's CPU readings are in its CSV
    assert (OUTPUT / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hpa_rows = (OUTPUT / "hpa_metrics.csv").read_text().splitlines()
    assert any(row.split(",")[2] not in ("", "0") for row in hpa_rows[1:])
    print(
        f"  measured: first scale-up +{(up['t'] - start).total_seconds():.0f} s after the start "
        f"({at_start:.0f} -> {up['desired']:.0f} desired); peak {peak:.0f} pods Ready at "
        f"+{(peak_at['t'] - start).total_seconds():.0f} s; {one:,.0f} events/s with 1 pod, {top:,.0f} at peak: "
        f"speed-up {top / one:.2f}x on a node {node:.0f} % busy; run {(end - start).total_seconds():.0f} s; "
        f"queue peak {queue_peak:.0f}, empty at +{(emptied['t'] - start).total_seconds():.0f} s; back to 1 pod "
        f"{(back['t'] - end).total_seconds():.0f} s after the end; whole test {seconds:.0f} s"
    )
    print(
        "  scaling.md:\n" + "\n".join("    " + line for line in (OUTPUT / "scaling.md").read_text().splitlines()[:16])
    )
