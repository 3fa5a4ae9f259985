"""``python -m hzz.aggregator``: merge the results of the runs on the broker into ``HZZ_OUTPUT_DIR``.

The merging, checkpointing and drawing live in :mod:`hzz.shared.aggregation`; this wires it to
RabbitMQ and to the process's signals (SIGTERM or Ctrl-C: finish the message in hand, then exit).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from hzz.shared import drawing
from hzz.shared.aggregation import Aggregator, run_aggregator
from hzz.shared.data_vars import Settings
from hzz.shared.errors import HZZError
from hzz.shared.logs import configure_logging
from hzz.shared.messaging import connect

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hzz.aggregator", description=__doc__)
    parser.add_argument("--exit-when-complete", action="store_true", help="stop once the current run is complete")
    args = parser.parse_args(argv)
    configure_logging("aggregator")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        settings = Settings.from_env()
        drawing.start_early()  # matplotlib loaded in the drawing process before the first plot is due
        aggregator = Aggregator(
            settings.output_dir,
            refresh_seconds=settings.refresh_seconds,
            stall_seconds=settings.stall_seconds,
            draw_in_process=True,
        )
        transport = connect(settings, stop=stop)
        if args.exit_when_complete:
            threading.Thread(target=lambda: (aggregator.finished.wait(), stop.set()), daemon=True).start()
        run_aggregator(settings, transport, stop, aggregator)
    except HZZError as e:
        if stop.is_set():
            return 0
        log.error("%s", e)
        return 2
    return 0
