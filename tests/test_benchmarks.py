"""Smoke tests of the benchmark machinery (benchmarks/): the range server, the datasets, the report.

No timing is asserted: the numbers belong to benchmarks/RESULTS.md, not to the test suite.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
import uproot

from benchmarks.datasets import ensure_dataset, parse_size, size_name
from benchmarks.httpserver import RangeHTTPServer, parse_ranges, serve_folder
from benchmarks.measure import MeasurementError, compare_to_notebook, in_child
from benchmarks.report import derive, evaluate_targets, evaluate_whole_targets, machine_info, render_markdown
from benchmarks.wholeprocess import coffea_available, competitors, race
from hzz.shared.remote import open_options

#: A file whose every byte says where it is, so any range can be checked.
CONTENT = bytes(i % 251 for i in range(100_000))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RangeHTTPServer]:
    folder = tmp_path_factory.mktemp("served")
    (folder / "sub").mkdir()
    (folder / "sub" / "blob.bin").write_bytes(CONTENT)
    with serve_folder(folder, latency=0.001) as s:
        yield s


def request(
    server: RangeHTTPServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    url = urlparse(server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


# --- the HTTP range server ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", [(0, 10)]),
        ("bytes=10-", [(10, 100)]),
        ("bytes=-5", [(95, 100)]),
        ("bytes=90-200", [(90, 100)]),
        ("bytes=0-0, 50-59", [(0, 1), (50, 60)]),
        ("bytes=100-", []),
        ("items=0-9", None),
        ("bytes=9-0", None),
        ("bytes=abc", None),
    ],
)
def test_range_headers_parse_as_rfc_9110_says(header: str, expected: list[tuple[int, int]] | None) -> None:
    # Given a Range header for a 100-byte file
    # When it is parsed
    # Then the ranges are [start, stop) clipped to the file; nonsense is None, unsatisfiable is []
    assert parse_ranges(header, 100) == expected


def test_a_single_range_is_a_206_with_exactly_those_bytes(server: RangeHTTPServer) -> None:
    # Given the served file
    # When bytes 1000–1999 are asked for
    status, headers, body = request(server, "GET", "/sub/blob.bin", {"Range": "bytes=1000-1999"})

    # Then the answer is 206 with those bytes and their Content-Range
    assert status == 206
    assert body == CONTENT[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(CONTENT)}"
    assert headers["content-length"] == "1000"


def test_several_ranges_come_back_as_multipart_byteranges(server: RangeHTTPServer) -> None:
    # Given the served file
    # When three ranges are asked for in one request
    status, headers, body = request(server, "GET", "/sub/blob.bin", {"Range": "bytes=0-9, 500-599, 99990-"})

    # Then each part carries its Content-Range and exactly its bytes
    assert status == 206
    boundary = re.search(r"boundary=(\S+)", headers["content-type"]).group(1)  # type: ignore[union-attr]
    assert int(headers["content-length"]) == len(body)
    parts = [p for p in body.split(f"--{boundary}".encode()) if p.strip() not in (b"", b"--")]
    got = {}
    for part in parts:
        head, _, data = part.partition(b"\r\n\r\n")
        first, last = map(int, re.search(rb"bytes (\d+)-(\d+)/", head).groups())  # type: ignore[union-attr]
        got[(first, last + 1)] = data.removesuffix(b"\r\n")
    assert got == {(0, 10): CONTENT[:10], (500, 600): CONTENT[500:600], (99990, 100_000): CONTENT[99990:]}


def test_head_gives_the_size_and_no_body_and_get_without_range_the_whole_file(server: RangeHTTPServer) -> None:
    # Given the served file
    # When HEAD and a plain GET are sent
    head_status, head_headers, head_body = request(server, "HEAD", "/sub/blob.bin")
    get_status, _, get_body = request(server, "GET", "/sub/blob.bin")

    # Then HEAD says the size and accepts ranges, and GET sends everything
    assert (head_status, head_body) == (200, b"")
    assert head_headers["content-length"] == str(len(CONTENT))
    assert head_headers["accept-ranges"] == "bytes"
    assert (get_status, get_body) == (200, CONTENT)


def test_missing_files_escapes_and_unsatisfiable_ranges_are_refused(server: RangeHTTPServer) -> None:
    # Given the server
    # When a missing file, a path outside the folder and a range past the end are asked for
    # Then they get 404, 404 and 416
    assert request(server, "GET", "/sub/nothing.bin")[0] == 404
    assert request(server, "GET", "/../../etc/passwd")[0] == 404
    assert request(server, "GET", "/sub/blob.bin", {"Range": f"bytes={len(CONTENT)}-"})[0] == 416


def test_the_server_counts_requests_and_bytes(server: RangeHTTPServer) -> None:
    # Given fresh counters
    server.reset_stats()

    # When two ranges of 10 and 20 bytes are read
    request(server, "GET", "/sub/blob.bin", {"Range": "bytes=0-9"})
    request(server, "GET", "/sub/blob.bin", {"Range": "bytes=10-29"})

    # Then two requests and 30 bytes are counted
    assert server.stats() == {"requests": 2, "bytes": 30}


def test_uproot_reads_a_root_file_through_the_server_as_from_disk(real_dataset: Path) -> None:
    # Given the real data_B file, on disk and served with some latency
    with serve_folder(real_dataset, latency=0.002) as s:
        url = f"{s.url}Data/data_B.4lep.root"
        # When uproot reads its lepton branches both ways, over HTTP as a worker opens files
        with uproot.open(url, **open_options(url)) as remote:
            over_http = remote["mini"].arrays(["lep_pt", "lep_charge"])
        requests = s.stats()["requests"]
    with uproot.open(real_dataset / "Data" / "data_B.4lep.root") as local:
        on_disk = local["mini"].arrays(["lep_pt", "lep_charge"])

    # Then the arrays are identical, and it took a handful of requests
    assert over_http.to_list() == on_disk.to_list()
    assert 1 <= requests <= 10


# --- datasets -------------------------------------------------------------------------------------


def test_sizes_parse_and_print_as_multiples_of_the_real_sizes() -> None:
    assert parse_size("10x") == 10.0
    assert parse_size(" 1X ") == 1.0
    assert parse_size("0.5") == 0.5
    assert size_name(10.0) == "10x"
    assert size_name(0.02) == "0.02x"
    with pytest.raises(ValueError, match="positive"):
        parse_size("0x")


def test_a_dataset_is_generated_once_and_then_reused(tmp_path: Path) -> None:
    # Given a tiny dataset generated into an empty folder
    first = ensure_dataset("tiny", 0.0005, root=tmp_path)
    marker = tmp_path / "tiny" / ".complete.json"
    stamp = marker.stat().st_mtime_ns

    # When it is asked for again
    again = ensure_dataset("tiny", 0.0005, root=tmp_path)

    # Then it is described the same and not regenerated
    assert again == first
    assert marker.stat().st_mtime_ns == stamp
    assert first.files == 12
    assert first.events == sum(json.loads(marker.read_text())["counts"].values())
    assert first.basket_entries > 0


# --- measurements and the report ------------------------------------------------------------------


def test_a_measurement_runs_in_a_child_process_and_matches_the_notebook(real_dataset: Path) -> None:
    # Given the two real data files
    dataset = str(real_dataset)
    samples = ["data_A", "data_B"]

    # When the notebook and the worker loop are measured in child processes
    notebook = in_child("notebook", dataset=dataset, samples=samples)
    worker = in_child("worker", dataset=dataset, samples=samples)

    # Then both read every event, and the worker's merged histograms equal the notebook's
    assert worker["events"] == notebook["events"] == 39 + 156
    assert worker["zlib"] in ("deflate", "zlib")
    assert worker["rss_self_mb"] > 0
    assert worker["result_bytes_max"] < 16 * 1024
    assert set(notebook["samples"]) == set(samples)
    assert compare_to_notebook(notebook["samples"], worker["samples"]) == "yes"


def test_a_failing_measurement_raises_with_the_childs_traceback(tmp_path: Path) -> None:
    # Given a dataset folder without files
    # When the read floor is measured on it
    # Then the child's error comes back as a MeasurementError naming the missing file
    with pytest.raises(MeasurementError, match="floor failed"):
        in_child("floor", dataset=str(tmp_path))


def test_compare_to_notebook_names_the_first_difference() -> None:
    notebook = {"llll": {"events_read": 10, "events_selected": 5, "sumw_total": 2.0, "sumw": [1.0], "sumw2": [1.0]}}
    same = {"llll": {"events_read": 10, "events_selected": 5, "weighted_yield": 2.0, "sumw": [1.0], "sumw2": [1.0]}}
    assert compare_to_notebook(notebook, same) == "yes"
    assert compare_to_notebook(notebook, {}) == "no llll"
    assert compare_to_notebook(notebook, {"llll": {**same["llll"], "events_selected": 4}}) == "llll: counts differ"
    assert compare_to_notebook(notebook, {"llll": {**same["llll"], "sumw": [1.1]}}) == "llll: sumw differs"


def tiny_rows() -> list[dict[str, Any]]:
    """A made-up measurement of every kind, in two sections."""

    def row(section: str, run: str, kind: str, wall: float, cores: int = 1, **extra: Any) -> dict[str, Any]:
        return {
            "section": section,
            "run": run,
            "kind": kind,
            "cores": cores,
            "events": 1_000_000,
            "wall_s": wall,
            "cpu_s": wall * cores,
            **extra,
        }

    return [
        row("10x", "notebook baseline", "baseline", 10.0, peak_rss_mb=700.0),
        row("10x", "read floor", "floor", 2.0, peak_rss_mb=600.0),
        row("10x", "worker", "worker", 2.5, peak_rss_mb=200.0, result_bytes_mean=1200.0, result_bytes_max=1300),
        row(
            "10x",
            "pipeline, 2 workers, rabbitmq",
            "pipeline",
            5.0,
            cores=2,
            workers=2,
            broker_messages=81,
            peak_rss_mb=250.0,
            identical="yes",
        ),
        row("http-1x", "notebook baseline", "baseline", 8.0, http_requests=48),
        row("http-1x", "read floor", "floor", 3.0, http_requests=48),
        row("http-1x", "pipeline, 4 workers, rabbitmq", "pipeline", 1.0, cores=2, workers=4, http_requests=90),
    ]


def test_the_report_derives_the_ratios_and_judges_the_targets() -> None:
    # Given a made-up measurement
    rows = derive(tiny_rows())

    # When the targets are evaluated
    targets = {t["key"]: t for t in evaluate_targets(rows, latency_ms=20, large_section="10x")}

    # Then per core and relative figures follow from the walls
    worker = rows[2]
    assert worker["events_per_s"] == pytest.approx(400_000)
    assert worker["per_core_vs_floor"] == pytest.approx(0.8)
    assert rows[3]["events_per_s_per_core"] == pytest.approx(100_000)
    assert rows[3]["wall_vs_baseline"] == pytest.approx(0.5)
    # and each target is judged on its row
    assert targets["worker_vs_floor"]["met"] is True  # 0.8 × the floor, the limit
    assert targets["e2e_10x_ratio"]["met"] is True
    assert targets["http_speedup"]["value"] == pytest.approx(8.0)
    assert targets["result_bytes"]["value"] == 1300
    assert targets["worker_rss"]["value"] == 250.0


def test_the_markdown_report_renders_every_section_and_target() -> None:
    # Given a report of a made-up measurement
    rows = derive(tiny_rows())
    report = {
        "machine": machine_info(),
        "options": {"command_line": "--quick", "repeat": 1},
        "elapsed_s": 12.0,
        "load_average_after": [0.5, 0.5, 0.5],
        "zlib": {"baseline": "zlib", "worker": "deflate"},
        "chunk_size": 250_000,
        "rabbitmq": True,
        "sections": [
            {"name": "10x", "title": "10x: local", "description": "on disk"},
            {"name": "http-1x", "title": "1x over HTTP", "description": "served"},
        ],
        "rows": rows,
        "sweep": [
            {
                "chunk_size": 250_000,
                "chunks": 4,
                "wall_s": 2.5,
                "events_per_s": 4e5,
                "per_core_vs_floor": 0.8,
                "result_bytes_mean": 1200.0,
                "peak_rss_mb": 200.0,
            }
        ],
        "sweep_section": "10x",
        "breakdown": {"section": "10x", "steps": {"read": 300.0, "mass": 40.0}},
        "targets": evaluate_targets(rows, latency_ms=20, large_section="10x"),
        "notes": ["a note"],
        "whole": made_up_races(),
        "coffea": "2026.9.0",
    }

    # When it is rendered
    markdown = render_markdown(report)

    # Then the machine, both tables with every run, the sweep, the breakdown and the targets are there
    assert report["machine"]["cores"] >= 1 and str(report["machine"]["cpu"]) in markdown
    assert "## 10x: local" in markdown and "## 1x over HTTP" in markdown
    assert "| pipeline, 2 workers, rabbitmq | 5.00 | 200,000 | 2 | 100,000 | 0.20 | 0.50 |" in markdown
    assert "HTTP requests" in markdown
    assert "| 250,000 | 4 | 2.50 |" in markdown
    assert "| mass | 40 |" in markdown
    assert "≥ 4 × faster" in markdown and "8.00 × faster | ✅" in markdown
    assert "- a note" in markdown
    assert "## Whole process, as a user waits" in markdown and "### 1x: local" in markdown
    assert "| hzz run, 2 workers, embedded | 1.00 | 1.10 | 0.55 |" in markdown
    # and the README's summary: per input, each command's median wall and ratio
    assert "| 1x: local | 2.00 s | 1.10 s = 0.55× | 1.50 s = 1.20× |" in markdown
    assert np.isfinite(rows[0]["events_per_s"])


# --- the whole-process race ----------------------------------------------------------------------


def made_up_races() -> list[dict[str, Any]]:
    """Race summaries of the kind benchmarks.wholeprocess.race makes, for the three inputs."""

    def entry(name: str, hzz: tuple[float, float], coffea_wall: float, identical: str = "yes") -> dict[str, Any]:
        def competitor(label: str, kind: str, median: float, ratio: float, same: str) -> dict[str, Any]:
            return {
                "name": label,
                "kind": kind,
                "wall_min_s": median - 0.1,
                "wall_median_s": median,
                "walls_s": [median - 0.1, median],
                "ratio_median": ratio,
                "ratios": [ratio, ratio],
                "cpu_median_s": median,
                "max_rss_mb": 150.0,
                "identical": same,
            }

        return {
            "name": name,
            "title": f"{name}: local",
            "rounds": [{"load_average": [0.5, 0.4, 0.3]}] * 2,
            "summary": [
                competitor("notebook (own process)", "notebook", 2.0, 1.0, "–"),
                competitor("hzz run, 2 workers, embedded", "hzz", hzz[0], hzz[1], identical),
                competitor("coffea IterativeExecutor, clusters aligned", "coffea", coffea_wall, 1.2, "yes"),
            ],
        }

    return [
        entry("data_A", (0.9, 1.5), 0.8),
        entry("1x", (1.1, 0.55), 1.5),
        entry("10x", (5.0, 0.5), 9.0, "Zee: sumw differs"),
    ]


def test_the_whole_process_targets_are_judged_on_the_hzz_rows_of_each_input() -> None:
    # Given made-up races: data_A in 0.9 s, 1x at 0.55 × the notebook and before coffea, 10x at
    # 0.5 × with one sample's histogram wrong
    targets = {t["key"]: t for t in evaluate_whole_targets(made_up_races())}

    # Then each target is judged on its input's hzz run row
    assert targets["whole_tiny"]["met"] is True and targets["whole_tiny"]["value"] == 0.9
    assert targets["whole_1x_ratio"]["met"] is True
    assert targets["whole_1x_coffea"]["met"] is True
    assert targets["whole_10x_ratio"]["met"] is False
    assert targets["whole_identical"]["met"] is False and "Zee: sumw differs" in targets["whole_identical"]["shown"]


def test_the_race_runs_every_command_once_a_round_in_rotated_order_and_checks_the_histograms(
    real_dataset: Path,
) -> None:
    # Given the notebook and hzz run (embedded) as commands
    entrants = competitors(workers=2, broker_url=None, coffea=False)
    assert [c.kind for c in entrants] == ["notebook", "hzz"]

    # When they race twice on the real data files
    result = race(entrants, str(real_dataset), ["data_A", "data_B"], rounds=2)

    # Then each ran once a round, the order rotated, and hzz run's histograms equal the notebook's
    assert [r["order"] for r in result["rounds"]] == [
        [entrants[0].name, entrants[1].name],
        [entrants[1].name, entrants[0].name],
    ]
    notebook, hzz = result["summary"]
    assert hzz["identical"] == "yes"
    assert len(hzz["walls_s"]) == len(hzz["ratios"]) == 2
    assert hzz["wall_min_s"] > 0 and hzz["cpu_median_s"] > 0 and notebook["ratio_median"] == 1.0
    assert all(len(r["load_average"]) == 3 for r in result["rounds"])


@pytest.mark.skipif(not coffea_available(), reason="coffea is the optional bench extra")
@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_the_coffea_processor_gives_the_notebooks_histograms(small_dataset: Path, executor: str) -> None:
    # Given every sample of the release, generated small, and the notebook's outcome on them
    from benchmarks.coffea_run import run_coffea
    from benchmarks.measure import measure_notebook

    notebook = measure_notebook(str(small_dataset))["samples"]

    # When coffea's Runner runs the processor with this executor, in chunks smaller than the files
    outcome = run_coffea(str(small_dataset), samples=None, executor=executor, workers=2, chunk_size=1000)

    # Then every sample's counts and weighted sums equal the notebook's
    assert compare_to_notebook(notebook, outcome) == "yes"


# --- the scale model ---------------------------------------------------------------------------


def test_the_model_with_constant_workers_is_the_schedule_of_one_step() -> None:
    from benchmarks.scale import predict, predict_scaled

    # Given 10 chunks of 1 s, a fast aggregator and broker
    rates = {"chunk_seconds": 1.0, "aggregator_rate": 1e6, "broker_rate": 1e6, "cores": 2}
    # Then 1 worker takes 10 s, 2 take 5 s, 4 on 2 cores take as long as 2 (they share them)
    assert predict(10, 1, **rates)[0] == pytest.approx(10.0, abs=1e-3)
    assert predict(10, 2, **rates)[0] == pytest.approx(5.0, abs=1e-3)
    assert predict(10, 4, **rates)[0] == pytest.approx(6.0, abs=1e-3)  # 3 rounds of 2 s
    assert predict(10, 2, **rates) == predict_scaled(10, [(0.0, 2)], **rates)
    # And a slow aggregator is the bottleneck
    assert predict(10, 2, **{**rates, "aggregator_rate": 1.0}) == (pytest.approx(11.0, abs=1e-3), "aggregator")


def test_the_model_follows_the_workers_an_autoscaler_adds_and_removes() -> None:
    from benchmarks.scale import predict_scaled

    rates = {"chunk_seconds": 1.0, "aggregator_rate": 1e6, "broker_rate": 1e6, "cores": 100}
    # Given 1 worker, a second from 3 s on: 3 chunks by one, then 2 at a time
    assert predict_scaled(9, [(0.0, 1), (3.0, 2)], **rates)[0] == pytest.approx(6.0, abs=1e-3)
    # Given a start with no worker ready for 2 s
    assert predict_scaled(4, [(0.0, 0), (2.0, 1)], **rates)[0] == pytest.approx(6.0, abs=1e-3)
    # Given 2 workers, one scaled away at 2.5 s: it finishes its chunk (to 3 s), then one works on
    assert predict_scaled(8, [(0.0, 2), (2.5, 1)], **rates)[0] == pytest.approx(5.0, abs=1e-3)
    # A schedule that ends without workers cannot finish the run
    with pytest.raises(ValueError, match="no worker"):
        predict_scaled(8, [(0.0, 1), (2.0, 0)], **rates)


def test_the_model_check_reads_a_kubernetes_runs_pods_over_time_as_its_schedule(tmp_path: Path) -> None:
    from test_scaling_logs import write_logs

    from benchmarks.modelcheck import k8s_check

    # Given the monitor's logs of a run: 1 pod ready until +45 s, then 4, the run from 0 to +150 s,
    # 1500 chunks of 400 busy seconds in all (0.267 s a chunk)
    write_logs(tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**results, "elapsed_seconds": 150.0}))

    # When the model is checked against it
    checks, notes = k8s_check(tmp_path, aggregator_rate=1e6)

    # Then its schedule is the ready pods and its prediction follows them: ~169 chunks by one pod
    # in 45 s, the other 1331 by four at a time
    # (the logs count no chunks while the first pod was alone: only the mean time per chunk feeds it)
    assert len(checks) == 1
    check = checks[0]
    assert check.workers == "1→4"
    assert (check.chunks, check.measured_seconds) == (1500, 150.0)
    assert check.chunk_seconds == pytest.approx(400 / 1500)
    assert check.predicted_seconds == pytest.approx(45 + 1331 / 4 * 400 / 1500, abs=0.5)
    assert check.error == pytest.approx(check.predicted_seconds / 150 - 1)
    assert "1 from 0 s, 4 from 45 s" in notes[0]
