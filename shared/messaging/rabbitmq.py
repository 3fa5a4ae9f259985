"""The RabbitMQ transport: the only module that imports pika.

It keeps the contract of :mod:`hzz.shared.messaging` with durable quorum queues, persistent
messages, publisher confirms on every publish, manual acknowledgements after the outputs are
confirmed, and reconnection with backoff.

The tasks and results queues dead-letter into ``<prefix>.dead`` by themselves
(``x-dead-letter-exchange``), for a ``basic_nack`` without requeue and for a message delivered
more than :data:`DELIVERY_LIMIT` times (the broker's own poison guard). Before that, at
:data:`POISON_DELIVERIES`, the consumer stops calling the handler and calls ``give_up`` instead,
so the worker can still record the chunk as failed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import pika
import pika.exceptions

from hzz.shared.data_vars import mask_password
from hzz.shared.errors import BrokerUnavailable, ConfigError
from hzz.shared.messaging import (
    BATCH_MESSAGES,
    BATCH_SECONDS,
    HEARTBEAT_SECONDS,
    SENT_HEADER,
    BatchHandler,
    GiveUp,
    Handler,
    Outgoing,
    QueueNames,
    dead_letter_logged,
    give_up_delivery,
    handle_batch,
    handle_delivery,
    refusal,
    touch_heartbeat,
    wake_on_stop,
)
from hzz.shared.retry import backoff_seconds
from hzz.shared.signing import Signer

__all__ = [
    "DELIVERY_LIMIT",
    "POISON_DELIVERIES",
    "BrokerProbe",
    "RabbitMQTransport",
    "broker_answers",
    "broker_parameters",
    "probe_broker",
]

log = logging.getLogger(__name__)
# pika's adapters log every failed connection attempt at ERROR with a traceback; this module
# reports each attempt itself in one line, and the final failure as BrokerUnavailable.
logging.getLogger("pika.adapters").setLevel(logging.CRITICAL)

#: Connection attempts (with backoff, about 30 s in all) before the broker counts as unreachable.
CONNECT_ATTEMPTS = 8
#: Publish attempts, each after a reconnection, before a publish gives up.
PUBLISH_ATTEMPTS = 3
#: Earlier deliveries (never acknowledged: the consumer died or was stopped) after which the
#: consumer gives up on a message instead of trying it again. A returned message is delivered
#: first, so a storm of unrelated kills can hit one chunk several times: keep a margin.
POISON_DELIVERIES = 10
#: The broker dead-letters a message returned more often than this (quorum ``x-delivery-limit``):
#: the last line of defence when even giving up fails.
DELIVERY_LIMIT = 20
#: Seconds a connection may stay blocked by the broker (memory or disk alarm) before it is dropped.
BLOCKED_TIMEOUT_SECONDS = 300


class RabbitMQTransport:
    """Durable quorum queues, persistent messages, publisher confirms, manual acks, reconnects.

    Args:
        url: the broker's ``amqp://`` URL (``HZZ_BROKER_URL``).
        names: the queues.
        connect_attempts: tries per (re)connection before :class:`BrokerUnavailable`
            (default :data:`CONNECT_ATTEMPTS`).
        signer: signs what is published and checks what is consumed; without one, messages go
            out unsigned and nothing can be consumed (every delivery is refused).
        queue_expiry_seconds: the broker deletes each queue after this long unused
            (``x-expires``): no consumer, no declaration, no get. None: never (a deployment's
            queues); the one-machine run's own queues expire, so a killed run leaves none for good.
    """

    #: What :func:`hzz.shared.messaging.transport_info` calls this transport.
    kind = "rabbitmq"

    def __init__(
        self,
        url: str,
        names: QueueNames,
        *,
        connect_attempts: int | None = None,
        signer: Signer | None = None,
        queue_expiry_seconds: float | None = None,
    ) -> None:
        self.url = url
        self.queue_expiry_seconds = queue_expiry_seconds
        self.names = names
        self.signer = signer
        self.connect_attempts = CONNECT_ATTEMPTS if connect_attempts is None else connect_attempts
        #: Seconds from publish to acknowledgement of the messages this consumer acknowledged.
        self.ack_latencies: list[float] = []
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._stop: threading.Event | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handler")

    def __getstate__(self) -> dict[str, Any]:
        # A transport handed to a child process opens its own connection there.
        return {
            "url": self.url,
            "names": self.names,
            "connect_attempts": self.connect_attempts,
            "signer": self.signer,
            "queue_expiry_seconds": self.queue_expiry_seconds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["url"],
            state["names"],
            connect_attempts=state["connect_attempts"],
            signer=state["signer"],
            queue_expiry_seconds=state.get("queue_expiry_seconds"),
        )

    def connect(self, *, stop: threading.Event | None = None) -> RabbitMQTransport:
        """Connect and declare the queues now, so that a wrong URL is refused at start.

        Args:
            stop: when set (a signal), waiting for the broker ends at once.

        Raises:
            BrokerUnavailable: naming host:port and ``HZZ_BROKER_URL``.
        """
        self._stop = stop
        self.channel()
        return self

    def channel(self) -> Any:
        """The open channel, connecting (with backoff) and declaring the queues if needed.

        Raises:
            BrokerUnavailable: no connection after ``connect_attempts`` tries, refused
                credentials, or the consumer was told to stop while waiting.
        """
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._drop_connection()
        error: BaseException | None = None
        for attempt in range(self.connect_attempts):
            try:
                return self._connect_once()
            except _REFUSED as e:  # waiting will not help: say what to fix
                self._drop_connection()
                msg = (
                    f"RabbitMQ at {self.address} refused the user of HZZ_BROKER_URL ({_describe(e)}); "
                    "fix the credentials or the vhost"
                )
                raise BrokerUnavailable(msg) from e
            except (pika.exceptions.AMQPError, OSError) as e:
                error = e
                self._drop_connection()
                if attempt + 1 < self.connect_attempts:
                    delay = backoff_seconds(attempt, base=0.5, cap=8.0)
                    log.warning("broker %s not reachable (%s); retrying in %.1f s", self.address, _describe(e), delay)
                    self._pause(delay)
                if self._stop is not None and self._stop.is_set():
                    break  # a stopping service does not wait for the broker
        msg = (
            f"RabbitMQ at {self.address} is unreachable ({_describe(error)}) after {self.connect_attempts} "
            "attempts; start the broker or set HZZ_BROKER_URL to its amqp://user:password@host:port/vhost URL"
        )
        raise BrokerUnavailable(msg)

    def _connect_once(self) -> Any:
        params = broker_parameters(self.url)
        params.blocked_connection_timeout = params.blocked_connection_timeout or BLOCKED_TIMEOUT_SECONDS
        self._connection = pika.BlockingConnection(params)
        self._channel = self._open_channel()
        for name in (self.names.dead, self.names.tasks, self.names.results):  # the target of the others first
            self._declare(name)
        return self._channel

    def _open_channel(self) -> Any:
        assert self._connection is not None
        channel = self._connection.channel()
        channel.confirm_delivery()
        return channel

    def queue_arguments(self, name: str) -> dict[str, Any]:
        """The declared arguments of a queue: quorum, an expiry if asked for, and for the work queues
        a DLX and a delivery limit."""
        # Quorum queues replicate and survive restarts; they are the broker's recommended durable type.
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if self.queue_expiry_seconds is not None:
            arguments["x-expires"] = max(1, round(self.queue_expiry_seconds * 1000))  # milliseconds
        if name != self.names.dead:
            arguments["x-dead-letter-exchange"] = ""  # the default exchange routes by queue name
            arguments["x-dead-letter-routing-key"] = self.names.dead
            arguments["x-delivery-limit"] = DELIVERY_LIMIT
        return arguments

    def _declare(self, name: str) -> None:
        try:
            self._channel.queue_declare(name, durable=True, arguments=self.queue_arguments(name))
        except pika.exceptions.ChannelClosedByBroker as e:
            if e.reply_code != 406:  # PRECONDITION_FAILED: the queue exists with other arguments
                raise
            # A queue made by an older version cannot change its arguments; use it as it is.
            log.warning("queue %r exists with other arguments (%s); using it as is", name, e.reply_text)
            self._channel = self._open_channel()
            self._channel.queue_declare(name, passive=True)

    def publish(self, queue: str, body: bytes, headers: Mapping[str, Any] | None = None) -> None:
        """Publish persistently and wait for the broker's confirm, reconnecting if needed.

        A publish interrupted by a lost connection is sent again: the message may then arrive
        twice, which every consumer tolerates, but never zero times.

        Raises:
            BrokerUnavailable: the broker stayed unreachable.
        """
        stamped = {**(headers or {}), SENT_HEADER: time.time_ns() // 1000}  # µs: AMQP headers carry no floats
        properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            headers=self.signer.headers(body, stamped) if self.signer is not None else stamped,
        )
        error: BaseException | None = None
        for attempt in range(PUBLISH_ATTEMPTS):
            channel = self.channel()
            try:
                channel.basic_publish("", queue, body, properties, mandatory=True)
                return
            except (pika.exceptions.AMQPError, OSError) as e:
                # Unroutable (queue deleted) or nacked: redeclare on a fresh connection and try again.
                error = e
                log.warning("publish to %r failed (%s); reconnecting", queue, _describe(e))
                self._drop_connection()
                self._pause(backoff_seconds(attempt, base=0.2, cap=2.0))
        msg = f"could not publish to {queue!r} on {self.address} ({_describe(error)})"
        raise BrokerUnavailable(msg)

    def consume(self, queue: str, handle: Handler, *, stop: threading.Event, give_up: GiveUp | None = None) -> None:
        """Deliver messages to ``handle`` one at a time until ``stop`` is set.

        A lost broker is waited for (with backoff, for as long as it takes) while running;
        the unacknowledged delivery goes back to the queue by itself.

        Args:
            queue: the queue to consume.
            handle: turns a body into the messages to publish.
            stop: set it to stop after the current message.
            give_up: replaces ``handle`` for a message delivered :data:`POISON_DELIVERIES`
                times before; by default such a message is dead-lettered.
        """
        self._stop = stop
        failures = 0
        # Waiting for a delivery ends as soon as stop is set: the watcher asks the connection's
        # thread to cancel the consumer, which ends the consume generator (no polling of stop).
        waking = _Waker()
        wake_on_stop(stop, waking.wake, name=f"wake-{queue}")
        while not stop.is_set():
            try:
                channel = self.channel()
                channel.basic_qos(prefetch_count=1)  # one chunk at a time per consumer: fair dispatch
                waking.watch(self._connection, channel)
                if stop.is_set():  # set before the watch began: its wake-up found nothing to cancel
                    waking.watch(None, None)
                    break
                for method, properties, body in channel.consume(queue, inactivity_timeout=HEARTBEAT_SECONDS):
                    touch_heartbeat()
                    if method is not None:
                        self._deliver(channel, queue, method, properties, body, handle, give_up)
                        failures = 0
                    if stop.is_set():
                        break
                waking.watch(None, None)
                channel.cancel()  # hands back a delivery that arrived after the last one
            except (pika.exceptions.AMQPError, BrokerUnavailable, OSError) as e:
                waking.watch(None, None)
                self._after_loss(queue, e, failures, stop)
                failures += 1

    def _after_loss(self, queue: str, error: BaseException, failures: int, stop: threading.Event) -> None:
        """A consumer lost its connection (``failures`` times in a row before this one): drop it
        and wait before the next try, the first time not at all (:func:`_reconnect_delay`)."""
        delay = _reconnect_delay(failures)
        log.warning("lost the broker while consuming %r (%s); reconnecting in %.1f s", queue, error, delay)
        self._drop_connection()
        stop.wait(delay)

    def _deliver(
        self,
        channel: Any,
        queue: str,
        method: Any,
        properties: Any,
        body: bytes,
        handle: Handler,
        give_up: GiveUp | None,
    ) -> None:
        # Quorum queues count the earlier deliveries that were never acknowledged.
        deliveries = int((properties.headers or {}).get("x-delivery-count", 0))
        refused = refusal(self.signer, body, properties.headers)
        if refused is not None:
            outputs: list[Outgoing] | None = [dead_letter_logged(queue, body, refused, self.names.dead)]
        elif deliveries >= POISON_DELIVERIES:
            reason = f"delivered {deliveries + 1} times without being acknowledged: it kills or stalls its consumer"
            outputs = give_up_delivery(give_up, queue, body, reason, self.names.dead)
        else:
            outputs = self._run(handle, queue, body)
        if outputs is None:  # told to stop while the handler was waiting to try again
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        for out in outputs:
            self.publish(out.queue, out.body, out.headers)
        channel.basic_ack(method.delivery_tag)

    def _run(self, handle: Handler, queue: str, body: bytes) -> list[Outgoing] | None:
        assert self._stop is not None
        return self._off_thread(handle_delivery, handle, queue, body, self.names.dead, self._stop)

    def _off_thread(self, function: Any, *args: Any) -> Any:
        # The handler runs on its own thread so this one keeps the connection's heartbeats going.
        future = self._executor.submit(function, *args)
        while not wait([future], timeout=0.2).done:  # returns as soon as the handler is done
            assert self._connection is not None
            self._connection.process_data_events(time_limit=0)
            touch_heartbeat()
        return future.result()

    def consume_batches(
        self,
        queue: str,
        handle: BatchHandler,
        *,
        stop: threading.Event,
        max_messages: int = BATCH_MESSAGES,
        max_seconds: float = BATCH_SECONDS,
    ) -> None:
        """Deliver what has arrived to ``handle`` in batches until ``stop`` is set (group commit).

        A batch closes when it holds ``max_messages``, when ``max_seconds`` have passed since its
        first message, or as soon as the queue has nothing more to give; its outputs are published,
        then the whole batch is acknowledged at once (``multiple=True``). A broker restart in
        between sends the unacknowledged batch again, which the handler must tolerate (it does:
        results are merged by chunk id).
        """
        self._stop = stop
        failures = 0
        # Stopped as consume is: the watcher cancels the consumer through the connection's thread.
        waking = _Waker()
        wake_on_stop(stop, waking.wake, name=f"wake-{queue}")
        while not stop.is_set():
            try:
                channel = self.channel()
                channel.basic_qos(prefetch_count=2 * max_messages)  # the next batch arrives meanwhile
                waking.watch(self._connection, channel)
                if stop.is_set():  # set before the watch began: its wake-up found nothing to cancel
                    waking.watch(None, None)
                    break
                batch: list[tuple[int, bytes, Any]] = []
                closes_at = 0.0
                # No quiet interval closes a batch (_more_waiting does) nor notices a stop (the
                # waker does): the inactivity timeout is only the heartbeat's.
                for method, properties, body in channel.consume(queue, inactivity_timeout=HEARTBEAT_SECONDS):
                    touch_heartbeat()
                    if method is not None:
                        if not batch:
                            closes_at = time.monotonic() + max_seconds
                        batch.append((method.delivery_tag, body, properties.headers or {}))
                    if batch and (
                        method is None
                        or len(batch) >= max_messages
                        or time.monotonic() >= closes_at
                        or not _more_waiting(channel)
                    ):
                        self._deliver_batch(channel, queue, batch, handle)
                        batch = []
                        failures = 0
                    if stop.is_set() and not batch:
                        break
                if batch:  # cancelled with messages in hand: they are handled, not handed back
                    self._deliver_batch(channel, queue, batch, handle)
                waking.watch(None, None)
                channel.cancel()
            except (pika.exceptions.AMQPError, BrokerUnavailable, OSError) as e:
                waking.watch(None, None)
                self._after_loss(queue, e, failures, stop)
                failures += 1

    def _deliver_batch(
        self, channel: Any, queue: str, batch: list[tuple[int, bytes, Any]], handle: BatchHandler
    ) -> None:
        assert self._stop is not None
        outputs: list[Outgoing] = []
        accepted: list[bytes] = []
        for _tag, body, headers in batch:
            refused = refusal(self.signer, body, headers)
            if refused is None and int(headers.get("x-delivery-count", 0)) >= POISON_DELIVERIES:
                refused = "delivered too often without being acknowledged: it kills or stalls its consumer"
            if refused is None:
                accepted.append(body)
            else:
                outputs.append(dead_letter_logged(queue, body, refused, self.names.dead))
        handled = (
            self._off_thread(handle_batch, handle, queue, accepted, self.names.dead, self._stop) if accepted else []
        )
        last = batch[-1][0]
        if handled is None:  # told to stop while the handler was waiting to try again
            channel.basic_nack(last, multiple=True, requeue=True)
            return
        for out in [*outputs, *handled]:
            self.publish(out.queue, out.body, out.headers)
        channel.basic_ack(last, multiple=True)
        now = time.time_ns() // 1000
        sent = (headers.get(SENT_HEADER) for _tag, _body, headers in batch)
        self.ack_latencies.extend((now - s) / 1e6 for s in sent if isinstance(s, int))

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
        message = self.get_message(queue)
        return None if message is None else message[0]

    def get_message(self, queue: str) -> tuple[bytes, dict[str, Any]] | None:
        """Take one message off ``queue`` (acknowledged) with its headers, or None when it is empty."""
        method, properties, body = self.channel().basic_get(queue, auto_ack=True)
        return None if method is None else (body, dict(properties.headers or {}))

    def close(self) -> None:
        self._drop_connection()

    def _pause(self, seconds: float) -> None:
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)

    def _drop_connection(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):  # already broken; nothing to release
                connection.close()

    @property
    def address(self) -> str:
        """``host:port`` of the broker (never the password)."""
        params = broker_parameters(self.url)
        return f"{params.host}:{params.port}"


class _Waker:
    """Cancels the consumer being watched, from any thread, through the connection's own thread.

    pika's BlockingConnection may be used from its own thread only, except for
    ``add_callback_threadsafe``: the cancel runs there, the next time the consume generator
    processes events, which it does at once when woken. Cancelling returns the deliveries not
    yet handed to the handler to the queue; one being handled is still acknowledged after it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: tuple[Any, Any] | None = None

    def watch(self, connection: Any, channel: Any) -> None:
        """Watch this connection's consumer on ``channel`` from now on (None, None: nothing)."""
        with self._lock:
            self._watched = None if connection is None else (connection, channel)

    def wake(self) -> None:
        with self._lock:
            if self._watched is None:
                return
            connection, channel = self._watched
            connection.add_callback_threadsafe(lambda: self._cancel(channel))

    def _cancel(self, channel: Any) -> None:
        # On the connection's thread. The consumer may be gone already (stopped after a message).
        with self._lock:
            current = self._watched is not None and self._watched[1] is channel
        if current and channel.is_open:
            channel.cancel()


