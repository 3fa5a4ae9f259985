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

import awkward as ak
import numpy as np
import uproot

from hzz.shared.columns import ChunkColumns
from hzz.shared.errors import ChunkError, PermanentChunkError, TransientChunkError
from hzz.shared.histograms import histogram_sums
from hzz.shared.messages import ChunkResult, ChunkTask
from hzz.shared.releases import Release, get_release
from hzz.shared.remote import ReadDeadline, open_options, reads_within
from hzz.shared.schema import column_checker

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


def open_tree(location: str, tree_name: str, *, deadline: ReadDeadline | None = None) -> uproot.ReadOnlyDirectory:
    """Open a file and check that it holds the tree; the caller closes the file.

    Args:
        location: a local path or an HTTP(S) URL.
        tree_name: the tree it must hold.
        deadline: when a remote file's reads must be over (:mod:`hzz.shared.remote`).

    Raises:
        ChunkError: a transient or permanent error naming the file.
    """
    try:
        file = uproot.open(location, **open_options(location, deadline))
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


def count_entries(location: str, tree_name: str, *, deadline_seconds: float | None = None) -> int:
    """The number of entries of the file's tree.

    Args:
        location: the file.
        tree_name: its tree.
        deadline_seconds: the time a remote file may take to answer in all (None: no deadline).

    Raises:
        ChunkError: the file cannot be opened or has no such tree, or did not answer in time.
    """
    context = f"cannot count the entries of {location}"
    with (
        reads_within(location, deadline_seconds, context=context) as deadline,
        open_tree(location, tree_name, deadline=deadline) as file,
    ):
        return int(file[tree_name].num_entries)


@contextmanager
def _chunk_tree(
    task: ChunkTask, branches: Sequence[str], tree_name: str, deadline: ReadDeadline | None = None
) -> Iterator[tuple[Any, int]]:
    """The open tree with every branch checked, and the chunk's last entry (exclusive)."""
    with open_tree(task.location, tree_name, deadline=deadline) as file:
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


def read_chunk(
    task: ChunkTask, branches: Sequence[str], tree_name: str, *, deadline: ReadDeadline | None = None
) -> ak.Array:
    """Read only ``branches`` for the task's entry range.

    Raises:
        ChunkError: naming the chunk; transient or permanent by cause.
    """
    with _chunk_tree(task, branches, tree_name, deadline) as (tree, stop):
        try:
            return tree.arrays(list(branches), entry_start=task.entry_start, entry_stop=stop, library="ak")
        except Exception as e:
            raise _classify(e, f"{task.describe()}: reading failed") from e


def _measure(
    task: ChunkTask, release: Release, is_data: bool, deadline: ReadDeadline | None, read_ahead: bool
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """(entries read, m4ℓ of the selected events, their weights), reading and computing overlapped.

    A release that names the branches its selection reads first gets a :class:`ChunkColumns`
    mapping (with ``read_ahead``, the rest read on the reader thread meanwhile; without, all of
    them read first on this thread); the others a record array. Either way every column is
    checked against the release's declared types before it is used.
    """
    branches = release.branches(is_data=is_data)
    first = [b for b in branches if b in release.first_branches]
    check = column_checker(release, where=task.describe(), entry_start=task.entry_start)
    if not first:
        events = read_chunk(task, branches, release.tree, deadline=deadline)
        for branch in branches:
            check(branch, events[branch])
        return len(events), *release.measure(events, sample=task.sample, lumi=task.lumi, is_data=is_data)
    with _chunk_tree(task, branches, release.tree, deadline) as (tree, stop):
        entries = max(stop - task.entry_start, 0)
        rest = [b for b in branches if b not in first]
        if not read_ahead:  # every column is used: read them all here, the cuts' first
            first, rest = first + rest, []
        with ChunkColumns(
            tree,
            first,
            rest,
            entry_start=task.entry_start,
            entry_stop=stop,
            on_error=lambda e: _classify(e, f"{task.describe()}: reading failed"),
            check=check,
        ) as columns:
            return entries, *release.measure(columns, sample=task.sample, lumi=task.lumi, is_data=is_data)


def analyse_chunk(
    task: ChunkTask, *, worker: str = "", read_deadline: float | None = None, read_ahead: bool = True
) -> ChunkResult:
    """Run the selection on one chunk and histogram it.

    Args:
        task: the chunk.
        worker: the name recorded in the result (default: host and process id).
        read_deadline: seconds a remote file may take to answer in all (connecting and every
            read); None: no deadline, each socket operation within a minute.
        read_ahead: read the branches the cuts do not need first on a second thread meanwhile
            (worth it where a core is free for it: :func:`hzz.shared.processing.reads_ahead`).

    Returns:
        ChunkResult: the histogram and counts.

    Raises:
        ChunkError: the chunk cannot be read, does not have the release's layout or types, or
            its remote file did not answer within ``read_deadline`` (:class:`ReadDeadlineExceeded`).
    """
    started = time.perf_counter()
    release = get_release(task.profile)
    is_data = release.is_data(task.sample)
    try:
        with reads_within(task.location, read_deadline, context=task.describe()) as deadline:
            entries, mass, weights = _measure(task, release, is_data, deadline, read_ahead)
    except ValueError as e:
        msg = f"{task.describe()}: an event has fewer than four leptons; not a four-lepton skim"
        raise PermanentChunkError(msg) from e
    if weights is not None and not np.isfinite(weights).all():
        # Every branch was finite, yet their product is not (a zero sum of weights, an overflow).
        bad = int(np.count_nonzero(~np.isfinite(weights)))
        msg = f"{task.describe()}: {bad} of the {len(weights)} selected events weigh NaN or infinity"
        raise PermanentChunkError(msg)
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
