"""The aggregator: merge results into the output folder, each chunk once, runs side by side.

``python -m hzz.aggregator`` runs it as a service; the one-machine run (:mod:`hzz.local`) on a
thread. Results arrive in batches (:meth:`Transport.consume_batches`): a batch is checked and
merged in memory, recorded in one transaction per run it touched (:mod:`hzz.shared.runstore`),
and only then acknowledged, so a kill at any moment loses nothing and counts nothing twice. A
write that fails keeps the batch unacknowledged; it is delivered again.

Any number of runs are kept at once, keyed by run id, each in its own folder
``runs/<run_id>/``; a manifest starts a new run and never touches another. Drawing is off the
acknowledgement path: a :class:`Renderer` thread writes each run's results.json and plot from a
snapshot every ``HZZ_REFRESH_SECONDS`` and once when the run completes, and mirrors the newest
run at the top of the output folder (``results.json``, ``hzz_m4l.png``, ``hzz_m4l.svg``): the run
started last, also when several aggregators share the folder (two ``hzz run`` at once).

A :class:`~hzz.shared.messages.RequeueNotice` (``hzz requeue-failed``) makes failed chunks pending
again until their new results arrive. A run whose pending chunks see no progress for
``HZZ_STALL_SECONDS`` is reported as stalled (results.json and the page) instead of waited for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hzz.shared import drawing
from hzz.shared.data_vars import Settings
from hzz.shared.errors import CheckpointError, DecodeError, RetryLater
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, RequeueNotice, RunManifest, decode_message
from hzz.shared.messaging import Outgoing, QueueNames, Transport, dead_letter_logged
from hzz.shared.outputs import (
    CHECKPOINT_FILE,
    PLOT_FILES,
    RESULTS_FILE,
    ROOT_FILE,
    ensure_writable,
    remove_stale_temporaries,
    run_folder,
    write_atomic,
)
from hzz.shared.runstore import RunStore, find_runs

__all__ = ["MAX_RESULT_BYTES", "Aggregator", "Renderer", "run_aggregator"]

log = logging.getLogger(__name__)

#: Largest message the aggregator reads: a result is about 1.5 KB and a manifest ~150 bytes a
#: file; anything far larger is refused before it is parsed.
MAX_RESULT_BYTES = 4 * 1024 * 1024
#: Beside the mirrored files at the top of the output folder: which run they are of, and when it started.
MIRROR_MARKER = ".mirrored.json"
#: The lock file that keeps two aggregators of one folder from interleaving their mirrors.
MIRROR_LOCK = ".mirror.lock"


@dataclass
class Run:
    """A run the aggregator keeps: its tally in memory and its database."""

    tally: RunTally
    store: RunStore
    #: Chunks and samples merged since the last commit.
    chunks: list[str] = field(default_factory=list)
    samples: set[str] = field(default_factory=set)


class Aggregator:
    """Merges batches of results into the runs of one output folder.

    Args:
        output_dir: where the runs' folders and the mirrored newest run go.
        refresh_seconds: how often a running run's outputs are rewritten.
        expected_run: serve only this run (the one-machine run); None serves any.
        stall_seconds: pending chunks without progress for this long make a run "stalled".
        partial_plots: draw the plot while a run is in progress (else only results.json until
            the run completes; a plot nobody looks at is time taken from the workers).
        draw_in_process: draw in a process of its own (:class:`~hzz.shared.drawing.DrawingProcess`:
            matplotlib on a thread holds the interpreter lock for the half second a plot takes,
            and acknowledgements wait; a run's process gets on with the ROOT file meanwhile).

    Raises:
        ConfigError: the output folder is not writable.
    """

    def __init__(
        self,
        output_dir: str | Path,
        *,
        refresh_seconds: float,
        expected_run: str | None = None,
        stall_seconds: float = 600.0,
        partial_plots: bool = True,
        draw_in_process: bool = False,
    ) -> None:
        self.output_dir = ensure_writable(output_dir)
        self.expected_run = expected_run
        self.stall_seconds = stall_seconds
        #: Set once the run this aggregator waits for (the expected one, else the newest) is
        #: complete or stalled and its outputs are written.
        self.finished = threading.Event()
        self.runs: dict[str, Run] = {}
        self._duplicates = 0  # in the batch being handled, for one log line a batch
        self.newest: str | None = None
        self._lock = threading.RLock()
        self.renderer = Renderer(
            self, refresh_seconds=refresh_seconds, partial_plots=partial_plots, draw_in_process=draw_in_process
        )
        _refuse_old_checkpoint(self.output_dir)
        removed = remove_stale_temporaries(self.output_dir)
        if removed:
            log.info("removed %d temporary files left by a writer that was killed", len(removed))
        first = expected_run or (find_runs(self.output_dir) or [None])[-1]
        if first is not None:
            run = self._run(first, create=False)
            if run is not None:
                self.newest = first
                log.info("resuming run %s: %s", first, run.tally.tally())
                self.renderer.request(first)

    # --- the batch path: check, merge, record, then (the transport) acknowledge ----------------

    def handle_batch(self, bodies: list[bytes], names: QueueNames) -> list[Outgoing]:
        """Take a batch off the results queue; what cannot be merged comes back as dead letters.

        Raises:
            RetryLater: the batch could not be recorded (the transport keeps it and tries again).
        """
        outgoing: list[Outgoing] = []
        with self._lock:
            touched: dict[str, Run] = {}
            self._duplicates = 0
            for body in bodies:
                try:
                    run = self._apply(body)
                except (DecodeError, CheckpointError) as e:
                    outgoing.append(dead_letter_logged(names.results, body, f"{type(e).__name__}: {e}", names.dead))
                    continue
                if run is not None:
                    touched[run.tally.run_id] = run
            self._commit(touched)
            if self._duplicates:
                log.info("%d duplicate results, already counted", self._duplicates)
        for run_id, run in touched.items():
            self.renderer.request(run_id, final=run.tally.complete)
        return outgoing

    def handle(self, body: bytes) -> list[Outgoing]:
        """One message (the single-delivery contract): merged and recorded, or raises.

        Raises:
            DecodeError: not a manifest, result or notice of a run this aggregator can take.
            RetryLater: it could not be recorded.
        """
        with self._lock:
            run = self._apply(body)
            touched = {} if run is None else {run.tally.run_id: run}
            self._commit(touched)
        for run_id, touched_run in touched.items():
            self.renderer.request(run_id, final=touched_run.tally.complete)
        return []

    def _apply(self, body: bytes) -> Run | None:
        if len(body) > MAX_RESULT_BYTES:
            msg = f"a message of {len(body):,} bytes is larger than any result or manifest ({MAX_RESULT_BYTES:,})"
            raise DecodeError(msg)
        message = decode_message(body)
        if isinstance(message, RunManifest):
            return self._start(message)
        if isinstance(message, ChunkResult):
            run = self._known(message.run_id, f"result of chunk {message.chunk_id}")
            if run.tally.add(message):
                return _remember(run, message)
            self._duplicates += 1
            return None
        if isinstance(message, RequeueNotice):
            run = self._known(message.run_id, "requeue notice")
            self._reopen(run, message.chunk_ids)
            return None
        msg = f"a {message.kind!r} message does not belong on the results queue"
        raise DecodeError(msg)

    def _start(self, manifest: RunManifest) -> Run | None:
        if self.expected_run is not None and manifest.run_id != self.expected_run:
            msg = f"manifest of run {manifest.run_id!r}: this aggregator serves run {self.expected_run!r} only"
            raise DecodeError(msg)
        if self._run(manifest.run_id, create=False) is not None:
            log.info("run %s: its manifest again (a retried producer); nothing changes", manifest.run_id)
            return None
        try:
            tally = RunTally(manifest)
        except ValueError as e:  # an unknown release
            raise DecodeError(f"manifest of run {manifest.run_id!r}: {e}") from e
        run = Run(tally, RunStore(self.output_dir, manifest.run_id))
        try:
            run.store.start(tally)
        except (sqlite3.Error, OSError) as e:
            run.store.close()
            raise RetryLater(f"cannot record run {manifest.run_id} in {run.store.path} ({e})") from e
        self.runs[manifest.run_id] = run
        self.newest = manifest.run_id
        self.finished.clear()
        log.info("run %s started: %d chunks of %d files", manifest.run_id, len(tally.chunks), len(manifest.files))
        self.renderer.request(manifest.run_id)
        return None

    def _known(self, run_id: str, what: str) -> Run:
        run = self._run(run_id, create=False)
        if run is None or (self.expected_run is not None and run_id != self.expected_run):
            msg = f"{what} belongs to unknown run {run_id!r}"
            raise DecodeError(msg)
        return run

    def _run(self, run_id: str, *, create: bool) -> Run | None:
        run = self.runs.get(run_id)
        if run is not None or create:
            return run
        if run_id not in find_runs(self.output_dir):
            return None
        store = RunStore(self.output_dir, run_id)
        try:
            tally = store.load()
        except CheckpointError:
            store.close()
            raise
        run = self.runs[run_id] = Run(tally, store)
        return run

    def _commit(self, touched: dict[str, Run]) -> None:
        # Before the batch is acknowledged: what was acknowledged is on disk.
        for run_id, run in touched.items():
            try:
                run.store.save(run.tally, run.chunks, run.samples)
            except (sqlite3.Error, OSError) as e:
                # Memory is ahead of the disk now: forget these runs (they are read back from disk
                # on their next message) and have the whole batch delivered again.
                for forgotten in touched.values():
                    forgotten.store.close()
                    self.runs.pop(forgotten.tally.run_id, None)
                msg = f"cannot record run {run_id} in {run.store.path} ({e})"
                raise RetryLater(msg) from e
            run.chunks, run.samples = [], set()
            if run.tally.complete:
                log.info("run %s complete: %s", run_id, run.tally.tally())

    def reopen(self, chunk_ids: list[str]) -> list[str]:
        """Make failed chunks of the expected (else newest) run pending again; returns those reopened."""
        with self._lock:
            run_id = self.expected_run or self.newest
            run = None if run_id is None else self._run(run_id, create=False)
            if run is None:
                return []
            return self._reopen(run, chunk_ids)

    def _reopen(self, run: Run, chunk_ids: list[str]) -> list[str]:
        reopened = run.tally.reopen(chunk_ids)
        if reopened:
            try:
                run.store.reopen(reopened)
            except (sqlite3.Error, OSError) as e:
                self.runs.pop(run.tally.run_id, None)
                raise RetryLater(f"cannot record the requeue in {run.store.path} ({e})") from e
            if run.tally.run_id == self.waited_for():
                self.finished.clear()
            log.info("run %s: %d failed chunks requeued", run.tally.run_id, len(reopened))
            self.renderer.request(run.tally.run_id)
        return reopened

    # --- what readers see ---------------------------------------------------------------------

    def waited_for(self) -> str | None:
        """The run whose end sets :attr:`finished`: the expected one, else the newest."""
        return self.expected_run or self.newest

    def snapshot_of(self, run_id: str) -> RunTally | None:
        """A copy of a run's tally to draw from while merging goes on."""
        with self._lock:
            run = self.runs.get(run_id)
            return None if run is None else run.tally.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """The waited-for run's tally and event count, for a progress display."""
        with self._lock:
            run_id = self.waited_for()
            run = None if run_id is None else self.runs.get(run_id)
            if run is None:
                return {"total": 0, "done": 0, "failed": 0, "pending": 0, "events_read": 0, "stalled": False}
            stalled = run.tally.stalled(self.stall_seconds)
            return {**run.tally.tally(), "events_read": run.tally.events_read(), "stalled": stalled}

    def close(self) -> None:
        with self._lock:
            for run in self.runs.values():
                run.store.close()
            self.runs.clear()


def _remember(run: Run, result: ChunkResult) -> Run:
    run.chunks.append(result.chunk_id)
    run.samples.add(result.sample)
    return run


def _refuse_old_checkpoint(folder: Path) -> None:
    old = folder / CHECKPOINT_FILE
    if old.exists():
        aside = old.with_name(f".checkpoint.previous-format-{int(time.time())}.json")
        old.rename(aside)
        log.error(
            "%s is a checkpoint of the previous format, which this version does not resume; kept as %s. "
            "Finish that run with the version that wrote it, or re-run it.",
            old,
            aside.name,
        )


class Renderer:
    """Writes runs' results.json and plots from snapshots, on its own thread.

    results.json (cheap) is rewritten at every refresh of a changed run; the plot (costly) when
    the run completes, and while it runs only if ``partial_plots``, at most once per refresh and
    never more often than four times the last drawing took (so drawing takes at most a fifth of
    a core). The newest run is mirrored at the top of the output folder.
    """

    def __init__(
        self, aggregator: Aggregator, *, refresh_seconds: float, partial_plots: bool, draw_in_process: bool = False
    ) -> None:
        self.aggregator = aggregator
        self.draw_in_process = draw_in_process
        self._drawing_process: drawing.DrawingProcess | None = None
        self.refresh_seconds = refresh_seconds
        self.partial_plots = partial_plots
        self._wake = threading.Condition()
        self._dirty: dict[str, bool] = {}  # run id → final
        self._drawn_at: dict[str, float] = {}
        self._draw_seconds = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: Set by :meth:`interrupt`: the runs still in progress are written as "interrupted", and
        #: without their plot (results.json at once, the plot when the run is finished).
        self.interrupted = False

    def request(self, run_id: str, *, final: bool = False) -> None:
        """Ask for a run's outputs to be written (at once when ``final``, else at the next refresh)."""
        with self._wake:
            self._dirty[run_id] = self._dirty.get(run_id, False) or final
            if final:
                self._wake.notify()

    def interrupt(self) -> None:
        """The run was interrupted (``hzz run`` got Ctrl-C or SIGTERM): say so in what :meth:`stop` writes."""
        self.interrupted = True
        with self.aggregator._lock:
            run_ids = list(self.aggregator.runs)
        for run_id in run_ids:
            self.request(run_id)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="renderer", daemon=True)
        self._thread.start()

    def _drawer(self) -> drawing.DrawingProcess | None:
        """The drawing process, taken at the first plot (the one started early, if any: see
        :func:`hzz.shared.drawing.start_early`); None: draw on this thread."""
        if self.draw_in_process and self._drawing_process is None:
            self.draw_in_process = False  # one attempt: where no process can start, the thread draws
            try:
                self._drawing_process = drawing.take()
            except OSError as e:  # no process can be started here (no /dev/shm for its semaphores, say)
                log.warning("drawing on the renderer thread: a drawing process cannot start (%s)", e)
        return self._drawing_process

    def stop(self) -> None:
        """Write what is still due, then end the thread."""
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        self.render_due(force=not self.interrupted)
        if self._drawing_process is not None:
            self._drawing_process.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                if not any(self._dirty.values()):
                    self._wake.wait(self.refresh_seconds)
            try:
                self.render_due()
            except Exception:  # a failed write must not end the renderer; the next refresh retries
                log.exception("writing the outputs failed")
                self._stop.wait(self.refresh_seconds)

    def render_due(self, *, force: bool = False) -> None:
        """Write every run that asked to be written (and check the running ones for stalls)."""
        aggregator = self.aggregator
        with self._wake:
            due, self._dirty = self._dirty, {}
        with aggregator._lock:
            for run_id, run in aggregator.runs.items():
                if run_id not in due and run.tally.stalled(aggregator.stall_seconds):
                    due[run_id] = True
        for run_id, final in due.items():
            tally = aggregator.snapshot_of(run_id)
            if tally is None:
                continue
            stalled = tally.stalled(aggregator.stall_seconds)
            drawn = tally.complete or (
                not self.interrupted and (final or stalled or force or self._partial_due(run_id))
            )
            self._write(tally, draw=drawn)
            if run_id == aggregator.waited_for() and (tally.complete or stalled):
                aggregator.finished.set()

    def _partial_due(self, run_id: str) -> bool:
        if not self.partial_plots:
            return False
        pause = max(self.refresh_seconds, 4 * self._draw_seconds)
        return time.monotonic() - self._drawn_at.get(run_id, 0.0) >= pause

    def _write(self, tally: RunTally, *, draw: bool) -> None:
        from hzz.shared.report import write_outputs  # matplotlib only in the thread that draws

        aggregator = self.aggregator
        folder = aggregator.output_dir
        run_dir = run_folder(folder, tally.run_id)
        started = time.monotonic()
        write_outputs(
            run_dir,
            tally,
            draw=draw,
            stall_seconds=aggregator.stall_seconds,
            interrupted=self.interrupted,
            drawer=self._drawer() if draw else None,
        )
        if draw:
            self._drawn_at[tally.run_id] = time.monotonic()
            self._draw_seconds = time.monotonic() - started
        if tally.run_id == aggregator.newest:
            _mirror(run_dir, folder, [*PLOT_FILES.values(), ROOT_FILE, RESULTS_FILE], tally)


