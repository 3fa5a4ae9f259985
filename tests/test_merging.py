"""Tests of shared/merging.py: each chunk counted once, failures and re-runs (lies: test_aggregator.py)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np
import pytest
from conftest import manifest_of

from hzz.shared.errors import DecodeError
from hzz.shared.histograms import M4L_BINNING, fill_histogram, histogram_to_json
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, RunManifest

RUN = "run-1"
A0, A1 = "data_A/data_A.4lep.root:0-20", "data_A/data_A.4lep.root:20-39"
LLLL = "llll/mc_363490.llll.4lep.root:0-100000"


def a_manifest() -> RunManifest:
    # data_A in two chunks (A0, A1), llll in one (LLLL)
    return manifest_of(
        RUN, [("data_A", "data_A.4lep.root", 39, 20), ("llll", "mc_363490.llll.4lep.root", 100_000, 100_000)]
    )


#: Entries of each chunk of the manifest: a result must have read exactly these.
ENTRIES = {A0: 20, A1: 19, LLLL: 100_000}


def success(chunk_id: str, sample: str, masses: list[float], weights: list[float] | None = None) -> ChunkResult:
    """The result of a chunk whose selected events have these masses (and weights, for MC)."""
    w = None if weights is None else np.asarray(weights)
    h = fill_histogram(np.asarray(masses, dtype=float), w)
    return ChunkResult(
        run_id=RUN,
        chunk_id=chunk_id,
        sample=sample,
        events_read=ENTRIES.get(chunk_id, 2 * len(masses)),
        events_selected=len(masses),
        sumw_total=float(len(masses)) if w is None else float(w.sum()),
        binning=M4L_BINNING.to_json(),
        **histogram_to_json(h),
    )


def failure(
    chunk_id: str, sample: str, error: str = "cannot open x.root: FileNotFoundError", attempt: int = 0
) -> ChunkResult:
    return ChunkResult(run_id=RUN, chunk_id=chunk_id, sample=sample, error=error, attempt=attempt)


def totals(tally: RunTally) -> dict[str, Any]:
    """Everything the tally has merged, as plain values."""
    return {
        name: (s.events_read, s.events_selected, s.sumw_total, s.sumw.tolist(), s.sumw2.tolist())
        for name, s in tally.samples.items()
    }


# --- merging once -------------------------------------------------------------------------------


def test_a_result_is_merged_into_its_samples_totals() -> None:
    # Given a fresh tally
    tally = RunTally(a_manifest())

    # When one data chunk arrives
    changed = tally.add(success(A0, "data_A", [91.0, 125.0, 126.0]))

    # Then the sample's counts and histogram hold it
    assert changed is True
    data_a = tally.samples["data_A"]
    assert (data_a.events_read, data_a.events_selected, data_a.sumw_total) == (20, 3, 3.0)
    assert data_a.sumw[2] == 1.0
    assert data_a.sumw[9] == 2.0
    assert tally.samples["llll"].events_read == 0


def test_chunks_of_one_sample_add_up() -> None:
    # Given a tally
    tally = RunTally(a_manifest())

    # When both data_A chunks arrive
    tally.add(success(A0, "data_A", [91.0, 125.0]))
    tally.add(success(A1, "data_A", [125.0, 240.0, 300.0]))

    # Then the sample's totals are the sums of both
    data_a = tally.samples["data_A"]
    assert (data_a.events_read, data_a.events_selected, data_a.sumw_total) == (39, 5, 5.0)
    assert data_a.sumw.sum() == 4.0  # 300 GeV is outside the plot
    assert data_a.sumw[9] == 2.0


def test_a_duplicate_result_is_ignored() -> None:
    # Given a tally that has merged a chunk
    tally = RunTally(a_manifest())
    result = success(LLLL, "llll", [125.0, 180.0], [0.5, -0.25])
    tally.add(result)
    before = totals(tally)

    # When the same result arrives again (redelivered, or published twice)
    changed = tally.add(result)
    changed_by_copy = tally.add(ChunkResult.decode(result.encode()))

    # Then nothing changes
    assert changed is False
    assert changed_by_copy is False
    assert totals(tally) == before
    assert tally.tally() == {"total": 3, "done": 1, "failed": 0, "pending": 2}


def test_a_success_after_a_failure_replaces_the_failure() -> None:
    # Given a chunk that failed
    tally = RunTally(a_manifest())
    assert tally.add(failure(LLLL, "llll")) is True
    assert LLLL in tally.failed

    # When a re-run of it succeeds
    changed = tally.add(success(LLLL, "llll", [125.0], [0.75]))

    # Then it counts as done, no longer as failed, and its events are merged
    assert changed is True
    assert LLLL in tally.done
    assert LLLL not in tally.failed
    assert tally.tally() == {"total": 3, "done": 1, "failed": 0, "pending": 2}
    assert tally.samples["llll"].sumw_total == 0.75


def test_a_failure_after_a_success_is_ignored() -> None:
    # Given a chunk that succeeded
    tally = RunTally(a_manifest())
    tally.add(success(A0, "data_A", [125.0]))
    before = totals(tally)

    # When a late failure of it arrives (say, from a worker that timed out)
    changed = tally.add(failure(A0, "data_A"))

    # Then the success stands
    assert changed is False
    assert A0 in tally.done
    assert tally.failed == {}
    assert totals(tally) == before


def test_a_repeated_failure_keeps_the_first_record() -> None:
    # Given a chunk that failed
    tally = RunTally(a_manifest())
    tally.add(failure(A1, "data_A", "first error", attempt=0))

    # When it fails again
    changed = tally.add(failure(A1, "data_A", "second error", attempt=3))

    # Then it is one failure, as first recorded
    assert changed is False
    assert tally.failed == {A1: {"chunk_id": A1, "sample": "data_A", "error": "first error", "attempt": 0}}


def test_a_failure_adds_no_events() -> None:
    # Given a tally
    tally = RunTally(a_manifest())

    # When a chunk fails
    tally.add(failure(A0, "data_A"))

    # Then the sample's totals stay empty
    assert tally.samples["data_A"].events_read == 0
    assert tally.samples["data_A"].sumw.sum() == 0.0


# --- refusals -----------------------------------------------------------------------------------


def test_a_result_of_an_unknown_chunk_is_refused() -> None:
    # Given a tally
    tally = RunTally(a_manifest())

    # When a result names a chunk the manifest lacks, then DecodeError names it
    with pytest.raises(DecodeError, match=re.escape("data_A.4lep.root:39-50")):
        tally.add(success("data_A/data_A.4lep.root:39-50", "data_A", [125.0]))
    assert tally.tally()["done"] == 0


def test_a_result_whose_sample_does_not_match_its_chunk_is_refused() -> None:
    # Given a tally
    tally = RunTally(a_manifest())

    # When a result claims an llll chunk for data_A, then it is refused
    with pytest.raises(DecodeError, match="data_A"):
        tally.add(success(LLLL, "data_A", [125.0]))


def test_a_result_of_another_run_is_refused() -> None:
    # Given a tally of run-1
    tally = RunTally(a_manifest())
    stray = dataclasses.replace(success(A0, "data_A", [125.0]), run_id="run-0")

    # When a result of run-0 arrives, then DecodeError names both runs
    with pytest.raises(DecodeError, match="run-0") as caught:
        tally.add(stray)
    assert RUN in str(caught.value)
    assert tally.samples["data_A"].events_read == 0


def test_a_result_of_another_binning_is_refused() -> None:
    # Given a tally in 5 GeV bins
    tally = RunTally(a_manifest())
    fine = dataclasses.replace(success(A0, "data_A", [125.0]), binning=[68, 80.0, 250.0])

    # When a result in 2.5 GeV bins arrives, then DecodeError names the chunk
    with pytest.raises(DecodeError, match=re.escape(A0)):
        tally.add(fine)
    assert A0 not in tally.done


# --- completion ---------------------------------------------------------------------------------


def test_the_run_is_complete_when_every_chunk_is_done_or_failed() -> None:
    # Given a tally of three chunks
    tally = RunTally(a_manifest())
    assert not tally.complete
    assert tally.finished is None

    # When two succeed and one fails
    tally.add(success(A0, "data_A", [125.0]))
    tally.add(failure(LLLL, "llll"))
    assert not tally.complete
    tally.add(success(A1, "data_A", [100.0]))

    # Then the run is complete, with a finishing time
    assert tally.complete
    assert tally.finished is not None
    assert tally.tally() == {"total": 3, "done": 2, "failed": 1, "pending": 0}


def test_the_finishing_time_is_not_moved_by_a_late_rerun() -> None:
    # Given a run completed with a failure
    tally = RunTally(a_manifest())
    for chunk, sample in ((A0, "data_A"), (A1, "data_A")):
        tally.add(success(chunk, sample, [125.0]))
    tally.add(failure(LLLL, "llll"))
    finished = tally.finished

    # When the failed chunk succeeds later
    tally.add(success(LLLL, "llll", [125.0], [1.0]))

    # Then it is complete without failures, and the finishing time stays
    assert tally.complete
    assert tally.failed == {}
    assert tally.finished == finished


def test_the_tally_knows_the_run_and_every_sample_of_the_manifest() -> None:
    # Given / When a fresh tally
    tally = RunTally(a_manifest(), started=50.0)

    # Then it has the run id, its start, and an empty entry per sample
    assert tally.run_id == RUN
    assert tally.started == 50.0
    assert list(tally.samples) == ["data_A", "llll"]
    assert tally.tally() == {"total": 3, "done": 0, "failed": 0, "pending": 3}
