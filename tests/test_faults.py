"""Fault injection with real processes and a real RabbitMQ: nothing lost, nothing counted twice.

Each case runs the services as a deployment does (``python -m hzz.producer``, two ``python -m
worker``, ``python -m hzz.aggregator --exit-when-complete``) on the small dataset (every sample
generated, plus the real data files) in many chunks, injects its faults while they run, and
ends comparing the merged histograms in results.json with the notebook on the same files
(:func:`~hzz.devtools.notebook.run_notebook`): events read and selected exactly, Σw and Σw² to 1e-9
relative, and every chunk done (the tally counts each chunk id once; the exact event counts show
that no chunk was counted twice). The broker restart runs on a throwaway RabbitMQ node started
for it, never on the shared broker. The faults are counted per kind and printed at the end of
the module; ``docs/faults.md`` has the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pika
import pytest
import uproot
from conftest import TEST_KEY, TEST_SIGNER

from hzz.devtools.notebook import NotebookSample, run_notebook
from hzz.shared.data_vars import Settings
from hzz.shared.errors import CheckpointError
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, ChunkTask, RequeueNotice
from hzz.shared.messaging import ERROR_HEADER, Outgoing, QueueNames
from hzz.shared.messaging.rabbitmq import RabbitMQTransport, broker_answers
from hzz.shared.outputs import run_folder
from hzz.shared.runstore import find_runs, load_run_state
from hzz.shared.signing import Signer

ROOT = Path(__file__).resolve().parents[1]
#: Faults injected by this module, per kind (printed when the module ends).
FAULTS: Counter[str] = Counter()
#: Seconds a run may take before the case fails: a hang is a failure, not a wait.
RUN_TIMEOUT = 150.0
#: Seconds a worker gets between SIGTERM and its exit (Kubernetes gives it 120).
GRACE_SECONDS = 30.0

pytestmark = pytest.mark.timeout(300)


# --- processes -----------------------------------------------------------------------------


class Service:
    """One service process; its output goes to ``<name>.log``."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log_path = folder / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, *argv], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def chunk_in_flight(self) -> str | None:
        """The chunk this worker started and has not finished, by its log."""
        current = None
        for line in self.log().splitlines():
            started = re.search(r"processing: (\S+): started", line)
            if started:
                current = started.group(1)
            elif current and ((f"{current}: " in line and "events read" in line) or f"{current} failed:" in line):
                current = None
        return current


