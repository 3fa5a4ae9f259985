"""Remote files (HTTP, HTTPS) read within a deadline: connecting and every read share one budget.

uproot's HTTP source bounds each socket operation (its ``timeout``), not a chunk: a server that
accepts the connection and never answers, or answers a byte at a time, keeps a chunk waiting
once per operation, and a chunk makes several. A :class:`ReadDeadline` bounds them together. It
is handed to uproot as the source's ``timeout``; the connection factory uproot calls for every
request (``uproot.source.http.make_connection``, wrapped here once) recognises it and makes
connections that connect with at most the time left, so no single wait outlasts the deadline,
and that the deadline tracks: when it passes, a timer shuts down every socket still open, so
whichever thread waits on one wakes at once with an error. HTTP and HTTPS alike (the TLS
handshake too is bounded by the time left). Name resolution is the one wait it cannot cut short.

Local files are memory-mapped and get no deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import ParseResult, urlparse

import uproot
import uproot.source.http

from hzz.shared.errors import ReadDeadlineExceeded

__all__ = ["REMOTE_TIMEOUT_SECONDS", "ReadDeadline", "is_remote", "open_options", "reads_within"]

#: Seconds any one socket operation may wait when a remote file is read without a deadline.
REMOTE_TIMEOUT_SECONDS = 60.0
#: A deadline this close counts as passed.
EXPIRY_MARGIN = 0.1


def is_remote(location: str) -> bool:
    """Whether a file is read over HTTP(S) (and so within a deadline)."""
    return urlparse(location).scheme in ("http", "https")


class ReadDeadline:
    """A point in time past which the reads of one file stop: its open sockets are shut down then.

    Args:
        seconds: from now.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = threading.Event()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.name = "read-deadline"
        self._timer.start()

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (or is a moment away: a socket timeout set to the time
        left at connecting fires a few milliseconds before the timer does)."""
        return self._expired.is_set() or self._ends - time.monotonic() < EXPIRY_MARGIN

    def time_left(self) -> float:
        """Seconds left.

        Raises:
            TimeoutError: none is left.
        """
        left = self._ends - time.monotonic()
        if left <= 0 or self._expired.is_set():
            self._expire()
            msg = f"the read deadline of {self.seconds:g} s has passed"
            raise TimeoutError(msg)
        return left

    def track(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        if sock is None:
            return
        with self._lock:
            if not self._expired.is_set():
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired.set()
            sockets = list(self._sockets)  # kept: closed by close(), once their owners are done
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        """Stop the timer and close every socket of the file's reads, which are over.

        uproot closes its connections itself, except one whose request failed on the way (its
        HEAD request's, say): closed here, it does not linger until a garbage collection.
        """
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self._expired.set()  # a socket tracked from now on is shut at once
        for sock in sockets:
            sock.close()


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: a thread blocked in recv on it returns at once (close may leave it
    # blocked), and the connection's owner still closes the descriptor as usual.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Bounded:
    """A connection that connects with at most the deadline's time left and is tracked by it."""

    _deadline: ReadDeadline

    def connect(self) -> None:
        self.timeout = self._deadline.time_left()  # every later wait on the socket too
        super().connect()  # type: ignore[misc]
        self._deadline.track(self.sock)  # type: ignore[attr-defined]


class _BoundedHTTP(_Bounded, http.client.HTTPConnection):
    def __init__(self, url: ParseResult, deadline: ReadDeadline) -> None:
        super().__init__(url.hostname or "", url.port, timeout=deadline.seconds)
        self._deadline = deadline


class _BoundedHTTPS(_Bounded, http.client.HTTPSConnection):
    def __init__(self, url: ParseResult, deadline: ReadDeadline) -> None:
        super().__init__(url.hostname or "", url.port, timeout=deadline.seconds)
        self._deadline = deadline


_uproot_make_connection = uproot.source.http.make_connection


def _make_connection(parsed_url: ParseResult, timeout: Any) -> http.client.HTTPConnection:
    """uproot's connection factory, giving bounded connections to a source whose timeout is a deadline."""
    if not isinstance(timeout, ReadDeadline):
        return _uproot_make_connection(parsed_url, timeout)
    if parsed_url.scheme == "https":
        return _BoundedHTTPS(parsed_url, timeout)
    return _BoundedHTTP(parsed_url, timeout)


# Every HTTP request of uproot's sources (HEAD, ranges, multipart, redirects, the fallback's)
# gets its connection from this module-level function, looked up at each call.
uproot.source.http.make_connection = _make_connection


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


def open_options(location: str, deadline: ReadDeadline | None = None) -> dict[str, object]:
    """How uproot opens a chunk's file: the source, and no array cache.

    Local files are memory-mapped (uproot's default, fsspec, copies every read; mmap is ~10 %
    faster per chunk here). Remote files go through uproot's own HTTP source, which needs no
    extra packages and fetches all of a chunk's baskets in one multipart request, within
    ``deadline`` (else each socket operation within :data:`REMOTE_TIMEOUT_SECONDS`). The array
    cache is off: a chunk's arrays are read once, and the cache (100 MB per file) only raised a
    worker's peak memory from ~200 to ~480 MB.
    """
    if is_remote(location):
        return {"handler": _HTTPSource, "timeout": deadline or REMOTE_TIMEOUT_SECONDS, "array_cache": None}
    return {"handler": uproot.source.file.MemmapSource, "array_cache": None}


@contextlib.contextmanager
def reads_within(location: str, seconds: float | None, *, context: str) -> Iterator[ReadDeadline | None]:
    """A deadline for reading ``location`` (None for a local file or ``seconds`` None).

    An error raised inside after the deadline passed (the shut-down sockets' doing) becomes one
    :class:`ReadDeadlineExceeded` naming the server.

    Args:
        location: the file.
        seconds: the time the reads may take in all.
        context: what was being done, as the error begins (the chunk, its range and file).
    """
    if seconds is None or not is_remote(location):
        yield None
        return
    deadline = ReadDeadline(seconds)
    try:
        yield deadline
    except Exception as e:
        if not deadline.expired:
            raise
        msg = f"{context}: no complete answer from {urlparse(location).netloc} in {seconds:.1f} s"
        raise ReadDeadlineExceeded(msg) from e
    finally:
        deadline.close()
