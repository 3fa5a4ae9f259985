"""The web server with Flask's test client, over an output folder in every state of a run.

The output folders are written by the real results writer (:mod:`hzz.shared.report`) on a real
small run's tally (:mod:`hzz.devtools.webdemo`: the real data_A and data_B files and generated MC
files, analysed chunk by chunk), one folder per run under ``runs/`` where runs sit side by side.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hzz.devtools.webdemo import RUNS_DIR, demo_run, mirror, write_run, write_scaling_logs
from hzz.shared.report import results_document
from hzz.webserver import create_app, reader
from hzz.webserver.__main__ import parse_args
from hzz.webserver.server import build_server, server_options

#: The smallest valid PNG (1×1, transparent): the server never decodes it.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """An empty output folder, with a private file beside it that must never be served."""
    folder = tmp_path / "output"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("not for the web")
    return folder


@pytest.fixture
def app(output_dir: Path) -> Flask:
    return create_app({"OUTPUT_DIR": str(output_dir), "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def fetch(client: FlaskClient, path: str, method: str = "GET") -> Any:
    """Request a path and close the answer (a served file holds an open file until closed)."""
    response = client.open(path, method=method)
    response.get_data()
    response.close()
    return response


#: When the runs below started (fixed, so that a document written twice is the same document).
STARTED = 1_795_602_600.0  # 2026-11-25T10:30:00Z


def real_results(state: str = "complete", *, progress: float = 0.5, failed: int = 0) -> dict[str, Any]:
    """results.json as the aggregator writes it for a real small run at some moment.

    Args:
        state: "running" (``progress`` of the chunks merged), "complete" or "complete_with_failures".
        progress: the fraction merged while running.
        failed: chunks failed (the last ones; at least one for "complete_with_failures").
    """
    if state == "complete_with_failures":
        failed = max(failed, 1)
    tally = demo_run("2020").tally(progress=progress if state == "running" else 1.0, failed=failed, started=STARTED)
    now = tally.finished if tally.finished is not None else STARTED + 30.0
    return json.loads(json.dumps(results_document(tally, now=now)))


def write_results(folder: Path, results: dict[str, Any] | str, *, plot: bool = True) -> None:
    """Write results.json (a dict as JSON, a str as is) and, optionally, the plot."""
    if plot:
        (folder / "hzz_m4l.png").write_bytes(PNG)
        (folder / "hzz_m4l.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    text = results if isinstance(results, str) else json.dumps(results)
    (folder / "results.json").write_text(text)


# ---- the page ----


def test_the_page_has_the_elements_the_script_fills(client: FlaskClient) -> None:
    # Given an empty folder, when the page is requested
    response = client.get("/")
    # Then it is HTML that is never cached, loads only its own assets, and has the stable ids
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    for element_id in (
        "state",
        "progress",
        "progress-text",
        "plot",
        "yields",
        "group-yields",
        "failed-chunks",
        "settings",
        "versions",
        "downloads",
        "scaling",
        "events-read",
        "throughput",
        "elapsed",
    ):
        assert f'id="{element_id}"' in html
    assert "/static/app.js" in html and "/static/chart.js" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org', "") and "https://" not in html


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("app.js", "text/javascript"),
        ("chart.js", "text/javascript"),
        ("app.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_assets_are_served_with_their_types(client: FlaskClient, name: str, mimetype: str) -> None:
    response = fetch(client, f"/static/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype


# ---- the empty folder ----


def test_an_empty_folder_is_waiting_everywhere(client: FlaskClient) -> None:
    # Given no results.json, when a script asks for the status
    status = client.get("/api/status")
    # Then it is 200 "waiting" with the same fields as during a run, zeros and nulls
    assert status.status_code == 200
    assert status.headers["Cache-Control"] == "no-store"
    body = status.get_json()
    assert body["state"] == "waiting"
    assert body["tally"] == {"total": 0, "done": 0, "failed": 0, "pending": 0}
    assert body["events"] == {"read": 0, "selected": 0}
    assert body["plot_version"] is None and body["results_version"] is None and body["run_id"] is None
    assert "waiting for a run" in body["message"]
    assert body["files"] == []
    # And the results are a 404 that still says why
    results = client.get("/api/results")
    assert results.status_code == 404 and results.get_json() == {"state": "waiting"}
    assert client.get("/api/scaling").get_json() == {
        "available": False,
        "version": None,
        "pods": [],
        "hpa": [],
        "worker_pods": [],
        "run": {"started_at": None, "finished_at": None},
        "png": False,
    }
    assert client.get("/files/hzz_m4l.png").status_code == 404
    assert client.get("/files/results.json").status_code == 404


def test_health_is_ok_and_readiness_needs_the_folder(client: FlaskClient, app: Flask, output_dir: Path) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    # When the folder disappears, the process is still alive but not ready, and the API still answers
    output_dir.rmdir()
    assert client.get("/healthz").status_code == 200
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.get_json() == {"status": "not ready", "reason": "the output folder does not exist"}
    assert client.get("/api/status").get_json()["state"] == "waiting"
    # And a file in its place is not a folder either
    output_dir.write_text("")
    assert client.get("/readyz").get_json()["reason"] == "the output folder is not a folder"


# ---- the states of a run ----


def test_a_running_run_reports_its_progress_and_partial_plot(client: FlaskClient, output_dir: Path) -> None:
    # Given the aggregator has written a partial result and plot
    results = real_results("running", progress=0.5)
    write_results(output_dir, results)
    # When the status is polled
    body = client.get("/api/status").get_json()
    # Then it carries the run's fields as written
    assert body["state"] == "running"
    assert body["run_id"] == results["run_id"]
    assert body["tally"] == results["tally"] and body["tally"]["pending"] > 0
    assert body["events"] == results["events"]
    assert body["events_per_second"] == results["events_per_second"]
    assert body["elapsed_seconds"] == results["elapsed_seconds"]
    assert body["started_at"] == "2026-11-25T10:30:00Z" and body["finished_at"] is None
    assert body["plot"] == "hzz_m4l.png" and body["plot_version"]
    assert body["failed_chunks"] == 0
    assert set(body["files"]) == {"hzz_m4l.png", "hzz_m4l.svg", "results.json"}
    # And /api/results is the file's content, in the file's key order
    served = client.get("/api/results")
    assert served.status_code == 200
    assert served.get_json() == results
    assert list(json.loads(served.get_data()))[:3] == ["schema_version", "run_id", "state"]


def test_a_complete_run_is_complete(client: FlaskClient, output_dir: Path) -> None:
    write_results(output_dir, real_results("complete"))
    body = client.get("/api/status").get_json()
    assert body["state"] == "complete"
    assert body["tally"]["done"] == body["tally"]["total"] and body["tally"]["pending"] == 0
    assert body["finished_at"] == body["updated_at"] is not None
    assert body["message"] == "the run is complete"


@pytest.mark.parametrize(
    ("options", "state", "said"),
    [
        ({"stall_seconds": 10.0}, "stalled", "no progress"),
        ({"interrupted": True}, "interrupted", "hzz run --resume"),
    ],
)
def test_a_stalled_or_interrupted_run_is_shown_as_such_not_as_waiting(
    client: FlaskClient, output_dir: Path, options: dict[str, Any], state: str, said: str
) -> None:
    # Given a run that the aggregator's writer reports as stalled, or as interrupted
    tally = demo_run("2020").tally(progress=0.5, started=STARTED)
    tally.last_progress = STARTED + 5.0  # the last chunk was done 25 s before the document's time
    results = json.loads(json.dumps(results_document(tally, now=STARTED + 30.0, **options)))
    assert results["state"] == state
    write_results(output_dir, results)
    # When the status is polled, the page shows that state, its progress and what it means
    body = client.get("/api/status").get_json()
    assert body["state"] == state and body["tally"] == results["tally"]
    assert said in body["message"]
    assert client.get("/api/results").get_json() == results


def test_failed_chunks_are_counted_and_listed(client: FlaskClient, output_dir: Path) -> None:
    results = real_results("complete_with_failures", failed=2)
    write_results(output_dir, results)
    body = client.get("/api/status").get_json()
    assert body["state"] == "complete_with_failures"
    assert body["failed_chunks"] == 2 and body["tally"]["failed"] == 2
    assert "some chunks failed" in body["message"]
    listed = client.get("/api/results").get_json()["failed_chunks"]
    assert [c["chunk_id"] for c in listed] == [c["chunk_id"] for c in results["failed_chunks"]]


def test_the_plot_version_changes_when_the_plot_is_rewritten(client: FlaskClient, output_dir: Path) -> None:
    write_results(output_dir, real_results("running", progress=0.2))
    before = client.get("/api/status").get_json()
    # When the aggregator replaces the plot and the results with newer ones
    (output_dir / "hzz_m4l.png").write_bytes(PNG + b"\0" * 16)
    (output_dir / "results.json").write_text(json.dumps(real_results("complete")))
    after = client.get("/api/status").get_json()
    # Then both versions change, so the page fetches the new plot and results
    assert after["plot_version"] != before["plot_version"]
    assert after["results_version"] != before["results_version"]
    assert after["state"] == "complete"


def test_results_without_a_plot_have_no_plot_version(client: FlaskClient, output_dir: Path) -> None:
    write_results(output_dir, real_results("running", progress=0.1), plot=False)
    assert client.get("/api/status").get_json()["plot_version"] is None


# ---- half-written and foreign results ----


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"schema_version": 1, "run_id": "x", "state": "runn',
        "\x00\x00\x00",
        "[1, 2, 3]",
        '"just a string"',
        json.dumps({"schema_version": 2, "state": "running"}),
        json.dumps({"state": "running"}),
        json.dumps({"schema_version": 1, "state": "exploded"}),
        json.dumps({"schema_version": 1, "state": "waiting"}),
        json.dumps({"schema_version": True, "state": "running"}),
    ],
    ids=[
        "empty",
        "truncated",
        "binary",
        "list",
        "string",
        "schema-2",
        "no-schema",
        "bad-state",
        "waiting-state",
        "bool-schema",
    ],
)
def test_a_missing_or_half_written_results_file_is_waiting_not_an_error(
    client: FlaskClient, output_dir: Path, content: str
) -> None:
    # Given a results.json that is not (yet) a valid schema 1 file
    write_results(output_dir, content)
    # Then every route answers, and says "waiting"
    status = client.get("/api/status")
    assert status.status_code == 200
    assert status.get_json()["state"] == "waiting"
    assert "being written or is not a valid" in status.get_json()["message"]
    assert client.get("/api/results").status_code == 404
    assert client.get("/").status_code == 200
    # And the raw file is still downloadable as it is, for whoever wants to look
    assert fetch(client, "/files/results.json").status_code == 200


def test_results_with_odd_field_types_still_give_a_status(client: FlaskClient, output_dir: Path) -> None:
    odd = {
        "schema_version": 1,
        "state": "running",
        "run_id": 7,
        "tally": {"total": "12", "done": -1, "failed": True, "pending": 4},
        "events": [],
        "elapsed_seconds": "9",
        "events_per_second": None,
        "failed_chunks": {"not": "a list"},
        "plot": {"png": "../../secret.txt"},
    }
    write_results(output_dir, odd)
    body = client.get("/api/status").get_json()
    assert body["state"] == "running"
    assert body["run_id"] is None
    assert body["tally"] == {"total": 4, "done": 0, "failed": 0, "pending": 4}
    assert body["events"] == {"read": 0, "selected": 0}
    assert body["elapsed_seconds"] is None and body["failed_chunks"] == 0
    # A plot name outside the allow-list is ignored: the page asks for the default one
    assert body["plot"] == "hzz_m4l.png"


def test_nan_and_infinity_in_the_results_are_served_as_null(client: FlaskClient, output_dir: Path) -> None:
    # Given a results.json written by Python's json with non-finite numbers (not valid JSON)
    results = real_results("running", progress=0.1)
    text = json.dumps({**results, "events_per_second": float("nan"), "elapsed_seconds": float("inf")})
    assert "NaN" in text and "Infinity" in text
    write_results(output_dir, text)
    # Then the status and the results are valid JSON, with null in their place
    assert client.get("/api/status").get_json()["events_per_second"] is None
    served = json.loads(client.get("/api/results").get_data(as_text=True), parse_constant=pytest.fail)
    assert served["events_per_second"] is None and served["elapsed_seconds"] is None


@pytest.mark.parametrize("png", [["hzz_m4l.png"], "results.json", None, 3])
def test_an_odd_plot_name_falls_back_to_the_default(client: FlaskClient, output_dir: Path, png: Any) -> None:
    write_results(output_dir, {**real_results("running", progress=0.1), "plot": {"png": png}})
    body = client.get("/api/status").get_json()
    assert body["plot"] == "hzz_m4l.png" and body["plot_version"]


# ---- /files ----


@pytest.mark.parametrize(("name", "mimetype"), sorted(reader.ALLOWED_FILES.items()))
def test_every_allowed_file_is_served_uncached_with_its_type(
    client: FlaskClient, output_dir: Path, name: str, mimetype: str
) -> None:
    # Given the file exists
    (output_dir / name).write_bytes(PNG if name.endswith(".png") else b"content\n")
    # When it is fetched, then it has its media type and is never stored by the browser
    response = fetch(client, f"/files/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline")
    if mimetype.startswith("text/"):
        assert response.mimetype_params == {"charset": "utf-8"}
    assert response.data == (output_dir / name).read_bytes()
    # And ?download=1 makes it an attachment under its own name
    download = fetch(client, f"/files/{name}?download=1")
    assert download.headers["Content-Disposition"] == f"attachment; filename={name}"


def test_an_svg_plot_cannot_run_script(client: FlaskClient, output_dir: Path) -> None:
    write_results(output_dir, real_results("complete"))
    response = fetch(client, "/files/hzz_m4l.svg")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_head_request_of_a_file_has_no_body(client: FlaskClient, output_dir: Path) -> None:
    write_results(output_dir, real_results("complete"))
    response = fetch(client, "/files/hzz_m4l.png", method="HEAD")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Length"] == str(len(PNG))


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/..%2Fsecret.txt",
        "/files/..%2fsecret.txt",
        "/files/%2e%2e%2fsecret.txt",
        "/files/%2E%2E/secret.txt",
        "/files/..%5csecret.txt",
        "/files/..\\secret.txt",
        "/files/%252e%252e%252fsecret.txt",
        "/files/.checkpoint.json",
        "/files/%2echeckpoint.json",
        "/files/output/results.json",
        "/files/results.json%00.png",
        "/files/RESULTS.JSON",
        "/files/",
        "/files",
        "/files/hzz_m4l.png/",
        "/files/.results.json.tmp",
        "/static/../../shared/data_vars.py",
        "/static/..%2f__init__.py",
        "/api/nothing",
        "/nothing",
        "/index.html",
        "/webserver/__init__.py",
    ],
)
def test_bad_paths_and_private_files_are_404(client: FlaskClient, output_dir: Path, path: str) -> None:
    # Given a folder that holds private files next to the public ones
    write_results(output_dir, real_results("complete"))
    (output_dir / ".checkpoint.json").write_text('{"private": true}')
    (output_dir / ".results.json.tmp").write_text("{}")
    # When a path outside the allow-list is asked for, then it is a JSON 404 that leaks nothing
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.get_json() == {"error": "not found", "status": 404}
    assert b"private" not in response.data and b"not for the web" not in response.data


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", "/api/status", "/api/results", "/files/results.json", "/healthz"])
def test_the_server_is_read_only(client: FlaskClient, output_dir: Path, method: str, path: str) -> None:
    write_results(output_dir, real_results("complete"))
    response = client.open(path, method=method, data=b"{}")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method not allowed"
    assert (output_dir / "results.json").read_text() == json.dumps(real_results("complete"))


# ---- scaling ----


def test_the_scaling_rows_come_from_the_monitor_s_logs_with_the_run_to_mark(
    client: FlaskClient, output_dir: Path
) -> None:
    # Given the monitor's logs of a run and its results
    write_scaling_logs(output_dir, steps=5)
    write_run(output_dir, demo_run("2020").tally(started=STARTED), plot=False)
    # When the page asks for the chart's rows
    body = client.get("/api/scaling").get_json()
    # Then the timeline has pods, queue, throughput and CPU per sample
    assert body["available"] is True and body["png"] is False and body["version"]
    assert [row["timestamp"] for row in body["pods"]][:2] == ["2026-11-25T10:30:00Z", "2026-11-25T10:30:10Z"]
    assert body["pods"][4] == {
        "timestamp": "2026-11-25T10:30:40Z",
        "desired": 4,
        "running": 4,
        "ready": 4,
        "total": 4,
        "queue_ready": 7,
        "queue_unacked": 4,
        "chunks_done": 8,
        "chunks_total": 19,
        "chunks_per_second": 0.7,
        "events_per_second": 18000.0,
        "cpu_millicores_per_pod": 480,
        "node_cpu_percent": 97.0,
        "node_cores": 2,
    }
    # And the HPA has no reading (null, not 0) until its first one
    assert body["hpa"][0]["cpu_percent"] is None and body["hpa"][2]["cpu_percent"] == 380.0
    assert body["hpa"][0] == {
        "timestamp": "2026-11-25T10:30:00Z",
        "replicas": 1,
        "cpu_percent": None,
        "target_percent": 50.0,
        "min_replicas": 1,
        "max_replicas": 4,
    }
    # And each worker pod has its own CPU and events/s
    assert {row["pod"] for row in body["worker_pods"]} == {f"hzz-worker-7d9c5-{i:05d}" for i in range(4)}
    assert body["worker_pods"][-1]["events_per_second"] == 4500.0
    # And the run's start and end are there to be marked
    results = json.loads((output_dir / "results.json").read_text())
    assert body["run"] == {"started_at": results["started_at"], "finished_at": results["finished_at"]}
    assert client.get("/api/status").get_json()["scaling_version"] == body["version"]


def test_a_scaling_png_alone_is_enough_for_the_chart(client: FlaskClient, output_dir: Path) -> None:
    (output_dir / "scaling.png").write_bytes(PNG)
    body = client.get("/api/scaling").get_json()
    assert body["available"] is True and body["png"] is True
    assert body["pods"] == body["hpa"] == body["worker_pods"] == []
    assert fetch(client, "/files/scaling.png").mimetype == "image/png"


def test_the_scaling_report_and_the_per_pod_csv_are_served(client: FlaskClient, output_dir: Path) -> None:
    (output_dir / "scaling.md").write_text("# Scaling report\n")
    (output_dir / "worker_pods.csv").write_text("timestamp,pod,status,ready\n")
    assert fetch(client, "/files/scaling.md").mimetype == "text/markdown"
    assert fetch(client, "/files/worker_pods.csv").mimetype == "text/csv"


# ---- the application and its servers ----


def test_the_output_folder_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(tmp_path))
    assert create_app().config["OUTPUT_DIR"] == str(tmp_path)
    assert create_app({"OUTPUT_DIR": "elsewhere"}).config["OUTPUT_DIR"] == "elsewhere"


def test_debug_mode_cannot_be_switched_on(tmp_path: Path) -> None:
    app = create_app({"OUTPUT_DIR": str(tmp_path), "DEBUG": True})
    assert app.debug is False and app.config["DEBUG"] is False


def test_a_bug_gives_a_json_500_without_a_traceback(monkeypatch: pytest.MonkeyPatch, output_dir: Path) -> None:
    # Given a server (not in testing mode, so errors are handled as in production) whose reader fails
    def broken(output_dir: str) -> dict[str, Any]:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(reader, "status", broken)
    client = create_app({"OUTPUT_DIR": str(output_dir)}).test_client()
    # Then the answer is a plain JSON 500
    response = client.get("/api/status")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error", "status": 500}
    assert b"secret" not in response.data


def test_the_wsgi_module_builds_the_app_from_the_environment(monkeypatch: pytest.MonkeyPatch, output_dir: Path) -> None:
    import importlib

    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(output_dir))
    import hzz.webserver.wsgi

    wsgi = importlib.reload(hzz.webserver.wsgi)
    assert wsgi.app.config["OUTPUT_DIR"] == str(output_dir)
    assert wsgi.app.test_client().get("/healthz").status_code == 200


def test_python_m_webserver_parses_its_options_and_refuses_bad_ones(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the defaults and an explicit choice
    defaults = parse_args([])
    assert (defaults.host, defaults.port, defaults.threads, defaults.output_dir) == ("127.0.0.1", 8080, 8, None)
    args = parse_args(["--host", "0.0.0.0", "--port", "9000", "--threads", "3", "--output-dir", "out"])
    assert (args.host, args.port, args.threads, args.output_dir) == ("0.0.0.0", 9000, 3, "out")
    # Then a port or thread count out of range is refused in one line naming it
    for bad in (["--port", "70000"], ["--port", "0"], ["--threads", "0"]):
        with pytest.raises(SystemExit) as exit_:
            parse_args(bad)
        assert exit_.value.code == 2
        assert bad[0] in capsys.readouterr().err


def test_the_server_is_configured_against_slow_clients(app: Flask) -> None:
    # When the page's server is built (listening on a free port, not yet serving)
    server = build_server(app, port=0, threads=3)
    try:
        # Then idle connections are closed, bounded in number, and hold no thread; nothing names the software
        options = server_options()
        assert server.adj.threads == 3
        assert server.adj.channel_timeout == options["channel_timeout"] <= 60
        assert server.adj.connection_limit == options["connection_limit"]
        assert server.adj.max_request_body_size == 0
        assert server.adj.ident == "hzz"
        assert int(server.effective_port) > 0
    finally:
        server.close()
        server.task_dispatcher.shutdown()


# ---- runs side by side (output_plots/runs/<run_id>/, the newest mirrored at the top) ----


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs written by the real writer: two complete (one with a failed chunk), the newest running."""
    folder = tmp_path_factory.mktemp("runs")
    run = demo_run("2020")
    moments = [
        ("20261124-080000-aaaaaa", STARTED - 7200, {"failed": 1}),
        ("20261124-090000-bbbbbb", STARTED - 3600, {}),
        ("20261125-103000-cccccc", STARTED, {"progress": 0.5}),
    ]
    for run_id, started, kwargs in moments:
        write_run(folder / RUNS_DIR / run_id, run.tally(run_id=run_id, started=started, **kwargs))
    mirror(folder, "20261125-103000-cccccc")
    return folder


