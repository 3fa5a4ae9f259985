"""Planning a run: count each file's entries and describe the run in its manifest.

The chunks (entry ranges of files) follow from the manifest (:meth:`RunManifest.tasks`).

A file whose entry count cannot be read (unreachable, missing, not ROOT) still gets one task
covering the whole file: the worker then meets the same error, names it, and the chunk is
recorded as failed instead of silently missing from the run.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from hzz.shared.analysis import count_entries
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ChunkError
from hzz.shared.messages import ChunkTask, RunManifest

__all__ = ["plan_run"]

log = logging.getLogger(__name__)

#: Files whose entry counts are read at once (remote reads wait on the network, not the CPU).
PARALLEL_OPENS = 8


def _entries_or_none(location: str, tree: str, deadline_seconds: float) -> int | None:
    try:
        return count_entries(location, tree, deadline_seconds=deadline_seconds)
    except ChunkError as e:
        log.warning("cannot count the entries of %s (%s); it becomes one chunk that will fail visibly", location, e)
        return None


def plan_run(settings: Settings) -> tuple[RunManifest, list[ChunkTask]]:
    """The run's manifest and its tasks, one per chunk, in the settings' sample order.

    Args:
        settings: with a ``run_id`` (see :meth:`Settings.with_new_run_id`).
    """
    locations = {sample: settings.file_location(sample) for sample in settings.samples}
    tree = settings.release.tree
    with ThreadPoolExecutor(PARALLEL_OPENS) as pool:
        counts = pool.map(
            _entries_or_none,
            locations.values(),
            [tree] * len(locations),
            [settings.read_deadline_seconds] * len(locations),
        )
        entries = dict(zip(locations, counts, strict=True))
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
    return manifest, manifest.tasks()
