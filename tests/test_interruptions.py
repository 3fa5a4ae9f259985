"""Interruptions leave nothing behind: Ctrl-C, SIGTERM and SIGKILL of a real ``hzz run``.

Each case starts ``python -m hzz run`` as its own session (as a terminal's job is its own
process group), on a generated dataset cut into a few hundred chunks, waits until the run's
recorded state shows it mid-way, and signals it: SIGINT to the whole group (what Ctrl-C in a
terminal does), SIGTERM to the group (``docker stop``, systemd) or to ``hzz run`` alone
(``kill``), SIGKILL to ``hzz run`` alone. Then it checks that the run ended in seconds with one
line, that no process of the session is left (workers, forkserver, manager, resource tracker),
over RabbitMQ which of the run's queues are left, and that ``hzz run --resume`` — the command the
line gives — finishes the run with histograms equal to a clean run's (counts exactly, sums to
1e-9). The faster cases check the pieces: temporaries of killed writers, queue expiry, resuming.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pika
import pika.exceptions
import pytest
from conftest import TEST_SIGNER, manifest_of

from hzz.local import QUEUE_EXPIRY_SECONDS
from hzz.processes import PROCESS_PREFIX
from hzz.shared.aggregation import Aggregator
from hzz.shared.data_vars import Settings
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult
from hzz.shared.messaging import QueueNames
from hzz.shared.messaging.rabbitmq import RabbitMQTransport
from hzz.shared.outputs import TEMP_GRACE_SECONDS, remove_stale_temporaries
from hzz.shared.runs import resume_tasks, settings_of_run
from hzz.shared.runstore import RunStore, load_run_state

ROOT = Path(__file__).resolve().parents[1]
#: Three files of 12,000 events in 100-entry chunks: 360 chunks, long enough to be signalled mid-way.
SAMPLES = ("data_A", "data_B", "llll")
EVENTS = 12_000
CHUNK_SIZE = 100
WORKERS = 2
#: Chunks recorded before the run is signalled: it is then surely under way, and far from done.
SIGNAL_AFTER_CHUNKS = 15
#: How long an interrupted run may take to end (the aim is "a few seconds"; the machine is shared).
INTERRUPT_SECONDS = 10.0
#: How long the processes of a killed run may outlive it.
ORPHAN_SECONDS = 5.0

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists processes through /proc (Linux)"),
]


# --- processes -----------------------------------------------------------------------------


def session_processes(session: int) -> list[int]:
    """The live (not zombie) processes of a session: what a run started as a session leader left."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(sid) == session and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until_gone(session: int, timeout: float) -> float:
    """Seconds until no process of the session is left; fails naming them after ``timeout``."""
    started = time.monotonic()
    while session_processes(session):
        if time.monotonic() - started > timeout:
            left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in session_processes(session)}
            pytest.fail(f"processes of the run left {timeout:.0f} s after it ended: {left}")
        time.sleep(0.05)
    return time.monotonic() - started


class Run:
    """One ``python -m hzz run`` in a session of its own; its output goes to ``run.log``."""

    def __init__(self, folder: Path, output: Path, *args: str, env: dict[str, str]) -> None:
        self.output = output
        self.log_path = folder / f"run-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hzz", "run", "--output-dir", str(output), "--quiet", *args],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session and group: what a terminal's job is
            )

    def output_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def chunks_recorded(self) -> int:
        """Chunks done or failed in the run's database (read only: the run is writing it)."""
        for state in (self.output / "runs").glob("*/state.sqlite"):
            try:
                with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1) as db:
                    return int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            except sqlite3.Error:
                return 0
        return 0

    def wait_mid_way(self) -> None:
        deadline = time.monotonic() + 240
        while self.chunks_recorded() < SIGNAL_AFTER_CHUNKS:
            assert self.process.poll() is None, f"the run ended before it was signalled:\n{self.output_text()}"
            assert time.monotonic() < deadline, f"the run did not get under way:\n{self.output_text()}"
            time.sleep(0.05)

    def signal(self, sig: int, *, group: bool) -> float:
        """Send ``sig`` (to the whole group, as a terminal does, or to ``hzz run`` alone); seconds to its end."""
        started = time.monotonic()
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        self.process.wait(120)
        return time.monotonic() - started

    def run_id(self) -> str:
        (folder,) = (self.output / "runs").iterdir()
        return folder.name

    def results(self) -> dict[str, Any]:
        return json.loads((self.output / "results.json").read_text())

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hzz.devtools.samplegen.r2020 import generate_dataset

    folder = tmp_path_factory.mktemp("interruptions")
    generate_dataset(folder, samples=SAMPLES, events=EVENTS, seed=12)
    return folder


