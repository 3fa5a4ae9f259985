"""Moving messages between services: RabbitMQ (the only module that imports pika) or embedded.

Both transports offer the same two verbs. ``publish(queue, body)`` returns once the message is
safely stored (RabbitMQ: persistent, publisher-confirmed). ``consume(queue, handle, stop=…)``
delivers one message at a time to ``handle``, which returns the messages to send on; they are
published and confirmed *before* the delivery is acknowledged, so a crash at any moment
leaves the work either not done or done and handed on (at least once; the aggregator drops
duplicates). A ``handle`` that raises sends the message to the dead-letter queue with the
error: a bad message never crashes a service nor loops forever.
"""

from __future__ import annotations

import contextlib
import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any, Protocol

import pika
import pika.exceptions

from shared.errors import BrokerUnavailable
from shared.retry import backoff_seconds

__all__ = [
    "HEARTBEAT_FILE",
    "EmbeddedTransport",
    "Outgoing",
    "QueueNames",
    "RabbitMQTransport",
    "Transport",
    "broker_answers",
]

log = logging.getLogger(__name__)

#: Touched while a consumer is healthy; Kubernetes' exec liveness probe checks its age.
HEARTBEAT_FILE = Path("/tmp/hzz-heartbeat")
#: How long a consumer waits for a message before it checks its stop flag again.
POLL_SECONDS = 0.5
#: Connection attempts before a service gives up on the broker (with backoff between).
CONNECT_ATTEMPTS = 8
#: Header carrying the error that sent a message to the dead-letter queue.
ERROR_HEADER = "x-hzz-error"


