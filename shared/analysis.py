"""One chunk from ROOT file to :class:`~shared.messages.ChunkResult`: read, select, weigh, histogram.

This is the worker's whole job, kept out of the worker service so that the one-machine run,
the tests and the benchmarks call exactly the same code. Reading failures are classified here:
a :class:`~shared.errors.TransientChunkError` (timeouts, resets, HTTP 5xx) is worth a retry,
a :class:`~shared.errors.PermanentChunkError` (missing or corrupt file, missing tree or branch,
HTTP 404) is not.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlparse

import awkward as ak
import numpy as np
import uproot

from shared.data_vars import group_of
from shared.errors import ChunkError, PermanentChunkError, TransientChunkError
from shared.histograms import M4L_BINNING, fill_histogram, histogram_to_json
from shared.messages import ChunkResult, ChunkTask
from shared.physics import (
    DATA_BRANCHES,
    MC_BRANCHES,
    TREE_NAME,
    cross_section_weight,
    four_lepton_mass,
    mc_event_weights,
    select_four_lepton_events,
)

__all__ = [
    "analyse_chunk",
    "count_entries",
    "default_worker_name",
    "failed_result",
    "open_tree",
    "read_chunk",
    "use_fastest_zlib",
]

log = logging.getLogger(__name__)

#: Seconds before a remote read gives up (and the chunk counts as transiently failed).
REMOTE_TIMEOUT_SECONDS = 60.0


def use_fastest_zlib() -> str:
    """Let uproot decompress ZLIB baskets with libdeflate when it is installed (several × faster)."""
    try:
        import deflate  # noqa: F401
    except ImportError:
        return uproot.ZLIB.library
    uproot.ZLIB.library = "deflate"
    return "deflate"


def _open_options(location: str) -> dict[str, object]:
    # uproot's own HTTP source needs no extra packages (fsspec's needs aiohttp).
    if urlparse(location).scheme in ("http", "https"):
        return {"handler": uproot.source.http.HTTPSource, "timeout": REMOTE_TIMEOUT_SECONDS}
    return {}


def open_tree(location: str, tree_name: str = TREE_NAME) -> uproot.ReadOnlyDirectory:
    """Open a file and check that it holds the tree; the caller closes the file.

    Raises:
        ChunkError: a transient or permanent error naming the file.
    """
    try:
        file = uproot.open(location, **_open_options(location))
    except Exception as e:
        raise _classify(e, f"cannot open {location}") from e
    try:
        tree = file[tree_name]
    except Exception as e:
        file.close()
        raise _classify(e, f"{location} has no TTree {tree_name!r}") from e
    if not isinstance(tree, uproot.TTree):
        file.close()
        msg = f"{location}: {tree_name!r} is a {type(tree).__name__}, not a TTree"
        raise PermanentChunkError(msg)
    return file


def count_entries(location: str, tree_name: str = TREE_NAME) -> int:
    """The number of entries of the file's tree.

    Raises:
        ChunkError: the file cannot be opened or has no such tree.
    """
    with open_tree(location, tree_name) as file:
        return int(file[tree_name].num_entries)


def read_chunk(task: ChunkTask, branches: Sequence[str]) -> ak.Array:
    """Read only ``branches`` for the task's entry range.

    Raises:
        ChunkError: naming the chunk; transient or permanent by cause.
    """
    with open_tree(task.location) as file:
        tree = file[TREE_NAME]
        missing = [b for b in branches if b not in tree]
        if missing:
            msg = f"{task.describe()}: the tree {TREE_NAME!r} lacks the branches {missing}"
            raise PermanentChunkError(msg)
        if task.entry_stop is None:
            stop = int(tree.num_entries * task.fraction)
        else:
            stop = min(task.entry_stop, tree.num_entries)
        try:
            return tree.arrays(list(branches), entry_start=task.entry_start, entry_stop=stop, library="ak")
        except Exception as e:
            raise _classify(e, f"{task.describe()}: reading failed") from e


def analyse_chunk(task: ChunkTask, *, worker: str = "") -> ChunkResult:
    """Run the selection on one chunk and histogram it.

    Returns:
        ChunkResult: the histogram and counts.

    Raises:
        ChunkError: the chunk cannot be read or does not have the release's layout.
    """
    started = time.perf_counter()
    is_data = group_of(task.sample).is_data
    events = read_chunk(task, DATA_BRANCHES if is_data else MC_BRANCHES)
    if len(events) and int(ak.min(ak.num(events.lep_pt))) < 4:
        msg = f"{task.describe()}: an event has fewer than four leptons; not a 4lep skim"
        raise PermanentChunkError(msg)
    selected = events[select_four_lepton_events(events.lep_charge, events.lep_type)]
    mass = four_lepton_mass(selected.lep_pt, selected.lep_eta, selected.lep_phi, selected.lep_E)
    if is_data:
        weights = None
        sumw_total = float(len(mass))
    else:
        weights = mc_event_weights(selected, cross_section_weight(task.sample, task.lumi))
        sumw_total = float(np.sum(weights, dtype=np.float64))
    histogram = histogram_to_json(fill_histogram(mass, weights))
    return ChunkResult(
        run_id=task.run_id,
        chunk_id=task.chunk_id,
        sample=task.sample,
        events_read=len(events),
        events_selected=len(mass),
        sumw_total=sumw_total,
        binning=M4L_BINNING.to_json(),
        attempt=task.attempt,
        worker=worker or default_worker_name(),
        seconds=time.perf_counter() - started,
        **histogram,
    )


def failed_result(task: ChunkTask, error: BaseException, *, worker: str = "") -> ChunkResult:
    """The result that records a chunk as failed, with its error."""
    text = str(error) if isinstance(error, ChunkError) else f"{task.describe()}: {type(error).__name__}: {error}"
    return ChunkResult(
        run_id=task.run_id,
        chunk_id=task.chunk_id,
        sample=task.sample,
        error=text,
        attempt=task.attempt,
        worker=worker or default_worker_name(),
    )


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Errors of the network, not of the file: worth another try.
_TRANSIENT = (TimeoutError, ConnectionError, socket.timeout)


def _classify(error: BaseException, context: str) -> ChunkError:
    if isinstance(error, ChunkError):
        return error
    text = f"{context}: {type(error).__name__}: {error}".strip()
    if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
        return PermanentChunkError(text)
    if isinstance(error, _TRANSIENT):
        return TransientChunkError(text)
    if isinstance(error, http.client.HTTPException):
        # A 4xx answer will not change on a retry; a 5xx or a broken response may.
        status = re.search(r"(?:status|response was) (\d{3})", str(error))
        if status and status.group(1).startswith("4"):
            return PermanentChunkError(text)
        return TransientChunkError(text)
    return PermanentChunkError(text)