#: Connection errors that no retry will cure.
_REFUSED = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.AuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
)


def _describe(error: BaseException | None) -> str:
    # pika's connection errors wrap the cause in tuples of exceptions; name the innermost.
    if error is None:
        return "no error recorded"
    while True:
        inner = error.args[0] if error.args else getattr(error, "exception", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    text = str(error).strip() or repr(error)
    return f"{type(error).__name__}: {text}"


def broker_parameters(url: str) -> pika.URLParameters:
    """pika's connection parameters of ``url``.

    Raises:
        ConfigError: pika cannot read the URL (a bad port, an unknown or malformed query parameter).
    """
    try:
        return pika.URLParameters(url)
    except Exception as e:  # pika raises ValueError, IndexError, SyntaxError … for a malformed URL
        msg = f"setting broker_url (HZZ_BROKER_URL) is {mask_password(url)!r}; expected a valid AMQP URL ({e})"
        raise ConfigError(msg) from e


#: What a probe of the broker found: it answers, nothing listens, or something else went wrong.
ProbeOutcome = Literal["answers", "nothing_listens", "refused", "unreachable"]
#: Socket errors that mean no process listens at the address (or no route reaches it).
_NOTHING_LISTENS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class BrokerProbe:
    """One connection attempt to the broker: ``outcome``, a one-line ``reason`` and the ``error`` behind it."""

    outcome: ProbeOutcome
    address: str
    reason: str = ""
    error: BaseException | None = None

    @property
    def answers(self) -> bool:
        return self.outcome == "answers"


def _reconnect_delay(failures: int) -> float:
    """Seconds a consumer waits before it reconnects after its ``failures + 1``-th loss in a row.

    The first time at once: a lost connection is more often one channel's error than a broker gone
    (RabbitMQ refuses a consumer of a quorum queue declared a moment before, whose replica has not
    started yet, with an INTERNAL_ERROR; the next try finds it), and a broker that is gone is
    waited for by :meth:`RabbitMQTransport.channel`'s own backoff. Then with backoff.
    """
    return 0.0 if failures == 0 else backoff_seconds(failures - 1, base=0.5, cap=8.0)


def _more_waiting(channel: Any) -> bool:
    """Whether more messages are at hand for ``channel``'s consumer: already delivered to it, or
    on the socket now (read without waiting). A batch closes as soon as nothing is: at a low rate
    each result is merged at once (the run's last one too) instead of after a quiet interval,
    while under load the broker's prefetch keeps messages at hand and batches fill up."""
    if channel.get_waiting_message_count():
        return True
    channel.connection.process_data_events(time_limit=0)
    return bool(channel.get_waiting_message_count())


def probe_broker(url: str, *, timeout: float = 2.0) -> BrokerProbe:
    """Try once to connect to the broker at ``url`` and say what happened.

    "nothing_listens": the connection was refused or no route reaches the host (no broker there);
    "refused": a broker answered and refused the user or the vhost (its reason given);
    "unreachable": the name does not resolve, no answer in time, or not an AMQP broker.

    Raises:
        ConfigError: the URL is malformed.
    """
    params = broker_parameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.stack_timeout = timeout + 1
    params.connection_attempts = 1
    address = f"{params.host}:{params.port}"
    try:
        with _quiet("pika.connection"):  # it logs the refusal at ERROR; the probe's reason says it in one line
            pika.BlockingConnection(params).close()
    except _REFUSED as e:
        return BrokerProbe("refused", address, f"RabbitMQ at {address} refused the connection: {_broker_reason(e)}", e)
    except (pika.exceptions.AMQPError, OSError) as e:
        inner = _innermost(e)
        if isinstance(inner, socket.gaierror):
            reason = f"cannot resolve the broker's host {params.host!r}: name resolution failed"
            return BrokerProbe("unreachable", address, reason, e)
        if isinstance(inner, OSError) and inner.errno in _NOTHING_LISTENS:
            return BrokerProbe("nothing_listens", address, f"nothing listens at {address} ({inner.strerror})", e)
        if isinstance(e, pika.exceptions.IncompatibleProtocolError):
            reason = f"something at {address} answers, but not as an AMQP broker ({_describe(e)})"
            return BrokerProbe("unreachable", address, reason, e)
        return BrokerProbe("unreachable", address, f"no AMQP answer from {address} ({_describe(e)})", e)
    return BrokerProbe("answers", address)


def broker_answers(url: str, *, timeout: float = 2.0) -> bool:
    """Whether a RabbitMQ broker accepts a connection at ``url`` (one quick try)."""
    try:
        return probe_broker(url, timeout=timeout).answers
    except ConfigError:
        return False


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _innermost(error: BaseException) -> BaseException:
    while True:
        inner = error.args[0] if error.args else getattr(error, "exception", None)
        if not isinstance(inner, BaseException):
            return error
        error = inner


def _broker_reason(error: BaseException) -> str:
    """The broker's own words for closing the connection, e.g. "(403) ACCESS_REFUSED - Login was refused …"."""
    inner = _innermost(error)
    if isinstance(inner, pika.exceptions.ConnectionClosedByBroker):
        return f"({inner.reply_code}) {inner.reply_text}"
    # pika's "probable" errors carry the broker's close as text: "ConnectionClosedByBroker: (403) '…'".
    found = re.search(r"\((\d{3})\) '([^']*)'", " ".join(str(a) for a in inner.args))
    return f"({found[1]}) {found[2]}" if found else _describe(error)
