"""The aggregator in-process: state recorded before acknowledgement, restarts, runs side by side,
lies refused at the door, stalls reported, requeues.

Results are real: the chunks of the real data_A and data_B files, analysed once per session.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import queue as queue_module
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_SIGNER

import hzz.aggregator.main
import hzz.producer.main
import hzz.shared.aggregation
from hzz.shared import drawing
from hzz.shared.aggregation import MAX_RESULT_BYTES, Aggregator
from hzz.shared.analysis import analyse_chunk, failed_result
from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings
from hzz.shared.errors import CheckpointError, ConfigError
from hzz.shared.messages import ChunkResult, ChunkTask, RequeueNotice
from hzz.shared.messaging import ERROR_HEADER, QueueNames
from hzz.shared.messaging.embedded import EmbeddedTransport
from hzz.shared.outputs import CHECKPOINT_FILE, PLOT_FILES, RESULTS_FILE, run_folder
from hzz.shared.runs import failed_tasks, load_run, requeue_failed
from hzz.shared.runstore import RunStore, load_run_state

NAMES = QueueNames("unit")


class Run:
    """A planned run of the real files and the result of each of its chunks."""

    def __init__(self, dataset: Path, run_id: str = "run-1") -> None:
        settings = Settings(dataset=str(dataset), samples=("data_A", "data_B"), chunk_size=40, run_id=run_id)
        self.run_id = run_id
        self.manifest, self.tasks = plan_run(settings)
        self.results = [analyse_chunk(task, worker="test") for task in self.tasks]


@pytest.fixture(scope="module")
def run(real_dataset: Path) -> Run:
    return Run(real_dataset)


@pytest.fixture(scope="module")
def other_run(real_dataset: Path) -> Run:
    return Run(real_dataset, run_id="run-2")


@pytest.fixture(autouse=True)
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write results.json only: drawing is tested with the outputs, and takes a second a plot."""
    import hzz.shared.report

    real = hzz.shared.report.write_outputs
    monkeypatch.setattr(
        hzz.shared.report, "write_outputs", lambda folder, tally, **kw: real(folder, tally, **{**kw, "draw": False})
    )


def aggregate(folder: Path, *bodies: bytes, **options: Any) -> Aggregator:
    """An aggregator on ``folder`` that took ``bodies`` one batch each, its outputs written."""
    agg = Aggregator(folder, refresh_seconds=60, **options)
    for body in bodies:
        assert agg.handle_batch([body], NAMES) == []
    agg.renderer.render_due()
    return agg


def sums(agg: Aggregator, run_id: str = "run-1") -> dict[str, tuple[int, list[float]]]:
    tally = agg.runs[run_id].tally
    return {name: (s.events_read, s.sumw.tolist()) for name, s in tally.samples.items()}


def results_of(folder: Path, run_id: str | None = None) -> dict[str, Any]:
    where = folder if run_id is None else run_folder(folder, run_id)
    return json.loads((where / RESULTS_FILE).read_text())


