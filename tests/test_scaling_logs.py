"""shared/scaling_logs.py: deploy.sh's pod and HPA logs → rows → CSV → scaling.png."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from hzz.devtools.scaling_logs import (
    HpaSample,
    PodSample,
    convert,
    draw_scaling_png,
    load_hpa_samples,
    load_pod_samples,
    main,
    parse_hpa_log,
    parse_pod_log,
    parse_timestamp,
    read_csv,
    write_csv,
)

POD_LOG = """\
some noise before the first block
=== 2026-11-25T10:30:00Z
hzz-worker-6b7f9c-abcde   1/1   Running   0          40s
=== 2026-11-25T10:30:10Z
hzz-worker-6b7f9c-abcde   1/1   Running   0          50s
hzz-worker-6b7f9c-fghij   0/1   ContainerCreating   0   2s
hzz-worker-6b7f9c-klmno   0/1   Pending   0          2s

=== 2026-11-25T10:30:20Z
hzz-worker-6b7f9c-abcde   1/1   Running   1 (5s ago)   60s
hzz-worker-6b7f9c-fghij   1/1   Running   0          12s
hzz-worker-6b7f9c-klmno   1/1   Terminating   0      12s
=== 2026-11-25T10:30:30Z
No resources found in default namespace.
=== 2026-11-25T10:30:40Z
The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?
=== 2026-11-25T10:30:50Z
"""

HPA_LOG = """\
=== 2026-11-25T10:30:00Z
hzz-worker   Deployment/hzz-worker   <unknown>/50%   1   8   1   5s
=== 2026-11-25T10:30:10Z
hzz-worker   Deployment/hzz-worker   87%/50%   1   8   2   15s
=== 2026-11-25T10:30:20Z
hzz-worker   Deployment/hzz-worker   cpu: 120%/50%   1   8   4   25s
=== 2026-11-25T10:30:30Z
Error from server (NotFound): horizontalpodautoscalers.autoscaling "hzz-worker" not found
=== 2026-11-25T10:30:40Z
hzz-worker   Deployment/hzz-worker   cpu: 45%/50%, memory: 30%/80%   1   8   3   45s
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


def test_running_and_total_pods_are_counted_per_block() -> None:
    # Given blocks of pods in several states, an empty block, a "No resources" and an error block
    samples = parse_pod_log(POD_LOG)
    # Then Running pods and all pods are counted per timestamp, the unreachable block is skipped,
    # and empty answers are zero pods
    assert samples == [
        PodSample("2026-11-25T10:30:00Z", 1, 1),
        PodSample("2026-11-25T10:30:10Z", 1, 3),
        PodSample("2026-11-25T10:30:20Z", 2, 3),
        PodSample("2026-11-25T10:30:30Z", 0, 0),
        PodSample("2026-11-25T10:30:50Z", 0, 0),
    ]


def test_a_pod_log_of_date_headers_and_column_titles_is_read_too() -> None:
    # Given `date` output as headers (with and without ===) and kubectl's column titles
    text = (
        "Wed Nov 25 10:30:00 UTC 2026\n"
        "NAME                      READY   STATUS    RESTARTS   AGE\n"
        "hzz-worker-1              1/1     Running   0          1m\n"
        "=== Wed Nov 25 10:30:10 UTC 2026\n"
        "hzz-worker-1              1/1     Running   0          1m\n"
        "hzz-worker-2              1/1     Running   0          5s\n"
    )
    assert parse_pod_log(text) == [PodSample("2026-11-25T10:30:00Z", 1, 1), PodSample("2026-11-25T10:30:10Z", 2, 2)]


def test_a_header_that_is_not_a_time_drops_its_block() -> None:
    text = "=== garbled\nhzz-worker-1 1/1 Running 0 1m\n=== 2026-11-25T10:30:10Z\nhzz-worker-1 1/1 Running 0 1m\n"
    assert parse_pod_log(text) == [PodSample("2026-11-25T10:30:10Z", 1, 1)]


def test_an_empty_or_headerless_log_has_no_samples() -> None:
    assert parse_pod_log("") == []
    assert parse_pod_log("hzz-worker-1 1/1 Running 0 1m\n") == []


# ---- HPA log ----


def test_hpa_replicas_and_cpu_are_read_in_old_and_new_kubectl_formats() -> None:
    assert parse_hpa_log(HPA_LOG) == [
        HpaSample("2026-11-25T10:30:00Z", 1, None, 50.0),
        HpaSample("2026-11-25T10:30:10Z", 2, 87.0, 50.0),
        HpaSample("2026-11-25T10:30:20Z", 4, 120.0, 50.0),
        HpaSample("2026-11-25T10:30:40Z", 3, 45.0, 50.0),
    ]


def test_an_hpa_line_without_replica_columns_keeps_its_cpu() -> None:
    assert parse_hpa_log("=== 2026-11-25T10:30:00Z\nhzz-worker Deployment/hzz-worker 12%/50%\n") == [
        HpaSample("2026-11-25T10:30:00Z", None, 12.0, 50.0)
    ]


