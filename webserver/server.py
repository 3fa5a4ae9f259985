"""The one way the page is served: waitress, configured here, for every place that serves it.

``python -m hzz.webserver`` (and so the container, whose command it is) calls :func:`serve`;
``hzz run --serve`` calls :func:`serve_in_background`. Both build their server with
:func:`build_server`, so the options below hold everywhere.

Why waitress: one thread reads and writes every connection (``select``/``poll``), and a request
reaches a worker thread only once it has fully arrived. A client that opens a connection and sends
half a request, or nothing, holds a file descriptor until :data:`CHANNEL_TIMEOUT_SECONDS` of
silence, never a thread; 100 of them do not delay anyone else (``tests/test_webserver_server.py``).
gunicorn's sync and gthread workers give each connection a thread (or the process) while its
request is read, so as many idle clients as threads stopped the page for 30 s to a minute.
waitress is pure Python (Linux, macOS, Windows), needs no writable folder beyond the temp folder
(large bodies are buffered there, and this server refuses bodies), and does not fork.

Every answer is logged in one line (client, method, path, status, milliseconds) on the logger
``hzz.webserver.access``: at INFO for the standalone server (the container's log), at DEBUG under
``hzz run --serve``, where INFO is hidden anyway and a line would cut through the progress bar.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from hzz.shared.logs import configure_logging
from hzz.webserver import create_app

__all__ = [
    "CHANNEL_TIMEOUT_SECONDS",
    "CONNECTION_LIMIT",
    "DEFAULT_THREADS",
    "BackgroundServer",
    "build_server",
    "serve",
    "serve_in_background",
    "server_options",
]

#: Threads that answer requests: each open page polls once a second and each answer takes about
#: a millisecond, so 8 serve hundreds of open pages; slow clients take none (see the module).
DEFAULT_THREADS = 8
#: A connection silent for this long (half a request, or idle between requests) is closed. The
#: page polls every second, so its keep-alive connection never idles this long.
CHANNEL_TIMEOUT_SECONDS = 30
#: How often the server looks for connections past their timeout.
CLEANUP_INTERVAL_SECONDS = 5
#: The most connections open at once (then new ones wait in the listen backlog); lowered to fit
#: the process's file-descriptor limit (macOS' default is 256).
CONNECTION_LIMIT = 1000
#: File descriptors kept free of connections: the output files, the logs, the thread pool's.
RESERVED_DESCRIPTORS = 64
#: The largest request line plus headers: the page's requests are a few hundred bytes.
MAX_REQUEST_HEADER_BYTES = 16 * 1024

#: One line per answer (see the module docstring).
access_log = logging.getLogger("hzz.webserver.access")
log = logging.getLogger(__name__)


def _connection_limit() -> int:
    """:data:`CONNECTION_LIMIT`, or fewer where the process may not open that many files."""
    try:
        import resource  # POSIX only

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return CONNECTION_LIMIT
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(16, min(CONNECTION_LIMIT, soft - RESERVED_DESCRIPTORS))


def server_options(*, host: str = "127.0.0.1", port: int = 8080, threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """waitress's settings for the page.

    Args:
        host (str): the address to listen on (``0.0.0.0`` in a container).
        port (int): the port (0: any free one).
        threads (int): threads answering requests.

    Returns:
        dict[str, Any]: waitress adjustments (``waitress.adjustments.Adjustments``).
    """
    return {
        "host": host,
        "port": port,
        "threads": threads,
        "channel_timeout": CHANNEL_TIMEOUT_SECONDS,
        "cleanup_interval": CLEANUP_INTERVAL_SECONDS,
        "connection_limit": _connection_limit(),
        "max_request_header_size": MAX_REQUEST_HEADER_BYTES,
        # No route reads a body (the application's MAX_CONTENT_LENGTH is 0 too).
        "max_request_body_size": 0,
        # poll(), not select(): select() fails past 1,024 descriptors.
        "asyncore_use_poll": True,
        # The Server header names no software or version.
        "ident": "hzz",
        "expose_tracebacks": False,
    }


class _AccessLog:
    """WSGI middleware: one log line per answer, when its status is known."""

    def __init__(self, app: Flask, level: int) -> None:
        self.app = app
        self._level = level

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not access_log.isEnabledFor(self._level):
            return self.app(environ, start_response)
        started = time.perf_counter()

        def logged_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            access_log.log(
                self._level,
                "%s %s %s %s %.1f ms",
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                _printable(environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")),
                status.split(" ", 1)[0],
                (time.perf_counter() - started) * 1000,
            )
            return start_response(status, headers, exc_info)

        return self.app(environ, logged_start_response)


def _printable(text: str, limit: int = 300) -> str:
    """The request's path as one line of the log: from the network, so no control character passes."""
    return text[:limit].encode("unicode_escape").decode("ascii")


