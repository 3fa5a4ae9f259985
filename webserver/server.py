"""Serve the application with gunicorn, configured in code (no config file, no Flask dev server).

``python -m hzz.webserver`` calls :func:`serve`; a one-machine run can call it too, best in a child
process (gunicorn's arbiter owns the process: it forks workers and handles the signals).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from hzz.shared.logs import configure_logging
from hzz.webserver import create_app

__all__ = ["GunicornServer", "gunicorn_options", "serve"]


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn serving an application built here, with options given here."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            # Settings newer than the oldest supported gunicorn are skipped where unknown.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def gunicorn_options(
    *, host: str = "127.0.0.1", port: int = 8080, workers: int = 2, threads: int = 4
) -> dict[str, Any]:
    """gunicorn's settings for the page.

    Args:
        host (str): the address to listen on (``0.0.0.0`` in a container).
        port (int): the port.
        workers (int): worker processes.
        threads (int): threads per worker.

    Returns:
        dict[str, Any]: bind address, threaded workers, logs to the terminal.
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads: each open page polls every 2 s, and a thread is cheaper than a process for that.
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": "-",
        "errorlog": "-",
        "timeout": 30,
        "graceful_timeout": 10,
        # No runtime control socket (gunicorn ≥ 24): nothing should reconfigure a read-only page.
        "control_socket_disable": True,
    }


def serve(*, output_dir: str | os.PathLike[str] | None = None, **options: Any) -> None:
    """Serve the page until interrupted.

    Args:
        output_dir (str | os.PathLike[str] | None): the folder to read (default: ``HZZ_OUTPUT_DIR``).
        **options: ``host``, ``port``, ``workers``, ``threads`` of :func:`gunicorn_options`.
    """
    configure_logging("webserver")
    app = create_app({"OUTPUT_DIR": os.fspath(output_dir)} if output_dir else None)
    GunicornServer(app, gunicorn_options(**options)).run()
