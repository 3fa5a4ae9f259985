"""A small threaded HTTP file server with byte ranges and an added latency, for the benchmarks.

Python's ``http.server`` answers every GET with the whole file; uproot reads ROOT files over
HTTP with range requests (``Range: bytes=a-b``, several ranges at once as a multipart
response) after a HEAD for the size. This server does both, like the web servers that host
the open data, and sleeps ``latency`` seconds before answering each request, so that a run
pays for its round trips as it would over a wide-area network. It counts the requests and the
bytes it sends.

    with serve_folder(folder, latency=0.020) as server:
        url = server.url                       # http://127.0.0.1:<port>/
        ...                                    # read f"{url}Data/data_A.4lep.root"
        server.stats()                         # {"requests": …, "bytes": …}
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

__all__ = ["RangeHTTPServer", "parse_ranges", "serve_folder"]

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
#: Bytes copied per write when sending a range.
_COPY_BUFFER = 1 << 20


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges of a ``Range`` header as ``[(start, stop), …]``, stop exclusive.

    Follows RFC 9110: ``bytes=a-b`` (inclusive), ``a-`` (to the end), ``-n`` (the last n bytes),
    comma-separated; ranges past the end are clipped, unsatisfiable ones dropped.

    Returns:
        None for a header that is not a bytes range (the whole file is sent); an empty list when
        no range is satisfiable (416).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if match is None:
            return None
        first, last = match.groups()
        if not first and not last:
            return None
        if not first:  # suffix: the last n bytes
            n = int(last)
            if n == 0:
                continue
            ranges.append((max(0, size - n), size))
            continue
        start = int(first)
        stop = size if not last else min(int(last) + 1, size)
        if last and int(last) < start:
            return None
        if start < size:
            ranges.append((start, stop))
    return ranges


class _Handler(BaseHTTPRequestHandler):
    server: RangeHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the benchmark prints its own report
        pass

    def _respond(self, *, send_body: bool) -> None:
        self.server.count_request()
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        path = self._local_path()
        if path is None or not path.is_file():
            self._error(HTTPStatus.NOT_FOUND)
            return
        size = path.stat().st_size
        header = self.headers.get("Range")
        ranges = parse_ranges(header, size) if header else None
        if ranges is not None and not ranges:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with path.open("rb") as file:
            if ranges is None:
                self._send_whole(file, size, send_body=send_body)
            elif len(ranges) == 1:
                self._send_single(file, size, ranges[0], send_body=send_body)
            else:
                self._send_multipart(file, size, ranges, send_body=send_body)

    def _local_path(self) -> Path | None:
        relative = unquote(urlparse(self.path).path).lstrip("/")
        root = self.server.root
        path = (root / relative).resolve()
        return path if path == root or root in path.parents else None

    def _error(self, status: HTTPStatus) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_whole(self, file: BinaryIO, size: int, *, send_body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if send_body:
            self._copy(file, 0, size)

    def _send_single(self, file: BinaryIO, size: int, byte_range: tuple[int, int], *, send_body: bool) -> None:
        start, stop = byte_range
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        if send_body:
            self._copy(file, start, stop)

    def _send_multipart(self, file: BinaryIO, size: int, ranges: list[tuple[int, int]], *, send_body: bool) -> None:
        boundary = secrets.token_hex(12)
        heads = [
            (
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {start}-{stop - 1}/{size}\r\n\r\n"
            ).encode()
            for start, stop in ranges
        ]
        tail = f"--{boundary}--\r\n".encode()
        # Each part: its head, its bytes, then CRLF before the next delimiter.
        length = sum(len(h) + (stop - start) + 2 for h, (start, stop) in zip(heads, ranges, strict=True)) + len(tail)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", f"multipart/byteranges; boundary={boundary}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not send_body:
            return
        # Counted before they are written: a client that has read the answer sees them counted.
        self.server.count_bytes(len(tail) + sum(len(h) + 2 for h in heads))
        for head, (start, stop) in zip(heads, ranges, strict=True):
            self.wfile.write(head)
            self._copy(file, start, stop)
            self.wfile.write(b"\r\n")
        self.wfile.write(tail)

    def _copy(self, file: BinaryIO, start: int, stop: int) -> None:
        file.seek(start)
        remaining = stop - start
        while remaining > 0:
            block = file.read(min(_COPY_BUFFER, remaining))
            if not block:
                break
            # Counted before it is written, so the count never lags what a client has received.
            self.server.count_bytes(len(block))
            self.wfile.write(block)
            remaining -= len(block)


class RangeHTTPServer(ThreadingHTTPServer):
    """Serves the files under ``root`` with ranges, HEAD and ``latency`` seconds per request."""

    daemon_threads = True
    #: Many worker processes connect at once; the default backlog (5) would refuse some.
    request_queue_size = 128

    def __init__(self, root: str | Path, *, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        self.latency = latency
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes = 0
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # uproot closes a connection as soon as it has its bytes; that is not the server's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def count_bytes(self, n: int) -> None:
        with self._lock:
            self._bytes += n

    def stats(self) -> dict[str, int]:
        """Requests answered and body bytes sent so far."""
        with self._lock:
            return {"requests": self._requests, "bytes": self._bytes}

    def reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._bytes = 0


@contextmanager
def serve_folder(root: str | Path, *, latency: float = 0.0) -> Iterator[RangeHTTPServer]:
    """Serve ``root`` on a free local port (in a background thread) for the ``with`` block."""
    server = RangeHTTPServer(root, latency=latency)
    thread = threading.Thread(target=server.serve_forever, name="range-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main() -> None:  # pragma: no cover - a manual helper: python -m benchmarks.httpserver FOLDER [LATENCY_MS]
    folder = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    latency = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    with serve_folder(folder, latency=latency) as server:
        print(f"serving {folder} at {server.url} with {latency * 1000:.0f} ms per request; Ctrl-C stops")
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
