"""Planning a run: count each file's entries and describe the run in its manifest.

The chunks (entry ranges of files) follow from the manifest (:meth:`RunManifest.tasks`).

A file whose entry count cannot be read (unreachable, missing, not ROOT) still gets one task
covering the whole file: the worker then meets the same error, names it, and the chunk is
recorded as failed instead of silently missing from the run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from hzz.shared.analysis import count_entries
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ChunkError
from hzz.shared.messages import ChunkTask, RunManifest
from hzz.shared.remote import is_remote

__all__ = ["plan_run"]

log = logging.getLogger(__name__)

#: Files whose entry counts are read at once (remote reads wait on the network, not the CPU).
PARALLEL_OPENS = 8


def _count(location: str, tree: str, deadline_seconds: float) -> tuple[int | None, float]:
    """The file's entries (None when they cannot be counted) and the seconds a failed count of a remote
    file spent: its whole-file chunk has that much less of its read deadline left."""
    started = time.monotonic()
    try:
        return count_entries(location, tree, deadline_seconds=deadline_seconds), 0.0
    except ChunkError as e:
        log.warning("%s; the file becomes one chunk, which will fail visibly", e)
        return None, time.monotonic() - started if is_remote(location) else 0.0


def plan_run(settings: Settings) -> tuple[RunManifest, list[ChunkTask]]:
    """The run's manifest and its tasks, one per chunk, in the settings' sample order.

    Args:
        settings: with a ``run_id`` (see :meth:`Settings.with_new_run_id`).
    """
    locations = {sample: settings.file_location(sample) for sample in settings.samples}
    tree = settings.release.tree
    with ThreadPoolExecutor(PARALLEL_OPENS) as pool:
        deadline = [settings.read_deadline_seconds] * len(locations)
        counts = list(pool.map(_count, locations.values(), [tree] * len(locations), deadline))
        entries = {sample: n for sample, (n, _) in zip(locations, counts, strict=True)}
        spent = {locations[sample]: seconds for sample, (_, seconds) in zip(locations, counts, strict=True) if seconds}
    manifest = RunManifest(
        run_id=settings.run_id,
        profile=settings.profile,
        lumi=float(settings.lumi or 0.0),
        fraction=settings.fraction,
        files=[
            {"sample": s, "location": locations[s], "entries": entries[s], "chunk_size": settings.chunk_size}
            for s in locations
        ],
        settings=settings.public_dict(),
        created=time.time(),
    )
    # The time a failed count spent travels with the chunk's first task only: a re-run of the failed
    # chunks later (rebuilt from the manifest) gets the whole deadline again.
    tasks = [
        dataclasses.replace(task, read_seconds=spent[task.location]) if task.location in spent else task
        for task in manifest.tasks()
    ]
    return manifest, tasks