@pytest.fixture
def runs_client(runs_folder: Path) -> FlaskClient:
    return create_app({"OUTPUT_DIR": str(runs_folder), "TESTING": True}).test_client()


def test_the_runs_are_listed_newest_first_with_state_chunks_and_start(runs_client: FlaskClient) -> None:
    body = runs_client.get("/api/runs").get_json()
    runs = body["runs"]
    assert [r["run_id"] for r in runs] == ["20261125-103000-cccccc", "20261124-090000-bbbbbb", "20261124-080000-aaaaaa"]
    assert [r["state"] for r in runs] == ["running", "complete", "complete_with_failures"]
    assert [r["latest"] for r in runs] == [True, False, False]
    assert runs[0]["tally"] == {"total": 16, "done": 8, "failed": 0, "pending": 8}
    assert runs[2]["tally"]["failed"] == 1
    assert runs[0]["started_at"] == "2026-11-25T10:30:00Z" and runs[1]["started_at"] == "2026-11-25T09:30:00Z"
    assert runs[0]["profile"] == "2020" and body["version"]


def test_any_run_is_served_by_its_id(runs_client: FlaskClient, runs_folder: Path) -> None:
    # Given an older run of the folder
    run_id = "20261124-080000-aaaaaa"
    own = runs_folder / RUNS_DIR / run_id
    # Then its results, status and files are its own, not the newest run's
    results = runs_client.get(f"/api/results?run={run_id}")
    assert results.status_code == 200
    assert results.get_json() == json.loads((own / "results.json").read_text())
    status = runs_client.get(f"/api/status?run={run_id}").get_json()
    assert (status["run_id"], status["state"], status["failed_chunks"]) == (run_id, "complete_with_failures", 1)
    assert status["plot_version"] == reader.file_version(own / "hzz_m4l.png")
    for name in ("hzz_m4l.png", "hzz_m4l.svg", "hzz_m4l.root", "results.json"):
        assert fetch(runs_client, f"/files/{name}?run={run_id}").data == (own / name).read_bytes()
    # And without ?run= everything is the newest run's, as before
    assert runs_client.get("/api/status").get_json()["run_id"] == "20261125-103000-cccccc"
    assert runs_client.get("/api/results").get_json()["state"] == "running"