# ---- CSV ----


def test_csv_round_trips_with_the_documented_columns(tmp_path: Path) -> None:
    pods, hpa = parse_pod_log(POD_LOG), parse_hpa_log(HPA_LOG)
    write_csv(pods, tmp_path / "pod_scaling.csv", PodSample)
    write_csv(hpa, tmp_path / "hpa_metrics.csv", HpaSample)
    pod_lines = (tmp_path / "pod_scaling.csv").read_text().splitlines()
    hpa_lines = (tmp_path / "hpa_metrics.csv").read_text().splitlines()
    assert pod_lines[:3] == ["timestamp,pods,total", "2026-11-25T10:30:00Z,1,1", "2026-11-25T10:30:10Z,1,3"]
    assert hpa_lines[:3] == [
        "timestamp,replicas,cpu_percent,target_percent",
        "2026-11-25T10:30:00Z,1,,50",
        "2026-11-25T10:30:10Z,2,87,50",
    ]
    assert read_csv(tmp_path / "pod_scaling.csv", PodSample) == pods
    assert read_csv(tmp_path / "hpa_metrics.csv", HpaSample) == hpa


def test_an_empty_csv_still_names_its_columns(tmp_path: Path) -> None:
    write_csv([], tmp_path / "hpa_metrics.csv", HpaSample)
    assert (tmp_path / "hpa_metrics.csv").read_text() == "timestamp,replicas,cpu_percent,target_percent\n"
    assert read_csv(tmp_path / "hpa_metrics.csv", HpaSample) == []


def test_a_hand_written_csv_without_total_and_with_bad_rows_is_read(tmp_path: Path) -> None:
    (tmp_path / "pod_scaling.csv").write_text(
        "timestamp,pods\n2026-11-25T10:30:00Z,3\nnot a time,4\n2026-11-25T10:30:10Z,many\n2026-11-25T10:30:20Z,2\n"
    )
    assert read_csv(tmp_path / "pod_scaling.csv", PodSample) == [
        PodSample("2026-11-25T10:30:00Z", 3, 3),
        PodSample("2026-11-25T10:30:20Z", 2, 2),
    ]


def test_csv_files_are_written_whole_and_readable_by_others(tmp_path: Path) -> None:
    write_csv(parse_pod_log(POD_LOG), tmp_path / "pod_scaling.csv", PodSample)
    assert [p.name for p in tmp_path.iterdir()] == ["pod_scaling.csv"]  # no temporary file left
    assert stat.S_IMODE((tmp_path / "pod_scaling.csv").stat().st_mode) == 0o644


# ---- loading for the page ----


def test_the_newer_of_log_and_csv_is_read(tmp_path: Path) -> None:
    # Given a CSV from an earlier conversion and a log that has grown since
    write_csv([PodSample("2026-11-25T10:00:00Z", 9, 9)], tmp_path / "pod_scaling.csv", PodSample)
    (tmp_path / "pod_scaling.log").write_text(POD_LOG)
    old = time.time() - 60
    os.utime(tmp_path / "pod_scaling.csv", (old, old))
    # Then the log is read
    assert len(load_pod_samples(tmp_path)) == 5
    # And when the CSV is the newer file, the CSV is read
    os.utime(tmp_path / "pod_scaling.log", (old - 60, old - 60))
    assert load_pod_samples(tmp_path) == [PodSample("2026-11-25T10:00:00Z", 9, 9)]


def test_loading_a_folder_without_scaling_files_gives_no_rows(tmp_path: Path) -> None:
    assert load_pod_samples(tmp_path) == [] and load_hpa_samples(tmp_path) == []
    assert load_hpa_samples(tmp_path / "missing") == []


# ---- conversion and chart ----


def test_convert_writes_both_csvs_and_the_chart(tmp_path: Path) -> None:
    (tmp_path / "pod_scaling.log").write_text(POD_LOG)
    (tmp_path / "hpa_metrics.log").write_text(HPA_LOG)
    written = convert(tmp_path)
    assert [p.name for p in written] == ["pod_scaling.csv", "hpa_metrics.csv", "scaling.png"]
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_hpa_samples(tmp_path) == parse_hpa_log(HPA_LOG)


def test_convert_without_logs_writes_nothing(tmp_path: Path) -> None:
    assert convert(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["pods", "hpa"])
def test_the_chart_is_drawn_from_either_log_alone(tmp_path: Path, which: str) -> None:
    pods = parse_pod_log(POD_LOG) if which == "pods" else []
    hpa = parse_hpa_log(HPA_LOG) if which == "hpa" else []
    draw_scaling_png(pods, hpa, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 1000


def test_the_command_line_converts_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hpa_metrics.log").write_text(HPA_LOG)
    assert main([str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hpa_metrics.csv", "hpa_metrics.log", "scaling.png"]


def test_the_command_line_takes_the_folder_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(tmp_path))
    assert main([]) == 0
    assert "nothing written" in capsys.readouterr().out


def test_the_command_line_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
