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
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import awkward as ak
import numpy as np
import uproot

from hzz.shared.columns import ChunkColumns
from hzz.shared.errors import ChunkError, PermanentChunkError, TransientChunkError
from hzz.shared.histograms import histogram_sums
from hzz.shared.messages import ChunkResult, ChunkTask
from hzz.shared.releases import Release, get_release

__all__ = [
    "analyse_chunk",
    "count_entries",
    "default_worker_name",
    "failed_result",
    "open_tree",
    "read_chunk",
    "use_fastest_zlib",
    "zlib_library",
]

log = logging.getLogger(__name__)

#: Seconds before a remote read gives up (and the chunk counts as transiently failed).
REMOTE_TIMEOUT_SECONDS = 60.0


def use_fastest_zlib() -> str:
    """Let uproot decompress ZLIB baskets with libdeflate when it is installed (~3× faster).

    Decompressing baskets is most of a worker's time. uproot's own switch, ``ZLIB.library``, only
    changes how it *writes*: reading goes through a module-level decompressor whose "deflate"
    branch calls ``deflate.zlib_decompress(data, bufsize=…)``, a keyword the ``deflate`` package
    does not accept. So the reading decompressor is replaced here by one that calls libdeflate
    with the exact size from ROOT's block header, after checking that it round-trips a block.
    The switch is process-wide; call it once at start-up.

    Returns:
        str: "deflate" when libdeflate decompresses from now on, else "zlib".
    """
    try:
        import deflate
    except ImportError:
        return "zlib"
    uproot.ZLIB.library = "deflate"  # writing (hzz.devtools.samplegen), through uproot's own switch
    decompressor = _LibdeflateZLIB(deflate.zlib_decompress)
    probe = bytes(range(256)) * 64
    try:
        if decompressor.decompress(zlib.compress(probe, 1), len(probe)) != probe:
            return "zlib"
    except Exception:  # an incompatible deflate release: keep the standard library's zlib
        return "zlib"
    uproot.compression._decompress_ZLIB = decompressor
    return "deflate"


class _LibdeflateZLIB(uproot.compression._DecompressZLIB):
    """uproot's ZLIB block decompressor, with libdeflate doing the work."""

    library = "deflate"

    def __init__(self, zlib_decompress: Callable[[bytes, int], bytes]) -> None:
        self._zlib_decompress = zlib_decompress

    def decompress(self, data: bytes, uncompressed_bytes: int | None = None) -> bytes:
        if uncompressed_bytes is None:  # uproot always passes it; zlib copes without
            return zlib.decompress(data)
        return self._zlib_decompress(data, uncompressed_bytes)


def zlib_library() -> str:
    """Which library decompresses ZLIB baskets when uproot reads, in this process."""
    return "deflate" if isinstance(uproot.compression._decompress_ZLIB, _LibdeflateZLIB) else "zlib"


def _open_options(location: str) -> dict[str, object]:
    """How uproot opens a chunk's file: the source, and no array cache.

    Local files are memory-mapped (uproot's default, fsspec, copies every read; mmap is ~10 %
    faster per chunk here). Remote files go through uproot's own HTTP source, which needs no
    extra packages and fetches all of a chunk's baskets in one multipart request. The array
    cache is off: a chunk's arrays are read once, and the cache (100 MB per file) only raised
    a worker's peak memory from ~200 to ~480 MB.
    """
    if urlparse(location).scheme in ("http", "https"):
        return {"handler": _HTTPSource, "timeout": REMOTE_TIMEOUT_SECONDS, "array_cache": None}
    return {"handler": uproot.source.file.MemmapSource, "array_cache": None}


class _HTTPSource(uproot.source.http.HTTPSource):
    """uproot's HTTPSource, able to read nothing.

    A branch whose baskets are all embedded in the TTree's metadata (the small data files of the
    2020 release) needs no byte range at all; uproot 5.7's HTTPSource then fails with an
    IndexError on the empty list instead of returning no chunks.
    """

    def chunks(self, ranges: list[tuple[int, int]], notifications: Any) -> list[Any]:
        if not ranges:
            return []
        return super().chunks(ranges, notifications)