@pytest.mark.parametrize(
    "run_id",
    ["..", "../runs", "a/b", "..%2F..%2Fsecret", "%2e%2e", "", ".hidden", "-x", "x" * 129, "id with space", "ü"],
)
def test_a_malformed_run_id_is_refused_with_400(runs_client: FlaskClient, run_id: str) -> None:
    for path in ("/api/results", "/api/status", "/files/results.json", "/"):
        response = runs_client.get(path, query_string={"run": run_id})
        assert response.status_code == 400, (path, run_id)
        assert response.get_json() == {"error": "bad request", "status": 400}


def test_an_unknown_or_hidden_run_is_404(runs_client: FlaskClient, runs_folder: Path, tmp_path: Path) -> None:
    # Given a well-formed id of no run, a symbolic link posing as a run, and a folder whose
    # results.json names another run
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "results.json").write_text(json.dumps(real_results("complete")))
    (runs_folder / RUNS_DIR / "20261101-000000-linked").symlink_to(tmp_path / "elsewhere")
    (runs_folder / RUNS_DIR / "20261101-000000-misfit").mkdir()
    (runs_folder / RUNS_DIR / "20261101-000000-misfit" / "results.json").write_text(json.dumps(real_results()))
    try:
        for run_id in ("20991231-000000-ffffff", "20261101-000000-linked"):
            assert runs_client.get(f"/api/results?run={run_id}").status_code == 404
            assert fetch(runs_client, f"/files/results.json?run={run_id}").status_code == 404
        # Then none of them is listed
        listed = [r["run_id"] for r in runs_client.get("/api/runs").get_json()["runs"]]
        assert not any(r.startswith("20261101") for r in listed)
    finally:
        (runs_folder / RUNS_DIR / "20261101-000000-linked").unlink()
        shutil.rmtree(runs_folder / RUNS_DIR / "20261101-000000-misfit")


