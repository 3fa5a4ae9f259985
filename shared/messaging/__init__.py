"""The transports: the contract they keep, and :func:`connect` that builds the one the settings ask for.

A transport offers three verbs. ``publish(queue, body)`` returns once the message is safely
stored (RabbitMQ: persistent, publisher-confirmed). ``consume(queue, handle, stop=…)`` delivers
one message at a time to ``handle`` (a worker's chunk); ``consume_batches(queue, handle,
stop=…)`` delivers whatever has arrived, up to a batch, to ``handle`` at once (the aggregator's
group commit: one durable write, then one acknowledgement for the whole batch). A handler
returns the messages to send on; they are published (and confirmed) *before* the delivery is
acknowledged, so a crash at any moment leaves the work either not done or done and handed on (at
least once; the aggregator drops duplicates). A ``handle`` that raises sends the message to the
dead-letter queue with the error in the :data:`ERROR_HEADER` header: a bad message never crashes
a service nor loops forever. A handler that raises :class:`~hzz.shared.errors.RetryLater` (its
own fault, say a full disk) keeps the message and is called again after a backoff. Every body is
signed by the publishing transport and checked before any handler sees it
(:mod:`hzz.shared.signing`): an unsigned or forged message goes to the dead-letter queue with
the reason.

:mod:`hzz.shared.messaging.rabbitmq` keeps it over RabbitMQ (the only module that imports pika),
:mod:`hzz.shared.messaging.embedded` over queues in a multiprocessing manager, so a laptop with
nothing but Python runs the pipeline. They sit together as dramatiq keeps its ``brokers/``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hzz.shared.errors import DecodeError, RetryLater
from hzz.shared.retry import backoff_seconds
from hzz.shared.signing import Signer

if TYPE_CHECKING:
    from hzz.shared.data_vars import Settings

__all__ = [
    "BATCH_MESSAGES",
    "BATCH_SECONDS",
    "ERROR_HEADER",
    "HEARTBEAT_FILE",
    "HEARTBEAT_SECONDS",
    "SENT_HEADER",
    "SOURCE_HEADER",
    "BatchHandler",
    "GiveUp",
    "Handler",
    "Outgoing",
    "QueueNames",
    "Transport",
    "connect",
    "dead_letter",
    "give_up_delivery",
    "handle_batch",
    "handle_delivery",
    "refusal",
    "touch_heartbeat",
    "transport_info",
    "transport_line",
    "wake_on_stop",
]

log = logging.getLogger(__name__)

#: Touched while a consumer is healthy; Kubernetes' exec liveness probe checks its age.
HEARTBEAT_FILE = Path("/tmp/hzz-heartbeat")
#: How often an idle consumer touches its heartbeat file (the probes allow 60 s). Stopping does not
#: wait for it: a consumer is woken when its stop event is set (:func:`wake_on_stop`).
HEARTBEAT_SECONDS = 10.0
#: Header carrying the error that sent a message to the dead-letter queue.
ERROR_HEADER = "x-hzz-error"
#: Header naming the queue a dead letter came from.
SOURCE_HEADER = "x-hzz-source-queue"
#: Header with the time (Unix microseconds) a message was published: for the publish → ack latency.
SENT_HEADER = "x-hzz-sent"
#: Most messages one batch of ``consume_batches`` holds (the prefetch window is twice that).
BATCH_MESSAGES = 500
#: Longest a batch waits for more messages once its first one is in: the group-commit interval.
BATCH_SECONDS = 0.1


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
#: Turns the bodies of a batch into the messages to publish before the batch is acknowledged; it
#: answers each body's own faults itself (dead letters among its outputs).
BatchHandler = Callable[[list[bytes]], Iterable[Outgoing]]
#: Called instead of the handler for a message that keeps killing its consumer: (body, reason).
GiveUp = Callable[[bytes, str], Iterable[Outgoing]]


class Transport(Protocol):
    names: QueueNames
    #: "rabbitmq" or "embedded": what ``results.json`` and ``hzz run``'s first line call it.
    kind: str

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None: ...

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event, give_up: GiveUp | None = None) -> None: ...

    def consume_batches(
        self,
        queue: str,
        handle: BatchHandler,
        *,
        stop: threading.Event,
        max_messages: int = BATCH_MESSAGES,
        max_seconds: float = BATCH_SECONDS,
    ) -> None: ...

    def close(self) -> None: ...


def touch_heartbeat(path: Path = HEARTBEAT_FILE) -> None:
    with contextlib.suppress(OSError):  # a read-only or missing /tmp must not stop the work
        path.touch()


def wake_on_stop(stop: threading.Event, wake: Callable[[], None], *, name: str) -> threading.Thread:
    """Call ``wake`` once ``stop`` is set, from a thread of its own: how a waiting consumer stops at once.

    A consumer blocks on its queue, not on ``stop``; ``wake`` makes that wait return (a wake-up
    message, a cancelled consumer) so the consumer sees the event, with no polling in between.
    An error of ``wake`` (the queue already gone) is logged: there is nothing left to wake then.

    Args:
        stop: a ``threading`` or ``multiprocessing`` event.
        wake: makes the consumer's wait return.
        name: the thread's name.
    """

    def watch() -> None:
        stop.wait()
        try:
            wake()
        except Exception as e:
            log.debug("waking the consumer after its stop failed (%s); it had ended", e)

    thread = threading.Thread(target=watch, name=name, daemon=True)
    thread.start()
    return thread


def dead_letter(queue: str, body: bytes, reason: str, dead: str) -> Outgoing:
    """The copy of ``body`` from ``queue`` for the dead-letter queue, with why it landed there."""
    return Outgoing(dead, body, {ERROR_HEADER: reason[:2000], SOURCE_HEADER: queue})


def dead_letter_logged(queue: str, body: bytes, reason: str, dead: str) -> Outgoing:
    log.warning("message from %r dead-lettered: %s", queue, reason)
    return dead_letter(queue, body, reason, dead)


def handle_delivery(
    handle: Handler, queue: str, body: bytes, dead: str, stop: threading.Event
) -> list[Outgoing] | None:
    """The handler's outputs, or a dead letter if it raised; None: put the message back (stopping)."""
    attempt = 0
    while True:
        try:
            return list(handle(body))
        except RetryLater as e:
            delay = backoff_seconds(attempt, base=1.0, cap=30.0)
            attempt += 1
            log.warning("message from %r kept: %s; trying again in %.1f s", queue, e, delay)
            if stop.wait(delay):
                return None
        except Exception as e:
            return [dead_letter_logged(queue, body, f"{type(e).__name__}: {e}", dead)]


