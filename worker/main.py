"""Turn chunk tasks into results until told to stop (``python -m worker``).

SIGTERM (a scale-down, a rolling update) lets the current chunk finish and be handed on
before the process exits; an unacknowledged chunk of a worker that dies goes back to the queue.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable

from shared.analysis import analyse_chunk, default_worker_name, failed_result, use_fastest_zlib
from shared.data_vars import Settings
from shared.errors import HZZError, TransientChunkError
from shared.logs import configure_logging
from shared.messages import ChunkTask
from shared.messaging import ERROR_HEADER, Outgoing, QueueNames, RabbitMQTransport, Transport
from shared.retry import backoff_seconds, should_retry

__all__ = ["chunk_handler", "main", "run_worker"]

log = logging.getLogger(__name__)


def chunk_handler(names: QueueNames, *, max_retries: int, worker: str) -> Callable[[bytes], list[Outgoing]]:
    """The function that turns one task message into the messages to publish.

    A success gives a result. A transient failure gives the same task again with its attempt
    count raised (after a backoff), until ``max_retries``; then, or for a permanent failure,
    a failed result for the aggregator and the task, with its error, for the dead-letter queue.
    A body that is not a task raises, and the transport dead-letters it.
    """

    def handle(body: bytes) -> list[Outgoing]:
        task = ChunkTask.decode(body)
        try:
            result = analyse_chunk(task, worker=worker)
        except Exception as e:
            if isinstance(e, TransientChunkError) and should_retry(task.attempt, max_retries):
                delay = backoff_seconds(task.attempt)
                log.warning("%s failed transiently (%s); retry %d in %.1f s", task.chunk_id, e, task.attempt + 1, delay)
                time.sleep(delay)
                retry = dataclasses.replace(task, attempt=task.attempt + 1)
                return [Outgoing(names.tasks, retry.encode())]
            failed = failed_result(task, e, worker=worker)
            log.error("%s failed: %s", task.chunk_id, failed.error)
            return [Outgoing(names.results, failed.encode()), Outgoing(names.dead, body, {ERROR_HEADER: failed.error})]
        log.info(
            "%s: %d events read, %d selected in %.2f s",
            task.chunk_id,
            result.events_read,
            result.events_selected,
            result.seconds,
        )
        return [Outgoing(names.results, result.encode())]

    return handle


def run_worker(settings: Settings, transport: Transport, stop: threading.Event) -> None:
    """Consume tasks until ``stop`` is set (the current chunk is finished first)."""
    use_fastest_zlib()
    handle = chunk_handler(transport.names, max_retries=settings.max_retries, worker=default_worker_name())
    transport.consume(transport.names.tasks, handle, stop=stop)
    transport.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
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
        run_worker(settings, RabbitMQTransport(settings.broker_url, QueueNames(settings.queue_prefix)), stop)
    except HZZError as e:
        log.error("%s", e)
        return 2
    return 0