def test_a_folder_of_one_run_lists_that_run(client: FlaskClient, output_dir: Path) -> None:
    # Given the single-run layout (no runs/ folder): the run at the top is the list
    results = real_results("complete")
    write_results(output_dir, results)
    runs = client.get("/api/runs").get_json()["runs"]
    assert [(r["run_id"], r["latest"]) for r in runs] == [(results["run_id"], True)]
    assert client.get(f"/api/results?run={results['run_id']}").get_json() == results
    assert client.get("/api/runs").status_code == 200


def test_the_runs_version_changes_when_a_run_writes(client: FlaskClient, output_dir: Path) -> None:
    assert client.get("/api/status").get_json()["runs_version"] is None
    run = demo_run("2020")
    write_run(output_dir / RUNS_DIR / "r1", run.tally(run_id="r1", started=STARTED), plot=False)
    first = client.get("/api/status").get_json()["runs_version"]
    write_run(output_dir / RUNS_DIR / "r2", run.tally(run_id="r2", started=STARTED), plot=False)
    assert first is not None
    assert client.get("/api/status").get_json()["runs_version"] != first


# ---- what the page starts from ----


def test_the_status_carries_the_servers_clock(client: FlaskClient) -> None:
    import datetime as dt

    stamp = client.get("/api/status").get_json()["server_time"]
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 5


