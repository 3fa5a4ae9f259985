"""The page's one server as a real process: slow and hostile clients, planted files, clean stops.

``python -m hzz.webserver`` (the container's command) runs on a free port over an output folder
written by the aggregator's own writer on a real small run's tally (:mod:`hzz.devtools.webdemo`).
Its clients are real sockets; the planted files are real symbolic links, FIFOs and oversized
files. ``hzz run --serve`` is run as a user runs it, to check that its request log stays out of
the progress bar.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from hzz.devtools.webdemo import demo_run, write_run
from hzz.shared.safe_files import MAX_JSON_BYTES
from hzz.webserver.server import (
    CHANNEL_TIMEOUT_SECONDS,
    CONNECTION_LIMIT,
    DEFAULT_THREADS,
    serve_in_background,
    server_options,
)

REPO = Path(__file__).resolve().parents[1]
#: What every answer must take at most while hostile clients hold connections (issue 12).
ANSWER_SECONDS = 1.0
#: A file larger than waitress buffers for a client before the sending thread would wait (16 MiB).
LARGE_FILE_BYTES = 48 * 1024 * 1024
#: How long a server may take to start or stop.
START_SECONDS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def written_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run half done, written by the aggregator's writer (results.json, the plot, the ROOT file)."""
    folder = tmp_path_factory.mktemp("written") / "output"
    write_run(folder, demo_run("2020").tally(progress=0.5, failed=1))
    return folder


@pytest.fixture
def output_dir(written_run: Path, tmp_path: Path) -> Path:
    """A copy of the written run that a test may plant files in."""
    folder = tmp_path / "output"
    shutil.copytree(written_run, folder)
    return folder