@dataclass(frozen=True)
class QueueNames:
    """The three queues of a deployment: tasks, results and dead letters."""

    prefix: str = "hzz"

    @property
    def tasks(self) -> str:
        return f"{self.prefix}.tasks"

    @property
    def results(self) -> str:
        return f"{self.prefix}.results"

    @property
    def dead(self) -> str:
        return f"{self.prefix}.dead"

    def all(self) -> tuple[str, str, str]:
        return (self.tasks, self.results, self.dead)


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants published before its delivery is acknowledged."""

    queue: str
    body: bytes
    headers: Mapping[str, Any] = field(default_factory=dict)


#: Turns one delivered body into the messages to publish; raising dead-letters the body.
Handler = Callable[[bytes], Iterable[Outgoing]]


class Transport(Protocol):
    names: QueueNames

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None: ...

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


def touch_heartbeat(path: Path = HEARTBEAT_FILE) -> None:
    with contextlib.suppress(OSError):  # a read-only or missing /tmp must not stop the work
        path.touch()


def _dead_letter(queue: str, body: bytes, error: BaseException, dead: str) -> Outgoing:
    reason = f"{type(error).__name__}: {error}"
    log.warning("message from %r dead-lettered: %s", queue, reason)
    return Outgoing(dead, body, {ERROR_HEADER: reason[:2000], "x-hzz-source-queue": queue})


def _outputs_or_dead_letter(handle: Handler, queue: str, body: bytes, dead: str) -> list[Outgoing]:
    try:
        return list(handle(body))
    except Exception as e:
        return [_dead_letter(queue, body, e, dead)]


class RabbitMQTransport:
    """Durable quorum queues, persistent messages, publisher confirms, manual acks, reconnects."""

    def __init__(self, url: str, names: QueueNames) -> None:
        self.url = url
        self.names = names
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handler")

    def __getstate__(self) -> dict[str, Any]:
        # A transport handed to a child process opens its own connection there.
        return {"url": self.url, "names": self.names}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["names"])  # type: ignore[misc]

    def channel(self) -> Any:
        """The open channel, connecting (with backoff) and declaring the queues if needed.

        Raises:
            BrokerUnavailable: no connection after :data:`CONNECT_ATTEMPTS` tries.
        """
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop_connection()
        last_error: BaseException | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self._connection = pika.BlockingConnection(pika.URLParameters(self.url))
                self._channel = self._connection.channel()
                self._channel.confirm_delivery()
                for name in self.names.all():
                    self._declare(name)
                return self._channel
            except (pika.exceptions.AMQPError, OSError) as e:
                last_error = e
                self._drop_connection()
                delay = backoff_seconds(attempt, base=0.5, cap=8.0)
                log.warning("broker %s not reachable (%s); retrying in %.1f s", self._safe_url(), e, delay)
                time.sleep(delay)
        msg = f"RabbitMQ at {self._safe_url()} unreachable after {CONNECT_ATTEMPTS} attempts: {last_error}"
        raise BrokerUnavailable(msg)

    def _declare(self, name: str) -> None:
        # Quorum queues replicate and survive restarts; they are the broker's recommended durable type.
        self._channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None:
        """Publish persistently and wait for the broker's confirm, reconnecting if needed.

        Raises:
            BrokerUnavailable: the broker stayed unreachable.
        """
        properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            headers=dict(headers or {}),
        )
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self.channel().basic_publish("", queue, body, properties, mandatory=True)
                return
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as e:
                log.warning("publish to %r failed (%s); reconnecting", queue, e)
                self._drop_connection()
                time.sleep(backoff_seconds(attempt, base=0.5, cap=8.0))
        msg = f"could not publish to {queue!r} on {self._safe_url()}"
        raise BrokerUnavailable(msg)

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event) -> None:
        """Deliver messages to ``handle`` one at a time until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            try:
                channel = self.channel()
                channel.basic_qos(prefetch_count=1)
                for method, _props, body in channel.consume(queue, inactivity_timeout=POLL_SECONDS):
                    touch_heartbeat()
                    if method is not None:
                        outputs = self._run(handle, queue, body)
                        for out in outputs:
                            self.publish(out.queue, out.body, out.headers)
                        channel.basic_ack(method.delivery_tag)
                        failures = 0
                    if stop.is_set():
                        break
                channel.cancel()
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as e:
                # The unacknowledged delivery, if any, goes back to the queue by itself.
                delay = backoff_seconds(failures, base=0.5, cap=8.0)
                failures += 1
                log.warning("lost the broker while consuming %r (%s); reconnecting in %.1f s", queue, e, delay)
                self._drop_connection()
                stop.wait(delay)

    def _run(self, handle: Handler, queue: str, body: bytes) -> list[Outgoing]:
        # The handler runs on its own thread so this one keeps the connection's heartbeats going.
        future = self._executor.submit(_outputs_or_dead_letter, handle, queue, body, self.names.dead)
        while not future.done():
            assert self._connection is not None
            self._connection.process_data_events(time_limit=0.2)
            touch_heartbeat()
        return future.result()

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (not counting unacknowledged ones)."""
        return int(self.channel().queue_declare(queue, passive=True).method.message_count)

    def purge(self) -> None:
        for name in self.names.all():
            self.channel().queue_purge(name)

    def delete_queues(self) -> None:
        for name in self.names.all():
            self.channel().queue_delete(name)

    def get(self, queue: str) -> bytes | None:
        """Take one message off ``queue`` (acknowledged), or None when it is empty."""
        method, _props, body = self.channel().basic_get(queue, auto_ack=True)
        return None if method is None else body

    def close(self) -> None:
        self._drop_connection()

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):  # already broken; nothing to release
                connection.close()

    def _safe_url(self) -> str:
        params = pika.URLParameters(self.url)
        return f"{params.host}:{params.port}"


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

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event) -> None:
        source = self._queues[queue]
        while not stop.is_set():
            touch_heartbeat()
            try:
                body, _headers = source.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                continue
            for out in _outputs_or_dead_letter(handle, queue, body, self.names.dead):
                self.publish(out.queue, out.body, out.headers)

    def get(self, queue: str) -> bytes | None:
        try:
            return self._queues[queue].get_nowait()[0]
        except queue_module.Empty:
            return None

    def close(self) -> None:
        pass


def broker_answers(url: str, *, timeout: float = 2.0) -> bool:
    """Whether a RabbitMQ broker accepts a connection at ``url`` (one quick try)."""
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
    except (pika.exceptions.AMQPError, OSError):
        return False
    return True
