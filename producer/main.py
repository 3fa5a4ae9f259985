"""``python -m hzz.producer``: publish a run, the manifest first, then one task per chunk.

``python -m hzz.producer --requeue-failed`` publishes instead the failed chunks of the run
checkpointed in ``HZZ_OUTPUT_DIR`` again. The bookkeeping lives in :mod:`hzz.shared.runs`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hzz.shared.data_vars import Settings
from hzz.shared.errors import HZZError
from hzz.shared.logs import configure_logging
from hzz.shared.messaging import connect
from hzz.shared.runs import load_run, publish_run, requeue_failed

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hzz.producer", description=__doc__)
    parser.add_argument(
        "--requeue-failed", action="store_true", help="requeue the failed chunks of the run in HZZ_OUTPUT_DIR"
    )
    args = parser.parse_args(argv)
    configure_logging("producer")
    try:
        settings = Settings.from_env().with_new_run_id()
        tally = load_run(settings.output_dir) if args.requeue_failed else None
        transport = connect(settings)
        if tally is not None:
            requeue_failed(tally, transport)
        else:
            publish_run(settings, transport, progress=sys.stderr.isatty())
        transport.close()
    except HZZError as e:
        log.error("%s", e)
        return 2
    return 0