class Server:
    """``python -m hzz.webserver`` on a free port; its log is kept to read."""

    def __init__(self, output_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hzz.webserver", "--port", str(self.port), "--output-dir", str(output_dir)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the server did not start: {self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def server(output_dir: Path, tmp_path: Path) -> Iterator[Server]:
    started = Server(output_dir, tmp_path / "server.log")
    try:
        yield started
    finally:
        started.stop()


def timed_get(url: str) -> tuple[requests.Response, float]:
    start = time.perf_counter()
    response = requests.get(url, timeout=10)
    return response, time.perf_counter() - start


def half_open(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that each send half a request line, then nothing."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"GET /api/sta")
        clients.append(client)
    return clients


def still_open(client: socket.socket) -> bool:
    """Whether the server has neither answered nor closed this connection."""
    client.setblocking(False)
    try:
        return client.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


# ---- slow and hostile clients ----


@pytest.mark.parametrize("idle_clients", [16, 100])
def test_idle_half_open_connections_do_not_delay_any_answer(server: Server, idle_clients: int) -> None:
    # Given the server answering normally
    baseline = {path: timed_get(server.url + path)[1] for path in ("/healthz", "/api/status", "/")}
    # When clients open connections, send half a request line each and then nothing
    clients = half_open(server.port, idle_clients)
    try:
        time.sleep(0.3)  # they are accepted and waiting
        # Then every route still answers in full, well within a second, three times over
        timings: dict[str, list[float]] = {}
        for _ in range(3):
            for path in ("/healthz", "/api/status", "/"):
                response, seconds = timed_get(server.url + path)
                assert response.status_code == 200, (path, response.text[:200])
                timings.setdefault(path, []).append(seconds)
        assert json.loads(requests.get(f"{server.url}/api/status", timeout=5).text)["state"] == "running"
        slowest = {path: max(times) for path, times in timings.items()}
        assert all(seconds < ANSWER_SECONDS for seconds in slowest.values()), (slowest, baseline)
        # And the idle clients were really holding their connections all along
        assert all(still_open(client) for client in clients)
    finally:
        for client in clients:
            client.close()
    print(f"{idle_clients} idle clients: slowest answer per route {slowest} (without them {baseline})")


def test_clients_that_never_read_their_answers_hold_no_thread(server: Server, output_dir: Path) -> None:
    # Given a large output file (a long deployment's scaling log: more than the server buffers in memory)
    with (output_dir / "pod_scaling.log").open("wb") as log:
        log.truncate(LARGE_FILE_BYTES)
    # When twice as many clients as the server has threads ask for it and never read a byte
    clients = []
    for _ in range(DEFAULT_THREADS * 2):
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.sendall(b"GET /files/pod_scaling.log HTTP/1.1\r\nHost: x\r\n\r\n")
        clients.append(client)
    try:
        time.sleep(1.0)
        # Then the page still answers at once: the files are sent from the server's loop, not by a thread
        for path in ("/healthz", "/api/status", "/"):
            response, seconds = timed_get(server.url + path)
            assert response.status_code == 200 and seconds < ANSWER_SECONDS, (path, seconds)
        # And each of those clients is still waiting for its answer
        assert all(still_open(client) for client in clients)
    finally:
        for client in clients:
            client.close()


def test_sigterm_ends_the_server_at_once_even_with_idle_clients(server: Server) -> None:
    clients = half_open(server.port, 20)
    try:
        start = time.monotonic()
        code = server.stop()
        assert code == 0, server.log()
        assert time.monotonic() - start < 5
        assert "stopped" in server.log().splitlines()[-1]
    finally:
        for client in clients:
            client.close()


def test_every_answer_is_logged_in_one_line_and_names_no_software(server: Server) -> None:
    response = requests.get(f"{server.url}/api/status?run=%0Aforged", timeout=5)
    assert response.headers["Server"] == "hzz"
    # A raw control character in the path is sent as is by this client
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(b"GET /files/\x1b[2Jx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        client.recv(4096)
    server.stop()
    lines = [line for line in server.log().splitlines() if "hzz.webserver.access" in line]
    assert any(re.search(r"127\.0\.0\.1 GET /healthz 200 [\d.]+ ms$", line) for line in lines), lines
    # The path comes from the network: it is logged as sent, on its one line, control characters escaped
    (forged,) = [line for line in lines if "forged" in line]
    assert re.search(r"GET /api/status\?run=%0Aforged 400 [\d.]+ ms$", forged), forged
    (escaped,) = [line for line in lines if "/files/" in line]
    assert "\x1b" not in escaped and "/files/\\x1b[2Jx" in escaped, escaped


def test_a_request_body_is_refused(server: Server) -> None:
    response = requests.get(f"{server.url}/api/status", data=b"x" * 10, timeout=5)
    assert response.status_code == 413


# ---- files planted in the output folder ----


def test_a_symbolic_link_under_an_allowed_name_is_refused_not_followed(server: Server, output_dir: Path) -> None:
    # Given pod_scaling.log planted as a link to /etc/passwd, and the plot as a link to /dev/zero
    (output_dir / "pod_scaling.log").symlink_to("/etc/passwd")
    (output_dir / "hzz_m4l.png").unlink()
    (output_dir / "hzz_m4l.png").symlink_to("/dev/zero")
    # When they are asked for, then each is refused with a reason, and nothing of the target is sent
    for name, what in (("pod_scaling.log", "a symbolic link"), ("hzz_m4l.png", "a symbolic link")):
        response, seconds = timed_get(f"{server.url}/files/{name}")
        assert response.status_code == 403, response.text[:200]
        assert response.json()["reason"].startswith(f"{name} is {what}, not a regular file")
        assert "root:" not in response.text and seconds < ANSWER_SECONDS
    # And they are neither offered nor read for the chart
    status = requests.get(f"{server.url}/api/status", timeout=5).json()
    assert "pod_scaling.log" not in status["files"] and "hzz_m4l.png" not in status["files"]
    assert status["plot_version"] is None
    scaling = requests.get(f"{server.url}/api/scaling", timeout=5).json()
    assert scaling["available"] is False and scaling["pods"] == []
    # And the refusal is logged in one line, once however often it is asked for
    requests.get(f"{server.url}/files/pod_scaling.log", timeout=5)
    server.stop()
    refusals = [line for line in server.log().splitlines() if "refused" in line and "pod_scaling.log" in line]
    assert len(refusals) == 1, refusals


def test_a_fifo_named_results_json_is_refused_and_holds_no_thread(server: Server, output_dir: Path) -> None:
    # Given results.json replaced by a FIFO that nobody writes to
    (output_dir / "results.json").unlink()
    os.mkfifo(output_dir / "results.json")
    # When many more clients than threads ask for it at once, by every route that reads it
    paths = ["/api/status", "/api/results", "/files/results.json", "/api/runs", "/"] * (DEFAULT_THREADS)
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        answers = list(pool.map(lambda path: (path, *timed_get(server.url + path)), paths))
    # Then every one is answered within a second, with the reason where it asks for the file
    for path, response, seconds in answers:
        assert seconds < ANSWER_SECONDS, (path, seconds)
        if path == "/files/results.json":
            assert response.status_code == 403
            assert "results.json is a FIFO, not a regular file" in response.json()["reason"]
        elif path == "/api/results":
            assert response.status_code == 404
            assert response.json() == {"state": "waiting", "reason": response.json()["reason"]}
            assert "a FIFO" in response.json()["reason"]
        else:
            assert response.status_code == 200
    status = requests.get(f"{server.url}/api/status", timeout=5).json()
    assert status["state"] == "waiting" and "results.json is a FIFO" in status["message"]
    assert "results.json" not in status["files"]
    # And the server goes on: /healthz at once
    assert timed_get(f"{server.url}/healthz")[1] < ANSWER_SECONDS


def test_an_oversized_results_json_is_not_read_but_can_be_downloaded(server: Server, output_dir: Path) -> None:
    # Given a results.json (valid JSON) one byte over the cap for reading it whole
    results = output_dir / "results.json"
    text = results.read_text()
    results.write_text(text + " " * (MAX_JSON_BYTES + 1 - len(text.encode())))
    # When the page and a script ask for it
    status = requests.get(f"{server.url}/api/status", timeout=5).json()
    api = requests.get(f"{server.url}/api/results", timeout=5)
    # Then it is not parsed: waiting, with the sizes in the reason
    cap = f"{MAX_JSON_BYTES:,}-byte cap"
    assert status["state"] == "waiting" and cap in status["message"]
    assert api.status_code == 404 and cap in api.json()["reason"]
    # But as a file it is streamed like any other (no memory is at stake)
    download = requests.get(f"{server.url}/files/results.json", timeout=10)
    assert download.status_code == 200 and len(download.content) == MAX_JSON_BYTES + 1


def test_a_link_to_a_valid_results_json_is_not_followed(server: Server, output_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    (output_dir / "results.json").rename(elsewhere)
    (output_dir / "results.json").symlink_to(elsewhere)
    status = requests.get(f"{server.url}/api/status", timeout=5).json()
    assert status["state"] == "waiting" and "results.json is a symbolic link" in status["message"]


# ---- one server for every way the page is served ----


def test_the_container_runs_python_m_hzz_webserver_on_all_addresses() -> None:
    text = (REPO / "webserver" / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (.*)$", text, re.M)
    assert json.loads(cmd) == ["python", "-m", "hzz.webserver", "--host", "0.0.0.0", "--port", "8080"]
    # and the manifest does not replace the image's command
    (deployment,) = [
        d for d in yaml.safe_load_all((REPO / "k8s" / "webserver.yaml").read_text()) if d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container and "args" not in container
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_hzz_run_serve_uses_the_same_configured_server_and_stops_cleanly(output_dir: Path) -> None:
    # Given the page served on a thread as `hzz run --serve` does (any free port)
    server = serve_in_background(output_dir, port=0)
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    try:
        # Then it is the same server: the options of python -m hzz.webserver, and slow clients hold no thread
        assert server._server.adj.channel_timeout == CHANNEL_TIMEOUT_SECONDS
        assert server._server.adj.connection_limit == server_options()["connection_limit"] <= CONNECTION_LIMIT
        clients = half_open(port, 100)
        try:
            response, seconds = timed_get(f"{server.url}api/status")
            assert response.status_code == 200 and response.headers["Server"] == "hzz" and seconds < ANSWER_SECONDS
        finally:
            for client in clients:
                client.close()
    finally:
        server.stop()
    # And stopping it closes the port and ends its threads
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}healthz", timeout=2)
    assert not [t for t in threading.enumerate() if t.name == "webserver" or t.name.startswith("waitress-")]


def test_hzz_run_serve_keeps_the_request_log_out_of_the_progress_bar(real_dataset: Path, tmp_path: Path) -> None:
    # Given `hzz run --serve` with its progress bar on (stderr), and a client polling the page all along
    port = free_port()
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "hzz", "run", "--dataset", str(real_dataset), "--samples", "data_A,data_B",
        "--workers", "1", "--transport", "embedded", "--output-dir", str(out), "--serve", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answered = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            with contextlib.suppress(requests.ConnectionError):
                answered.append(requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2).status_code)
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        # When the run completes (the summary's last line is the page's address) and Ctrl-C follows
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("page:"):
                break
        time.sleep(0.5)
        stop.set()
        poller.join()
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    stdout = "".join(lines) + rest
    # Then the page answered throughout, the command ended cleanly, and no request line was printed
    assert process.returncode == 0, stderr[-2000:]
    assert answered.count(200) >= 10, answered[:20]
    assert f"page:    http://127.0.0.1:{port}/" in stdout
    assert "chunks" in stderr  # the progress bar was drawn
    for text in (stdout, stderr):
        assert "GET /api/status" not in text and "hzz.webserver.access" not in text
        assert "Traceback" not in text


def test_a_port_in_use_is_one_line_and_exit_2(real_dataset: Path, tmp_path: Path) -> None:
    # Given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the page is to be served there, alone or beside a run
        alone = subprocess.run(
            [sys.executable, "-m", "hzz.webserver", "--port", str(port), "--output-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        beside = subprocess.run(
            [sys.executable, "-m", "hzz", "run", "--dataset", str(real_dataset), "--samples", "data_A",
             "--output-dir", str(tmp_path / "out"), "--transport", "embedded", "--serve", str(port)],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip
    # Then each says so in one line naming the address, exits 2, and no run was started
    for done, prefix in ((alone, "python -m hzz.webserver"), (beside, "hzz run: --serve")):
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if f"127.0.0.1:{port}" in line]
        assert len(lines) == 1 and lines[0].startswith(prefix) and "in use" in lines[0], done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "results.json").exists()