class Pipeline:
    """The services of one run, wired by ``HZZ_…`` variables, and what they left behind."""

    def __init__(self, folder: Path, *, broker_url: str, prefix: str, dataset: Path, chunk_size: int) -> None:
        self.folder = folder
        self.output = folder / "out"
        self.names = QueueNames(prefix)
        self.broker_url = broker_url
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HZZ_")}
        self.env = {
            **clean,
            "HZZ_BROKER_URL": broker_url,
            "HZZ_SIGNING_KEY": TEST_KEY,
            "HZZ_QUEUE_PREFIX": prefix,
            "HZZ_DATASET": str(dataset),
            "HZZ_OUTPUT_DIR": str(self.output),
            "HZZ_CHUNK_SIZE": str(chunk_size),
            "HZZ_RUN_ID": f"fault-{uuid.uuid4().hex[:6]}",
            "HZZ_REFRESH_SECONDS": "60",  # plots at start and end only: the CPU is for the workers
            "HZZ_LOG_LEVEL": "INFO",
        }
        self.services: list[Service] = []
        self._started: Counter[str] = Counter()

    def start(self, module: str, *args: str, **env: str) -> Service:
        self._started[module] += 1
        service = Service(
            f"{module}-{self._started[module]}", ["-m", f"hzz.{module}", *args], {**self.env, **env}, self.folder
        )
        self.services.append(service)
        return service

    def worker(self) -> Service:
        return self.start("worker")

    def launch(self, *, workers: int = 2, exit_when_complete: bool = True) -> tuple[Service, list[Service]]:
        """Start the aggregator, the workers and then the producer, as a deployment does."""
        aggregator = self.start("aggregator", *(["--exit-when-complete"] if exit_when_complete else []))
        started = [self.worker() for _ in range(workers)]
        self.start("producer")
        return aggregator, started

    def logs(self, module: str) -> str:
        return "\n".join(s.log() for s in self.services if s.name.startswith(f"{module}-"))

    @property
    def run_id(self) -> str:
        return self.env["HZZ_RUN_ID"]

    def state(self, run_id: str | None = None) -> RunTally | None:
        """A run's recorded state (default: this pipeline's run), or None while there is none yet."""
        run_id = run_id or self.run_id
        if run_id not in find_runs(self.output):
            return None
        try:
            return load_run_state(self.output, run_id)
        except CheckpointError:  # being created right now
            return None

    def progress(self, run_id: str | None = None) -> tuple[int, int]:
        """(chunks done or failed, chunks in the run) by the aggregator's recorded state."""
        tally = self.state(run_id)
        if tally is None:
            return 0, 0
        counts = tally.tally()
        return counts["done"] + counts["failed"], counts["total"]

    def results(self, run_id: str | None = None) -> dict[str, Any]:
        """results.json of one run (its own folder), or the one mirrored at the top of the output folder."""
        folder = self.output if run_id is None else run_folder(self.output, run_id)
        return json.loads((folder / "results.json").read_text())

    def run_state(self, run_id: str) -> str | None:
        """The ``state`` of a run's results.json, or None while it has none."""
        try:
            return self.results(run_id)["state"]
        except FileNotFoundError:
            return None

    def wait_until(self, condition: Callable[[], bool], what: str, *, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {timeout:.0f} s; logs in {self.folder}")
            time.sleep(0.01)

    def finish(self, aggregator: Service, workers: list[Service]) -> dict[str, Any]:
        """Wait for the aggregator to complete the run, then stop the workers as Kubernetes does."""
        assert aggregator.wait() == 0, aggregator.log()[-3000:]
        stop_workers(workers)
        return self.results()

    def transport(self) -> RabbitMQTransport:
        return RabbitMQTransport(self.broker_url, self.names, signer=TEST_SIGNER).connect()

    def close(self) -> None:
        for service in self.services:
            if service.alive():
                service.send(signal.SIGKILL)
            service.wait(30)


def stop_workers(workers: list[Service]) -> None:
    for worker in workers:
        if worker.alive():
            worker.send(signal.SIGTERM)
    for worker in workers:
        code = worker.wait(GRACE_SECONDS)
        assert code in (0, -signal.SIGKILL), worker.log()[-3000:]  # killed ones were killed by the test


@pytest.fixture
def pipeline(tmp_path: Path, broker_url: str, queue_prefix: str) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(dataset: Path, *, chunk_size: int, url: str = broker_url, prefix: str = queue_prefix) -> Pipeline:
        p = Pipeline(tmp_path, broker_url=url, prefix=prefix, dataset=dataset, chunk_size=chunk_size)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture(scope="module")
def reference(small_dataset: Path) -> dict[str, NotebookSample]:
    """The fault-free outcome: the notebook on the same files."""
    return run_notebook(Settings(dataset=str(small_dataset)))


@pytest.fixture(scope="module", autouse=True)
def fault_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not FAULTS:
        return
    lines = ["", "faults injected by tests/test_faults.py (nothing lost, nothing counted twice):"]
    lines += [f"  {count:5d}  {kind}" for kind, count in sorted(FAULTS.items())]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n".join(lines), flush=True)


def assert_equals_reference(
    results: dict[str, Any], reference: dict[str, NotebookSample], samples: list[str] | None = None
) -> None:
    """Every chunk of these samples done once, and their histograms those of the notebook."""
    for sample in samples or list(reference):
        got, nb = results["samples"][sample], reference[sample]
        assert (got["chunks_done"], got["chunks_failed"]) == (got["chunks_total"], 0), sample
        assert got["events_read"] == nb.events_read, sample
        assert got["events_selected"] == nb.events_selected, sample
        np.testing.assert_allclose(got["sumw"], nb.sumw, rtol=1e-9, atol=0, err_msg=sample)
        np.testing.assert_allclose(got["sumw2"], nb.sumw2, rtol=1e-9, atol=0, err_msg=sample)


def assert_clean_run(results: dict[str, Any], reference: dict[str, NotebookSample]) -> None:
    tally = results["tally"]
    assert results["state"] == "complete", results["failed_chunks"]
    assert tally["done"] == tally["total"] > 20
    assert_equals_reference(results, reference)


def dead_letters(p: Pipeline) -> list[tuple[bytes, dict[str, Any]]]:
    transport = p.transport()
    letters = []
    while (message := transport.get_message(p.names.dead)) is not None:
        letters.append(message)
    transport.close()
    return letters


# --- workers -------------------------------------------------------------------------------

#: Workers killed with SIGKILL in one run.
WORKER_KILLS = 8


@pytest.mark.slow
def test_workers_killed_at_random_moments_lose_no_chunk_and_count_none_twice(
    pipeline: Callable[..., Pipeline], small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given a run in progress with two workers
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    p = pipeline(small_dataset, chunk_size=100)
    aggregator, workers = p.launch()
    p.wait_until(lambda: p.progress()[1] > 0, "the run's manifest")
    total = p.progress()[1]

    # When workers are killed at random moments of the run, several times, and replaced
    in_flight: list[str] = []
    for point in sorted(rng.uniform(0.05, 0.8) for _ in range(WORKER_KILLS)):
        p.wait_until(lambda point=point: p.progress()[0] >= point * total, f"{point:.0%} of the run")
        time.sleep(rng.uniform(0.0, 0.05))
        busy: list[Service] = []

        def someone_busy(busy: list[Service] = busy) -> bool:
            # a worker still starting up has nothing to lose: kill one that is at work
            busy[:] = [w for w in workers if w.alive() and w.chunk_in_flight() is not None]
            return bool(busy)

        p.wait_until(someone_busy, "a worker at work")
        victim = rng.choice(busy)
        victim.send(signal.SIGKILL)
        victim.wait(10)
        # Started and never finished by its last words: its result was never published
        chunk = victim.chunk_in_flight()
        FAULTS["worker killed with SIGKILL at a random moment"] += 1
        if chunk is not None:
            in_flight.append(chunk)
            FAULTS["  … of which with a chunk half done"] += 1
        workers.append(p.worker())
    assert p.progress()[0] < total, f"the run ended before the kills were over (seed {seed})"

    # Then the run completes and equals the fault-free one: the killed chunks were redone elsewhere
    results = p.finish(aggregator, workers)
    assert_clean_run(results, reference)
    assert in_flight, f"no kill hit a chunk in flight (seed {seed})"
    logs = {w.name: w.log() for w in workers}
    for chunk in in_flight:
        assert sum(f"{chunk}: started" in log for log in logs.values()) >= 2, chunk
    assert dead_letters(p) == []


#: Workers sent SIGTERM while a chunk is half done.
WORKER_TERMS = 4


@pytest.mark.slow
def test_workers_sent_sigterm_mid_chunk_finish_it_hand_it_on_and_exit_0(
    pipeline: Callable[..., Pipeline], small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given a run in progress with big chunks
    p = pipeline(small_dataset, chunk_size=500)
    aggregator, workers = p.launch()

    # When a worker gets SIGTERM the moment it starts a chunk (a scale-down), a few times
    terminated: list[tuple[Service, str]] = []
    while len(terminated) < WORKER_TERMS:
        busy: list[tuple[Service, str]] = []

        def someone_busy(busy: list[tuple[Service, str]] = busy) -> bool:
            busy[:] = [(w, c) for w in workers if w.alive() and (c := w.chunk_in_flight()) is not None]
            return bool(busy)

        p.wait_until(someone_busy, "a worker starting a chunk")
        victim, chunk = busy[0]
        victim.send(signal.SIGTERM)
        sent = time.monotonic()

        # Then it finishes the chunk, hands it on, and exits with 0 within the grace period
        assert victim.wait(GRACE_SECONDS) == 0, victim.log()[-3000:]
        assert time.monotonic() - sent < GRACE_SECONDS
        lines = victim.log().splitlines()
        started = next(i for i, line in enumerate(lines) if f"{chunk}: started" in line)
        signalled = next(i for i, line in enumerate(lines) if "signal 15" in line)
        finished = next(i for i, line in enumerate(lines) if f"{chunk}: " in line and "events read" in line)
        assert lines[-1].endswith("stopped")
        workers.remove(victim)
        workers.append(p.worker())
        if started < signalled < finished:
            terminated.append((victim, chunk))
            FAULTS["worker sent SIGTERM mid-chunk"] += 1

    results = p.finish(aggregator, workers)
    assert_clean_run(results, reference)
    # The chunks finished during the shutdown were acknowledged: no other worker did them again
    for victim, chunk in terminated:
        others = [s for s in p.services if s.name.startswith("worker-") and s is not victim]
        assert not any(f"{chunk}: started" in s.log() for s in others), chunk
    assert dead_letters(p) == []


# --- aggregator ------------------------------------------------------------------------------


#: Times the aggregator is killed with SIGKILL in one run.
AGGREGATOR_KILLS = 3


@pytest.mark.slow
def test_the_aggregator_killed_and_restarted_mid_run_resumes_from_its_checkpoint(
    pipeline: Callable[..., Pipeline], small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given a run in progress, of chunks small enough that it outlasts three kills and restarts
    p = pipeline(small_dataset, chunk_size=25)
    aggregator, workers = p.launch()
    p.wait_until(lambda: p.progress()[0] >= 0.25 * max(p.progress()[1], 100), "a quarter of the run")

    # When the aggregator is killed several times: at a quarter, then each time right after it resumed
    waiting = []
    for _ in range(AGGREGATOR_KILLS):
        assert aggregator.alive()
        aggregator.send(signal.SIGKILL)
        aggregator.wait(10)
        FAULTS["aggregator killed with SIGKILL and restarted"] += 1
        at_kill = p.progress()[0]
        assert at_kill < p.progress()[1], "the run ended before the kills were over"
        time.sleep(0.5)  # results keep coming meanwhile: they wait in the durable queue
        # The workers wait while the aggregator restarts (an import of a second or more): else
        # they could finish the run before the last kill, whatever the machine's speed.
        with paused(workers):
            transport = p.transport()
            waiting.append(transport.queue_depth(p.names.results))
            transport.close()
            aggregator = p.start("aggregator", "--exit-when-complete")
            p.wait_until(lambda at_kill=at_kill: p.progress()[0] > at_kill, "progress after the restart")

    # Then the restarted aggregator resumed from its checkpoint and the run equals the fault-free one
    results = p.finish(aggregator, workers)
    assert_clean_run(results, reference)
    assert max(waiting) > 0
    assert p.logs("aggregator").count("resuming run") == AGGREGATOR_KILLS
    assert dead_letters(p) == []


# --- broker ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayBroker:
    """A RabbitMQ node of its own (name, ports, data folder) that a test may stop and start.

    It runs beside the shared broker and is deleted afterwards. ``rabbitmq-server`` switches
    to the ``rabbitmq`` user, so its folder is made in /tmp and handed to that user.
    """

    def __init__(self) -> None:
        if shutil.which("rabbitmq-server") is None or os.geteuid() != 0:
            pytest.skip("a throwaway RabbitMQ node needs rabbitmq-server and root")
        self.base = Path(tempfile.mkdtemp(prefix="hzz-rabbit-"))
        self.node = f"hzz-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        (self.base / "enabled_plugins").write_text("")
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        user = pwd.getpwnam("rabbitmq")
        for path in (self.base, *self.base.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
        self.base.chmod(0o755)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, capture_output=True, timeout=60)
        self._wait_for(up=True)

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "-q", "-n", self.node, "stop"], env=self.env, capture_output=True, timeout=60)
        self._wait_for(up=False)

    def _wait_for(self, *, up: bool) -> None:
        deadline = time.monotonic() + 60
        while broker_answers(self.url, timeout=1.0) != up:
            if time.monotonic() > deadline:
                pytest.fail(f"the throwaway node {self.node} did not come {'up' if up else 'down'}")
            time.sleep(0.2)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def paused(services: list[Service]) -> Iterator[None]:
    """The services stopped (SIGSTOP) while inside, continued (SIGCONT) after: a test's way to
    keep the workers from finishing a run before the fault it is about."""
    for service in services:
        service.send(signal.SIGSTOP)
    try:
        yield
    finally:
        for service in services:
            service.send(signal.SIGCONT)


def consumers(url: str, queue: str) -> int:
    """Consumers of ``queue`` now (0 while it does not exist yet)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.consumer_count)
    except pika.exceptions.ChannelClosedByBroker:  # not declared yet
        return 0
    finally:
        connection.close()


@pytest.fixture
def throwaway_broker() -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker()
    broker.start()
    yield broker
    broker.destroy()


@pytest.mark.slow
def test_a_broker_down_at_start_and_restarted_mid_run_loses_nothing(
    pipeline: Callable[..., Pipeline],
    throwaway_broker: ThrowawayBroker,
    small_dataset: Path,
    reference: dict[str, NotebookSample],
) -> None:
    # Given every service started while the broker is down (they wait for it with backoff)
    p = pipeline(small_dataset, chunk_size=100, url=throwaway_broker.url, prefix="hzz-faults")
    throwaway_broker.stop()
    aggregator = p.start("aggregator", "--exit-when-complete")
    workers = [p.worker(), p.worker()]
    producer = p.start("producer")
    time.sleep(3.0)
    # Each service retries on its own backoff (up to 8 s apart): the workers are held until the
    # aggregator consumes, or they could finish the run before it connects and no restart would
    # find it consuming.
    with paused(workers):
        throwaway_broker.start()
        p.wait_until(lambda: consumers(throwaway_broker.url, p.names.results) > 0, "the aggregator consuming")
    FAULTS["broker down while the services start"] += 1

    # When the broker is stopped and started again mid-run, twice
    for fraction in (0.25, 0.6):
        p.wait_until(lambda f=fraction: p.progress()[0] >= f * max(p.progress()[1], 100), f"{fraction:.0%} of the run")
        throwaway_broker.stop()
        time.sleep(2.0)
        throwaway_broker.start()
        FAULTS["broker restarted mid-run"] += 1

    # Then every service reconnected by itself and the run equals the fault-free one
    assert producer.wait() == 0, producer.log()[-3000:]
    results = p.finish(aggregator, workers)
    assert_clean_run(results, reference)
    assert "lost the broker while consuming" in p.logs("worker")
    assert "lost the broker while consuming" in p.logs("aggregator")
    assert dead_letters(p) == []


# --- duplicates ------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_result_published_twice_is_counted_once(
    pipeline: Callable[..., Pipeline],
    broker_url: str,
    queue_prefix: str,
    small_dataset: Path,
    reference: dict[str, NotebookSample],
) -> None:
    # Given a proxy between the workers and the aggregator that publishes every result twice
    p = pipeline(small_dataset, chunk_size=200)
    doubled = QueueNames(f"{queue_prefix}-doubled")
    proxy_stop = threading.Event()
    copied: Counter[str] = Counter()

    def twice(body: bytes) -> list[Outgoing]:
        copied["results" if b'"kind":"result"' in body else "other"] += 1
        return [Outgoing(doubled.results, body), Outgoing(doubled.results, body)]

    proxy = RabbitMQTransport(broker_url, p.names, signer=TEST_SIGNER)
    thread = threading.Thread(target=proxy.consume, args=(p.names.results, twice), kwargs={"stop": proxy_stop})
    # declare the queues the aggregator reads
    RabbitMQTransport(broker_url, doubled, signer=TEST_SIGNER).connect().close()
    try:
        thread.start()

        # When the run goes through it
        aggregator = p.start("aggregator", "--exit-when-complete", HZZ_QUEUE_PREFIX=doubled.prefix)
        workers = [p.worker(), p.worker()]
        p.start("producer")
        results = p.finish(aggregator, workers)
    finally:
        proxy_stop.set()
        thread.join(30)
        proxy.close()
        cleanup = RabbitMQTransport(broker_url, doubled, signer=TEST_SIGNER)
        left = cleanup.queue_depth(doubled.results)  # copies that came after the run was complete
        cleanup.delete_queues()
        cleanup.close()
    FAULTS["result published twice"] += copied["results"]

    # Then each chunk counted once: the copies were recognised as duplicates
    assert_clean_run(results, reference)
    assert copied["results"] >= results["tally"]["total"]
    dropped = sum(int(n) for n in re.findall(r"(\d+) duplicate results, already counted", p.logs("aggregator")))
    assert dropped + left >= results["tally"]["total"]
    assert dropped > 0
    assert dead_letters(p) == []


# --- bad input -------------------------------------------------------------------------------


def garble_baskets(path: Path) -> None:
    """Overwrite 16 bytes in the middle of every basket: the file opens, no entry can be read."""
    with uproot.open(path) as file:
        spans = [
            (int(seek), int(size))
            for branch in file["mini"].branches
            for seek, size in zip(
                branch.member("fBasketSeek")[: branch.num_baskets],
                branch.member("fBasketBytes")[: branch.num_baskets],
                strict=True,
            )
        ]
    data = bytearray(path.read_bytes())
    rng = random.Random(path.name)
    for seek, size in spans:
        middle = seek + size // 2
        data[middle : middle + 16] = bytes(rng.randrange(256) for _ in range(16))
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])


def without_mini_tree(path: Path) -> None:
    path.unlink()
    with uproot.recreate(path) as file:
        file["other"] = {"x": np.arange(10)}


#: The broken files of the bad-input case: sample → (kind of fault, how to break it).
BROKEN: dict[str, tuple[str, Callable[[Path], None]]] = {
    "Zee": ("corrupt file (every basket garbled)", garble_baskets),
    "Zmumu": ("truncated file (60 % kept)", truncate),
    "ttbar_lep": ("missing file", Path.unlink),
    "data_C": ("file without the mini tree", without_mini_tree),
}

#: Messages that belong to no run: (queue attribute, body, kind of fault).
GARBAGE = [
    ("tasks", b"\x00\x01 not a message", "garbage message on the tasks queue"),
    ("results", b'{"kind": "result", "run_id": 7}', "garbage message on the results queue"),
    (
        "results",
        ChunkResult(run_id="no-such-run", chunk_id="data_A/data_A.4lep.root:0-39", sample="data_A").encode(),
        "result of an unknown run on the results queue",
    ),
]


@pytest.mark.slow
def test_bad_files_fail_by_name_garbage_is_dead_lettered_and_a_requeue_completes_the_run(
    pipeline: Callable[..., Pipeline], tmp_path: Path, small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given a copy of the dataset with four broken files, and garbage on both queues
    dataset = tmp_path / "dataset"
    shutil.copytree(small_dataset, dataset)
    settings = Settings(dataset=str(dataset))
    for sample, (kind, damage) in BROKEN.items():
        damage(Path(settings.file_location(sample)))
        FAULTS[kind] += 1
    p = pipeline(dataset, chunk_size=200)
    transport = p.transport()
    for queue, body, kind in GARBAGE:
        transport.publish(getattr(p.names, queue), body)
        FAULTS[kind] += 1
    transport.close()

    # When the run goes through
    aggregator, workers = p.launch()
    assert aggregator.wait() == 0, aggregator.log()[-3000:]
    results = p.results()

    # Then the run completes with failures: every chunk of a broken file, by the file's name …
    assert results["state"] == "complete_with_failures"
    failed = results["failed_chunks"]
    assert {f["sample"] for f in failed} == set(BROKEN)
    for f in failed:
        location = settings.file_location(f["sample"])
        assert location in f["error"], f
        assert f["attempt"] == 0  # permanent: not retried
    for sample in BROKEN:
        got = results["samples"][sample]
        assert (got["chunks_failed"], got["chunks_done"]) == (got["chunks_total"], 0), sample
    # … every other chunk merged exactly once …
    intact = [s for s in reference if s not in BROKEN]
    assert_equals_reference(results, reference, intact)
    assert results["tally"]["done"] + len(failed) == results["tally"]["total"]
    # … and the garbage and the failed tasks are in the dead-letter queue, with their errors
    letters = dead_letters(p)
    errors = [headers[ERROR_HEADER] for _, headers in letters]
    bodies = [body for body, _ in letters]
    for _, body, _ in GARBAGE:
        assert body in bodies
    assert sum(e.startswith("DecodeError") for e in errors) == len(GARBAGE)
    assert len(letters) == len(GARBAGE) + len(failed)

    # When the files are fixed and only the failed chunks are requeued, for a running aggregator
    for sample in BROKEN:
        shutil.copyfile(Settings(dataset=str(small_dataset)).file_location(sample), settings.file_location(sample))
    aggregator = p.start("aggregator")
    requeue = subprocess.run(
        [sys.executable, "-m", "hzz", "requeue-failed", "--output-dir", str(p.output)],
        env=p.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert requeue.returncode == 0, requeue.stderr
    assert f"requeued {len(failed)} failed chunks" in requeue.stdout
    FAULTS["failed chunks requeued (hzz requeue-failed)"] += len(failed)
    p.wait_until(lambda: p.results()["state"] == "complete", "the requeued chunks")
    aggregator.send(signal.SIGTERM)
    assert aggregator.wait(GRACE_SECONDS) == 0
    stop_workers(workers)

    # Then the merged result equals a clean run
    assert_clean_run(p.results(), reference)


@pytest.mark.slow
def test_the_one_machine_run_retries_only_the_failed_chunks(real_dataset: Path, tmp_path: Path) -> None:
    from hzz.local import run_local

    # Given a one-machine run whose data_B file was missing
    dataset = tmp_path / "dataset"
    shutil.copytree(real_dataset, dataset)
    moved = dataset / "Data" / "data_B.4lep.root"
    moved.rename(tmp_path / "data_B.4lep.root")
    settings = Settings(dataset=str(dataset), samples=("data_A", "data_B"), output_dir=str(tmp_path / "out"))
    settings = settings.replace(chunk_size=40, workers=1)
    first = run_local(settings, transport="embedded", progress=False)
    assert first["state"] == "complete_with_failures"
    assert [f["sample"] for f in first["failed_chunks"]] == ["data_B"]

    # When the file is back and the run is retried
    (tmp_path / "data_B.4lep.root").rename(moved)
    again = run_local(settings, transport="embedded", progress=False, retry_failed=True)

    # Then the same run is complete and equals the notebook
    expected = run_notebook(settings)
    assert again["run_id"] == first["run_id"]
    assert again["state"] == "complete"
    for sample, nb in expected.items():
        assert again["samples"][sample]["events_read"] == nb.events_read
        assert again["samples"][sample]["sumw"] == nb.sumw.tolist()


# --- the door: another run, lies, a requeue without tasks, two runs at once -------------------


@pytest.mark.slow
def test_a_foreign_manifest_during_a_run_starts_a_run_beside_it_and_touches_nothing(
    pipeline: Callable[..., Pipeline], small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given a run in progress, of chunks small enough that it outlasts a producer's start-up (an
    # aggregator that serves any run: it waits for both)
    p = pipeline(small_dataset, chunk_size=40)
    aggregator, workers = p.launch(exit_when_complete=False)
    p.wait_until(lambda: p.progress()[0] > 0, "the run under way")

    # When someone holding the key publishes a valid manifest of another run, and its tasks
    foreign = f"foreign-{uuid.uuid4().hex[:6]}"
    intruder = p.start("producer", HZZ_RUN_ID=foreign, HZZ_SAMPLES="data_A,data_B", HZZ_CHUNK_SIZE="150")
    assert intruder.wait() == 0, intruder.log()[-3000:]
    FAULTS["manifest of another run published during a run"] += 1

    # Then both runs end complete, each in its own folder …
    for run_id in (p.run_id, foreign):
        p.wait_until(lambda run_id=run_id: p.run_state(run_id) == "complete", f"run {run_id} complete")
    aggregator.send(signal.SIGTERM)
    assert aggregator.wait(GRACE_SECONDS) == 0, aggregator.log()[-3000:]
    stop_workers(workers)
    # … the running one untouched: equal to the fault-free run …
    own = p.results(p.run_id)
    assert own["run_id"] == p.run_id
    assert_clean_run(own, reference)
    # … the foreign one on its own: only its two samples, each chunk once, equal to the notebook
    theirs = p.results(foreign)
    assert theirs["state"] == "complete"
    assert set(theirs["samples"]) == {"data_A", "data_B"}
    assert_equals_reference(theirs, reference, ["data_A", "data_B"])
    assert theirs["tally"]["total"] == sum(-(-reference[s].events_read // 150) for s in ("data_A", "data_B"))
    assert sorted(find_runs(p.output)) == sorted([p.run_id, foreign])
    # The newest run is the one mirrored at the top; nothing was refused
    assert p.results()["run_id"] == foreign
    log = p.logs("aggregator")
    came, ended = log.find(f"run {foreign} started"), log.find(f"run {p.run_id} complete")
    assert 0 <= came < ended, "the run ended before the foreign manifest came"
    assert dead_letters(p) == []


#: A key that is not the deployment's: what a forger signs with.
FORGED_KEY = "not-the-deployment-key-0123456789"


def lies_about(tally: RunTally, chunk_ids: list[str]) -> list[tuple[str, bytes, str | None, str]]:
    """One lie per chunk: (kind of fault, body, signing key or None for unsigned, reason expected).

    The forged and unsigned ones are plausible (the right entry count, nothing selected): only
    the signature keeps them out. Each of the others fails one check at the door.
    """
    binning = tally.binning.to_json()
    bins = tally.binning.bins

    def result(chunk_id: str, **lie: Any) -> ChunkResult:
        spec = tally.chunks[chunk_id]
        honest = {
            "events_read": spec.entries,
            "events_selected": 0,
            "sumw_total": 0.0,
            "sumw2_total": 0.0,
            "sumw": [0.0] * bins,
            "sumw2": [0.0] * bins,
            "binning": binning,
            "worker": "liar",
        }
        return ChunkResult(run_id=tally.run_id, chunk_id=chunk_id, sample=spec.sample, **{**honest, **lie})

    def entries(chunk_id: str) -> int:
        return tally.chunks[chunk_id].entries or 0

    c = iter(chunk_ids)
    forged, unsigned, more, huge, over, negative, neg_w2, binned, nan, big, oversized = (next(c) for _ in range(11))
    return [
        ("forged result (signed with another key)", result(forged).encode(), FORGED_KEY, "wrongly signed message"),
        ("unsigned result", result(unsigned).encode(), None, "unsigned message"),
        (
            "result with events_read ≠ the chunk's entries",
            result(more, events_read=entries(more) + 1).encode(),
            TEST_KEY,
            f"read {entries(more) + 1} events; the chunk holds {entries(more)}",
        ),
        (
            "result with events_read of 10¹⁵",
            result(huge, events_read=10**15).encode(),
            TEST_KEY,
            f"read {10**15} events; the chunk holds {entries(huge)}",
        ),
        (
            "result with events_selected > events_read",
            result(over, events_selected=entries(over) + 1).encode(),
            TEST_KEY,
            f"selected {entries(over) + 1} of {entries(over)} events",
        ),
        (
            "result with a negative count",
            result(negative, events_selected=-3).encode(),
            TEST_KEY,
            f"selected -3 of {entries(negative)} events",
        ),
        (
            "result with a negative Σw²",
            result(neg_w2, sumw2=[-1.0] + [0.0] * (bins - 1)).encode(),
            TEST_KEY,
            "has a negative Σw²",
        ),
        (
            "result of another binning",
            result(binned, binning=[bins + 1, 80.0, 250.0]).encode(),
            TEST_KEY,
            "has binning",
        ),
        (
            "result carrying NaN",
            result(nan, sumw_total=float("nan")).encode(),
            TEST_KEY,
            "not finite (NaN or infinity)",
        ),
        (
            "result with sums of 1e308",
            result(big, events_selected=1, sumw_total=1e308, sumw=[1e308] + [0.0] * (bins - 1)).encode(),
            TEST_KEY,
            "has sums beyond 1 events",
        ),
        (
            "oversized result (5 MB)",
            result(oversized, worker="x" * 5_000_000).encode(),
            TEST_KEY,
            "is larger than any result or manifest",
        ),
    ]


@pytest.mark.slow
def test_forged_unsigned_and_lying_results_are_dead_lettered_with_the_reason_and_the_run_stays_clean(
    pipeline: Callable[..., Pipeline], small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    import pika

    # Given a run in progress with one worker, a tenth of it done
    p = pipeline(small_dataset, chunk_size=100)
    aggregator, workers = p.launch(workers=1)
    p.wait_until(lambda: p.progress()[0] >= 0.1 * max(p.progress()[1], 100), "a tenth of the run")

    # When lies about the run's last chunks (still pending: the tasks go in the manifest's order)
    # are published into the results queue, each a different lie, before the real results
    tally = p.state()
    assert tally is not None
    targets = list(tally.chunks)[-11:]
    assert not set(targets) & (set(tally.done) | set(tally.failed))
    lies = lies_about(tally, targets)
    connection = pika.BlockingConnection(pika.URLParameters(p.broker_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for kind, body, key, _ in lies:
        headers = None if key is None else Signer(key).headers(body)
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, headers=headers)
        channel.basic_publish("", p.names.results, body, properties, mandatory=True)
        FAULTS[kind] += 1
    connection.close()
    workers.append(p.worker())

    # Then the run equals a clean one: no lie was merged, the real results were counted
    results = p.finish(aggregator, workers)
    assert_clean_run(results, reference)
    assert "liar" not in json.dumps(results)
    # … and every lie is in the dead-letter queue, as it was sent, with its reason
    letters = dead_letters(p)
    assert len(letters) == len(lies), [h.get(ERROR_HEADER) for _, h in letters]
    by_body = {body: headers for body, headers in letters}
    for kind, body, _, reason in lies:
        assert body in by_body, kind
        assert reason in by_body[body][ERROR_HEADER], (kind, by_body[body][ERROR_HEADER])
    log = p.logs("aggregator")
    assert log.count("dead-lettered") == len(lies)
    assert "NaN" not in (p.output / "results.json").read_text()


@pytest.mark.slow
def test_a_requeue_notice_without_tasks_reports_the_stalled_chunk_after_the_stall_time(
    pipeline: Callable[..., Pipeline], tmp_path: Path, small_dataset: Path
) -> None:
    # Given a run that completed with one failed chunk (its file was missing)
    dataset = tmp_path / "dataset"
    shutil.copytree(small_dataset, dataset)
    Path(Settings(dataset=str(dataset)).file_location("data_B")).unlink()
    stall = 4.0
    p = pipeline(dataset, chunk_size=200)
    p.env.update(HZZ_SAMPLES="data_A,data_B", HZZ_STALL_SECONDS=str(stall), HZZ_REFRESH_SECONDS="0.5")
    aggregator, workers = p.launch(workers=1, exit_when_complete=False)
    p.wait_until(lambda: p.run_state(p.run_id) == "complete_with_failures", "the run with its failure")
    stop_workers(workers)
    failed = [f["chunk_id"] for f in p.results(p.run_id)["failed_chunks"]]
    assert len(failed) == 1 and failed[0].startswith("data_B/")

    # When a requeue notice for that chunk is published and no task follows it
    transport = p.transport()
    transport.publish(p.names.results, RequeueNotice(run_id=p.run_id, chunk_ids=failed).encode())
    transport.close()
    published = time.monotonic()
    FAULTS["requeue notice without tasks"] += 1

    # Then the run is pending again, and after the stall time is reported stalled, naming the chunk
    p.wait_until(lambda: p.run_state(p.run_id) == "running", "the chunk pending again")
    p.wait_until(lambda: p.run_state(p.run_id) == "stalled", "the stall", timeout=stall + 30)
    assert time.monotonic() - published >= stall
    results = p.results(p.run_id)
    assert results["stalled_chunks"] == failed
    assert results["failed_chunks"] == []
    assert results["tally"]["pending"] == 1
    p.wait_until(lambda: p.results()["state"] == "stalled", "the mirror showing the stall", timeout=10)

    # When the aggregator is restarted to exit when its run is over: it resumes the stalled run
    aggregator.send(signal.SIGTERM)
    assert aggregator.wait(GRACE_SECONDS) == 0
    waiting = p.start("aggregator", "--exit-when-complete")

    # Then it stops once the run is stalled (no progress since the recorded one: it does not wait
    # forever), with status 0; the stall is in results.json
    assert waiting.wait(stall + 60) == 0, waiting.log()[-3000:]
    assert p.results(p.run_id)["stalled_chunks"] == failed
    # Nothing was refused but the failed chunk's task (the notice was taken, not dead-lettered)
    assert [ChunkTask.decode(body).chunk_id for body, _ in dead_letters(p)] == failed


@pytest.mark.slow
def test_two_hzz_runs_at_once_on_one_broker_and_one_folder_both_end_complete_and_exact(
    tmp_path: Path, broker_url: str, queue_prefix: str, small_dataset: Path, reference: dict[str, NotebookSample]
) -> None:
    # Given two `hzz run`s on one broker, one queue prefix and one output folder: the older one
    # with every sample, the newer one (started once the older one's run began) with the two data
    # files only, so that the older one ends last
    output = tmp_path / "out"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HZZ_")}
    env = {**clean, "HZZ_BROKER_URL": broker_url, "HZZ_QUEUE_PREFIX": queue_prefix, "HZZ_OUTPUT_DIR": str(output)}
    hzz = [sys.executable, "-m", "hzz", "run", "--transport", "rabbitmq", "--quiet", "--workers", "1"]
    runs = {
        "older": [*hzz, "--dataset", str(small_dataset), "--chunk-size", "150"],
        "newer": [*hzz, "--dataset", str(small_dataset), "--chunk-size", "150", "--samples", "data_A,data_B"],
    }
    started: dict[str, subprocess.Popen[str]] = {}
    for name, argv in runs.items():
        run_id = f"{name}-{uuid.uuid4().hex[:6]}"
        started[name] = subprocess.Popen(
            argv, env={**env, "HZZ_RUN_ID": run_id}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        while run_id not in find_runs(output) and started[name].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    FAULTS["two hzz runs at once on one broker and one output folder"] += 1

    # When both end
    outcome = {name: process.communicate(timeout=RUN_TIMEOUT) for name, process in started.items()}

    # Then both exit 0, complete and exact, each in its own runs/<id>/ folder
    for name, process in started.items():
        assert process.returncode == 0, (name, outcome[name][1][-3000:])
    ids = {}
    for name in runs:
        ids[name] = re.search(r"run (\S+): complete", outcome[name][0]).group(1)  # type: ignore[union-attr]
        results = json.loads((run_folder(output, ids[name]) / "results.json").read_text())
        assert results["run_id"] == ids[name]
        samples = None if name == "older" else ["data_A", "data_B"]
        assert set(results["samples"]) == set(samples or reference)
        assert results["state"] == "complete"
        assert_equals_reference(results, reference, samples)
    assert sorted(find_runs(output)) == sorted(ids.values())
    # The newer run is the one mirrored at the top of the folder, although the older one ended last
    mirrored = json.loads((output / "results.json").read_text())
    older_end = json.loads((run_folder(output, ids["older"]) / "results.json").read_text())["finished_at"]
    newer_end = json.loads((run_folder(output, ids["newer"]) / "results.json").read_text())["finished_at"]
    assert older_end > newer_end, "the older run ended first: the case the mirror must get right did not happen"
    assert mirrored["run_id"] == ids["newer"]
