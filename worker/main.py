"""``python -m hzz.worker``: turn chunk tasks into results until SIGTERM.

SIGTERM (a scale-down, a rolling update) lets the current chunk finish and be handed on
before the process exits with 0. The loop lives in :mod:`hzz.shared.processing`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from hzz.shared.data_vars import Settings
from hzz.shared.errors import HZZError
from hzz.shared.logs import configure_logging
from hzz.shared.messaging import connect
from hzz.shared.processing import run_worker

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hzz.worker", description=__doc__)
    parser.parse_args(argv)
    configure_logging("worker")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing the current chunk, then exiting", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        settings = Settings.from_env()
        run_worker(settings, connect(settings, stop=stop), stop)
    except HZZError as e:
        if stop.is_set():
            return 0  # stopped before the broker came: nothing was taken, nothing is lost
        log.error("%s", e)
        return 2
    log.info("stopped")
    return 0
