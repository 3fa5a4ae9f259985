"""hzz/devtools/scaling_logs.py and scaling_report.py: the monitor's logs → CSVs, scaling.png, scaling.md."""

from __future__ import annotations

import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hzz.devtools.scaling_logs import convert, draw_scaling_png, main, write_csv
from hzz.devtools.scaling_report import console_lines, markdown, rows, summarise
from hzz.shared.scaling import (
    HpaSample,
    ScalingSample,
    WorkerPodSample,
    format_pod_line,
    format_summary,
    parse_hpa_log,
    parse_pod_log,
    read_csv,
)

START = datetime(2026, 11, 25, 10, 30, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def a_scaling_run() -> tuple[list[ScalingSample], list[HpaSample], dict]:
    """A run sampled every 5 s from -10 s to +250 s: it starts at 0 and ends at +150 s with 1 pod at
    10 000 events/s, 4 desired at +30 s, 4 ready from +45 s at 19 000 events/s on a saturated node,
    the queue empty at +150 s, and the pods back to 1 in steps at +40, +55 and +70 s after the end."""
    timeline, hpa = [], []
    for t in range(-10, 255, 5):
        during = 0 < t <= 150
        desired = 1 if t < 30 else 4 if t < 190 else max(1, 4 - (t - 175) // 15)
        ready = 1 if t < 45 else desired
        total = desired + (1 if t in (190, 205, 220) else 0)  # a pod terminating as the next goes
        rate = (10_000.0 if ready == 1 else 19_000.0) if during else 0.0
        queue = max(0, 1500 - 10 * t) if t >= 0 else None
        timeline.append(
            ScalingSample(
                stamp(t), desired, ready, ready, total, queue, 0 if queue == 0 else (ready if t >= 0 else None),
                None, None, rate / 2000, rate, 900, (50.0 if ready == 1 else 98.0) if during else 4.0, 2,
            )
        )  # fmt: skip
        cpu = None if t < 20 else 380.0 if during else 5.0
        hpa.append(HpaSample(stamp(t), desired, cpu, 50.0, 1, 4))
    results = {
        "run_id": "20261125-103000-abcdef",
        "state": "complete",
        "started_at": stamp(0),
        "finished_at": stamp(150),
        "tally": {"total": 1500, "done": 1500},
        "events": {"read": 3_000_000},
        "workers": {
            "hzz-worker-a:1": {"chunks": 900, "events_read": 1_800_000, "busy_seconds": 200.0},
            "hzz-worker-b:1": {"chunks": 200, "events_read": 400_000, "busy_seconds": 80.0},
            "hzz-worker-b:9": {"chunks": 400, "events_read": 800_000, "busy_seconds": 120.0},
        },
    }
    return timeline, hpa, results


# ---- the report's numbers ----


def test_the_report_measures_scale_up_peak_speed_up_queue_saturation_and_scale_down() -> None:
    timeline, hpa, results = a_scaling_run()
    r = summarise(timeline, hpa, results)
    assert (r.first_scale_up, r.start_pods, r.first_scale_up_to) == (30.0, 1, 4)
    assert (r.peak_pods, r.peak_at) == (4, 45.0)
    assert r.first_reading == 20.0 and r.first_reading_percent == 380.0
    # 1 pod: +5 … +45 s (the +45 s sample already has 4 Ready and is left out: pods changed)
    assert (r.one_pod_rate, r.one_pod_samples) == (10_000.0, 8)
    assert (r.peak_rate, r.peak_samples) == (19_000.0, 21)
    assert r.speed_up == pytest.approx(1.9) and r.efficiency == pytest.approx(0.475)
    assert (r.queue_peak, r.queue_empty_at) == (1500, 150.0)
    assert (r.node_cores, r.node_busy_at_peak, r.saturated) == (2, 98.0, True)
    assert r.scale_down == [(40.0, 3), (55.0, 2), (70.0, 1)]
    assert (r.min_pods, r.back_to_min) == (1, 75.0)  # the last terminating pod is gone by +75 s
    assert r.interval == 5.0 and r.run_seconds == 150.0
    assert r.warnings == []
    # and per pod, from results.json's workers, a pod's processes together
    assert [tuple(w.values()) for w in r.workers] == [
        ("hzz-worker-a", 900, 1_800_000, 200.0, 9000.0),
        ("hzz-worker-b", 600, 1_200_000, 200.0, 6000.0),
    ]
    assert list(r.workers[0]) == ["pod", "chunks", "events_read", "busy_seconds", "events_per_second"]


def test_a_run_that_ends_before_the_autoscaler_s_first_reading_warns_naming_the_scaling_demo() -> None:
    # Given an 11 s run during which the HPA had no CPU reading yet
    timeline, hpa, results = a_scaling_run()
    results["finished_at"] = stamp(11)
    hpa = [HpaSample(h.timestamp, 1, None if h.timestamp <= stamp(15) else 3.0, 50.0, 1, 4) for h in hpa]
    # Then the report says so and what to run instead
    r = summarise(timeline, hpa, results)
    assert r.first_reading is None
    (warning,) = r.warnings
    assert "before the autoscaler's first CPU reading" in warning and "bash deploy.sh --scaling-demo" in warning
    assert f"warning: {warning}" in console_lines(r)


def test_pods_removed_while_work_was_left_are_reported() -> None:
    # Given a run during which the autoscaler went from 4 to 3 pods at +100 s (other work took the CPU)
    timeline, hpa, results = a_scaling_run()
    timeline = [
        ScalingSample(**{**s.__dict__, "desired": 3}) if stamp(100) <= s.timestamp <= stamp(185) else s
        for s in timeline
    ]
    r = summarise(timeline, hpa, results)
    assert r.down_during_run == [(100.0, 3)]
    assert any("removed pods during the run (to 3 at +100 s)" in w for w in r.warnings)
    # And the scale-down after the run starts from there
    assert r.scale_down == [(55.0, 2), (70.0, 1)]


def test_a_gap_in_the_record_is_reported_with_its_size() -> None:
    # Given a record with the samples from +60 s to +120 s missing (a starved or restarted monitor)
    timeline, hpa, results = a_scaling_run()
    timeline = [s for s in timeline if not stamp(60) <= s.timestamp <= stamp(120)]
    r = summarise(timeline, hpa, results)
    assert r.interval == 5.0 and r.largest_gap == (START + timedelta(seconds=55), 70.0)
    assert any("a gap of 70 s after 10:30:55 UTC" in w for w in r.warnings)
    assert "the largest gap 70 s" in markdown(r)


def test_without_a_one_pod_phase_there_is_no_speed_up_and_it_says_why() -> None:
    timeline, hpa, results = a_scaling_run()
    timeline = [ScalingSample(s.timestamp, 4, 4, 4, 4, events_per_second=s.events_per_second) for s in timeline]
    r = summarise(timeline, hpa, results)
    assert r.speed_up is None and any("no interval with exactly one pod" in w for w in r.warnings)


def test_without_results_only_the_timeline_is_reported() -> None:
    timeline, hpa, _ = a_scaling_run()
    r = summarise(timeline, hpa, None)
    assert r.first_scale_up is None and r.warnings == ["no results.json of a run: only the timeline is shown"]
    assert "| time to first scale-up | – s" not in markdown(r)  # unknown values are a dash
    assert "| time to first scale-up | – " in markdown(r)


def test_scaling_md_shows_each_number_and_how_it_is_computed() -> None:
    timeline, hpa, results = a_scaling_run()
    text = markdown(summarise(timeline, hpa, results))
    assert text.startswith("# Scaling report: run 20261125-103000-abcdef\n")
    table = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|$", text, re.M))
    assert table.pop("measure") == "value"
    assert table["time to first scale-up"].startswith("30 s after the run started (1 → 4 pods desired)")
    assert table["peak pods"] == "4 Ready, first at 45 s"
    assert table["throughput with one pod"].startswith("10,000 events/s")
    assert table["speed-up"].startswith("1.90× with 4 pods")
    assert table["parallel efficiency"] == "48 %"
    assert table["node CPU at peak"].startswith("98 % busy of 2 cores: saturated")
    assert (
        table["time to scale back down"]
        == "75 s after the run ended, to 1 pods (steps: 3 at +40 s, 2 at +55 s, 1 at +70 s)"
    )
    assert "| hzz-worker-b | 600 | 1,200,000 | 200.0 | 6,000 |" in text
    assert "## How these are computed" in text and "**parallel efficiency**" in text
    assert list(table) == [measure for measure, _ in rows(summarise(timeline, hpa, results))]


# ---- CSV, chart, conversion ----


def test_csvs_round_trip_with_a_column_per_field(tmp_path: Path) -> None:
    timeline, hpa, _ = a_scaling_run()
    pods = [WorkerPodSample(stamp(5), "hzz-worker-a", "Running", True, 0, 950, 10_000.0)]
    for rows_, name, kind in ((timeline, "pod_scaling.csv", ScalingSample), (hpa, "hpa_metrics.csv", HpaSample),
                              (pods, "worker_pods.csv", WorkerPodSample)):  # fmt: skip
        write_csv(rows_, tmp_path / name, kind)
        assert read_csv(tmp_path / name, kind) == rows_
    lines = (tmp_path / "pod_scaling.csv").read_text().splitlines()
    assert lines[0] == (
        "timestamp,desired,running,ready,total,queue_ready,queue_unacked,chunks_done,chunks_total,"
        "chunks_per_second,events_per_second,cpu_millicores_per_pod,node_cpu_percent,node_cores"
    )
    assert lines[1] == "2026-11-25T10:29:50Z,1,1,1,1,,,,,0,0,900,4,2"
    assert (tmp_path / "worker_pods.csv").read_text().splitlines()[
        1
    ] == "2026-11-25T10:30:05Z,hzz-worker-a,Running,True,0,950,10000"
    assert stat.S_IMODE((tmp_path / "pod_scaling.csv").stat().st_mode) == 0o644


def test_an_empty_csv_still_names_its_columns(tmp_path: Path) -> None:
    write_csv([], tmp_path / "hpa_metrics.csv", HpaSample)
    assert (tmp_path / "hpa_metrics.csv").read_text() == (
        "timestamp,replicas,cpu_percent,target_percent,min_replicas,max_replicas\n"
    )


def write_logs(folder: Path) -> None:
    timeline, hpa, results = a_scaling_run()
    pod_log = []
    for s in timeline:
        pod_log.append(format_summary(s))
        pod_log += [
            format_pod_line(WorkerPodSample(s.timestamp, f"hzz-worker-{i}", "Running", True, 0, 900, 5000.0), "1m")
            for i in range(s.total or 0)
        ]
    hpa_log = []
    for h in hpa:
        cpu = "<unknown>" if h.cpu_percent is None else f"{h.cpu_percent:.0f}%"
        hpa_log += [
            f"=== {h.timestamp}",
            f"hzz-worker   Deployment/hzz-worker   cpu: {cpu}/50%   1   4   {h.replicas}   5m",
        ]
    (folder / "pod_scaling.log").write_text("\n".join(pod_log) + "\n")
    (folder / "hpa_metrics.log").write_text("\n".join(hpa_log) + "\n")
    (folder / "results.json").write_text(json.dumps(results))


def test_convert_writes_the_csvs_the_chart_and_a_report_that_agrees_with_the_logs(tmp_path: Path) -> None:
    # Given the monitor's logs of a run and its results.json
    write_logs(tmp_path)
    # When they are converted
    written, report = convert(tmp_path)
    # Then every file is there
    assert [p.name for p in written] == [
        "pod_scaling.csv",
        "worker_pods.csv",
        "hpa_metrics.csv",
        "scaling.png",
        "scaling.md",
    ]
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # And the report is the one of the logs' samples
    timeline, _ = parse_pod_log((tmp_path / "pod_scaling.log").read_text())
    hpa = parse_hpa_log((tmp_path / "hpa_metrics.log").read_text())
    assert report == summarise(timeline, hpa, json.loads((tmp_path / "results.json").read_text()))
    assert report is not None and report.first_scale_up == 30.0 and report.back_to_min == 75.0
    assert (tmp_path / "scaling.md").read_text() == markdown(report)


def test_convert_without_logs_writes_nothing(tmp_path: Path) -> None:
    assert convert(tmp_path) == ([], None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["timeline", "hpa"])
def test_the_chart_is_drawn_from_either_log_alone_and_without_a_run(tmp_path: Path, which: str) -> None:
    timeline, hpa, _ = a_scaling_run()
    draw_scaling_png(timeline if which == "timeline" else [], hpa if which == "hpa" else [], tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 1000


def test_the_command_line_converts_a_folder_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_logs(tmp_path)
    assert main(["--quiet", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "first scale-up 30 s after the run started (1 → 4 pods); peak 4 pods Ready at +45 s"
    assert out[1].startswith("throughput 10,000 events/s with 1 pod, 19,000 with 4: speed-up 1.90×")
    assert "the node's CPU was saturated" in out[2]
    assert out[3] == "back to 1 pod(s) 75 s after the run ended"


def test_the_command_line_takes_the_folder_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(tmp_path))
    assert main([]) == 0
    assert "nothing written" in capsys.readouterr().out


def test_the_command_line_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
