"""Merging chunk results into a run's totals, each chunk counted exactly once.

A :class:`RunTally` knows the run's chunks from its manifest and keeps, per chunk id, whether it
is done or failed. A result for a chunk already done changes nothing, so redelivered or
duplicated messages are harmless; a success for a chunk that had failed (after a re-run)
replaces the failure. The tally converts to and from a JSON checkpoint, so the aggregator can
stop at any moment and resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import hist

from hzz.shared.errors import DecodeError
from hzz.shared.histograms import (
    Binning,
    empty_histogram,
    histogram_from_json,
    histogram_to_json,
)
from hzz.shared.messages import ChunkResult, RunManifest
from hzz.shared.releases import get_release

__all__ = ["RunTally", "SampleTally"]


@dataclass
class SampleTally:
    """One sample's merged histogram and counts."""

    histogram: hist.Hist = field(default_factory=empty_histogram)
    events_read: int = 0
    events_selected: int = 0
    sumw_total: float = 0.0
    #: Σw² over the whole mass range; None once a chunk came without it (an older worker).
    sumw2_total: float | None = 0.0

    def add(self, result: ChunkResult, binning: Binning) -> None:
        self.histogram += histogram_from_json({"sumw": result.sumw, "sumw2": result.sumw2}, binning)
        self.events_read += result.events_read
        self.events_selected += result.events_selected
        self.sumw_total += result.sumw_total
        if self.sumw2_total is not None:
            self.sumw2_total = None if result.sumw2_total is None else self.sumw2_total + result.sumw2_total

    def to_json(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_selected": self.events_selected,
            "sumw_total": self.sumw_total,
            "sumw2_total": self.sumw2_total,
            **histogram_to_json(self.histogram),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any], binning: Binning) -> SampleTally:
        return cls(
            histogram_from_json(value, binning),
            value["events_read"],
            value["events_selected"],
            value["sumw_total"],
            value.get("sumw2_total"),  # absent in checkpoints of older versions: unknown
        )


class RunTally:
    """The merged state of one run."""

    def __init__(self, manifest: RunManifest, *, binning: Binning | None = None, started: float | None = None):
        self.manifest = manifest
        self.release = get_release(manifest.profile)
        self.binning = self.release.binning if binning is None else binning
        self.started = time.time() if started is None else started
        self.finished: float | None = None
        self.chunk_samples = {task.chunk_id: task.sample for task in manifest.tasks()}
        self.done: set[str] = set()
        self.failed: dict[str, dict[str, Any]] = {}
        self.samples = {
            sample: SampleTally(empty_histogram(self.binning)) for sample in dict.fromkeys(self.chunk_samples.values())
        }

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def complete(self) -> bool:
        return len(self.done) + len(self.failed) == len(self.chunk_samples)

    def add(self, result: ChunkResult) -> bool:
        """Merge one result; True if it changed the tally, False for a duplicate.

        Raises:
            DecodeError: the result belongs to another run, names a chunk the manifest lacks, or
                has another binning.
        """
        if result.run_id != self.run_id:
            msg = f"result of chunk {result.chunk_id} is for run {result.run_id!r}, not {self.run_id!r}"
            raise DecodeError(msg)
        if self.chunk_samples.get(result.chunk_id) != result.sample:
            msg = f"run {self.run_id} has no chunk {result.chunk_id!r} of sample {result.sample!r}"
            raise DecodeError(msg)
        if result.chunk_id in self.done:
            return False
        if result.failed:
            if result.chunk_id in self.failed:
                return False
            self.failed[result.chunk_id] = {
                "chunk_id": result.chunk_id,
                "sample": result.sample,
                "error": result.error,
                "attempt": result.attempt,
            }
        else:
            if result.binning and Binning.from_json(result.binning) != self.binning:
                msg = f"result of chunk {result.chunk_id} has binning {result.binning}; expected {self.binning}"
                raise DecodeError(msg)
            self.samples[result.sample].add(result, self.binning)
            self.done.add(result.chunk_id)
            self.failed.pop(result.chunk_id, None)
        if self.complete and self.finished is None:
            self.finished = time.time()
        return True

    def tally(self) -> dict[str, int]:
        total = len(self.chunk_samples)
        return {
            "total": total,
            "done": len(self.done),
            "failed": len(self.failed),
            "pending": total - len(self.done) - len(self.failed),
        }

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "manifest": {"run_id": self.run_id, **_manifest_fields(self.manifest)},
            "started": self.started,
            "finished": self.finished,
            "done": sorted(self.done),
            "failed": self.failed,
            "samples": {name: tally.to_json() for name, tally in self.samples.items()},
        }

    @classmethod
    def from_checkpoint(cls, value: dict[str, Any]) -> RunTally:
        tally = cls(RunManifest(**value["manifest"]), started=value["started"])
        tally.finished = value["finished"]
        tally.done = set(value["done"])
        tally.failed = dict(value["failed"])
        tally.samples = {name: SampleTally.from_json(v, tally.binning) for name, v in value["samples"].items()}
        return tally


def _manifest_fields(manifest: RunManifest) -> dict[str, Any]:
    return {
        "profile": manifest.profile,
        "lumi": manifest.lumi,
        "fraction": manifest.fraction,
        "files": manifest.files,
        "settings": manifest.settings,
        "created": manifest.created,
    }
