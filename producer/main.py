"""Publish a run: the manifest first, then one persistent task per chunk (``python -m producer``)."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from shared.chunking import plan_run
from shared.data_vars import Settings
from shared.errors import HZZError
from shared.logs import configure_logging
from shared.messages import RunManifest
from shared.messaging import QueueNames, RabbitMQTransport, Transport

__all__ = ["main", "publish_run"]

log = logging.getLogger(__name__)


def publish_run(settings: Settings, transport: Transport, *, progress: bool = False) -> RunManifest:
    """Plan the run's chunks and publish them.

    The manifest goes to the results queue before any task, so the aggregator always knows a
    run before its first result arrives.

    Args:
        settings: with a run id.
        transport: where to publish.
        progress: show a bar while publishing.

    Returns:
        RunManifest: what was published.
    """
    manifest, tasks = plan_run(settings)
    transport.publish(transport.names.results, manifest.encode())
    for task in tqdm(tasks, desc="publishing chunks", unit="chunk", disable=not progress, leave=False):
        transport.publish(transport.names.tasks, task.encode())
    log.info("run %s: published %d chunks of %d samples", settings.run_id, len(tasks), len(settings.samples))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m producer", description=__doc__)
    parser.parse_args(argv)
    configure_logging("producer")
    try:
        settings = Settings.from_env().with_new_run_id()
        transport = RabbitMQTransport(settings.broker_url, QueueNames(settings.queue_prefix))
        publish_run(settings, transport, progress=sys.stderr.isatty())
        transport.close()
    except HZZError as e:
        log.error("%s", e)
        return 2
    return 0