def build_server(
    app: Flask,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    threads: int = DEFAULT_THREADS,
    access_log_level: int = logging.INFO,
) -> BaseWSGIServer:
    """The page's server, listening but not yet serving (call ``run()``).

    Args:
        app (Flask): the application (:func:`hzz.webserver.create_app`).
        host (str): the address to listen on.
        port (int): the port (0: any free one; ``effective_port`` says which).
        threads (int): threads answering requests.
        access_log_level (int): the level of the one-line-per-answer log.

    Returns:
        BaseWSGIServer: waitress's server, bound to ``host:port``.

    Raises:
        OSError: the address cannot be listened on (in use, not this machine's, …).
    """
    wsgi = _AccessLog(app, access_log_level)
    # Our own map of the server's sockets, so that a background server can be closed by them.
    server: BaseWSGIServer = create_server(wsgi, map={}, **server_options(host=host, port=port, threads=threads))
    return server


def _app(output_dir: str | os.PathLike[str] | None) -> Flask:
    return create_app({"OUTPUT_DIR": os.fspath(output_dir)} if output_dir else None)


def _raise_open_files_limit() -> None:
    """Let the process hold :data:`CONNECTION_LIMIT` connections where its hard limit allows."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = CONNECTION_LIMIT + RESERVED_DESCRIPTORS
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard)
            )
    except (ImportError, OSError, ValueError):
        pass  # the connection limit follows whatever the limit is


def serve(
    *,
    output_dir: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    threads: int = DEFAULT_THREADS,
) -> None:
    """Serve the page in this process until SIGTERM or Ctrl-C (then exit cleanly).

    Args:
        output_dir (str | os.PathLike[str] | None): the folder to read (default: ``HZZ_OUTPUT_DIR``).
        host (str): the address to listen on (``0.0.0.0`` in a container).
        port (int): the port.
        threads (int): threads answering requests.
    """
    configure_logging("webserver")
    _raise_open_files_limit()
    app = _app(output_dir)
    server = build_server(app, host=host, port=port, threads=threads)

    def stop(signum: int, frame: FrameType | None) -> None:
        # As PID 1 of a container, SIGTERM is ignored unless handled: end the loop, which closes
        # the sockets and lets the running answers finish.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    # A host name may resolve to several addresses (localhost: IPv4 and IPv6), each listened on.
    listening = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    log.info(
        "serving %s on %s with %d threads (connections: at most %d, closed after %d s of silence)",
        app.config["OUTPUT_DIR"],
        ", ".join(f"http://{host}:{port}/" for host, port in listening),
        threads,
        server.adj.connection_limit,
        CHANNEL_TIMEOUT_SECONDS,
    )
    server.run()
    log.info("stopped")


class BackgroundServer:
    """The page's server on a thread of this process, e.g. beside ``hzz run``'s progress bar."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.run, name="webserver", daemon=True)

    @property
    def url(self) -> str:
        """``http://host:port/``, with the port actually listened on."""
        return f"http://{self._server.effective_host}:{self._server.effective_port}/"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the server stops (Ctrl-C interrupts the wait)."""
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and the listening socket, and end the threads."""
        # The sockets belong to the server's loop: it closes them itself, which ends the loop.
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        self._thread.join(timeout)
        self._server.task_dispatcher.shutdown(timeout=timeout)


def serve_in_background(
    output_dir: str | os.PathLike[str], *, port: int = 8080, host: str = "127.0.0.1"
) -> BackgroundServer:
    """Start serving the page on a thread; the access log is at DEBUG (see the module docstring).

    Args:
        output_dir (str | os.PathLike[str]): the folder to read.
        port (int): the port (0: any free one).
        host (str): the address to listen on: one address (the default, or another IP address).

    Returns:
        BackgroundServer: serving already; ``stop()`` ends it.

    Raises:
        OSError: the address cannot be listened on.
    """
    server = build_server(_app(output_dir), host=host, port=port, access_log_level=logging.DEBUG)
    return BackgroundServer(server).start()