def environment(dataset: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HZZ_")}
    return {
        **clean,
        "HZZ_DATASET": str(dataset),
        "HZZ_SAMPLES": ",".join(SAMPLES),
        "HZZ_CHUNK_SIZE": str(CHUNK_SIZE),
        "HZZ_WORKERS": str(WORKERS),
        **extra,
    }


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.kill()


@pytest.fixture(scope="module")
def clean_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same run, never interrupted: what every resumed run must equal."""
    folder = tmp_path_factory.mktemp("clean")
    done = subprocess.run(
        [sys.executable, "-m", "hzz", "run", "--output-dir", str(folder / "out"), "--quiet", "--transport", "embedded"],
        env=environment(dataset),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((folder / "out" / "results.json").read_text())
    assert results["state"] == "complete"
    assert results["tally"]["total"] == len(SAMPLES) * EVENTS // CHUNK_SIZE
    return results


def assert_equals_clean(results: dict[str, Any], clean: dict[str, Any]) -> None:
    """Counts exactly, Σw and Σw² per bin and the yields to 1e-9 relative, every chunk done once."""
    assert results["state"] == "complete", results["tally"]
    assert results["tally"] == clean["tally"]
    assert results["events"] == clean["events"]
    assert set(results["samples"]) == set(clean["samples"])
    for name, expected in clean["samples"].items():
        got = results["samples"][name]
        for key in ("events_read", "events_selected", "chunks_total", "chunks_done", "chunks_failed"):
            assert got[key] == expected[key], (name, key)
        np.testing.assert_allclose(got["sumw"], expected["sumw"], rtol=1e-9, atol=0, err_msg=name)
        np.testing.assert_allclose(got["sumw2"], expected["sumw2"], rtol=1e-9, atol=0, err_msg=name)
        assert got["weighted_yield"] == pytest.approx(expected["weighted_yield"], rel=1e-9, abs=0)
        if got["is_data"]:
            assert got["sumw"] == expected["sumw"]  # counts: exactly
    assert results["data"] == clean["data"]


def interruption_line(output: str) -> str:
    """The one line an interrupted run prints, checked for what it must say; returns the command it gives."""
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    said = [line for line in lines if "interrupted" in line]
    assert len(said) == 1, output
    # Its last line, and at most a line before it: the first line of `hzz run` that names the transport.
    assert lines[-1] == said[0] and len(lines) <= 2, output
    assert f"of {len(SAMPLES) * EVENTS // CHUNK_SIZE} chunks done" in said[0], said[0]
    assert "finish it with: hzz run --resume" in said[0], said[0]
    return said[0].split("finish it with: ", 1)[1]


def resume(command: str, dataset: Path, tmp_path: Path, *, transport: str, **env: str) -> dict[str, Any]:
    """Run the command an interrupted run gave (``hzz run --resume …``) to its end; its results."""
    args = shlex.split(command)
    assert args[:3] == ["hzz", "run", "--resume"], command
    done = subprocess.run(
        [sys.executable, "-m", "hzz", *args[1:], "--quiet", "--transport", transport],
        env=environment(dataset, **env),  # the shell the run was started from
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output_dir = Path(args[args.index("--output-dir") + 1]) if "--output-dir" in args else tmp_path / "output_plots"
    return json.loads((tmp_path / output_dir / "results.json").read_text())


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".write-test-")]


# --- Ctrl-C and SIGTERM, embedded transport ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True)],
    ids=["ctrl-c", "kill-term", "group-term"],
)
def test_an_interrupted_run_ends_in_seconds_with_one_line_and_no_process_and_resumes_to_a_clean_run(
    sig: int, group: bool, dataset: Path, clean_run: dict[str, Any], tmp_path: Path, runs: list[Run]
) -> None:
    # Given a run under way
    run = Run(tmp_path, tmp_path / "out", "--transport", "embedded", env=environment(dataset))
    runs.append(run)
    run.wait_mid_way()

    # When it is signalled
    seconds = run.signal(sig, group=group)

    # Then it ends within seconds, with the shell's code for the signal and one line saying how far it got
    print(f"{signal.Signals(sig).name} to {'the group' if group else 'hzz run'}: ended in {seconds:.2f} s")
    assert run.process.returncode == 128 + sig, run.output_text()
    assert seconds < INTERRUPT_SECONDS
    command = interruption_line(run.output_text())
    # every process it started is gone (workers, forkserver, manager, resource tracker)
    wait_until_gone(run.process.pid, ORPHAN_SECONDS)
    # what it finished is recorded, and the rest is pending
    tally = load_run_state(run.output)
    assert tally is not None and tally.tally()["done"] >= SIGNAL_AFTER_CHUNKS
    assert tally.pending, "the run was complete when signalled: make it longer"
    assert f"{tally.tally()['done']} of " in run.output_text()
    # and results.json (the page's source) says the run was interrupted, not that it runs
    recorded = json.loads((run.output / "results.json").read_text())
    assert recorded["state"] == "interrupted" and recorded["tally"]["pending"] == len(tally.pending)

    # When the command it gave is run
    results = resume(command, dataset, tmp_path, transport="embedded")

    # Then the run is finished, equal to a clean run, with no temporary file left
    assert results["run_id"] == run.run_id()
    assert_equals_clean(results, clean_run)
    assert temporaries(run.output) == []


# --- SIGKILL: the parent-death watch and the next start's cleanup ------------------------------


@pytest.mark.slow
def test_a_killed_run_takes_its_processes_with_it_and_resumes_to_a_clean_run(
    dataset: Path, clean_run: dict[str, Any], tmp_path: Path, runs: list[Run]
) -> None:
    # Given a run under way
    run = Run(tmp_path, tmp_path / "out", "--transport", "embedded", env=environment(dataset))
    runs.append(run)
    run.wait_mid_way()
    session = run.process.pid
    assert len(session_processes(session)) >= 2 + WORKERS  # hzz run, forkserver, manager, workers, …

    # When hzz run alone is killed, with no chance to clean up
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(30)

    # Then its workers, manager, forkserver and resource tracker end by themselves within seconds
    seconds = wait_until_gone(session, ORPHAN_SECONDS)
    print(f"SIGKILL: the run's processes were gone {seconds:.2f} s after it")

    # When the run is resumed
    tally = load_run_state(run.output)
    assert tally is not None and tally.pending
    command = f"hzz run --resume --output-dir {shlex.quote(str(run.output))}"
    results = resume(command, dataset, tmp_path, transport="embedded")

    # Then it equals a clean run
    assert results["run_id"] == run.run_id()
    assert_equals_clean(results, clean_run)
    assert temporaries(run.output) == []


# --- over RabbitMQ: the run's own queues --------------------------------------------------------


def queue_state(broker_url: str, name: str) -> int | None:
    """Messages ready in a queue, or None when there is no such queue (a passive declaration fails)."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        return int(connection.channel().queue_declare(name, passive=True).method.message_count)
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
        return None
    finally:
        connection.close()


def declared_with(broker_url: str, name: str, arguments: dict[str, Any]) -> bool:
    """Whether declaring the queue with exactly these arguments is accepted (the broker refuses others)."""
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        connection.channel().queue_declare(name, durable=True, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406, e  # PRECONDITION_FAILED: the queue has other arguments
        return False
    finally:
        connection.close()
    return True


def delete_queues(broker_url: str, names: QueueNames) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        for name in names.all():
            connection.channel().queue_delete(name)
    finally:
        connection.close()


@pytest.mark.slow
def test_over_rabbitmq_an_interrupted_run_deletes_its_queues_and_resumes_to_a_clean_run(
    dataset: Path, clean_run: dict[str, Any], tmp_path: Path, runs: list[Run], broker_url: str, queue_prefix: str
) -> None:
    # Given a run under way over RabbitMQ
    env = environment(dataset, HZZ_BROKER_URL=broker_url, HZZ_QUEUE_PREFIX=queue_prefix)
    run = Run(tmp_path, tmp_path / "out", "--transport", "rabbitmq", env=env)
    runs.append(run)
    run.wait_mid_way()
    names = QueueNames(f"{queue_prefix}.{run.run_id()}")
    try:
        assert queue_state(broker_url, names.tasks) is not None  # its own queues, while it runs

        # When Ctrl-C is pressed
        seconds = run.signal(signal.SIGINT, group=True)

        # Then it ends with one line, its processes gone, and no queue of the run is left
        print(f"SIGINT over RabbitMQ: ended in {seconds:.2f} s")
        assert run.process.returncode == 130, run.output_text()
        assert seconds < INTERRUPT_SECONDS
        command = interruption_line(run.output_text())
        wait_until_gone(run.process.pid, ORPHAN_SECONDS)
        assert {name: queue_state(broker_url, name) for name in names.all()} == dict.fromkeys(names.all())

        # When it is resumed over RabbitMQ
        results = resume(
            command, dataset, tmp_path, transport="rabbitmq", HZZ_BROKER_URL=broker_url, HZZ_QUEUE_PREFIX=queue_prefix
        )

        # Then it equals a clean run, and its queues are gone again
        assert_equals_clean(results, clean_run)
        assert {name: queue_state(broker_url, name) for name in names.all()} == dict.fromkeys(names.all())
    finally:
        delete_queues(broker_url, names)


@pytest.mark.slow
def test_over_rabbitmq_a_killed_runs_queues_expire_touch_no_other_run_and_are_emptied_by_its_resume(
    dataset: Path, clean_run: dict[str, Any], tmp_path: Path, runs: list[Run], broker_url: str, queue_prefix: str
) -> None:
    # Given a run over RabbitMQ killed mid-way (SIGKILL: nothing of it could clean up)
    env = environment(dataset, HZZ_BROKER_URL=broker_url, HZZ_QUEUE_PREFIX=queue_prefix)
    killed = Run(tmp_path, tmp_path / "out", "--transport", "rabbitmq", env=env)
    runs.append(killed)
    killed.wait_mid_way()
    names = QueueNames(f"{queue_prefix}.{killed.run_id()}")
    try:
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(30)
        wait_until_gone(killed.process.pid, ORPHAN_SECONDS)

        # Then its queues are left with its tasks, declared to expire an hour after their last use:
        # the broker accepts a declaration with exactly those arguments and refuses one without
        left = queue_state(broker_url, names.tasks)
        assert left, "the killed run had no task left: make it longer"
        expiring = RabbitMQTransport(broker_url, names, queue_expiry_seconds=QUEUE_EXPIRY_SECONDS)
        for name in names.all():
            arguments = expiring.queue_arguments(name)
            assert arguments["x-expires"] == QUEUE_EXPIRY_SECONDS * 1000
            assert declared_with(broker_url, name, arguments)
            assert not declared_with(broker_url, name, {k: v for k, v in arguments.items() if k != "x-expires"})

        # When another run uses the same broker and prefix meanwhile
        other = Run(tmp_path, tmp_path / "other", "--transport", "rabbitmq", env=env)
        runs.append(other)
        assert other.process.wait(300) == 0, other.output_text()

        # Then it is complete and clean, and took none of the killed run's tasks
        assert_equals_clean(other.results(), clean_run)
        assert "unknown run" not in other.output_text()
        assert queue_state(broker_url, names.tasks) == left

        # When the killed run is resumed
        command = f"hzz run --resume --output-dir {shlex.quote(str(killed.output))}"
        results = resume(
            command, dataset, tmp_path, transport="rabbitmq", HZZ_BROKER_URL=broker_url, HZZ_QUEUE_PREFIX=queue_prefix
        )

        # Then it equals a clean run (its leftovers emptied first, not counted) and its queues are gone
        assert results["run_id"] == killed.run_id()
        assert_equals_clean(results, clean_run)
        assert {name: queue_state(broker_url, name) for name in names.all()} == dict.fromkeys(names.all())
    finally:
        delete_queues(broker_url, names)


def workers_of(session: int) -> list[int]:
    """The worker processes of a run: forked from the run itself or from its forkserver, each
    shown under its name (processes.show_name); not its other helpers (the drawing process, the
    forkserver, multiprocessing's resource tracker)."""
    return [pid for pid in session_processes(session) if process_name(pid).startswith(f"{PROCESS_PREFIX}worker")]


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:  # it ended meanwhile
        return ""


@pytest.mark.slow
def test_over_rabbitmq_a_run_whose_worker_was_killed_still_ends(
    dataset: Path, clean_run: dict[str, Any], tmp_path: Path, runs: list[Run], broker_url: str, queue_prefix: str
) -> None:
    # Given a run under way over RabbitMQ
    env = environment(dataset, HZZ_BROKER_URL=broker_url, HZZ_QUEUE_PREFIX=queue_prefix)
    run = Run(tmp_path, tmp_path / "out", "--transport", "rabbitmq", env=env)
    runs.append(run)
    run.wait_mid_way()
    names = QueueNames(f"{queue_prefix}.{run.run_id()}")
    try:
        # When one of its workers is killed (its chunk goes back to the queue, a replacement starts)
        workers = workers_of(run.process.pid)
        assert len(workers) == WORKERS, workers
        os.kill(workers[0], signal.SIGKILL)

        # Then the run still completes and exits (stopping its workers once waited forever for the
        # killed one to wake up, when the stop was a multiprocessing.Event), equal to a clean run
        assert run.process.wait(240) == 0, run.output_text()
        assert_equals_clean(run.results(), clean_run)
        wait_until_gone(run.process.pid, ORPHAN_SECONDS)
    finally:
        delete_queues(broker_url, names)


def test_queues_declared_to_expire_are_deleted_by_the_broker_once_unused(broker_url: str, queue_prefix: str) -> None:
    # Given a run's queues declared with a one-second expiry, then left (as by a killed run)
    names = QueueNames(f"{queue_prefix}.expiring")
    transport = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER, queue_expiry_seconds=1.0).connect()
    transport.publish(names.tasks, b"left behind")
    transport.close()
    try:
        # Then the broker deletes them by itself (quorum queues check their expiry every few seconds)
        deadline = time.monotonic() + 30
        while any(queue_state(broker_url, name) is not None for name in names.all()):
            assert time.monotonic() < deadline, "the queues did not expire"
            time.sleep(0.25)
    finally:
        delete_queues(broker_url, names)


# --- temporary files of killed writers ------------------------------------------------------------

#: A writer that stops in the middle of write_atomic (its data written, not yet in place) and says so.
STALLED_WRITER = """
import os, sys, time
from pathlib import Path
from hzz.shared import outputs
def stall(fd):
    print("writing", flush=True)
    time.sleep(600)
os.fsync = stall
outputs.write_atomic(Path(sys.argv[1]) / sys.argv[2], b"{}")
"""


def stalled_writer(folder: Path, name: str) -> subprocess.Popen[str]:
    writer = subprocess.Popen(
        [sys.executable, "-c", STALLED_WRITER, str(folder), name], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    return writer


def kill(writer: subprocess.Popen[str]) -> None:
    writer.kill()
    writer.wait()
    assert writer.stdout is not None
    writer.stdout.close()


def test_only_the_temporaries_of_killed_writers_are_removed_at_the_next_start(tmp_path: Path) -> None:
    # Given an output folder where one writer was killed mid-write and another is writing right now
    out = tmp_path / "out"
    run_dir = out / "runs" / "20260101-000000-abcdef"
    run_dir.mkdir(parents=True)
    kill(stalled_writer(run_dir, "results.json"))
    live = stalled_writer(out, "results.json")
    try:
        (abandoned,) = [p for p in run_dir.iterdir() if p.name.startswith(".results.json.")]
        (writing,) = [p for p in out.iterdir() if p.name.startswith(".results.json.")]
        # … and files that only look alike: not this module's naming, or not a regular file
        others = [out / ".results.json.tmp", out / "notes.tmp", run_dir / ".plot.png.tmp"]
        for path in others:
            path.write_text("not ours")
        link = out / ".hzz_m4l.png.abcd1234.tmp"
        link.symlink_to(abandoned)

        # When the next start looks at once: everything is younger than the grace period, nothing goes
        assert remove_stale_temporaries(out) == []

        # When it looks after the grace period
        removed = remove_stale_temporaries(out, now=time.time() + TEMP_GRACE_SECONDS + 1)

        # Then only the killed writer's temporary file is gone
        assert removed == [abandoned]
        assert not abandoned.exists()
        assert writing.exists() and link.is_symlink() and all(p.exists() for p in others)
    finally:
        kill(live)


def test_an_aggregator_starting_in_the_folder_removes_what_killed_writers_left(tmp_path: Path) -> None:
    # Given temporaries of killed writers, a minute old (of write_atomic, and of the writability check)
    out = tmp_path / "out"
    out.mkdir()
    kill(stalled_writer(out, "hzz_m4l.png"))
    check = out / ".write-test-k2j4h5g6"
    check.write_text("")
    left = [*temporaries(out)]
    assert len(left) == 2
    old = time.time() - 60
    for path in left:
        os.utime(path, (old, old))

    # When an aggregator starts there (hzz run, or the aggregator service)
    Aggregator(out, refresh_seconds=60).close()

    # Then they are gone
    assert temporaries(out) == []


# --- resuming -----------------------------------------------------------------------------------


def result_of(tally: RunTally, chunk_id: str, *, error: str | None = None) -> ChunkResult:
    spec = tally.chunks[chunk_id]
    bins = tally.binning.bins
    return ChunkResult(
        run_id=tally.run_id,
        chunk_id=chunk_id,
        sample=spec.sample,
        events_read=0 if error else spec.entries or 0,
        sumw=[0.0] * bins,
        sumw2=[0.0] * bins,
        sumw2_total=0.0,
        binning=tally.binning.to_json(),
        error=error,
    )


def test_resuming_takes_the_pending_and_failed_chunks_with_the_runs_own_settings(tmp_path: Path) -> None:
    # Given a run of two files in five chunks: one done, one failed, three pending
    settings = {"dataset": "/data/4lep", "samples": ["data_A", "data_B"], "chunk_size": 40, "fraction": 1.0}
    manifest = manifest_of(
        "r1",
        [
            ("data_A", "/data/4lep/Data/data_A.4lep.root", 80, 40),
            ("data_B", "/data/4lep/Data/data_B.4lep.root", 120, 40),
        ],
        settings={**settings, "lumi": 10.0},
    )
    tally = RunTally(manifest)
    ids = list(tally.chunks)
    assert tally.add(result_of(tally, ids[0]))
    assert tally.add(result_of(tally, ids[2], error="cannot open data_B: gone"))

    # When the run is resumed from another folder's settings
    tasks = resume_tasks(tally)
    resumed = settings_of_run(tally, Settings(dataset=str(tmp_path), samples=("llll",), chunk_size=7))

    # Then every chunk not done is taken, in the manifest's order, and the run keeps what defines it
    assert [t.chunk_id for t in tasks] == [ids[1], ids[2], ids[3], ids[4]]
    assert all(t.attempt == 0 for t in tasks)
    assert (resumed.run_id, resumed.dataset, resumed.samples, resumed.chunk_size) == (
        "r1",
        "/data/4lep",
        ("data_A", "data_B"),
        40,
    )


def test_a_run_read_back_long_after_it_started_is_not_stalled(tmp_path: Path) -> None:
    # Given a run that started an hour ago and was interrupted with chunks pending
    manifest = manifest_of("r1", [("data_A", "/data/Data/data_A.4lep.root", 80, 40)])
    store = RunStore(tmp_path, "r1")
    store.start(RunTally(manifest, started=time.time() - 3600))
    store.close()

    # When it is read back to be resumed
    tally = load_run_state(tmp_path, "r1")

    # Then it is pending, not stalled: the stall is counted from now
    assert tally is not None and len(tally.pending) == 2
    assert not tally.stalled(600.0)
