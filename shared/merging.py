"""Merging chunk results into a run's totals, each chunk counted exactly once, lies refused.

A :class:`RunTally` knows the run's chunks from its manifest (their samples and entry counts)
and keeps, per chunk id, whether it is done or failed. Every result is checked at the door
(:meth:`RunTally.check`): it must belong to a chunk of the run, have read exactly that chunk's
entries, select no more than it read, carry finite sums of the run's binning and plausible size.
A result that fails a check is refused with the reason (the aggregator dead-letters it) and the
real result is still counted when it comes. A result for a chunk already done changes nothing,
so redelivered or duplicated messages are harmless; a success for a chunk that had failed (after
a re-run) replaces the failure.

Sums are plain float64 arrays (Σw and Σw² per bin): merging one result is two vector additions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hzz.shared.errors import DecodeError
from hzz.shared.histograms import Binning, BinSums, histogram_from_json
from hzz.shared.messages import ChunkResult, RunManifest, chunk_id_for, chunk_ranges
from hzz.shared.releases import get_release

if TYPE_CHECKING:
    import hist

__all__ = ["MAX_EVENT_WEIGHT", "RejectedResult", "RunTally", "SampleTally"]

#: No event of any release weighs more than this (the largest real ones are about 10²): a result
#: whose sums need heavier events is a lie, and refusing it keeps every total far from overflow.
MAX_EVENT_WEIGHT = 1e6
#: Longest error text a failed result may carry.
MAX_ERROR_LENGTH = 4000


class RejectedResult(DecodeError):
    """A well-formed result that cannot be true of its chunk (the reason says which check failed)."""


@dataclass
class SampleTally:
    """One sample's merged sums and counts."""

    bins: int
    sumw: np.ndarray = field(init=False)
    sumw2: np.ndarray = field(init=False)
    events_read: int = 0
    events_selected: int = 0
    sumw_total: float = 0.0
    #: Σw² over the whole mass range; None once a chunk came without it (an older worker).
    sumw2_total: float | None = 0.0
    chunks_done: int = 0
    chunks_failed: int = 0

    def __post_init__(self) -> None:
        self.sumw = np.zeros(self.bins)
        self.sumw2 = np.zeros(self.bins)

    def add(self, result: ChunkResult) -> None:
        self.sumw += result.sumw
        self.sumw2 += result.sumw2
        self.events_read += result.events_read
        self.events_selected += result.events_selected
        self.sumw_total += result.sumw_total
        if self.sumw2_total is not None:
            self.sumw2_total = None if result.sumw2_total is None else self.sumw2_total + result.sumw2_total

    def histogram(self, binning: Binning) -> hist.Hist:
        """The sums as a ``hist.Hist`` with Weight storage."""
        return histogram_from_json({"sumw": self.sumw, "sumw2": self.sumw2}, binning)

    def sums(self) -> BinSums:
        """The sums as :class:`BinSums` (copies: the tally goes on merging)."""
        return BinSums(self.sumw.copy(), self.sumw2.copy())

    def copy(self) -> SampleTally:
        twin = SampleTally(self.bins, self.events_read, self.events_selected, self.sumw_total, self.sumw2_total)
        twin.sumw, twin.sumw2 = self.sumw.copy(), self.sumw2.copy()
        twin.chunks_done, twin.chunks_failed = self.chunks_done, self.chunks_failed
        return twin


@dataclass(frozen=True)
class ChunkSpec:
    """What the manifest says of one chunk: its sample and, when known, how many entries it holds."""

    sample: str
    entries: int | None


