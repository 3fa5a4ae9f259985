"""Tests of chunking: entry ranges of a file (shared/messages.py), and the plan of a run (shared/chunking.py)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings
from hzz.shared.messages import ChunkTask, RunManifest, chunk_id_for, chunk_ranges

ENTRY_COUNTS = (0, 1, 2, 3, 7, 39, 100, 156, 999, 1000, 1031, 554_279)
FRACTIONS = (0.001, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.999, 1.0)
CHUNK_SIZES = (1, 2, 3, 10, 39, 100, 1000, 100_000)


# --- chunk_ranges -------------------------------------------------------------------------------


def test_ranges_cover_the_first_entries_exactly_once_for_many_combinations() -> None:
    # Given many (entries, fraction, chunk size) combinations, from empty files to llll's size
    checked = 0
    for n, fraction, size in itertools.product(ENTRY_COUNTS, FRACTIONS, CHUNK_SIZES):
        if n // size > 10_000:
            continue  # a million one-entry chunks adds time, not information
        wanted = int(n * fraction)

        # When the file is split
        ranges = chunk_ranges(n, fraction=fraction, chunk_size=size)

        # Then the ranges start at 0, follow each other without gap or overlap, and stop at int(n·fraction)
        case = f"n={n} fraction={fraction} chunk_size={size}"
        covered = [start for start, _ in ranges] + [stop for _, stop in ranges[-1:]]
        if wanted == 0:
            assert ranges == [], case
        else:
            assert ranges[0][0] == 0, case
            assert ranges[-1][1] == wanted, case
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), case
            assert covered == sorted(set(covered)), case
        # and every chunk is non-empty and at most chunk_size long, all but the last exactly that
        lengths = [stop - start for start, stop in ranges]
        assert all(0 < length <= size for length in lengths), case
        assert all(length == size for length in lengths[:-1]), case
        assert len(ranges) == math.ceil(wanted / size), case
        assert sum(lengths) == wanted, case
        checked += 1
    assert checked > 700


def test_a_file_splits_into_full_chunks_and_a_remainder() -> None:
    # Given a file of 10 entries and chunks of 4
    # When it is split
    ranges = chunk_ranges(10, fraction=1.0, chunk_size=4)

    # Then the last chunk holds the remainder
    assert ranges == [(0, 4), (4, 8), (8, 10)]


def test_a_fraction_keeps_the_first_entries_rounded_down() -> None:
    # Given data_B's 156 entries and half of them asked for
    # When it is split into chunks of 50
    ranges = chunk_ranges(156, fraction=0.5, chunk_size=50)

    # Then int(156 × 0.5) = 78 entries are covered; and int() rounds 39 × 0.1 = 3.9 down to 3
    assert ranges == [(0, 50), (50, 78)]
    assert chunk_ranges(39, fraction=0.1, chunk_size=100) == [(0, 3)]


def test_a_chunk_larger_than_the_file_gives_one_range() -> None:
    # Given data_A's 39 entries and the default chunk size
    # Then the whole file is one chunk
    assert chunk_ranges(39, fraction=1.0, chunk_size=100_000) == [(0, 39)]


def test_an_empty_file_gives_no_ranges() -> None:
    # Given a file without entries
    # Then there is nothing to do
    assert chunk_ranges(0, fraction=1.0, chunk_size=10) == []


def test_fraction_and_chunk_size_are_keyword_only() -> None:
    # Given / When chunk_ranges is called positionally, then it refuses
    with pytest.raises(TypeError):
        chunk_ranges(10, 1.0, 4)  # type: ignore[misc]


# --- plan_run -----------------------------------------------------------------------------------


def settings_for(folder: Path, *samples: str, **changes: object) -> Settings:
    return Settings(dataset=str(folder), samples=samples, run_id="run-test", **changes)  # type: ignore[arg-type]


def test_the_manifest_lists_exactly_the_tasks_chunks(real_dataset: Path) -> None:
    # Given the real data_A (39 entries) and data_B (156 entries), chunks of 50
    settings = settings_for(real_dataset, "data_A", "data_B", chunk_size=50)

    # When the run is planned
    manifest, tasks = plan_run(settings)

    # Then the manifest lists the files with their entry counts, and its chunks are the tasks
    assert [(f["sample"], f["entries"]) for f in manifest.files] == [("data_A", 39), ("data_B", 156)]
    assert manifest.tasks() == tasks
    assert manifest.chunk_ids == [t.chunk_id for t in tasks]
    assert len(set(manifest.chunk_ids)) == len(tasks)
    # and it travels: decoded, it gives the same tasks (the profile, lumi and locations included)
    assert RunManifest.decode(manifest.encode()).tasks() == tasks


def test_tasks_split_each_file_in_sample_order(real_dataset: Path) -> None:
    # Given the real data files and chunks of 50
    settings = settings_for(real_dataset, "data_B", "data_A", chunk_size=50)

    # When the run is planned
    _, tasks = plan_run(settings)

    # Then data_B comes first in four chunks, then data_A in one
    assert [(t.sample, t.entry_start, t.entry_stop) for t in tasks] == [
        ("data_B", 0, 50),
        ("data_B", 50, 100),
        ("data_B", 100, 150),
        ("data_B", 150, 156),
        ("data_A", 0, 39),
    ]


def test_tasks_carry_the_runs_settings_and_the_files_location(real_dataset: Path) -> None:
    # Given settings with a luminosity and a fraction of their own
    settings = settings_for(real_dataset, "data_A", "data_B", lumi=5.0, fraction=0.5, chunk_size=1000)

    # When the run is planned
    manifest, tasks = plan_run(settings)

    # Then every task has the run id, lumi, fraction, location and a first attempt,
    # and the fraction cut the files to int(n × 0.5) entries
    assert all(isinstance(t, ChunkTask) for t in tasks)
    assert {(t.run_id, t.lumi, t.fraction, t.attempt) for t in tasks} == {("run-test", 5.0, 0.5, 0)}
    assert [t.location for t in tasks] == [settings.file_location("data_A"), settings.file_location("data_B")]
    assert [(t.entry_start, t.entry_stop) for t in tasks] == [(0, 19), (0, 78)]
    assert Path(tasks[0].location).is_file()
    # and the manifest carries the run id and the public settings
    assert manifest.run_id == "run-test"
    assert manifest.settings == settings.public_dict()
    assert manifest.created > 0


def test_a_missing_file_becomes_one_whole_file_task(real_dataset: Path) -> None:
    # Given a run over data_A and data_C, whose file is not in the folder
    settings = settings_for(real_dataset, "data_A", "data_C", chunk_size=10, fraction=0.5)
    assert not Path(settings.file_location("data_C")).exists()

    # When the run is planned
    manifest, tasks = plan_run(settings)

    # Then data_C gets one task for the whole file (entry_stop None), so its failure shows up later
    missing = [t for t in tasks if t.sample == "data_C"]
    assert len(missing) == 1
    assert (missing[0].entry_start, missing[0].entry_stop, missing[0].fraction) == (0, None, 0.5)
    assert missing[0].chunk_id == chunk_id_for("data_C", settings.file_location("data_C"), 0, None)
    assert missing[0].chunk_id.endswith(":0-end")
    assert missing[0].chunk_id in manifest.chunk_ids
    # and data_A is still split normally: int(39 × 0.5) = 19 entries in chunks of 10
    assert [(t.entry_start, t.entry_stop) for t in tasks if t.sample == "data_A"] == [(0, 10), (10, 19)]


def test_a_file_that_is_not_root_also_becomes_one_whole_file_task(tmp_path: Path) -> None:
    # Given a folder whose llll file is text
    (tmp_path / "MC").mkdir()
    (tmp_path / "MC" / "mc_363490.llll.4lep.root").write_text("not a ROOT file\n")
    settings = settings_for(tmp_path, "llll")

    # When the run is planned
    manifest, tasks = plan_run(settings)

    # Then it is one whole-file task, listed in the manifest
    assert [(t.sample, t.entry_start, t.entry_stop) for t in tasks] == [("llll", 0, None)]
    assert manifest.files == [{"sample": "llll", "location": tasks[0].location, "entries": None, "chunk_size": 250_000}]
    assert manifest.tasks() == tasks


def test_planning_the_same_run_twice_gives_the_same_chunk_ids(real_dataset: Path) -> None:
    # Given the same settings
    settings = settings_for(real_dataset, "data_A", "data_B", chunk_size=40)

    # When the run is planned twice
    first, _ = plan_run(settings)
    again, _ = plan_run(settings)

    # Then the chunk ids are identical (deterministic ids make duplicates recognisable)
    assert first.chunk_ids == again.chunk_ids
