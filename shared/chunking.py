"""Splitting a dataset into chunks: entry ranges of files, and the run manifest that lists them.

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
from hzz.shared.profiles import get_profile

__all__ = ["chunk_ranges", "plan_run"]

log = logging.getLogger(__name__)

#: Files whose entry counts are read at once (remote reads wait on the network, not the CPU).
PARALLEL_OPENS = 8


def chunk_ranges(num_entries: int, *, fraction: float, chunk_size: int) -> list[tuple[int, int]]:
    """Entry ranges ``[start, stop)`` covering the first ``int(num_entries × fraction)`` entries."""
    stop = int(num_entries * fraction)
    return [(start, min(start + chunk_size, stop)) for start in range(0, stop, chunk_size)]


def _entries_or_none(location: str, tree: str) -> int | None:
    try:
        return count_entries(location, tree)
    except ChunkError as e:
        log.warning("cannot count the entries of %s (%s); it becomes one chunk that will fail visibly", location, e)
        return None


def plan_run(settings: Settings) -> tuple[RunManifest, list[ChunkTask]]:
    """The run's manifest and its tasks, one per chunk, in the settings' sample order.

    Args:
        settings: with a ``run_id`` (see :meth:`Settings.with_new_run_id`).
    """
    locations = {sample: settings.file_location(sample) for sample in settings.samples}
    tree = get_profile(settings.profile).tree
    with ThreadPoolExecutor(PARALLEL_OPENS) as pool:
        counts = pool.map(_entries_or_none, locations.values(), [tree] * len(locations))
        entries = dict(zip(locations, counts, strict=True))
    tasks: list[ChunkTask] = []
    for sample, location in locations.items():
        n = entries[sample]
        ranges: list[tuple[int, int | None]] = (
            [(0, None)]
            if n is None
            else list(chunk_ranges(n, fraction=settings.fraction, chunk_size=settings.chunk_size))
        )
        tasks.extend(
            ChunkTask(
                settings.run_id,
                sample,
                location,
                start,
                stop,
                settings.lumi,
                fraction=settings.fraction,
                profile=settings.profile,
            )
            for start, stop in ranges
        )
    manifest = RunManifest(
        run_id=settings.run_id,
        chunks=[
            {"chunk_id": t.chunk_id, "sample": t.sample, "entry_start": t.entry_start, "entry_stop": t.entry_stop}
            for t in tasks
        ],
        settings=settings.public_dict(),
        created=time.time(),
    )
    return manifest, tasks