def open_tree(location: str, tree_name: str) -> uproot.ReadOnlyDirectory:
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


def count_entries(location: str, tree_name: str) -> int:
    """The number of entries of the file's tree.

    Raises:
        ChunkError: the file cannot be opened or has no such tree.
    """
    with open_tree(location, tree_name) as file:
        return int(file[tree_name].num_entries)


@contextmanager
def _chunk_tree(task: ChunkTask, branches: Sequence[str], tree_name: str) -> Iterator[tuple[Any, int]]:
    """The open tree with every branch checked, and the chunk's last entry (exclusive)."""
    with open_tree(task.location, tree_name) as file:
        tree = file[tree_name]
        missing = [b for b in branches if b not in tree]
        if missing:
            msg = f"{task.describe()}: the tree {tree_name!r} lacks the branches {missing}"
            raise PermanentChunkError(msg)
        if task.entry_stop is None:
            stop = int(tree.num_entries * task.fraction)
        else:
            stop = min(task.entry_stop, tree.num_entries)
        yield tree, stop


def read_chunk(task: ChunkTask, branches: Sequence[str], tree_name: str) -> ak.Array:
    """Read only ``branches`` for the task's entry range.

    Raises:
        ChunkError: naming the chunk; transient or permanent by cause.
    """
    with _chunk_tree(task, branches, tree_name) as (tree, stop):
        try:
            return tree.arrays(list(branches), entry_start=task.entry_start, entry_stop=stop, library="ak")
        except Exception as e:
            raise _classify(e, f"{task.describe()}: reading failed") from e


def _measure(task: ChunkTask, release: Release, is_data: bool) -> tuple[int, np.ndarray, np.ndarray | None]:
    """(entries read, m4ℓ of the selected events, their weights), reading and computing overlapped.

    A release that names the branches its selection reads first gets a :class:`ChunkColumns`
    mapping (the rest read on the reader thread meanwhile); the others a record array.
    """
    branches = release.branches(is_data=is_data)
    first = [b for b in branches if b in release.first_branches]
    if not first:
        events = read_chunk(task, branches, release.tree)
        return len(events), *release.measure(events, sample=task.sample, lumi=task.lumi, is_data=is_data)
    with _chunk_tree(task, branches, release.tree) as (tree, stop):
        entries = max(stop - task.entry_start, 0)
        rest = [b for b in branches if b not in first]
        with ChunkColumns(
            tree,
            first,
            rest,
            entry_start=task.entry_start,
            entry_stop=stop,
            on_error=lambda e: _classify(e, f"{task.describe()}: reading failed"),
        ) as columns:
            return entries, *release.measure(columns, sample=task.sample, lumi=task.lumi, is_data=is_data)


def analyse_chunk(task: ChunkTask, *, worker: str = "") -> ChunkResult:
    """Run the selection on one chunk and histogram it.

    Returns:
        ChunkResult: the histogram and counts.

    Raises:
        ChunkError: the chunk cannot be read or does not have the release's layout.
    """
    started = time.perf_counter()
    release = get_release(task.profile)
    is_data = release.is_data(task.sample)
    try:
        entries, mass, weights = _measure(task, release, is_data)
    except ValueError as e:
        msg = f"{task.describe()}: an event has fewer than four leptons; not a four-lepton skim"
        raise PermanentChunkError(msg) from e
    sumw_total = float(len(mass)) if weights is None else float(np.sum(weights, dtype=np.float64))
    sumw2_total = sumw_total if weights is None else float(np.sum(np.square(weights, dtype=np.float64)))
    histogram = histogram_sums(mass, weights, release.binning)
    return ChunkResult(
        run_id=task.run_id,
        chunk_id=task.chunk_id,
        sample=task.sample,
        events_read=entries,
        events_selected=len(mass),
        sumw_total=sumw_total,
        sumw2_total=sumw2_total,
        binning=release.binning.to_json(),
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