def test_the_page_is_served_with_the_status_of_its_run(runs_client: FlaskClient) -> None:
    # When the page is requested, it carries the status as data (shown before the first poll)
    html = runs_client.get("/").get_data(as_text=True)
    start = html.index('<script id="initial-status" type="application/json">') + len(
        '<script id="initial-status" type="application/json">'
    )
    initial = json.loads(html[start : html.index("</script>", start)])
    assert (initial["state"], initial["run_id"]) == ("running", "20261125-103000-cccccc")
    assert 'data-run=""' in html
    # And for ?run=<id> it is that run's, and the page remembers which run it shows
    html = runs_client.get("/?run=20261124-090000-bbbbbb").get_data(as_text=True)
    assert '"run_id": "20261124-090000-bbbbbb"' in html or '"run_id":"20261124-090000-bbbbbb"' in html
    assert 'data-run="20261124-090000-bbbbbb"' in html


def test_the_root_file_and_yield_uncertainties_are_offered(client: FlaskClient, output_dir: Path) -> None:
    # Given a complete run written by the aggregator's writer (plot and ROOT file included)
    write_run(output_dir, demo_run("2020").tally(started=STARTED))
    # Then the ROOT file is downloadable, and the page links it
    assert "hzz_m4l.root" in client.get("/api/status").get_json()["files"]
    root = fetch(client, "/files/hzz_m4l.root?download=1")
    assert root.status_code == 200 and root.mimetype == "application/octet-stream"
    assert root.data[:4] == b"root"
    assert 'id="download-root"' in client.get("/").get_data(as_text=True)
    # and every yield comes with its uncertainty
    results = client.get("/api/results").get_json()
    assert all(s["weighted_yield_uncertainty"] is not None for s in results["samples"].values())
