"""The aggregator: merge results into the output folder, each chunk once.

``python -m hzz.aggregator`` runs it as a service; the one-machine run (:mod:`hzz.local`) on a thread.

The tally is checkpointed in the output folder after every message and before its
acknowledgement, so a restarted aggregator resumes where it stopped; results that arrive while
it is down wait in the durable queue. A checkpoint that cannot be written keeps the message
unacknowledged and is tried again. While a run is in progress the plot and results.json are
refreshed every ``HZZ_REFRESH_SECONDS``; when the last chunk is in they are written at once.

A :class:`~shared.messages.RequeueNotice` of the current run
(``hzz requeue-failed``): its chunks, failed so far, become pending again until their new
results arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from hzz.shared.checkpoint import load_checkpoint, save_checkpoint
from hzz.shared.data_vars import Settings
from hzz.shared.errors import CheckpointError, DecodeError, RetryLater
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, RequeueNotice, RunManifest, decode_message
from hzz.shared.messaging import Outgoing, Transport
from hzz.shared.outputs import ensure_writable
from hzz.shared.report import write_outputs

__all__ = ["Aggregator", "run_aggregator"]

log = logging.getLogger(__name__)


class Aggregator:
    """Holds the current run's tally and keeps the output folder in step with it.

    Args:
        output_dir: where the checkpoint, plot and results.json go.
        refresh_seconds: how often a running run's outputs are rewritten.
        expected_run: accept only this run's manifest (the one-machine run); None accepts any.

    Raises:
        ConfigError: the output folder is not writable.
    """

    def __init__(self, output_dir: str | Path, *, refresh_seconds: float, expected_run: str | None = None):
        self.output_dir = ensure_writable(output_dir)
        self.refresh_seconds = refresh_seconds
        self.expected_run = expected_run
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._unsaved = False  # checkpoint older than the tally
        self._version = 0  # bumped by every saved change of the tally
        self._written = -1  # the version the outputs on disk show
        self._write_lock = threading.Lock()  # one writer at a time, and never an older version last
        self.tally: RunTally | None = _resume(self.output_dir)
        if self.tally is not None and expected_run is not None and self.tally.run_id != expected_run:
            self.tally = None
        self._previous_runs: set[str] = set()
        if self.tally is not None:
            log.info("resuming run %s from the checkpoint: %s", self.tally.run_id, self.tally.tally())
            if self.tally.complete:
                self.finished.set()

    def handle(self, body: bytes) -> list[Outgoing]:
        """Take one message off the results queue.

        Raises:
            DecodeError: not a manifest or result of a known run (the transport dead-letters it).
            RetryLater: the checkpoint could not be written (the message is kept and tried again).
        """
        message = decode_message(body)
        with self._lock:
            if isinstance(message, RunManifest):
                force = self._start(message)
            elif isinstance(message, ChunkResult):
                force = self._merge(message)
            elif isinstance(message, RequeueNotice):
                force = self._requeue(message)
            else:
                msg = f"a {message.kind!r} message does not belong on the results queue"
                raise DecodeError(msg)
            self._persist(force_outputs=force)
            if self.tally is not None and self.tally.complete:
                self.finished.set()  # only once the checkpoint holds it
        return []

    def reopen(self, chunk_ids: list[str]) -> list[str]:
        """Make failed chunks of the current run pending again (they were requeued).

        Returns:
            list[str]: the chunks reopened (failed ones the run knows).
        """
        with self._lock:
            reopened = self._reopen(chunk_ids)
            self._persist(force_outputs=bool(reopened))
        return reopened

    def _reopen(self, chunk_ids: list[str]) -> list[str]:
        assert self.tally is not None
        reopened = [c for c in chunk_ids if self.tally.failed.pop(c, None) is not None]
        if reopened:
            self.tally.finished = None
            self.finished.clear()
            self._unsaved = True
            log.info("run %s: %d failed chunks requeued: %s", self.tally.run_id, len(reopened), reopened)
        return reopened

    def _requeue(self, notice: RequeueNotice) -> bool:
        if self.tally is None or self.tally.run_id != notice.run_id:
            log.warning("ignoring a requeue notice for run %s: the current run is another", notice.run_id)
            return False
        return bool(self._reopen(notice.chunk_ids))

    def _start(self, manifest: RunManifest) -> bool:
        if self.tally is not None and self.tally.run_id == manifest.run_id:
            return False  # the producer published again (a retried Job): same run
        if self.expected_run is not None and manifest.run_id != self.expected_run:
            log.info("ignoring the manifest of run %s (waiting for %s)", manifest.run_id, self.expected_run)
            return False
        if self.tally is not None:
            self._previous_runs.add(self.tally.run_id)
        self.tally = RunTally(manifest)
        self._unsaved = True
        self.finished.clear()
        log.info("run %s started: %d chunks", manifest.run_id, len(self.tally.chunk_samples))
        return True

    def _merge(self, result: ChunkResult) -> bool:
        if self.tally is None or result.run_id != self.tally.run_id:
            if result.run_id in self._previous_runs:
                log.info("dropping a late result of the earlier run %s (chunk %s)", result.run_id, result.chunk_id)
                return False
            msg = f"result of chunk {result.chunk_id} belongs to unknown run {result.run_id!r}"
            raise DecodeError(msg)
        if not self.tally.add(result):
            log.info("%s: duplicate result, already counted", result.chunk_id)
            return False
        self._unsaved = True
        if self.tally.complete:
            log.info("run %s complete: %s", self.tally.run_id, self.tally.tally())
        return self.tally.complete

    def _persist(self, *, force_outputs: bool) -> None:
        # Runs before the message is acknowledged: what was acknowledged is in the checkpoint.
        if self.tally is None:
            return
        if self._unsaved:
            try:
                save_checkpoint(self.output_dir, self.tally)
            except OSError as e:
                msg = f"cannot write the checkpoint in {self.output_dir} ({e})"
                raise RetryLater(msg) from e
            self._unsaved = False
            self._version += 1
        if force_outputs:
            self._write_outputs(self.tally, self._version)

    def _write_outputs(self, tally: RunTally, version: int) -> None:
        with self._write_lock:
            if version <= self._written:
                return
            try:
                write_outputs(self.output_dir, tally)
            except Exception:
                # The checkpoint holds the merged result already; the refresher tries again.
                log.exception("writing the plot and results.json into %s failed", self.output_dir)
                return
            self._written = version

    def refresh(self) -> None:
        """Rewrite the outputs if anything changed since they were last written."""
        with self._lock:
            if self.tally is None or self._version <= self._written:
                return
            # Drawing takes a while: draw a copy, so that merging goes on meanwhile.
            tally = RunTally.from_checkpoint(self.tally.to_checkpoint())
            version = self._version
        self._write_outputs(tally, version)

    def refresh_until(self, stop: threading.Event) -> None:
        """Refresh every ``refresh_seconds`` until ``stop`` is set (run it on a thread)."""
        while not stop.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # a failed refresh must not end the refresher; the next one retries
                log.exception("refreshing the outputs failed")

    def snapshot(self) -> dict[str, Any]:
        """The tally and event count, for a progress display."""
        with self._lock:
            if self.tally is None:
                return {"total": 0, "done": 0, "failed": 0, "pending": 0, "events_read": 0}
            events = sum(s.events_read for s in self.tally.samples.values())
            return {**self.tally.tally(), "events_read": events}


def _resume(folder: Path) -> RunTally | None:
    try:
        return load_checkpoint(folder)
    except CheckpointError as e:
        # A damaged checkpoint must not stop the service: the durable queue still holds every
        # unacknowledged result, and acknowledged ones are re-sent by a re-run.
        damaged = Path(e.path).with_suffix(f".damaged-{int(time.time())}")
        Path(e.path).rename(damaged)
        log.error("%s; moved it to %s and starting empty", e, damaged.name)
        return None


def run_aggregator(settings: Settings, transport: Transport, stop: threading.Event, aggregator: Aggregator) -> None:
    """Consume results until ``stop`` is set, refreshing the outputs on a side thread."""
    refresher = threading.Thread(target=aggregator.refresh_until, args=(stop,), name="refresh", daemon=True)
    refresher.start()
    transport.consume(transport.names.results, aggregator.handle, stop=stop)
    aggregator.refresh()
    transport.close()
