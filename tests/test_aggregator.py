"""The aggregator in-process: checkpoint before acknowledgement, restarts, bad messages, requeues.

Results are real: the chunks of the real data_A and data_B files, analysed once per session.
"""

from __future__ import annotations

import json
import logging
import queue as queue_module
import signal
from pathlib import Path

import numpy as np
import pytest

import hzz.aggregator.main
import hzz.producer.main
import hzz.shared.aggregation
import hzz.shared.runs
from hzz.shared.aggregation import Aggregator
from hzz.shared.analysis import analyse_chunk, failed_result
from hzz.shared.checkpoint import load_checkpoint
from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError, DecodeError, RetryLater
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, ChunkTask, RequeueNotice, decode_message
from hzz.shared.messaging import QueueNames
from hzz.shared.messaging.embedded import EmbeddedTransport
from hzz.shared.outputs import RESULTS_FILE, write_atomic
from hzz.shared.report import results_document
from hzz.shared.runs import failed_tasks, load_run, requeue_failed


class Run:
    """A planned run of the real files and the result of each of its chunks."""

    def __init__(self, dataset: Path) -> None:
        settings = Settings(dataset=str(dataset), samples=("data_A", "data_B"), chunk_size=40, run_id="run-1")
        self.manifest, self.tasks = plan_run(settings)
        self.results = [analyse_chunk(task, worker="test") for task in self.tasks]


@pytest.fixture(scope="module")
def run(real_dataset: Path) -> Run:
    return Run(real_dataset)


@pytest.fixture(autouse=True)
def results_without_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write results.json only: drawing is tested with the outputs, and takes a second a plot."""

    def write(folder: Path, tally: RunTally) -> dict:
        document = results_document(tally)
        write_atomic(folder / RESULTS_FILE, json.dumps(document).encode())
        return document

    monkeypatch.setattr(hzz.shared.aggregation, "write_outputs", write)


def aggregate(folder: Path, *bodies: bytes) -> Aggregator:
    agg = Aggregator(folder, refresh_seconds=60)
    for body in bodies:
        agg.handle(body)
    return agg


def histograms(agg: Aggregator) -> dict[str, tuple[int, list[float]]]:
    assert agg.tally is not None
    return {name: (s.events_read, list(s.histogram.values())) for name, s in agg.tally.samples.items()}


@pytest.fixture
def quiet_main(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run services' mains in-process: keep pytest's logging and signal handlers."""
    for module in (hzz.aggregator.main, hzz.producer.main):
        monkeypatch.setattr(module, "configure_logging", lambda service: None)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_the_checkpoint_holds_a_result_before_the_message_is_acknowledged(run: Run, tmp_path: Path) -> None:
    # Given an aggregator that knows the run
    agg = aggregate(tmp_path, run.manifest.encode())

    # When handle returns for a result (the transport acknowledges after this)
    agg.handle(run.results[0].encode())

    # Then the checkpoint on disk already counts it
    saved = load_checkpoint(tmp_path)
    assert saved is not None
    assert saved.done == {run.results[0].chunk_id}


def test_a_restarted_aggregator_resumes_from_the_checkpoint_and_counts_each_chunk_once(
    run: Run, tmp_path: Path
) -> None:
    # Given an aggregator that merged two results and stopped
    bodies = [r.encode() for r in run.results]
    aggregate(tmp_path / "restarted", run.manifest.encode(), *bodies[:2])

    # When a new one starts on the same folder and gets every result (the first two redelivered)
    agg = aggregate(tmp_path / "restarted", *bodies)

    # Then the run is complete and equals an aggregator that saw each result once
    reference = aggregate(tmp_path / "reference", run.manifest.encode(), *bodies)
    assert agg.finished.is_set()
    assert agg.tally is not None
    assert agg.tally.tally() == {"total": 5, "done": 5, "failed": 0, "pending": 0}
    assert histograms(agg) == histograms(reference)
    results = json.loads((tmp_path / "restarted" / RESULTS_FILE).read_text())
    assert results["state"] == "complete"
    assert results["events"]["read"] == 39 + 156


def test_messages_that_do_not_belong_raise_for_the_dead_letter_queue(run: Run, tmp_path: Path) -> None:
    agg = aggregate(tmp_path, run.manifest.encode())
    stranger = ChunkResult(run_id="another-run", chunk_id=run.results[0].chunk_id, sample="data_A")
    unknown_chunk = ChunkResult(run_id="run-1", chunk_id="data_A/data_A.4lep.root:7-8", sample="data_A")
    for body in (b"not json", b"[1, 2]", run.tasks[0].encode(), stranger.encode(), unknown_chunk.encode()):
        with pytest.raises(DecodeError):
            agg.handle(body)
    assert agg.tally is not None
    assert agg.tally.tally()["done"] == 0