def _mirror(run_dir: Path, folder: Path, names: Iterable[str], tally: RunTally) -> None:
    # Two aggregators may share the folder (two `hzz run`s at once), each taking its own run for
    # the newest: the marker says which run the top holds, and the one started later keeps it,
    # whichever ends last.
    with _mirror_lock(folder):
        marker = folder / MIRROR_MARKER
        try:
            mirrored = json.loads(marker.read_bytes())
            if mirrored["run_id"] != tally.run_id and float(mirrored["started"]) > tally.started:
                return
        except (OSError, ValueError, KeyError, TypeError):
            pass  # nothing mirrored yet (or by an older version): this run takes the top
        # Each file replaced atomically; results.json last, so that it never links a plot not there yet.
        for name in names:
            source = run_dir / name
            if source.exists():
                write_atomic(folder / name, source.read_bytes())
        write_atomic(marker, json.dumps({"run_id": tally.run_id, "started": tally.started}).encode())


@contextlib.contextmanager
def _mirror_lock(folder: Path) -> Iterator[None]:
    """Hold the output folder's mirror lock (an advisory file lock; none where the folder has none)."""
    try:
        import fcntl
    except ImportError:  # Windows: no file locks of this kind; one aggregator per folder there
        yield
        return
    with open(folder / MIRROR_LOCK, "a") as handle:
        with contextlib.suppress(OSError):  # a mounted folder without locks (some Docker Desktop shares)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def run_aggregator(settings: Settings, transport: Transport, stop: threading.Event, aggregator: Aggregator) -> None:
    """Consume results in batches until ``stop`` is set, the renderer drawing on its own thread."""
    aggregator.renderer.start()
    started = time.monotonic()
    try:
        transport.consume_batches(
            transport.names.results, lambda bodies: aggregator.handle_batch(bodies, transport.names), stop=stop
        )
    finally:
        aggregator.renderer.stop()
        _report_latency(transport, time.monotonic() - started)
        transport.close()
        aggregator.close()


def _report_latency(transport: Transport, seconds: float) -> None:
    latencies = sorted(getattr(transport, "ack_latencies", []))
    if latencies:
        p50, p99 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        log.info(
            "acknowledged %d messages in %.1f s; publish → acknowledgement p50 %.3f s, p99 %.3f s",
            len(latencies),
            seconds,
            p50,
            p99,
        )