def refusal(signer: Signer | None, body: bytes, headers: Mapping[str, Any] | None) -> str | None:
    """Why a delivered message is refused before any handler sees it (bad signature), or None."""
    if signer is None:
        return "this consumer has no signing key, so it cannot check any message: refused"
    try:
        signer.verify(body, headers)
    except DecodeError as e:
        return str(e)
    return None


def handle_batch(
    handle: BatchHandler, queue: str, bodies: list[bytes], dead: str, stop: threading.Event
) -> list[Outgoing] | None:
    """The batch handler's outputs; None: put the batch back (told to stop while retrying).

    :class:`RetryLater` is retried with backoff. Any other exception is a fault of one of the
    messages that the handler did not expect: the batch is then handled one message at a time,
    so that the culprit alone is dead-lettered and the others go on.
    """
    attempt = 0
    while True:
        try:
            return list(handle(bodies))
        except RetryLater as e:
            delay = backoff_seconds(attempt, base=1.0, cap=30.0)
            attempt += 1
            log.warning("batch of %d from %r kept: %s; trying again in %.1f s", len(bodies), queue, e, delay)
            if stop.wait(delay):
                return None
        except Exception:
            if len(bodies) == 1:
                raise
            log.exception("a batch of %d from %r failed; handling its messages one at a time", len(bodies), queue)
            outputs: list[Outgoing] = []
            for body in bodies:
                one = handle_delivery(lambda b: handle([b]), queue, body, dead, stop)
                if one is None:
                    return None
                outputs.extend(one)
            return outputs


def give_up_delivery(give_up: GiveUp | None, queue: str, body: bytes, reason: str, dead: str) -> list[Outgoing]:
    if give_up is not None:
        try:
            return list(give_up(body, reason))
        except Exception as e:
            reason = f"{reason}; giving up failed too: {type(e).__name__}: {e}"
    return [dead_letter_logged(queue, body, reason, dead)]


def transport_info(transport: Transport) -> dict[str, Any]:
    """What runs a run's messages, for ``results.json``: ``{"kind": …, "broker_url": … (password masked) or None}``."""
    from hzz.shared.data_vars import mask_password

    url = getattr(transport, "url", None)
    return {"kind": transport.kind, "broker_url": mask_password(url) if url else None}


def transport_line(info: dict[str, Any] | None) -> str:
    """``info`` of :func:`transport_info` in words: "rabbitmq at amqp://guest:***@host:5672/%2F"."""
    if not info:
        return "not recorded"
    if info.get("broker_url"):
        return f"{info['kind']} at {info['broker_url']}"
    if info.get("kind") == "embedded":
        return "embedded (queues in this machine's memory, no broker)"
    return str(info.get("kind"))


def connect(settings: Settings, *, stop: threading.Event | None = None, now: bool = True) -> Transport:
    """The RabbitMQ transport of ``settings`` (broker URL, queue prefix, signing key).

    Args:
        settings: the run's settings.
        stop: gives up waiting for the broker when set.
        now: connect and declare the queues at once (False: on first use, e.g. in a child process).

    Raises:
        ConfigError: no usable signing key.
        BrokerUnavailable: no broker answered within the connection attempts.
    """
    from hzz.shared.messaging.rabbitmq import RabbitMQTransport  # pika only where a broker is used

    transport = RabbitMQTransport(
        settings.broker_url, QueueNames(settings.queue_prefix), signer=Signer(settings.signing_key)
    )
    return transport.connect(stop=stop) if now else transport
