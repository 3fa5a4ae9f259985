"""The broker-less transport of the one-machine run: queues in a multiprocessing manager."""

from __future__ import annotations

import queue as queue_module
import threading
from collections.abc import Mapping
from multiprocessing.managers import SyncManager
from typing import Any

from hzz.shared.messaging import (
    BATCH_MESSAGES,
    BATCH_SECONDS,
    HEARTBEAT_SECONDS,
    BatchHandler,
    GiveUp,
    Handler,
    Outgoing,
    QueueNames,
    dead_letter_logged,
    handle_batch,
    handle_delivery,
    refusal,
    touch_heartbeat,
    wake_on_stop,
)
from hzz.shared.signing import Signer

__all__ = ["EmbeddedTransport"]

#: Header of the wake-up message a stopping consumer's watcher puts in its queue (never delivered).
WAKE_HEADER = "x-hzz-wake"


class EmbeddedTransport:
    """Queues in a multiprocessing manager: the broker-less transport of the one-machine run.

    Messages live in memory only: nothing survives the run's process, which is fine on a
    laptop and why Kubernetes uses RabbitMQ. Messages are signed and checked as over RabbitMQ, so
    that both transports run exactly the same code paths.
    """

    #: What :func:`hzz.shared.messaging.transport_info` calls this transport.
    kind = "embedded"

    def __init__(self, names: QueueNames, queues: Mapping[str, Any], *, signer: Signer | None = None) -> None:
        self.names = names
        self.signer = signer
        self._queues = dict(queues)

    @classmethod
    def start(cls, names: QueueNames, manager: SyncManager, *, signer: Signer | None = None) -> EmbeddedTransport:
        return cls(names, {name: manager.Queue() for name in names.all()}, signer=signer)

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None:
        signed = self.signer.headers(body, headers) if self.signer is not None else dict(headers or {})
        self._queues[queue].put((bytes(body), signed))

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event, give_up: GiveUp | None = None) -> None:
        """Deliver messages to ``handle`` until ``stop`` is set (no redeliveries, so no ``give_up``).

        Waiting for a message ends as soon as ``stop`` is set: a watcher thread then puts a
        wake-up message in the queue. Any consumer of the queue whose stop is set returns on
        it; one whose stop is not set drops it (so a wake-up left over from an earlier consumer
        is harmless). Consumers of one queue therefore share their stop event, as the workers
        of a run do.
        """
        source = self._queues[queue]
        wake_on_stop(stop, lambda: source.put((b"", {WAKE_HEADER: True})), name=f"wake-{queue}")
        while not stop.is_set():
            touch_heartbeat()
            try:
                body, headers = source.get(timeout=HEARTBEAT_SECONDS)
            except queue_module.Empty:
                continue
            if headers.get(WAKE_HEADER):
                continue
            refused = refusal(self.signer, body, headers)
            if refused is not None:
                outputs: list[Outgoing] | None = [dead_letter_logged(queue, body, refused, self.names.dead)]
            else:
                outputs = handle_delivery(handle, queue, body, self.names.dead, stop)
            if outputs is None:
                source.put((body, headers))
                continue
            for out in outputs:
                self.publish(out.queue, out.body, out.headers)

    def consume_batches(
        self,
        queue: str,
        handle: BatchHandler,
        *,
        stop: threading.Event,
        max_messages: int = BATCH_MESSAGES,
        max_seconds: float = BATCH_SECONDS,
    ) -> None:
        """Deliver what has arrived, up to ``max_messages`` at a time, until ``stop`` is set.

        Woken by its stop event as :meth:`consume` is; wake-ups are never part of a batch.
        """
        source = self._queues[queue]
        wake_on_stop(stop, lambda: source.put((b"", {WAKE_HEADER: True})), name=f"wake-{queue}")
        while not stop.is_set():
            touch_heartbeat()
            try:
                batch = [source.get(timeout=HEARTBEAT_SECONDS)]
            except queue_module.Empty:
                continue
            while len(batch) < max_messages:
                try:
                    batch.append(source.get_nowait())
                except queue_module.Empty:
                    break
            batch = [(body, headers) for body, headers in batch if not headers.get(WAKE_HEADER)]
            if not batch:
                continue
            outputs: list[Outgoing] = []
            accepted = []
            for body, headers in batch:
                refused = refusal(self.signer, body, headers)
                if refused is None:
                    accepted.append(body)
                else:
                    outputs.append(dead_letter_logged(queue, body, refused, self.names.dead))
            handled = handle_batch(handle, queue, accepted, self.names.dead, stop) if accepted else []
            if handled is None:
                for message in batch:
                    source.put(message)
                continue
            for out in [*outputs, *handled]:
                self.publish(out.queue, out.body, out.headers)

    def get(self, queue: str) -> bytes | None:
        message = self.get_message(queue)
        return None if message is None else message[0]

    def get_message(self, queue: str) -> tuple[bytes, dict[str, Any]] | None:
        while True:
            try:
                body, headers = self._queues[queue].get_nowait()
            except queue_module.Empty:
                return None
            if not headers.get(WAKE_HEADER):
                return body, headers

    def close(self) -> None:
        pass
