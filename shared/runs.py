"""A run's bookkeeping: publish it, read it back from the output folder, requeue its failed chunks.

:func:`publish_run` sends the manifest first, then one persistent task per chunk.
:func:`requeue_failed` publishes the failed chunks of a checkpointed run again (after the
network came back, say): a requeue notice that makes the aggregator wait for them, then their
tasks with attempt 0. The producer service and ``hzz`` both call these. :func:`resume_run`
(``hzz run --resume``) does the same for an interrupted run's pending chunks too, with the run's
own settings (:func:`settings_of_run`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkTask, RequeueNotice, RunManifest
from hzz.shared.messaging import Transport, transport_info
from hzz.shared.outputs import RUNS_FOLDER
from hzz.shared.runstore import load_run_state

__all__ = [
    "bar_class",
    "failed_tasks",
    "load_run",
    "publish_run",
    "requeue_failed",
    "resume_run",
    "resume_tasks",
    "settings_of_run",
]

#: The settings a resumed run takes from its manifest, not from the command that resumes it: what
#: its chunks and their results depend on (the dataset also bounds what its workers may read).
RUN_DEFINING_SETTINGS = ("profile", "dataset", "samples", "lumi", "fraction", "chunk_size")

log = logging.getLogger(__name__)


def bar_class(progress: bool) -> Any:
    """The progress bar of a run: tqdm.auto's where one is shown (a widget in Jupyter with
    ipywidgets, a text bar in a terminal), else plain tqdm, disabled by its caller (tqdm.auto
    imports asyncio: 0.2 s of a small run's start)."""
    if progress:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def publish_run(
    settings: Settings,
    transport: Transport,
    *,
    progress: bool = False,
    planned: tuple[RunManifest, list[ChunkTask]] | None = None,
) -> RunManifest:
    """Plan the run's chunks and publish them.

    The manifest goes to the results queue before any task, so the aggregator always knows a
    run before its first result arrives.

    Args:
        settings: with a run id.
        transport: where to publish.
        progress: show a bar while publishing.
        planned: the run's plan if already made (:func:`~hzz.shared.chunking.plan_run` of ``settings``).

    Returns:
        RunManifest: what was published.
    """
    manifest, tasks = plan_run(settings) if planned is None else planned
    # Which transport carries the run, for results.json and the page (say what runs where).
    manifest = dataclasses.replace(manifest, settings={**manifest.settings, "transport": transport_info(transport)})
    transport.publish(transport.names.results, manifest.encode())
    tqdm = bar_class(progress)
    for task in tqdm(tasks, desc="publishing chunks", unit="chunk", disable=not progress, leave=False):
        transport.publish(transport.names.tasks, task.encode())
    log.info("run %s: published %d chunks of %d samples", settings.run_id, len(tasks), len(settings.samples))
    return manifest


def load_run(output_dir: str | Path, run_id: str | None = None) -> RunTally:
    """A run recorded by the aggregator in ``output_dir`` (default: the newest), read only.

    Raises:
        ConfigError: there is no readable run there.
    """
    tally = load_run_state(output_dir, run_id)
    if tally is None:
        where = Path(output_dir) / RUNS_FOLDER
        msg = f"no run recorded in {where}; set HZZ_OUTPUT_DIR (--output-dir) to the aggregator's output folder"
        raise ConfigError(msg)
    return tally


def failed_tasks(tally: RunTally) -> list[ChunkTask]:
    """The tasks of the run's failed chunks, rebuilt from its manifest alone (attempt 0)."""
    return [task for task in tally.manifest.tasks() if task.chunk_id in tally.failed]


def requeue_failed(tally: RunTally, transport: Transport) -> list[ChunkTask]:
    """Publish a requeue notice and the tasks of the run's failed chunks.

    Returns:
        list[ChunkTask]: the tasks published (none if nothing failed).
    """
    tasks = failed_tasks(tally)
    if not tasks:
        log.info("run %s has no failed chunk to requeue", tally.run_id)
        return tasks
    notice = RequeueNotice(run_id=tally.run_id, chunk_ids=[t.chunk_id for t in tasks])
    transport.publish(transport.names.results, notice.encode())
    for task in tasks:
        transport.publish(transport.names.tasks, task.encode())
    log.info("run %s: requeued %d failed chunks", tally.run_id, len(tasks))
    return tasks


def resume_tasks(tally: RunTally) -> list[ChunkTask]:
    """The tasks of the run's chunks that are not done (pending or failed), in the manifest's order."""
    return [task for task in tally.manifest.tasks() if task.chunk_id not in tally.done]


def resume_run(tally: RunTally, transport: Transport) -> list[ChunkTask]:
    """Publish what an interrupted (or partly failed) run still needs: its failed and pending chunks.

    The failed ones get a requeue notice first, as in :func:`requeue_failed`; the pending ones
    are pending for the aggregator already.

    Returns:
        list[ChunkTask]: the tasks published.
    """
    tasks = resume_tasks(tally)
    failed = [t.chunk_id for t in tasks if t.chunk_id in tally.failed]
    if failed:
        transport.publish(transport.names.results, RequeueNotice(run_id=tally.run_id, chunk_ids=failed).encode())
    for task in tasks:
        transport.publish(transport.names.tasks, task.encode())
    log.info("run %s: resumed %d chunks (%d had failed)", tally.run_id, len(tasks), len(failed))
    return tasks


def settings_of_run(tally: RunTally, settings: Settings) -> Settings:
    """``settings`` with the run's id and the settings that define it, as its manifest records them.

    Raises:
        ConfigError: the recorded settings are not valid ones (a manifest of another version).
    """
    recorded = tally.manifest.settings
    defining = {key: recorded[key] for key in RUN_DEFINING_SETTINGS if recorded.get(key) is not None}
    if isinstance(defining.get("samples"), list):
        defining["samples"] = tuple(defining["samples"])
    return settings.replace(**defining, run_id=tally.run_id)
