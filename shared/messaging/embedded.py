"""The broker-less transport of the one-machine run: queues in a multiprocessing manager."""

from __future__ import annotations

import queue as queue_module
import threading
from collections.abc import Mapping
from multiprocessing.managers import SyncManager
from typing import Any

from hzz.shared.messaging import (
    POLL_SECONDS,
    GiveUp,
    Handler,
    QueueNames,
    handle_delivery,
    touch_heartbeat,
)

__all__ = ["EmbeddedTransport"]


class EmbeddedTransport:
    """Queues in a multiprocessing manager: the broker-less transport of the one-machine run.

    Messages live in memory only: nothing survives the run's process, which is fine on a
    laptop and why Kubernetes uses RabbitMQ.
    """

    def __init__(self, names: QueueNames, queues: Mapping[str, Any]) -> None:
        self.names = names
        self._queues = dict(queues)

    @classmethod
    def start(cls, names: QueueNames, manager: SyncManager) -> EmbeddedTransport:
        return cls(names, {name: manager.Queue() for name in names.all()})

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None:
        self._queues[queue].put((bytes(body), dict(headers or {})))

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event, give_up: GiveUp | None = None) -> None:
        """Deliver messages to ``handle`` until ``stop`` is set (no redeliveries, so no ``give_up``)."""
        source = self._queues[queue]
        while not stop.is_set():
            touch_heartbeat()
            try:
                body, headers = source.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                continue
            outputs = handle_delivery(handle, queue, body, self.names.dead, stop)
            if outputs is None:
                source.put((body, headers))
                continue
            for out in outputs:
                self.publish(out.queue, out.body, out.headers)

    def get(self, queue: str) -> bytes | None:
        message = self.get_message(queue)
        return None if message is None else message[0]

    def get_message(self, queue: str) -> tuple[bytes, dict[str, Any]] | None:
        try:
            body, headers = self._queues[queue].get_nowait()
        except queue_module.Empty:
            return None
        return body, headers

    def close(self) -> None:
        pass
