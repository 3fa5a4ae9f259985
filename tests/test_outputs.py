"""Tests of the output folder: atomic writes, results.json (docs/results-schema.md), a run's durable state."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import manifest_of

from hzz.shared.data_vars import Settings
from hzz.shared.errors import CheckpointError, ConfigError
from hzz.shared.histograms import M4L_BINNING, fill_histogram, histogram_to_json
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, RunManifest, chunk_id_for
from hzz.shared.outputs import (
    PLOT_FILES,
    RESULTS_FILE,
    ROOT_FILE,
    RUNS_FOLDER,
    STATE_FILE,
    ensure_writable,
    run_folder,
    write_atomic,
)
from hzz.shared.report import results_document, write_outputs
from hzz.shared.runstore import RunStore, load_run_state

RUN = "20261125-103000-a1b2c3"
#: (sample, entry ranges) of the run used below: two data samples, three MC samples of three groups.
PLAN = {
    "data_A": [(0, 39)],
    "data_B": [(0, 100), (100, 156)],
    "Zee": [(0, 898)],
    "llll": [(0, 500), (500, 1000)],
    "ggH125_ZZ4lep": [(0, 1000)],
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def chunk_id(sample: str, start: int, stop: int) -> str:
    return chunk_id_for(sample, f"{sample}.4lep.root", start, stop)


def a_manifest() -> RunManifest:
    # Each file's chunk size is its first range's length, so that the manifest's chunks are PLAN's.
    files = [(s, f"{s}.4lep.root", ranges[-1][1], ranges[0][1] - ranges[0][0]) for s, ranges in PLAN.items()]
    settings = Settings(samples=tuple(PLAN), run_id=RUN, broker_url="amqp://u:secret@rabbit/%2F").public_dict()
    manifest = manifest_of(RUN, files, settings=settings, created=1000.0)
    assert manifest.chunk_ids == [chunk_id(s, a, b) for s, ranges in PLAN.items() for a, b in ranges]
    return manifest


def success(sample: str, start: int, stop: int, seed: int) -> ChunkResult:
    """A plausible result: data count events, MC carry small weights of both signs."""
    rng = np.random.default_rng(seed)
    n = (stop - start) // 2
    mass = rng.uniform(70.0, 260.0, n)
    weights = None if sample.startswith("data_") else rng.normal(0.01, 0.02, n)
    h = fill_histogram(mass, weights)
    return ChunkResult(
        run_id=RUN,
        chunk_id=chunk_id(sample, start, stop),
        sample=sample,
        events_read=stop - start,
        events_selected=n,
        sumw_total=float(n) if weights is None else float(weights.sum()),
        sumw2_total=float(n) if weights is None else float((weights**2).sum()),
        binning=M4L_BINNING.to_json(),
        **histogram_to_json(h),
    )


def failure(sample: str, start: int, stop: int) -> ChunkResult:
    return ChunkResult(run_id=RUN, chunk_id=chunk_id(sample, start, stop), sample=sample, error="cannot open: boom")


def all_results() -> list[ChunkResult]:
    return [success(s, a, b, seed=i) for i, (s, a, b) in enumerate((s, a, b) for s, r in PLAN.items() for a, b in r)]


@pytest.fixture
def complete_tally() -> RunTally:
    tally = RunTally(a_manifest(), started=1000.0)
    for result in all_results():
        tally.add(result)
    return tally


# --- atomic writes ------------------------------------------------------------------------------


def test_an_atomic_write_leaves_only_the_file(tmp_path: Path) -> None:
    # Given an empty folder
    target = tmp_path / "results.json"

    # When a file is written, then rewritten
    write_atomic(target, b"first")
    write_atomic(target, b"second, longer")

    # Then the file holds the last content and no temporary file is left
    assert target.read_bytes() == b"second, longer"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    # Given a file already written
    target = tmp_path / "results.json"
    write_atomic(target, b"old")

    # When a write fails half way (the data cannot be written)
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]

    # Then the old file is intact and nothing else is there
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_an_atomically_written_file_is_readable_by_others(tmp_path: Path) -> None:
    # Given a file written atomically (mkstemp makes 0600 files)
    target = tmp_path / "hzz_m4l.png"
    write_atomic(target, b"\x89PNG")

    # Then the web server's user can read it
    assert target.stat().st_mode & 0o777 == 0o644


# --- the writable folder ------------------------------------------------------------------------


def test_a_missing_output_folder_is_created(tmp_path: Path) -> None:
    # Given a folder that does not exist yet
    folder = tmp_path / "a" / "b" / "out"

    # When it is checked
    path = ensure_writable(folder)

    # Then it exists, is returned, and holds no probe file
    assert path == folder
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


def test_an_unwritable_output_folder_is_refused_naming_it(tmp_path: Path) -> None:
    # Given a folder that cannot exist because its parent is a regular file (root ignores chmod)
    (tmp_path / "file").write_text("I am a file")
    folder = tmp_path / "file" / "sub"

    # When it is checked, then ConfigError names the folder and the setting to change
    with pytest.raises(ConfigError) as caught:
        ensure_writable(folder)
    assert str(folder) in str(caught.value)
    assert "HZZ_OUTPUT_DIR" in str(caught.value)


def test_a_regular_file_as_output_folder_is_refused(tmp_path: Path) -> None:
    # Given a regular file where the folder should be
    path = tmp_path / "out"
    path.write_text("")

    # Then it is refused, naming it
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        ensure_writable(path)


# --- results.json -------------------------------------------------------------------------------


def test_the_document_has_every_field_of_schema_1(complete_tally: RunTally) -> None:
    # Given a complete run
    # When its document is made
    doc = results_document(complete_tally, now=1010.0)

    # Then it has the documented top-level fields, and survives strict JSON
    assert doc["profile"] == "2020" and doc["significance"] is None  # the 2020 notebook has none
    assert set(doc) == {
        "schema_version",
        "run_id",
        "state",
        "started_at",
        "updated_at",
        "finished_at",
        "elapsed_seconds",
        "events_per_second",
        "tally",
        "failed_chunks",
        "stalled_chunks",
        "warnings",
        "events",
        "binning",
        "samples",
        "groups",
        "data",
        "plot",
        "root_file",
        "settings",
        "versions",
        "profile",
        "significance",
        "workers",
        "transport",
    }
    assert doc["schema_version"] == 1
    assert doc["transport"] is None  # a manifest that does not record its transport (published before it was)
    assert doc["run_id"] == RUN
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_the_workers_that_did_the_work_are_listed_with_their_chunks_and_events_per_second(tmp_path: Path) -> None:
    # Given two pods that processed the run's chunks, one result delivered twice and one chunk failed
    tally = RunTally(a_manifest(), started=1000.0)
    results = all_results()
    for k, result in enumerate(results[:-1]):
        pod = "hzz-worker-abc:1" if k % 3 else "hzz-worker-def:1"
        tally.add(dataclasses.replace(result, worker=pod, seconds=0.5))
    tally.add(dataclasses.replace(results[0], worker="hzz-worker-def:1", seconds=0.5))  # a redelivery
    tally.add(dataclasses.replace(failure("ggH125_ZZ4lep", 0, 1000), worker="hzz-worker-abc:1"))
    # When the document is made
    workers = results_document(tally, now=1010.0)["workers"]
    # Then each worker has the chunks it merged once, their events, and its events/s while busy
    merged = range(len(results) - 1)
    expected = {"hzz-worker-def:1": [k for k in merged if not k % 3], "hzz-worker-abc:1": [k for k in merged if k % 3]}
    for name, picked in expected.items():
        events = sum(results[k].events_read for k in picked)
        assert workers[name] == {
            "chunks": len(picked),
            "events_read": events,
            "busy_seconds": 0.5 * len(picked),
            "events_per_second": round(events / (0.5 * len(picked)), 1),
        }
    # And the record survives in the run's durable state (an aggregator restart)
    store = RunStore(tmp_path, RUN)
    store.start(tally)
    store.save(tally, [*tally.done, *tally.failed], set(tally.samples))
    store.close()
    loaded = load_run_state(tmp_path)
    assert loaded is not None and results_document(loaded, now=1010.0)["workers"] == workers


def test_a_run_in_progress_is_running_with_its_pending_chunks() -> None:
    # Given a run where three of the seven chunks arrived
    tally = RunTally(a_manifest(), started=1000.0)
    for result in all_results()[:3]:
        tally.add(result)

    # When its document is made 10 s after the start
    doc = results_document(tally, now=1010.0)

    # Then it is running, unfinished, and its tally counts the pending chunks
    assert doc["state"] == "running"
    assert doc["finished_at"] is None
    assert doc["tally"] == {"total": 7, "done": 3, "failed": 0, "pending": 4}
    assert doc["started_at"] == "1970-01-01T00:16:40Z"
    assert doc["updated_at"] == "1970-01-01T00:16:50Z"
    assert doc["elapsed_seconds"] == 10.0
    assert doc["events_per_second"] == round(doc["events"]["read"] / 10.0, 1)


def test_a_run_with_every_chunk_done_is_complete(complete_tally: RunTally) -> None:
    # Given a run whose every chunk succeeded
    # When its document is made
    doc = results_document(complete_tally)

    # Then it is complete, with a finishing time and no failures
    assert doc["state"] == "complete"
    assert ISO_UTC.fullmatch(doc["finished_at"])
    assert ISO_UTC.fullmatch(doc["started_at"])
    assert doc["tally"] == {"total": 7, "done": 7, "failed": 0, "pending": 0}
    assert doc["failed_chunks"] == []


def test_a_run_with_a_failed_chunk_is_complete_with_failures() -> None:
    # Given a run where one llll chunk failed and all others succeeded
    tally = RunTally(a_manifest(), started=1000.0)
    for result in all_results():
        if result.chunk_id != chunk_id("llll", 500, 1000):
            tally.add(result)
    tally.add(failure("llll", 500, 1000))

    # When its document is made
    doc = results_document(tally)

    # Then it is complete with failures, listing the failed chunk and its error
    assert doc["state"] == "complete_with_failures"
    assert doc["tally"] == {"total": 7, "done": 6, "failed": 1, "pending": 0}
    assert doc["failed_chunks"] == [
        {"chunk_id": chunk_id("llll", 500, 1000), "sample": "llll", "error": "cannot open: boom", "attempt": 0}
    ]
    assert doc["samples"]["llll"]["chunks_failed"] == 1
    assert doc["samples"]["llll"]["chunks_done"] == 1
    assert doc["samples"]["llll"]["chunks_total"] == 2


def test_the_samples_carry_their_counts_yields_and_histograms(complete_tally: RunTally) -> None:
    # Given a complete run
    doc = results_document(complete_tally)

    # Then each sample has its group, chunk counts, events, yield and 34-bin histograms
    assert set(doc["samples"]) == set(PLAN)
    data_b = doc["samples"]["data_B"]
    assert data_b["group"] == "Data"
    assert data_b["is_data"] is True
    assert (data_b["chunks_total"], data_b["chunks_done"], data_b["chunks_failed"]) == (2, 2, 0)
    assert data_b["events_read"] == 156
    assert data_b["events_selected"] == 50 + 28
    assert data_b["weighted_yield"] == 78.0
    assert doc["samples"]["Zee"]["group"] == r"Background $Z,t\bar{t}$"
    assert doc["samples"]["Zee"]["is_data"] is False
    for sample in doc["samples"].values():
        assert len(sample["sumw"]) == len(sample["sumw2"]) == 34
    tally_llll = complete_tally.samples["llll"]
    assert doc["samples"]["llll"]["sumw"] == tally_llll.sumw.tolist()
    assert doc["samples"]["llll"]["weighted_yield"] == tally_llll.sumw_total


def test_each_group_sums_its_samples(complete_tally: RunTally) -> None:
    # Given a complete run
    doc = results_document(complete_tally)
    samples, groups = doc["samples"], doc["groups"]

    # Then the groups of the run are listed, each with its members' sums
    assert list(groups) == ["Data", r"Background $Z,t\bar{t}$", r"Background $ZZ^*$", r"Signal ($m_H$ = 125 GeV)"]
    for label, group in groups.items():
        members = group["samples"]
        assert members == [name for name in PLAN if samples[name]["group"] == label]
        for key in ("events_read", "events_selected"):
            assert group[key] == sum(samples[m][key] for m in members)
        assert group["weighted_yield"] == pytest.approx(sum(samples[m]["weighted_yield"] for m in members), rel=1e-12)
        for key in ("sumw", "sumw2"):
            np.testing.assert_allclose(group[key], np.sum([samples[m][key] for m in members], axis=0), rtol=1e-12)
    assert groups["Data"]["is_data"] is True
    assert groups[r"Signal ($m_H$ = 125 GeV)"]["is_signal"] is True
    assert groups[r"Background $ZZ^*$"]["color"] == "#ff0000"


def test_the_data_summary_counts_events_per_bin_as_integers(complete_tally: RunTally) -> None:
    # Given a complete run
    doc = results_document(complete_tally)
    samples = doc["samples"]

    # Then the data block has the selected events, the in-range count, and whole counts per bin
    data = doc["data"]
    assert data["events_selected"] == samples["data_A"]["events_selected"] + samples["data_B"]["events_selected"]
    assert all(type(c) is int for c in data["counts"])
    assert data["counts"] == [
        round(a + b) for a, b in zip(samples["data_A"]["sumw"], samples["data_B"]["sumw"], strict=True)
    ]
    assert data["in_range"] == sum(data["counts"])
    assert data["in_range"] < data["events_selected"]  # some masses fell outside 80–250 GeV


def test_a_run_without_data_has_an_empty_data_summary() -> None:
    # Given a run of MC only, with its chunk done
    tally = RunTally(manifest_of(RUN, [("Zee", "Zee.4lep.root", 898, 898)], settings={}, created=0.0))
    tally.add(success("Zee", 0, 898, seed=1))

    # When its document is made
    doc = results_document(tally)

    # Then the data block is zeros and only the Z,tt̄ group is listed
    assert doc["data"] == {"events_selected": 0, "in_range": 0, "counts": [0] * 34}
    assert list(doc["groups"]) == [r"Background $Z,t\bar{t}$"]


def test_the_binning_plot_settings_and_versions_are_described(complete_tally: RunTally) -> None:
    # Given a complete run
    doc = results_document(complete_tally)

    # Then the binning is the 5 GeV one, the plot names its files, settings are the masked ones
    assert doc["binning"] == {
        "bins": 34,
        "low": 80.0,
        "high": 250.0,
        "width": 5.0,
        "edges": [80.0 + 5.0 * i for i in range(35)],
    }
    assert doc["plot"] == {"png": "hzz_m4l.png", "svg": "hzz_m4l.svg"}
    assert doc["settings"]["broker_url"] == "amqp://u:***@rabbit/%2F"
    assert doc["settings"]["lumi"] == 10.0
    assert {"hzz-pipeline", "python", "uproot", "awkward", "vector", "numpy", "hist", "matplotlib"} <= set(
        doc["versions"]
    )
    assert doc["events"] == {
        "read": sum(s["events_read"] for s in doc["samples"].values()),
        "selected": sum(s["events_selected"] for s in doc["samples"].values()),
    }


# --- write_outputs ------------------------------------------------------------------------------


def test_the_outputs_are_the_plot_files_and_results_json(tmp_path: Path, complete_tally: RunTally) -> None:
    # Given a complete run and an empty folder
    # When the outputs are written
    document = write_outputs(tmp_path, complete_tally)

    # Then the folder holds the PNG, the SVG, the ROOT file and results.json (equal to the returned
    # document), nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([RESULTS_FILE, ROOT_FILE, *PLOT_FILES.values()])
    assert (tmp_path / PLOT_FILES["png"]).read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / PLOT_FILES["svg"]).read_bytes()
    assert json.loads((tmp_path / RESULTS_FILE).read_text()) == document
    assert document["state"] == "complete"


def test_the_root_file_holds_a_th1d_per_sample_per_group_and_the_data(tmp_path: Path, complete_tally: RunTally) -> None:
    # Given a complete run's outputs
    document = write_outputs(tmp_path, complete_tally)

    # When the ROOT file is opened with uproot (as a ROOT or coffea user would)
    import uproot

    with uproot.open(tmp_path / ROOT_FILE) as file:
        classes = file.classnames()
        # Then each sample, each group (under a plain name, titled with its label) and the data is a TH1D
        samples = {k.split("/")[1].split(";")[0] for k in classes if k.startswith("samples/")}
        assert samples == set(PLAN)
        groups = {k.split(";")[0]: file[k].member("fTitle") for k in classes if k.startswith("groups/")}
        assert groups == {
            "groups/Data": "Data",
            "groups/Background_Z_ttbar": r"Background $Z,t\bar{t}$",
            "groups/Background_ZZ": r"Background $ZZ^*$",
            "groups/Signal_m_H_125_GeV": r"Signal ($m_H$ = 125 GeV)",
        }
        assert {classes[k] for k in classes if "/" in k or k.startswith("data")} == {"TH1D"}
        # with results.json's Σw as contents and √Σw² as errors, on the run's binning
        llll = file["samples/llll"]
        assert llll.values().tolist() == document["samples"]["llll"]["sumw"]
        assert llll.variances().tolist() == pytest.approx(document["samples"]["llll"]["sumw2"], rel=1e-15)
        assert llll.axis().edges().tolist() == pytest.approx(M4L_BINNING.edges.tolist())
        zz = file["groups/Background_ZZ"]
        assert zz.values().tolist() == document["groups"][r"Background $ZZ^*$"]["sumw"]
        assert file["data"].values().tolist() == document["data"]["counts"]
    assert document["root_file"] == ROOT_FILE


def test_yields_carry_the_root_of_their_sum_of_squared_weights(complete_tally: RunTally) -> None:
    # Given a complete run whose results carry Σw² over the whole mass range
    doc = results_document(complete_tally)
    expected = {}
    for result in all_results():
        expected[result.sample] = expected.get(result.sample, 0.0) + result.sumw2_total

    # Then each sample's yield is ± √Σw², each group's ± √ of its samples' sum, data ± √N
    for sample, sumw2 in expected.items():
        assert doc["samples"][sample]["weighted_yield_uncertainty"] == pytest.approx(np.sqrt(sumw2), rel=1e-12)
    zz_tt = doc["groups"][r"Background $Z,t\bar{t}$"]
    assert zz_tt["weighted_yield_uncertainty"] == pytest.approx(np.sqrt(expected["Zee"]), rel=1e-12)
    data = doc["groups"]["Data"]
    assert data["weighted_yield_uncertainty"] == pytest.approx(np.sqrt(data["weighted_yield"]), rel=1e-12)


def test_a_yield_from_a_result_without_its_squared_weights_has_no_uncertainty() -> None:
    # Given a run where one llll result comes from an older worker (no Σw² over the whole range)
    tally = RunTally(a_manifest(), started=1000.0)
    for result in all_results():
        if result.sample == "llll" and result.chunk_id.endswith("0-500"):
            result = ChunkResult(**{**result.__dict__, "sumw2_total": None})
        tally.add(result)

    # Then that sample's and its group's uncertainty is unknown (null), never a wrong number
    doc = results_document(tally)
    assert doc["samples"]["llll"]["weighted_yield_uncertainty"] is None
    assert doc["groups"][r"Background $ZZ^*$"]["weighted_yield_uncertainty"] is None
    assert doc["samples"]["Zee"]["weighted_yield_uncertainty"] is not None


def test_a_run_whose_chunks_all_failed_draws_a_no_events_plot(tmp_path: Path) -> None:
    # Given a run whose every chunk failed
    tally = RunTally(a_manifest(), started=1000.0)
    for sample, ranges in PLAN.items():
        for start, stop in ranges:
            tally.add(failure(sample, start, stop))

    # When its outputs are written
    document = write_outputs(tmp_path, tally)

    # Then they are written all the same, and the plot says why it is empty
    assert document["state"] == "complete_with_failures"
    svg = (tmp_path / PLOT_FILES["svg"]).read_text()
    assert "No events selected" in svg and "all 7 chunks failed" in svg
    assert (tmp_path / ROOT_FILE).stat().st_size > 0


# --- a run's durable state ----------------------------------------------------------------------


def test_a_recorded_run_loads_back_with_identical_totals(tmp_path: Path, complete_tally: RunTally) -> None:
    # Given a run recorded in its database, in one batch
    store = RunStore(tmp_path, RUN)
    store.start(complete_tally)
    store.save(complete_tally, list(complete_tally.done), set(complete_tally.samples))
    store.close()

    # When it is loaded
    loaded = load_run_state(tmp_path)

    # Then the tally is the same, bit for bit, and it lives in the run's own folder
    assert loaded is not None
    assert loaded.tally() == complete_tally.tally()
    for name, sample in complete_tally.samples.items():
        assert loaded.samples[name].sumw.tobytes() == sample.sumw.tobytes()
        assert loaded.samples[name].sumw2.tobytes() == sample.sumw2.tobytes()
    assert results_document(loaded, now=2000.0) == results_document(complete_tally, now=2000.0)
    assert [p.name for p in (tmp_path / RUNS_FOLDER / RUN).iterdir()] == [STATE_FILE]


def test_no_run_loads_as_none(tmp_path: Path) -> None:
    # Given an empty folder
    # Then there is nothing to resume
    assert load_run_state(tmp_path) is None


@pytest.mark.parametrize("content", [b"not a database at all, only text", b"\xff\xfe" * 600])
def test_a_damaged_run_state_is_refused_naming_it(tmp_path: Path, content: bytes) -> None:
    # Given a run folder whose database is damaged
    folder = tmp_path / RUNS_FOLDER / RUN
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_bytes(content)

    # When it is loaded, it is refused naming the file (nothing is silently started afresh)
    with pytest.raises(CheckpointError, match=STATE_FILE):
        load_run_state(tmp_path)


@pytest.mark.parametrize("run_id", ["../escape", "", "a/b", ".hidden", "x" * 65])
def test_a_run_id_that_could_leave_the_runs_folder_is_refused(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(ConfigError, match="run id"):
        run_folder(tmp_path, run_id)
