"""shared/scaling.py: the scaling logs' format, and the logs or CSVs read back as samples."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hzz.shared.scaling import (
    HpaSample,
    ScalingSample,
    WorkerPodSample,
    format_pod_line,
    format_summary,
    load_hpa,
    load_timeline,
    load_worker_pods,
    parse_hpa_log,
    parse_pod_log,
    parse_timestamp,
    read_csv,
)

#: The older format: bare headers and kubectl's own pod lines (still read, e.g. logs of earlier runs).
KUBECTL_POD_LOG = """\
some noise before the first block
=== 2026-11-25T10:30:00Z
hzz-worker-6b7f9c-abcde   1/1   Running   0          40s
=== 2026-11-25T10:30:10Z
hzz-worker-6b7f9c-abcde   1/1   Running   0          50s
hzz-worker-6b7f9c-fghij   0/1   ContainerCreating   0   2s
hzz-worker-6b7f9c-klmno   0/1   Pending   0          2s

=== 2026-11-25T10:30:20Z
hzz-worker-6b7f9c-abcde   1/1   Running   1 (5s ago)   60s
hzz-worker-6b7f9c-fghij   0/1   Running   0          12s
hzz-worker-6b7f9c-klmno   1/1   Terminating   0      12s
=== 2026-11-25T10:30:30Z
No resources found in default namespace.
=== 2026-11-25T10:30:40Z
The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?
=== 2026-11-25T10:30:50Z
"""

#: What the monitor writes: a summary per block, then the pods with their CPU and events/s.
MONITOR_POD_LOG = """\
=== 2026-11-25T10:30:00Z  pods: ? desired, 0 running, 0 ready, 0 in all | queue: ? ready, ? unacked | chunks: ?/? | ? chunks/s, ? events/s | cpu: ? per pod, node ? of 2 cores
=== 2026-11-25T10:30:05Z  pods: 4 desired, 3 running, 2 ready, 4 in all | queue: 812 ready, 2 unacked | chunks: 120/1600 | 20.6 chunks/s, 41200 events/s | cpu: 480m per pod, node 97% of 2 cores
hzz-worker-6b7f9c-abcde   1/1   Running   0   50s   cpu=512m   events/s=18000
hzz-worker-6b7f9c-fghij   1/1   Running   0   9s   cpu=700m   events/s=23200
hzz-worker-6b7f9c-klmno   0/1   Running   0   9s   cpu=?   events/s=?
hzz-worker-6b7f9c-pqrst   0/1   ContainerCreating   0   2s   cpu=?   events/s=?
"""  # noqa: E501

HPA_LOG = """\
=== 2026-11-25T10:30:00Z
hzz-worker   Deployment/hzz-worker   <unknown>/50%   1   8   0   5s
=== 2026-11-25T10:30:10Z
hzz-worker   Deployment/hzz-worker   87%/50%   1   8   2   15s
=== 2026-11-25T10:30:20Z
hzz-worker   Deployment/hzz-worker   cpu: 120%/50%   1   8   4   25s
=== 2026-11-25T10:30:30Z
Error from server (NotFound): horizontalpodautoscalers.autoscaling "hzz-worker" not found
=== 2026-11-25T10:30:40Z
hzz-worker   Deployment/hzz-worker   cpu: 45%/50%, memory: 30%/80%   1   8   3   45s
=== 2026-11-25T10:30:50Z
no HPA hzz-worker (yet)
"""


# ---- timestamps ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:30:00Z", "2026-11-25T10:30:00Z"),
        ("2026-11-25T11:30:00+01:00", "2026-11-25T10:30:00Z"),
        ("2026-11-25T10:30:00.123456Z", "2026-11-25T10:30:00Z"),
        ("2026-11-25 10:30:00", "2026-11-25T10:30:00Z"),
        ("Wed Nov 25 10:30:00 UTC 2026", "2026-11-25T10:30:00Z"),
        ("Wed Nov  5 10:30:00 2026", "2026-11-05T10:30:00Z"),
        ("hzz-worker-1 1/1 Running 0 5s", None),
        ("", None),
        ("Wed Foo 25 10:30:00 UTC 2026", None),
    ],
)
def test_timestamps_are_normalised_to_utc(text: str, expected: str | None) -> None:
    assert parse_timestamp(text) == expected


# ---- pod log ----


def test_the_monitor_s_summary_and_pod_lines_are_read_with_unknowns_as_none() -> None:
    # Given two blocks of the monitor: one before anything ran, one in the middle of a run
    timeline, pods = parse_pod_log(MONITOR_POD_LOG)
    # Then each summary is one sample, "?" read as unknown
    assert timeline == [
        ScalingSample("2026-11-25T10:30:00Z", running=0, ready=0, total=0, node_cores=2),
        ScalingSample(
            "2026-11-25T10:30:05Z",
            desired=4,
            running=3,
            ready=2,
            total=4,
            queue_ready=812,
            queue_unacked=2,
            chunks_done=120,
            chunks_total=1600,
            chunks_per_second=20.6,
            events_per_second=41200.0,
            cpu_millicores_per_pod=480,
            node_cpu_percent=97.0,
            node_cores=2,
        ),
    ]
    # And each pod line is the pod at that time, its readiness, CPU and events/s
    assert [(p.pod[-5:], p.status, p.ready, p.cpu_millicores, p.events_per_second) for p in pods] == [
        ("abcde", "Running", True, 512, 18000.0),
        ("fghij", "Running", True, 700, 23200.0),
        ("klmno", "Running", False, None, None),
        ("pqrst", "ContainerCreating", False, None, None),
    ]


def test_what_the_monitor_formats_reads_back_the_same() -> None:
    sample = ScalingSample(
        "2026-11-25T10:31:00Z", 2, 2, 1, 3, 0, 1, 1599, 1600, 0.6, 1234.0, 950, 55.0, 4
    )  # every field set
    unknown = ScalingSample("2026-11-25T10:31:05Z")  # every field unknown
    pod = WorkerPodSample("2026-11-25T10:31:00Z", "hzz-worker-1", "Running", True, 2, 950, 1234.0)
    text = "\n".join([format_summary(sample), format_pod_line(pod, "3m2s"), format_summary(unknown)])
    assert parse_pod_log(text) == ([sample, unknown], [pod])


def test_kubectl_pod_lines_count_running_ready_and_all_pods_per_block() -> None:
    # Given blocks of pods in several states, an empty block, a "No resources" and an error block
    timeline, pods = parse_pod_log(KUBECTL_POD_LOG)
    # Then Running, Ready-and-Running and all pods are counted per timestamp; a Running pod that is
    # not Ready is not counted as ready; the unreachable block is skipped; empty answers are zero
    assert timeline == [
        ScalingSample("2026-11-25T10:30:00Z", running=1, ready=1, total=1),
        ScalingSample("2026-11-25T10:30:10Z", running=1, ready=1, total=3),
        ScalingSample("2026-11-25T10:30:20Z", running=2, ready=1, total=3),
        ScalingSample("2026-11-25T10:30:30Z", running=0, ready=0, total=0),
        ScalingSample("2026-11-25T10:30:50Z", running=0, ready=0, total=0),
    ]
    assert len(pods) == 7 and pods[4].restarts == 1  # kubectl's "1 (5s ago)"


def test_a_pod_log_of_date_headers_and_column_titles_is_read_too() -> None:
    text = (
        "Wed Nov 25 10:30:00 UTC 2026\n"
        "NAME                      READY   STATUS    RESTARTS   AGE\n"
        "hzz-worker-1              1/1     Running   0          1m\n"
        "=== Wed Nov 25 10:30:10 UTC 2026\n"
        "hzz-worker-1              1/1     Running   0          1m\n"
        "hzz-worker-2              1/1     Running   0          5s\n"
    )
    assert parse_pod_log(text)[0] == [
        ScalingSample("2026-11-25T10:30:00Z", running=1, ready=1, total=1),
        ScalingSample("2026-11-25T10:30:10Z", running=2, ready=2, total=2),
    ]


def test_a_header_that_is_not_a_time_drops_its_block() -> None:
    text = "=== garbled\nhzz-worker-1 1/1 Running 0 1m\n=== 2026-11-25T10:30:10Z\nhzz-worker-1 1/1 Running 0 1m\n"
    assert parse_pod_log(text)[0] == [ScalingSample("2026-11-25T10:30:10Z", running=1, ready=1, total=1)]


def test_an_empty_or_headerless_log_has_no_samples() -> None:
    assert parse_pod_log("") == ([], [])
    assert parse_pod_log("hzz-worker-1 1/1 Running 0 1m\n") == ([], [])


# ---- HPA log ----


def test_hpa_replicas_and_cpu_are_read_in_old_and_new_kubectl_formats() -> None:
    assert parse_hpa_log(HPA_LOG) == [
        # 0 replicas below a minimum of 1: the HPA has not looked yet, not "no pods"
        HpaSample("2026-11-25T10:30:00Z", None, None, 50.0, 1, 8),
        HpaSample("2026-11-25T10:30:10Z", 2, 87.0, 50.0, 1, 8),
        HpaSample("2026-11-25T10:30:20Z", 4, 120.0, 50.0, 1, 8),
        HpaSample("2026-11-25T10:30:40Z", 3, 45.0, 50.0, 1, 8),
    ]


def test_an_hpa_on_a_queue_metric_keeps_its_replicas_without_a_cpu_reading() -> None:
    # KEDA's HPA: an external metric, the tasks per pod against the target
    line = "hzz-worker   Deployment/hzz-worker   s0-rabbitmq-hzz.tasks: 812/2 (avg)   1   4   4   30s"
    text = f"=== 2026-11-25T10:30:00Z\n{line}\n"
    assert parse_hpa_log(text) == [HpaSample("2026-11-25T10:30:00Z", 4, None, None, 1, 4)]


def test_an_hpa_line_without_replica_columns_keeps_its_cpu() -> None:
    assert parse_hpa_log("=== 2026-11-25T10:30:00Z\nhzz-worker Deployment/hzz-worker 12%/50%\n") == [
        HpaSample("2026-11-25T10:30:00Z", None, 12.0, 50.0)
    ]


# ---- CSV and loading ----


def test_a_csv_of_the_older_format_and_with_bad_rows_is_read(tmp_path: Path) -> None:
    (tmp_path / "pod_scaling.csv").write_text(
        "timestamp,pods,total\n2026-11-25T10:30:00Z,3,4\nnot a time,4,4\n2026-11-25T10:30:10Z,many,2\n"
        "2026-11-25T10:30:20Z,2,\n"
    )
    assert read_csv(tmp_path / "pod_scaling.csv", ScalingSample) == [
        ScalingSample("2026-11-25T10:30:00Z", running=3, total=4),
        ScalingSample("2026-11-25T10:30:20Z", running=2),
    ]


def test_the_newer_of_log_and_csv_is_read(tmp_path: Path) -> None:
    # Given a CSV from an earlier conversion and a log that has grown since
    (tmp_path / "pod_scaling.csv").write_text("timestamp,running,total\n2026-11-25T10:00:00Z,9,9\n")
    (tmp_path / "pod_scaling.log").write_text(MONITOR_POD_LOG)
    old = time.time() - 60
    os.utime(tmp_path / "pod_scaling.csv", (old, old))
    # Then the log is read
    assert len(load_timeline(tmp_path)) == 2 and len(load_worker_pods(tmp_path)) == 4
    # And when the CSV is the newer file, the CSV is read
    os.utime(tmp_path / "pod_scaling.log", (old - 60, old - 60))
    assert load_timeline(tmp_path) == [ScalingSample("2026-11-25T10:00:00Z", running=9, total=9)]


def test_loading_a_folder_without_scaling_files_gives_no_rows(tmp_path: Path) -> None:
    assert load_timeline(tmp_path) == [] and load_hpa(tmp_path) == [] and load_worker_pods(tmp_path) == []
    assert load_hpa(tmp_path / "missing") == []


def test_the_read_side_needs_no_plotting_no_physics_and_no_dev_tools() -> None:
    # The web page reads the scaling files through this module: importing it, or building the
    # page's application, must not pull in matplotlib, numpy or hzz.devtools.
    code = (
        "import sys; import hzz.shared.scaling; from hzz.webserver import create_app; "
        "create_app({'OUTPUT_DIR': '.'}).test_client().get('/api/scaling'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'numpy', 'uproot') "
        "or m.startswith('hzz.devtools')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
