"""The worker's handler on real files: results, the retry policy, failures, and refusing bad settings."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hzz.shared.messaging.rabbitmq
import hzz.shared.processing
import hzz.worker.main
from hzz.shared.data_vars import Settings
from hzz.shared.errors import DecodeError
from hzz.shared.messages import ChunkResult, ChunkTask
from hzz.shared.messaging import ERROR_HEADER, QueueNames
from hzz.shared.processing import chunk_handler, give_up_handler, location_within, reads_ahead
from hzz.worker.main import main as worker_main

NAMES = QueueNames("unit")
NO_BACKOFF = {"backoff": lambda attempt: 0.0}


@pytest.fixture
def in_process_main(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run a service's main here: keep pytest's logging and signal handlers as they are."""
    monkeypatch.setattr(hzz.worker.main, "configure_logging", lambda service: None)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield worker_main
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def task_for(location: str | Path, *, attempt: int = 0, sample: str = "data_A") -> ChunkTask:
    return ChunkTask("run-1", sample, str(location), 0, 20, 10.0, attempt=attempt)


def test_a_task_gives_one_result_on_the_results_queue(real_dataset: Path) -> None:
    # Given a task over 20 entries of a real file
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When it is handled
    [out] = handle(task_for(real_dataset / "Data" / "data_A.4lep.root").encode())

    # Then a result for the chunk goes to the results queue
    assert out.queue == NAMES.results
    result = ChunkResult.decode(out.body)
    assert (result.events_read, result.error, result.worker) == (20, None, "w")


def test_a_transient_failure_republishes_the_task_with_the_attempt_raised() -> None:
    # Given a file server that refuses connections (transient: it may come back)
    task = task_for(f"http://127.0.0.1:{closed_port()}/Data/data_A.4lep.root", attempt=1)
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When the task is handled
    [out] = handle(task.encode())

    # Then the same chunk goes back to the tasks queue for another try, and nothing else
    assert out.queue == NAMES.tasks
    retry = ChunkTask.decode(out.body)
    assert retry.chunk_id == task.chunk_id
    assert retry.attempt == 2


def test_the_retry_waits_the_backoff_of_its_attempt() -> None:
    # Given a backoff policy that records what it is asked
    asked: list[int] = []

    def backoff(attempt: int) -> float:
        asked.append(attempt)
        return 0.2

    handle = chunk_handler(NAMES, max_retries=3, worker="w", backoff=backoff)
    task = task_for(f"http://127.0.0.1:{closed_port()}/Data/data_A.4lep.root", attempt=2)

    # When a transient failure is handled
    started = time.monotonic()
    handle(task.encode())

    # Then it waited the delay for attempt 2 before handing the retry on
    assert asked == [2]
    assert time.monotonic() - started >= 0.2


def test_sigterm_cuts_the_backoff_short() -> None:
    # Given a worker told to stop, and a long backoff
    stop = threading.Event()
    stop.set()
    handle = chunk_handler(NAMES, max_retries=3, worker="w", stop=stop, backoff=lambda attempt: 60.0)
    task = task_for(f"http://127.0.0.1:{closed_port()}/Data/data_A.4lep.root")

    # When a transient failure is handled
    started = time.monotonic()
    [out] = handle(task.encode())

    # Then the retry is handed on at once, within any grace period
    assert time.monotonic() - started < 5.0
    assert ChunkTask.decode(out.body).attempt == 1


def test_after_max_retries_the_chunk_fails_and_the_task_is_dead_lettered() -> None:
    # Given a transient failure on the last allowed try
    location = f"http://127.0.0.1:{closed_port()}/Data/data_A.4lep.root"
    task = task_for(location, attempt=3)
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When it is handled
    result_out, dead_out = handle(task.encode())

    # Then the aggregator gets a failed result naming the file, and the task goes to the dead letters
    assert result_out.queue == NAMES.results
    result = ChunkResult.decode(result_out.body)
    assert result.failed
    assert location in (result.error or "")
    assert result.attempt == 3
    assert dead_out.queue == NAMES.dead
    assert dead_out.body == task.encode()
    assert dead_out.headers[ERROR_HEADER] == result.error


def test_a_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    # Given a task for a file that does not exist
    missing = tmp_path / "Data" / "data_A.4lep.root"
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When it is handled on its first try
    result_out, dead_out = handle(task_for(missing).encode())

    # Then it fails at once, naming the file
    result = ChunkResult.decode(result_out.body)
    assert str(missing) in (result.error or "")
    assert result.attempt == 0
    assert dead_out.queue == NAMES.dead


def test_a_body_that_is_not_a_task_raises_for_the_dead_letter_queue() -> None:
    handle = chunk_handler(NAMES, max_retries=3, worker="w")
    with pytest.raises(DecodeError):
        handle(b'{"kind": "result"}')
    with pytest.raises(DecodeError):
        handle(b"\xff not json")


def test_a_task_that_keeps_killing_workers_is_recorded_as_failed(real_dataset: Path) -> None:
    # Given a task delivered too often without acknowledgement
    task = task_for(real_dataset / "Data" / "data_A.4lep.root")
    give_up = give_up_handler(NAMES, worker="w")

    # When the transport gives up on it
    result_out, dead_out = give_up(task.encode(), "delivered 6 times without being acknowledged")

    # Then the aggregator learns it failed, and why, and the task is dead-lettered
    result = ChunkResult.decode(result_out.body)
    assert result.chunk_id == task.chunk_id
    assert "delivered 6 times" in (result.error or "")
    assert "data_A.4lep.root" in (result.error or "")
    assert dead_out.queue == NAMES.dead


