"""hzz/devtools/scaling_monitor.py: API objects → the scaling logs' lines, and rates from results.json.

The monitor's requests to a real cluster are exercised by tests/test_deploy_e2e.py on the k8s
sandbox; here the Kubernetes objects are the API's JSON as a cluster returns it, and the files real.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hzz.devtools.scaling_monitor import Monitor, hpa_line, node_cpu_times, parse_quantity, pod_status, worker_pods
from hzz.shared.scaling import HpaSample, WorkerPodSample, format_pod_line, parse_hpa_log, parse_pod_log

NOW = datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)


def a_pod(name: str, *, phase: str = "Running", ready: bool = True, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-11-25T10:27:58Z"},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "worker", "restartCount": 1, "state": {"running": {}}}],
            **status,
        },
    }


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("250m", 250.0), ("1", 1000.0), ("2.5", 2500.0), ("512345678n", 512.345678), ("12u", 0.012), ("0", 0.0)],
)
def test_cpu_quantities_are_read_in_millicores(text: str, millicores: float) -> None:
    assert parse_quantity(text) == pytest.approx(millicores)


@pytest.mark.parametrize(
    ("pod", "status"),
    [
        (a_pod("a"), "Running"),
        ({**a_pod("a"), "metadata": {"name": "a", "deletionTimestamp": "2026-11-25T10:29:00Z"}}, "Terminating"),
        (a_pod("a", phase="Pending", containerStatuses=[{"state": {"waiting": {"reason": "ContainerCreating"}}}]),
         "ContainerCreating"),
        (a_pod("a", phase="Pending", initContainerStatuses=[{"state": {"running": {}}}]), "Init:0/1"),
        (a_pod("a", phase="Pending", initContainerStatuses=[{"state": {"terminated": {"exitCode": 0}}}],
               containerStatuses=[{"state": {"waiting": {"reason": "PodInitializing"}}}]), "PodInitializing"),
        (a_pod("a", containerStatuses=[{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]), "CrashLoopBackOff"),
        (a_pod("a", phase="Pending", containerStatuses=None), "Pending"),
    ],
)  # fmt: skip
def test_a_pod_s_status_reads_as_kubectl_shows_it(pod: dict[str, Any], status: str) -> None:
    assert pod_status(pod) == status


def test_worker_pods_get_their_cpu_from_the_metrics_api_and_their_events_per_second() -> None:
    # Given two worker pods, one not ready yet, and the metrics API's usage of the first
    pods = {"items": [a_pod("hzz-worker-b", ready=False), a_pod("hzz-worker-a")]}
    metrics = {"items": [{"metadata": {"name": "hzz-worker-a"}, "containers": [{"usage": {"cpu": "480123456n"}}]}]}
    # When the monitor turns them into pod lines
    lines = worker_pods(pods, metrics, {"hzz-worker-a": 18000.0}, timestamp="2026-11-25T10:30:00Z", now=NOW)
    # Then each pod has kubectl's columns, its CPU and events/s where known
    assert lines == [
        (WorkerPodSample("2026-11-25T10:30:00Z", "hzz-worker-a", "Running", True, 1, 480, 18000.0), "2m2s"),
        (WorkerPodSample("2026-11-25T10:30:00Z", "hzz-worker-b", "Running", False, 1, None, None), "2m2s"),
    ]
    # And they read back from the log as they were
    text = "=== 2026-11-25T10:30:00Z\n" + "\n".join(format_pod_line(p, age) for p, age in lines)
    assert parse_pod_log(text)[1] == [p for p, _ in lines]


def test_no_answer_from_the_api_means_no_pod_lines() -> None:
    assert worker_pods(None, None, {}, timestamp="2026-11-25T10:30:00Z", now=NOW) == []


#: The CPU metric of k8s/worker-hpa.yaml, and a reading of it; KEDA's queue metric and a reading.
CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
CPU_NOW = {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 383}}}
QUEUE_NAME = {"name": "s0-rabbitmq-hzz.tasks"}
QUEUE = {
    "type": "External",
    "external": {"metric": QUEUE_NAME, "target": {"type": "AverageValue", "averageValue": "2"}},
}
QUEUE_NOW = {"type": "External", "external": {"metric": QUEUE_NAME, "current": {"averageValue": "203"}}}


def an_hpa(metric: dict[str, Any] = CPU, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "hzz-worker", "creationTimestamp": "2026-11-25T10:29:15Z"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "hzz-worker"},
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [metric],
        },
        "status": status,
    }


@pytest.mark.parametrize(
    ("hpa", "line", "sample"),
    [
        # autoscaling/v2, with a reading
        (
            an_hpa(currentReplicas=2, desiredReplicas=4, currentMetrics=[CPU_NOW]),
            "hzz-worker   Deployment/hzz-worker   cpu: 383%/50%   1   4   2   45s",
            HpaSample("2026-11-25T10:30:00Z", 2, 383.0, 50.0, 1, 4),
        ),
        # just created: no reading, no replicas yet
        (an_hpa(), "hzz-worker   Deployment/hzz-worker   cpu: <unknown>/50%   1   4   0   45s",
         HpaSample("2026-11-25T10:30:00Z", None, None, 50.0, 1, 4)),
        # autoscaling/v1
        (
            {"metadata": {"name": "hzz-worker"}, "spec": {"maxReplicas": 4, "targetCPUUtilizationPercentage": 50},
             "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 12}},
            "hzz-worker   Deployment/hzz-worker   cpu: 12%/50%   1   4   1   ?",
            HpaSample("2026-11-25T10:30:00Z", 1, 12.0, 50.0, 1, 4),
        ),
        # KEDA's: an external metric, the queue length per pod
        (
            an_hpa(QUEUE, currentReplicas=4, currentMetrics=[QUEUE_NOW]),
            "hzz-worker   Deployment/hzz-worker   s0-rabbitmq-hzz.tasks: 203/2 (avg)   1   4   4   45s",
            HpaSample("2026-11-25T10:30:00Z", 4, None, None, 1, 4),
        ),
    ],
)  # fmt: skip
def test_the_hpa_line_is_kubectl_s_and_reads_back(hpa: dict[str, Any], line: str, sample: HpaSample) -> None:
    assert hpa_line(hpa, now=NOW) == line
    assert parse_hpa_log(f"=== 2026-11-25T10:30:00Z\n{line}\n") == [sample]


def test_a_missing_hpa_is_a_line_the_reader_skips() -> None:
    assert parse_hpa_log(f"=== 2026-11-25T10:30:00Z\n{hpa_line(None, now=NOW)}\n") == []


def test_node_cpu_counts_busy_and_all_jiffies_of_every_core() -> None:
    text = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\ncpu1 50 3 25 400 20 2 1 0 0 0\nintr 12345\n"
    busy, total, cores = node_cpu_times(text)
    assert (busy, total, cores) == (160.0, 1000.0, 2)


def write_results(folder: Path, *, events: int, per_worker: dict[str, int], mtime: float, run: str = "r1") -> None:
    workers = {name: {"chunks": 1, "events_read": n, "busy_seconds": 1.0} for name, n in per_worker.items()}
    content = {"run_id": run, "tally": {"done": 3, "total": 9}, "events": {"read": events}, "workers": workers}
    (folder / "results.json").write_text(json.dumps(content))
    os.utime(folder / "results.json", (mtime, mtime))


def a_monitor(folder: Path) -> Monitor:
    # No Kubernetes API needed for what these tests call; port 9 (discard) answers nothing here.
    return Monitor(folder, api=None, broker_api="http://127.0.0.1:9", queue="hzz.tasks", credentials=("u", "p"))  # type: ignore[arg-type]


def test_a_pod_s_events_per_second_are_between_the_two_latest_results_versions(tmp_path: Path) -> None:
    monitor = a_monitor(tmp_path)
    # Given no results.json yet: nothing known
    assert monitor.run_progress() == (None, {})
    # Given a first version: no rate yet (nothing to compare with)
    write_results(tmp_path, events=1000, per_worker={"hzz-worker-a:1": 1000}, mtime=1_000_000.0)
    assert monitor.run_progress()[1] == {}
    # When the aggregator rewrote it 4 s later, with a second pod (and a second process in pod a)
    write_results(
        tmp_path,
        events=9000,
        per_worker={"hzz-worker-a:1": 3000, "hzz-worker-a:7": 2000, "hzz-worker-b:1": 4000},
        mtime=1_000_004.0,
    )
    results, per_pod = monitor.run_progress()
    # Then each pod's rate is over those 4 s, adding up its processes
    assert results is not None and results["tally"]["done"] == 3
    assert per_pod == {"hzz-worker-a": 1000.0, "hzz-worker-b": 1000.0}
    # And while the file is not rewritten (an aggregator short of CPU) those rates still stand
    assert monitor.run_progress()[1] == {"hzz-worker-a": 1000.0, "hzz-worker-b": 1000.0}
    # And once the run is over, nothing is processed
    content = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**content, "finished_at": "2026-11-25T10:40:00Z"}))
    os.utime(tmp_path / "results.json", (1_000_004.0, 1_000_004.0))
    assert monitor.run_progress()[1] == {"hzz-worker-a": 0.0, "hzz-worker-b": 0.0}
    # And a new run starts over
    write_results(tmp_path, events=10, per_worker={}, mtime=1_000_010.0, run="r2")
    assert monitor.run_progress()[1] == {}


def test_tasks_per_second_come_from_the_broker_s_own_samples_of_its_acknowledgements(tmp_path: Path) -> None:
    monitor = a_monitor(tmp_path)
    # The management API's answer with msg_rates_age: the ack counter's samples, newest first
    queue = {
        "messages_ready": 812,
        "messages_unacknowledged": 4,
        "message_stats": {
            "ack": 210,
            "ack_details": {
                "rate": 9.0,
                "samples": [{"sample": 210, "timestamp": 1_000_010_000}, {"sample": 160, "timestamp": 1_000_005_000}],
            },
        },
    }
    assert monitor._ack_rate(queue) == 10.0
    # Without samples, the counter's change since the previous look (none yet: unknown)
    assert monitor._ack_rate({"messages_ready": 5, "message_stats": {"ack": 100}}) is None
    # A queue nobody has acknowledged from yet: 0 tasks/s
    assert monitor._ack_rate({"messages_ready": 5}) == 0.0


def test_the_node_s_cpu_is_read_from_proc_stat_as_a_share_of_all_cores(tmp_path: Path) -> None:
    monitor = a_monitor(tmp_path)
    first, cores = monitor.node_cpu()
    assert first is None and cores == os.cpu_count()
    sum(i * i for i in range(300_000))  # a little work between the two readings
    percent, _ = monitor.node_cpu()
    assert percent is not None and 0.0 <= percent <= 100.0


def test_an_unreachable_broker_gives_an_unknown_queue_depth(tmp_path: Path) -> None:
    # The sample says "?" instead of failing
    assert a_monitor(tmp_path).queue() == (None, None, None)