@pytest.fixture
def quiet_main(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run services' mains in-process: keep pytest's logging and signal handlers."""
    for module in (hzz.aggregator.main, hzz.producer.main):
        monkeypatch.setattr(module, "configure_logging", lambda service: None)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_a_batch_is_on_disk_before_the_batch_is_acknowledged(run: Run, tmp_path: Path) -> None:
    # Given an aggregator that knows the run
    agg = aggregate(tmp_path, run.manifest.encode())

    # When handle_batch returns for two results (the transport acknowledges after this)
    agg.handle_batch([r.encode() for r in run.results[:2]], NAMES)

    # Then the run's database already counts both, in the run's own folder
    saved = load_run_state(tmp_path, "run-1")
    assert saved is not None
    assert saved.done == {r.chunk_id for r in run.results[:2]}
    assert (run_folder(tmp_path, "run-1") / "state.sqlite").is_file()


def test_a_restarted_aggregator_resumes_and_counts_each_chunk_once(run: Run, tmp_path: Path) -> None:
    # Given an aggregator that merged two results and stopped
    bodies = [r.encode() for r in run.results]
    aggregate(tmp_path / "restarted", run.manifest.encode(), *bodies[:2]).close()

    # When a new one starts on the same folder and gets every result (the first two redelivered)
    agg = aggregate(tmp_path / "restarted", *bodies)

    # Then the run is complete and equals an aggregator that saw each result once
    reference = aggregate(tmp_path / "reference", run.manifest.encode(), *bodies)
    assert agg.finished.is_set()
    assert agg.runs["run-1"].tally.tally() == {"total": 5, "done": 5, "failed": 0, "pending": 0}
    assert sums(agg) == sums(reference)
    results = results_of(tmp_path / "restarted")
    assert results["state"] == "complete"
    assert results["events"]["read"] == 39 + 156


def test_messages_that_do_not_belong_come_back_as_dead_letters_with_the_reason(run: Run, tmp_path: Path) -> None:
    agg = aggregate(tmp_path, run.manifest.encode())
    stranger = ChunkResult(run_id="another-run", chunk_id=run.results[0].chunk_id, sample="data_A")
    unknown_chunk = dataclasses.replace(run.results[0], chunk_id="data_A/data_A.4lep.root:7-8")
    bodies = [b"not json", b"[1, 2]", run.tasks[0].encode(), stranger.encode(), unknown_chunk.encode()]

    dead = agg.handle_batch(bodies, NAMES)

    assert [d.body for d in dead] == bodies
    assert all(d.queue == NAMES.dead and d.headers[ERROR_HEADER] for d in dead)
    assert "unknown run 'another-run'" in dead[3].headers[ERROR_HEADER]
    assert "no such chunk" in dead[4].headers[ERROR_HEADER]
    assert agg.runs["run-1"].tally.tally()["done"] == 0


LIES = {
    "negative counts": {"events_selected": -3},
    "more read than the chunk holds": {"events_read": 10**15},
    "more selected than read": {"events_selected": 41},
    "an enormous sum": {"sumw": [1e308] + [0.0] * 33},
    "a NaN sum": {"sumw_total": math.nan},
    "an infinite Σw²": {"sumw2": [math.inf] + [0.0] * 33},
    "a negative Σw²": {"sumw2": [-1.0] + [0.0] * 33},
    "another binning": {"binning": [17, 80.0, 250.0]},
    "a fractional data count": {"sumw": [0.5] + [0.0] * 33},
    "another sample": {"sample": "data_B"},
}


@pytest.mark.parametrize("lie", LIES)
def test_a_schema_valid_lie_is_dead_lettered_and_the_real_result_still_counts(
    run: Run, tmp_path: Path, lie: str
) -> None:
    # Given a running run and a result of its first chunk that cannot be true
    agg = aggregate(tmp_path, run.manifest.encode())
    real = run.results[0]
    forged = dataclasses.replace(real, **LIES[lie])

    # When the lie arrives first, then the real result
    dead = agg.handle_batch([forged.encode()], NAMES)
    assert agg.handle_batch([real.encode()], NAMES) == []

    # Then the lie is dead-lettered with the check it failed, and the real result is the one counted
    [letter] = dead
    assert real.chunk_id in letter.headers[ERROR_HEADER]
    tally = agg.runs["run-1"].tally
    assert tally.done == {real.chunk_id}
    assert tally.samples["data_A"].sumw.tolist() == real.sumw
    assert tally.samples["data_A"].events_selected == real.events_selected


def test_an_oversized_message_is_refused_unread(run: Run, tmp_path: Path) -> None:
    agg = aggregate(tmp_path, run.manifest.encode())
    [letter] = agg.handle_batch([b"{" + b" " * MAX_RESULT_BYTES + b"}"], NAMES)
    assert "larger than any result" in letter.headers[ERROR_HEADER]


def test_results_json_is_strict_json_whatever_arrives(run: Run, tmp_path: Path) -> None:
    # Given a run that was sent NaN and infinite sums among its real results
    agg = aggregate(tmp_path, run.manifest.encode())
    nan = dataclasses.replace(run.results[0], sumw_total=math.nan)
    agg.handle_batch([nan.encode(), *(r.encode() for r in run.results)], NAMES)
    agg.renderer.render_due()

    # Then results.json parses as strict JSON (no NaN or Infinity tokens)
    text = (tmp_path / RESULTS_FILE).read_text()
    json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in results.json"))


def test_a_foreign_manifest_during_a_run_starts_its_own_run_and_touches_nothing(
    run: Run, other_run: Run, tmp_path: Path
) -> None:
    # Given a run half merged
    agg = aggregate(tmp_path, run.manifest.encode(), *(r.encode() for r in run.results[:2]))

    # When another run's manifest arrives, then the results of both, interleaved
    agg.handle_batch([other_run.manifest.encode()], NAMES)
    mixed = [body for pair in zip(run.results[2:], other_run.results, strict=False) for body in pair if body]
    agg.handle_batch([r.encode() for r in mixed], NAMES)
    agg.handle_batch([r.encode() for r in other_run.results[len(run.results) - 2 :]], NAMES)
    agg.renderer.render_due()

    # Then both runs are complete and exact, each in its own folder, the newest mirrored on top
    reference = aggregate(tmp_path / "reference", run.manifest.encode(), *(r.encode() for r in run.results))
    assert sums(agg, "run-1") == sums(reference, "run-1")
    assert sums(agg, "run-2") == sums(reference, "run-1")
    for run_id in ("run-1", "run-2"):
        assert results_of(tmp_path, run_id)["state"] == "complete"
        assert results_of(tmp_path, run_id)["run_id"] == run_id
    assert results_of(tmp_path)["run_id"] == "run-2"


def test_an_aggregator_for_one_run_refuses_other_manifests(run: Run, other_run: Run, tmp_path: Path) -> None:
    agg = Aggregator(tmp_path, refresh_seconds=60, expected_run="run-1")
    [letter] = agg.handle_batch([other_run.manifest.encode()], NAMES)
    assert "serves run 'run-1' only" in letter.headers[ERROR_HEADER]
    assert agg.runs == {}


def test_a_batch_that_cannot_be_recorded_is_kept_for_another_try(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an aggregator one result away from completion whose disk is full
    bodies = [r.encode() for r in run.results]
    agg = aggregate(tmp_path, run.manifest.encode(), *bodies[:-1])
    real_save = RunStore.save

    def full_disk(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(RunStore, "save", full_disk)

    # When the last result arrives
    from hzz.shared.errors import RetryLater

    with pytest.raises(RetryLater, match="disk is full"):
        agg.handle_batch([bodies[-1]], NAMES)

    # Then the run is not reported finished, and once the disk is back the same batch completes it
    agg.renderer.render_due()
    assert not agg.finished.is_set()
    monkeypatch.setattr(RunStore, "save", real_save)
    agg.handle_batch([bodies[-1]], NAMES)
    agg.renderer.render_due()
    assert agg.finished.is_set()
    saved = load_run_state(tmp_path)
    assert saved is not None
    assert saved.complete
    assert len(saved.done) == 5


def test_requeued_failed_chunks_are_rebuilt_as_first_published(run: Run, tmp_path: Path) -> None:
    # Given a run whose second chunk failed
    failed = failed_result(run.tasks[1], OSError("network down"))
    bodies = [r.encode() for r in run.results]
    aggregate(tmp_path, run.manifest.encode(), bodies[0], failed.encode(), *bodies[2:])

    # When its failed chunks are rebuilt from the recorded run
    [task] = failed_tasks(load_run(tmp_path))

    # Then the task is the one the producer published, with attempt 0
    assert task == run.tasks[1]
    assert task.attempt == 0


def test_a_requeue_reopens_the_failed_chunks_and_the_rerun_equals_a_clean_run(run: Run, tmp_path: Path) -> None:
    # Given a run complete with one failure
    failed = failed_result(run.tasks[1], OSError("network down"))
    bodies = [r.encode() for r in run.results]
    agg = aggregate(tmp_path / "run", run.manifest.encode(), bodies[0], failed.encode(), *bodies[2:])
    assert agg.finished.is_set()
    assert results_of(tmp_path / "run")["state"] == "complete_with_failures"

    # When the failed chunks are requeued
    transport = EmbeddedTransport(NAMES, {name: queue_module.Queue() for name in NAMES.all()}, signer=TEST_SIGNER)
    [task] = requeue_failed(load_run(tmp_path / "run"), transport)
    notice = transport.get(NAMES.results)
    assert notice is not None
    assert transport.get(NAMES.tasks) == task.encode()
    agg.handle_batch([notice], NAMES)
    agg.renderer.render_due()

    # Then the run is running again with that chunk pending
    assert not agg.finished.is_set()
    assert agg.runs["run-1"].tally.tally() == {"total": 5, "done": 4, "failed": 0, "pending": 1}
    assert results_of(tmp_path / "run")["state"] == "running"

    # And once its new result is in, the run equals a clean one
    agg.handle_batch([analyse_chunk(ChunkTask.decode(task.encode())).encode()], NAMES)
    agg.renderer.render_due()
    reference = aggregate(tmp_path / "clean", run.manifest.encode(), *bodies)
    assert agg.finished.is_set()
    assert sums(agg) == sums(reference)
    results = results_of(tmp_path / "run")
    assert results["state"] == "complete"
    assert results["failed_chunks"] == []
    assert results["data"]["counts"] == results_of(tmp_path / "clean")["data"]["counts"]


def test_a_requeue_notice_with_no_task_behind_it_ends_as_a_stalled_run(run: Run, tmp_path: Path) -> None:
    # Given a run complete with one failure, and a requeue notice whose tasks never come
    failed = failed_result(run.tasks[1], OSError("network down"))
    bodies = [r.encode() for r in run.results]
    agg = aggregate(tmp_path, run.manifest.encode(), bodies[0], failed.encode(), *bodies[2:], stall_seconds=0.3)
    agg.handle_batch([RequeueNotice("run-1", [run.tasks[1].chunk_id]).encode()], NAMES)
    agg.renderer.render_due()
    assert not agg.finished.is_set()

    # When no progress comes for longer than the stall time
    time.sleep(0.4)
    agg.renderer.render_due()

    # Then the run is reported stalled, naming the chunk, and whoever waits for it stops waiting
    results = results_of(tmp_path)
    assert results["state"] == "stalled"
    assert results["stalled_chunks"] == [run.tasks[1].chunk_id]
    assert agg.finished.is_set()
    assert agg.snapshot()["stalled"]


def test_a_requeue_notice_of_an_unknown_run_is_dead_lettered(run: Run, tmp_path: Path) -> None:
    agg = aggregate(tmp_path, run.manifest.encode())
    before = agg.runs["run-1"].tally.tally()

    [letter] = agg.handle_batch([RequeueNotice("another-run", [run.manifest.chunk_ids[0]]).encode()], NAMES)

    assert "unknown run" in letter.headers[ERROR_HEADER]
    assert agg.runs["run-1"].tally.tally() == before


def test_nothing_to_requeue_without_a_run_and_an_old_checkpoint_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HZZ_OUTPUT_DIR"):
        load_run(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_text('{"manifest": {}}')
    with pytest.raises(CheckpointError, match="previous format"):
        load_run(tmp_path)


def test_an_aggregator_moves_an_old_checkpoint_aside_and_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CHECKPOINT_FILE).write_text('{"manifest": {}}')
    with caplog.at_level(logging.ERROR):
        agg = Aggregator(tmp_path, refresh_seconds=60)
    assert agg.runs == {}
    assert not (tmp_path / CHECKPOINT_FILE).exists()
    assert any("previous format" in r.getMessage() for r in caplog.records)


def test_an_unwritable_output_folder_stops_the_aggregator_with_exit_code_2(
    quiet_main: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an output folder that cannot be created (its parent is a file)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(tmp_path / "file" / "out"))

    # When the aggregator starts
    with caplog.at_level(logging.ERROR):
        code = hzz.aggregator.main.main([])

    # Then it exits with 2 and one line naming the folder and the setting
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code == 2
    assert len(errors) == 1
    assert "HZZ_OUTPUT_DIR" in errors[0]
    assert str(tmp_path / "file" / "out") in errors[0]


def test_requeueing_without_a_run_stops_the_producer_with_exit_code_2(
    quiet_main: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HZZ_OUTPUT_DIR", str(tmp_path))
    with caplog.at_level(logging.ERROR):
        code = hzz.producer.main.main(["--requeue-failed"])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code == 2
    assert len(errors) == 1
    assert "no run recorded" in errors[0]


def test_a_refresh_during_the_run_writes_the_tally_as_it_stands(run: Run, tmp_path: Path) -> None:
    # Given a run whose manifest was written out, then one of its chunks merged
    agg = aggregate(tmp_path, run.manifest.encode())
    before = results_of(tmp_path)
    agg.handle_batch([run.results[0].encode()], NAMES)

    # When the renderer's refresh runs
    agg.renderer.render_due()

    # Then results.json shows the run in progress with that chunk done, and no plot yet
    after = results_of(tmp_path)
    assert before["tally"]["done"] == 0
    assert after["state"] == "running"
    assert after["tally"]["done"] == 1
    assert after["tally"]["total"] == len(run.tasks) > 1
    assert after["plot"] is None
    assert not (tmp_path / PLOT_FILES["png"]).exists()


def test_the_service_draws_in_a_process_of_its_own(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the service's aggregator (drawing in a child process), drawing for real
    monkeypatch.undo()  # this test draws: no_plots off
    drawing.start_early()  # as the service does: matplotlib loaded before the first plot is due
    agg = Aggregator(tmp_path, refresh_seconds=60, draw_in_process=True)
    agg.renderer.start()
    # When a whole run is merged and the aggregator stops
    agg.handle_batch([run.manifest.encode(), *(r.encode() for r in run.results)], NAMES)
    agg.renderer.stop()
    drawer = agg.renderer._drawing_process
    agg.close()
    # Then the drawing process started early drew it, and ended with the aggregator
    assert drawer is not None and drawer._process.exitcode == 0
    # Then the plot and the ROOT file of the complete run were drawn, beside its results.json
    folder = run_folder(tmp_path, "run-1")
    assert results_of(tmp_path, "run-1")["state"] == "complete"
    assert (folder / "hzz_m4l.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (folder / "hzz_m4l.svg").read_bytes()[:400]
    assert (folder / "hzz_m4l.root").stat().st_size > 0
    assert (tmp_path / "hzz_m4l.png").read_bytes() == (folder / "hzz_m4l.png").read_bytes()  # mirrored


def test_where_no_drawing_process_can_start_the_renderer_draws_on_its_thread(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a machine where no process can be started for drawing (no /dev/shm, say)
    monkeypatch.undo()  # this test draws: no_plots off

    def refuse() -> None:
        raise OSError("no /dev/shm")

    monkeypatch.setattr(drawing, "DrawingProcess", refuse)
    agg = Aggregator(tmp_path, refresh_seconds=60, draw_in_process=True)
    # When the service's aggregator starts and merges a whole run
    agg.renderer.start()
    agg.handle_batch([run.manifest.encode(), *(r.encode() for r in run.results)], NAMES)
    agg.renderer.stop()
    agg.close()
    # Then it says why, and the plot is drawn all the same (on the renderer's thread)
    assert "a drawing process cannot start (no /dev/shm)" in caplog.text
    assert (run_folder(tmp_path, "run-1") / "hzz_m4l.png").read_bytes().startswith(b"\x89PNG")
