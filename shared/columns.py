"""A chunk's branches read on a reader thread while the selection already runs on the first ones.

A worker takes one chunk at a time (prefetch 1), so reading and computing can only overlap
within a chunk. The branches the selection needs first (the 2020 cuts: charge and flavour) are
read on the calling thread; the others are read one by one on a reader thread meanwhile, in
the order the analysis uses them (the kinematics for the mass, then the weights). The analysis
gets a mapping of columns and waits for a column only when it first uses it, so the cuts run
while the kinematics are decompressed, the mass while the weights are; and while it waits for
a column the reader is on, it reads the last one still queued itself, so both threads read
until every column is in. Decompression
(libdeflate) and numpy release the GIL: on a free core the two threads run at once.

The columns are the same arrays as ``tree.arrays`` gives (uproot reads a branch alone exactly as
within a group), so the physics does not change by a bit.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import awkward as ak

__all__ = ["ChunkColumns", "reader_pool"]

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def reader_pool() -> ThreadPoolExecutor:
    """This process's reader thread (one: a worker reads one chunk at a time).

    Made on first use and again after a fork, since threads do not survive one.
    """
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader")
            _pool_pid = os.getpid()
        return _pool


class ChunkColumns(Mapping[str, ak.Array]):
    """The branches of entries ``[start, stop)`` of ``tree``, the first ones read, the rest on their way.

    Use it as a context manager: leaving it waits for (or cancels) the reads still under way,
    so the file can be closed after it.

    Args:
        tree: the open TTree.
        first: read now, on this thread.
        rest: read on the reader thread, in this order.
        entry_start, entry_stop: the chunk's entries.
        on_error: turns a reading error into the exception to raise (naming the chunk).
        check: called with each column as it is read (on the thread that read it); raises to
            refuse it (:mod:`hzz.shared.schema`). None: no check.
    """

    def __init__(
        self,
        tree: Any,
        first: Sequence[str],
        rest: Sequence[str],
        *,
        entry_start: int,
        entry_stop: int,
        on_error: Callable[[BaseException], Exception],
        check: Callable[[str, ak.Array], None] | None = None,
    ) -> None:
        self._on_error = on_error

        def read(name: str) -> ak.Array:
            array = tree[name].array(entry_start=entry_start, entry_stop=entry_stop, library="ak")
            if check is not None:
                check(name, array)
            return array

        self._read = read
        # Queued first, so the reader starts on them while this thread reads the first ones.
        self._pending: dict[str, Future[ak.Array]] = {}
        if rest:
            pool = reader_pool()
            self._pending = {name: pool.submit(self._read, name) for name in rest}
        self._ready: dict[str, ak.Array] = {}
        self._failed: dict[str, Exception] = {}
        try:
            for name in first:
                self._ready[name] = self._read(name)
        except Exception as e:
            self.close()
            raise on_error(e) from e

    def __getitem__(self, name: str) -> ak.Array:
        if name in self._failed:
            raise self._failed[name]
        if name not in self._ready:
            future = self._pending.pop(name, None)
            if future is None:
                raise KeyError(name)
            if future.cancel():  # the reader has not begun it: read it here rather than wait
                self._ready[name] = self._read_here(name)
            else:
                # While the reader is on it, this thread reads what is queued last, so that both
                # keep reading until every column is in.
                while not future.done() and self._read_last_queued():
                    pass
                try:
                    self._ready[name] = future.result()
                except Exception as e:
                    raise self._on_error(e) from e
        return self._ready[name]

    def _read_here(self, name: str) -> ak.Array:
        try:
            return self._read(name)
        except Exception as e:
            raise self._on_error(e) from e

    def _read_last_queued(self) -> bool:
        """Read the last column the reader has not begun, on this thread; False if there is none."""
        for name in reversed(list(self._pending)):
            if self._pending[name].cancel():
                del self._pending[name]
                try:
                    self._ready[name] = self._read_here(name)
                except Exception as e:  # raised when that column is used, not this one
                    self._failed[name] = e
                return True
        return False

    def __iter__(self) -> Iterator[str]:
        yield from self._ready
        yield from list(self._failed)
        yield from list(self._pending)

    def __len__(self) -> int:
        return len(self._ready) + len(self._failed) + len(self._pending)

    def close(self) -> None:
        """Cancel the reads not started; wait for the one under way (it uses the open file)."""
        for future in self._pending.values():
            future.cancel()
        for future in self._pending.values():
            if not future.cancelled():
                # Nobody asked for this column: its error does not matter, only that it is done.
                with contextlib.suppress(Exception):
                    future.result()
        self._pending.clear()

    def __enter__(self) -> ChunkColumns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