def test_an_unreachable_broker_stops_the_worker_with_exit_code_2(
    in_process_main, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a broker URL where nothing listens
    port = closed_port()
    monkeypatch.setenv("HZZ_BROKER_URL", f"amqp://guest:guest@127.0.0.1:{port}/%2F")
    monkeypatch.setenv("HZZ_SIGNING_KEY", "a-key-long-enough-to-sign")
    monkeypatch.setattr(hzz.shared.messaging.rabbitmq, "CONNECT_ATTEMPTS", 2)

    # When the worker starts
    with caplog.at_level(logging.ERROR):
        code = in_process_main([])

    # Then it exits with 2 and one error line saying where it looked and what to set
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code == 2
    assert len(errors) == 1
    assert f"127.0.0.1:{port}" in errors[0]
    assert "HZZ_BROKER_URL" in errors[0]


def test_bad_settings_stop_the_worker_with_exit_code_2(
    in_process_main, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a fraction outside (0, 1]
    monkeypatch.setenv("HZZ_FRACTION", "1.5")

    # When the worker starts
    with caplog.at_level(logging.ERROR):
        code = in_process_main([])

    # Then it exits with 2, naming the variable and the accepted values
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code == 2
    assert len(errors) == 1
    assert "HZZ_FRACTION" in errors[0]
    assert "(0, 1]" in errors[0]


def test_a_task_outside_the_run_s_dataset_fails_without_reading_the_file(real_dataset: Path, tmp_path: Path) -> None:
    # Given a worker of a run whose dataset is one folder, and a task naming a file elsewhere
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret\n")
    handle = chunk_handler(NAMES, max_retries=3, worker="w", dataset=str(real_dataset / "Data"), **NO_BACKOFF)

    # When it is handled (also through a path that climbs out of the dataset)
    for location in (secret, real_dataset / "Data" / ".." / ".." / secret.name, "https://example.org/x.root"):
        result_out, dead = handle(task_for(location).encode())

        # Then the chunk fails saying so, and no byte of the file reaches any message
        result = ChunkResult.decode(result_out.body)
        assert "outside the dataset" in (result.error or "")
        assert b"top secret" not in result_out.body + dead.body + str(dead.headers).encode()

    # While a file inside it is read as always
    [ok] = handle(task_for(real_dataset / "Data" / "data_A.4lep.root").encode())
    assert ChunkResult.decode(ok.body).error is None


@pytest.mark.parametrize(
    ("location", "dataset", "inside"),
    [
        ("https://host/data/MC/a.root", "https://host/data/", True),
        ("https://host/data/../etc/passwd", "https://host/data/", False),
        ("https://host/database/a.root", "https://host/data", False),
        ("/data/4lep/Data/a.root", "/data/4lep", True),
        ("/data/4lep-other/a.root", "/data/4lep", False),
        ("file:///data/4lep/a.root", "file:///data/4lep", True),
        ("http://evil/a.root", "/data/4lep", False),
    ],
)
def test_location_within_the_dataset(location: str, dataset: str, inside: bool) -> None:
    assert location_within(location, dataset) is inside


@pytest.mark.parametrize(
    ("setting", "cores", "workers_here", "expected"),
    [
        ("on", 1.0, 4, True),
        ("off", 16.0, 1, False),
        ("auto", 2.0, 1, True),  # hzz run --workers 1 on two cores: a core for the reader thread
        ("auto", 2.0, 2, False),  # a worker per core: the thread would only contend
        ("auto", 1.0, 1, False),  # a worker pod limited to one CPU
        ("auto", 1.5, 1, False),
    ],
)
def test_a_worker_reads_ahead_only_where_a_core_is_left_for_it(
    setting: str, cores: float, workers_here: int, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the read-ahead setting and the cores this process may use
    monkeypatch.setattr(hzz.shared.processing, "usable_cores", lambda: cores)
    settings = Settings(read_ahead=setting)

    # When a worker decides, then it reads ahead where asked to, or on "auto" where a core is free
    assert reads_ahead(settings, workers_here=workers_here) is expected


def test_the_usable_cores_are_at_most_the_machines() -> None:
    # Given this machine, when its usable cores are counted, then they are some, and no more than it has
    assert 0 < hzz.shared.processing.usable_cores() <= (os.cpu_count() or 1)


def test_a_worker_keeps_the_memory_it_frees_for_its_next_chunk(tmp_path: Path) -> None:
    # Given a process that allocates, fills and frees a chunk's columns again and again, once as
    # it is and once after keep_freed_memory() (each in a fresh interpreter: the setting is global)
    script = tmp_path / "faults.py"
    script.write_text(
        "import resource, sys\n"
        "import numpy as np\n"
        "from hzz.shared.processing import keep_freed_memory\n"
        "kept = keep_freed_memory() if sys.argv[1] == 'kept' else None\n"
        "def chunk():  # columns of 0.8 to 4 MB held together, filled, summed, then freed\n"
        "    columns = [np.ones(n * 100_000) for n in range(1, 6)]\n"
        "    return sum(c.sum() for c in columns)\n"
        "chunk()  # the first chunk's pages are faulted in either way\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20):\n"
        "    chunk()\n"
        "print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )

    def faults(mode: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, check=True)
        kept, count = done.stdout.split()
        return kept, int(count)

    _, as_it_is = faults("default")
    kept, after = faults("kept")

    # When the allocator is glibc's, it took the settings: the later arrays reuse the first one's
    # pages instead of faulting in 16 MB afresh each time
    if kept != "True":
        pytest.skip("not glibc: malloc's thresholds cannot be set here")
    assert as_it_is > 20 * 1000  # by default each chunk's columns are faulted in again
    assert after < as_it_is / 10