class RunTally:
    """The merged state of one run.

    Args:
        manifest: the run's manifest.
        started: when the run started (Unix seconds; default now).

    Raises:
        ConfigError: the manifest names an unknown release.
    """

    def __init__(self, manifest: RunManifest, *, started: float | None = None) -> None:
        self.manifest = manifest
        self.release = get_release(manifest.profile)
        self.binning = self.release.binning
        self.started = time.time() if started is None else started
        self.finished: float | None = None
        #: When a chunk last finished (or the run started): what "stalled" is measured from.
        self.last_progress = self.started
        self.chunks: dict[str, ChunkSpec] = {}
        for task in manifest.tasks():
            entries = None if task.entry_stop is None else task.entry_stop - task.entry_start
            self.chunks[task.chunk_id] = ChunkSpec(task.sample, entries)
        self.done: set[str] = set()
        self.failed: dict[str, dict[str, Any]] = {}
        # Every sample of the manifest, also one whose file gives no chunk (no entries, or none
        # within the fraction): it is reported with 0 events and a warning, never left out.
        names = [entry["sample"] for entry in manifest.files] + [c.sample for c in self.chunks.values()]
        self.samples = {sample: SampleTally(self.binning.bins) for sample in dict.fromkeys(names)}
        self._binning_json = self.binning.to_json()
        #: Per worker (its name in the results): chunks merged, events read and seconds spent on them.
        self.workers: dict[str, dict[str, Any]] = {}

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def chunk_samples(self) -> dict[str, str]:
        """Each chunk's sample, by chunk id."""
        return {chunk_id: spec.sample for chunk_id, spec in self.chunks.items()}

    @property
    def warnings(self) -> list[str]:
        """What the run was asked to read and read nothing of: a file without entries, or without any
        in the fraction (known from the manifest), or a whole-file chunk that read none (its file
        could not be counted when the run was planned, and was empty when it was read)."""
        notes = []
        fraction = self.manifest.fraction
        for entry in self.manifest.files:
            sample, location, entries = entry["sample"], entry["location"], entry["entries"]
            if entries == 0:
                notes.append(f"{sample}: {location} holds no entries; the sample counts 0 events")
            elif entries is not None and not chunk_ranges(entries, fraction=fraction, chunk_size=entry["chunk_size"]):
                notes.append(
                    f"{sample}: the fraction {fraction:g} of its {entries} entries is none (int({entries} × "
                    f"{fraction:g}) = 0); the sample counts 0 events"
                )
            elif (
                entries is None
                and chunk_id_for(sample, location, 0, None) in self.done
                and self.samples[sample].events_read == 0
            ):
                notes.append(f"{sample}: {location} gave no entries to read; the sample counts 0 events")
        return notes

    @property
    def complete(self) -> bool:
        return len(self.done) + len(self.failed) == len(self.chunks)

    @property
    def pending(self) -> list[str]:
        """The chunks neither done nor failed, in the manifest's order."""
        return [c for c in self.chunks if c not in self.done and c not in self.failed]

    def stalled(self, stall_seconds: float, *, now: float | None = None) -> bool:
        """True when chunks are pending and none has finished for ``stall_seconds``."""
        now = time.time() if now is None else now
        return not self.complete and now - self.last_progress > stall_seconds

    def check(self, result: ChunkResult) -> None:
        """Refuse a result that cannot be true of its chunk.

        Raises:
            RejectedResult: names the chunk and the check it failed.
        """
        spec = self.chunks.get(result.chunk_id)
        where = f"result of chunk {result.chunk_id!r} of run {self.run_id}"
        if result.run_id != self.run_id:
            _reject(f"{where} names run {result.run_id!r}")
        if spec is None:
            _reject(f"{where}: the run has no such chunk")
        if spec.sample != result.sample:
            _reject(f"{where} says sample {result.sample!r}; the chunk is of {spec.sample!r}")
        if result.failed:
            if not result.error or len(result.error) > MAX_ERROR_LENGTH:
                _reject(f"{where}: a failure must say why in 1–{MAX_ERROR_LENGTH} characters")
            return
        if spec.entries is not None and result.events_read != spec.entries:
            _reject(f"{where} read {result.events_read} events; the chunk holds {spec.entries}")
        if not 0 <= result.events_selected <= result.events_read:
            _reject(f"{where} selected {result.events_selected} of {result.events_read} events")
        if result.binning != self._binning_json:
            _reject(f"{where} has binning {result.binning}; the run's is {self._binning_json}")
        bins = self.binning.bins
        if len(result.sumw) != bins or len(result.sumw2) != bins:
            _reject(f"{where} has {len(result.sumw)} and {len(result.sumw2)} sums; expected {bins} each")
        values = [result.sumw_total, *result.sumw, *result.sumw2]
        if result.sumw2_total is not None:
            values.append(result.sumw2_total)
            if result.sumw2_total < 0:
                _reject(f"{where} has a negative Σw² over the mass range")
        if not all(math.isfinite(v) for v in values):
            _reject(f"{where} carries a sum that is not finite (NaN or infinity)")
        selected = result.events_selected
        if any(v < 0 for v in result.sumw2):
            _reject(f"{where} has a negative Σw²")
        if abs(result.sumw_total) > MAX_EVENT_WEIGHT * selected or any(
            abs(w) > MAX_EVENT_WEIGHT * selected or w2 > MAX_EVENT_WEIGHT**2 * selected
            for w, w2 in zip(result.sumw, result.sumw2, strict=True)
        ):
            _reject(f"{where} has sums beyond {selected} events of weight ≤ {MAX_EVENT_WEIGHT:g}")
        if self.release.is_data(result.sample) and (
            result.sumw != result.sumw2 or any(w != int(w) for w in result.sumw) or sum(result.sumw) > selected
        ):
            _reject(f"{where}: data bins must be whole counts (Σw = Σw²) adding up to at most {selected}")

    def add(self, result: ChunkResult) -> bool:
        """Check and merge one result; True if it changed the tally, False for a duplicate.

        Raises:
            RejectedResult: see :meth:`check`.
        """
        self.check(result)
        chunk_id = result.chunk_id
        if chunk_id in self.done or (result.failed and chunk_id in self.failed):
            return False
        sample = self.samples[result.sample]
        if result.failed:
            self.failed[chunk_id] = {
                "chunk_id": chunk_id,
                "sample": result.sample,
                "error": result.error,
                "attempt": result.attempt,
            }
            sample.chunks_failed += 1
        else:
            sample.add(result)
            sample.chunks_done += 1
            self.done.add(chunk_id)
            worker = self.workers.setdefault(result.worker, {"chunks": 0, "events_read": 0, "busy_seconds": 0.0})
            worker["chunks"] += 1
            worker["events_read"] += result.events_read
            worker["busy_seconds"] += result.seconds
            if self.failed.pop(chunk_id, None) is not None:
                sample.chunks_failed -= 1
        self.last_progress = time.time()
        if self.complete and self.finished is None:
            self.finished = self.last_progress
        return True

    def reopen(self, chunk_ids: list[str]) -> list[str]:
        """Make failed chunks pending again (they were requeued); returns those reopened."""
        reopened = []
        for chunk_id in chunk_ids:
            failure = self.failed.pop(chunk_id, None)
            if failure is not None:
                self.samples[failure["sample"]].chunks_failed -= 1
                reopened.append(chunk_id)
        if reopened:
            self.finished = None
            self.last_progress = time.time()
        return reopened

    def tally(self) -> dict[str, int]:
        total = len(self.chunks)
        return {
            "total": total,
            "done": len(self.done),
            "failed": len(self.failed),
            "pending": total - len(self.done) - len(self.failed),
        }

    def events_read(self) -> int:
        return sum(s.events_read for s in self.samples.values())

    def snapshot(self) -> RunTally:
        """A copy that later merges do not change (for drawing while merging goes on)."""
        twin = object.__new__(RunTally)
        twin.__dict__.update(self.__dict__)
        twin.done = set(self.done)
        twin.failed = dict(self.failed)
        twin.samples = {name: s.copy() for name, s in self.samples.items()}
        twin.workers = {name: dict(w) for name, w in self.workers.items()}
        return twin


def _reject(reason: str) -> None:
    raise RejectedResult(reason)