def test_a_checkpoint_that_cannot_be_written_keeps_the_message_for_another_try(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an aggregator one result away from completion whose disk is full
    bodies = [r.encode() for r in run.results]
    agg = aggregate(tmp_path, run.manifest.encode(), *bodies[:-1])
    real_save = hzz.shared.aggregation.save_checkpoint

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hzz.shared.aggregation, "save_checkpoint", full_disk)

    # When the last result arrives
    with pytest.raises(RetryLater, match="No space left"):
        agg.handle(bodies[-1])

    # Then the run is not reported finished, and once the disk is back the same message completes it
    assert not agg.finished.is_set()
    monkeypatch.setattr(hzz.shared.aggregation, "save_checkpoint", real_save)
    agg.handle(bodies[-1])
    assert agg.finished.is_set()
    saved = load_checkpoint(tmp_path)
    assert saved is not None
    assert saved.complete
    assert len(saved.done) == 5


def test_requeued_failed_chunks_are_rebuilt_as_first_published(run: Run, tmp_path: Path) -> None:
    # Given a run whose second chunk failed
    failed = failed_result(run.tasks[1], OSError("network down"))
    bodies = [r.encode() for r in run.results]
    aggregate(tmp_path, run.manifest.encode(), bodies[0], failed.encode(), *bodies[2:])

    # When its failed chunks are rebuilt from the checkpoint
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
    assert json.loads((tmp_path / "run" / RESULTS_FILE).read_text())["state"] == "complete_with_failures"

    # When the failed chunks are requeued
    names = QueueNames("unit")
    transport = EmbeddedTransport(names, {name: queue_module.Queue() for name in names.all()})
    [task] = requeue_failed(load_run(tmp_path / "run"), transport)
    notice = transport.get(names.results)
    assert notice is not None
    assert transport.get(names.tasks) == task.encode()
    agg.handle(notice)

    # Then the run is running again with that chunk pending
    assert not agg.finished.is_set()
    assert agg.tally is not None
    assert agg.tally.tally() == {"total": 5, "done": 4, "failed": 0, "pending": 1}
    assert json.loads((tmp_path / "run" / RESULTS_FILE).read_text())["state"] == "running"

    # And once its new result is in, the run equals a clean one
    agg.handle(analyse_chunk(ChunkTask.decode(task.encode())).encode())
    reference = aggregate(tmp_path / "clean", run.manifest.encode(), *bodies)
    assert agg.finished.is_set()
    assert histograms(agg) == histograms(reference)
    results = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert results["state"] == "complete"
    assert results["failed_chunks"] == []
    assert np.array_equal(
        results["data"]["counts"], json.loads((tmp_path / "clean" / RESULTS_FILE).read_text())["data"]["counts"]
    )


def test_a_requeue_notice_of_another_run_changes_nothing(run: Run, tmp_path: Path) -> None:
    aggregator = Aggregator(tmp_path / "other", refresh_seconds=60)
    aggregator.handle(run.manifest.encode())
    before = aggregator.tally.tally() if aggregator.tally else None

    aggregator.handle(RequeueNotice("another-run", [run.manifest.chunk_ids[0]]).encode())

    assert aggregator.tally is not None and aggregator.tally.tally() == before
    assert isinstance(decode_message(RequeueNotice("r", ["c"]).encode()), RequeueNotice)


def test_nothing_to_requeue_without_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HZZ_OUTPUT_DIR"):
        load_run(tmp_path)
    (tmp_path / ".checkpoint.json").write_text("{broken")
    with pytest.raises(ConfigError, match="unreadable"):
        load_run(tmp_path)


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
    assert "no run checkpoint" in errors[0]


def test_a_refresh_during_the_run_writes_the_tally_as_it_stands(run: Run, tmp_path: Path) -> None:
    # Given a run with one of its chunks merged (not enough to complete it, so nothing forced a write)
    agg = aggregate(tmp_path, run.manifest.encode(), run.results[0].encode())
    before = json.loads((tmp_path / RESULTS_FILE).read_text())

    # When the periodic refresh runs
    agg.refresh()

    # Then results.json shows the run in progress with that chunk done
    after = json.loads((tmp_path / RESULTS_FILE).read_text())
    assert before["tally"]["done"] == 0
    assert after["state"] == "running"
    assert after["tally"]["done"] == 1
    assert after["tally"]["total"] == len(run.tasks) > 1
