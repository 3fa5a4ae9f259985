"""The transports against a real RabbitMQ: delivery, acknowledgement, dead letters, poison guards.

Each test uses its own queue prefix (the ``queue_prefix`` fixture deletes the queues after).
A consumer runs on a thread and is stopped through its stop event, as the services stop it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue as queue_module
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pika
import pytest
from conftest import TEST_SIGNER

from hzz.shared.errors import BrokerUnavailable, RetryLater
from hzz.shared.messaging import ERROR_HEADER, Outgoing, QueueNames, embedded, rabbitmq
from hzz.shared.messaging.embedded import EmbeddedTransport
from hzz.shared.messaging.rabbitmq import DELIVERY_LIMIT, POISON_DELIVERIES, RabbitMQTransport
from hzz.shared.signing import Signer

#: Seconds a test waits for a consumer to do what it should.
PATIENCE = 10.0


@pytest.fixture
def transport(broker_url: str, queue_prefix: str) -> Iterator[RabbitMQTransport]:
    t = RabbitMQTransport(broker_url, QueueNames(queue_prefix), signer=TEST_SIGNER).connect()
    yield t
    t.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.05)


class Consumer:
    """``transport.consume`` on a thread of its own, with its own connection."""

    def __init__(
        self, broker_url: str, names: QueueNames, queue: str, handle: Callable[[bytes], Iterable[Outgoing]], **kw
    ):  # type: ignore[no-untyped-def]
        self.transport = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER)
        self.stop = threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.transport.consume(queue, handle, stop=self.stop, **kw)
            except BaseException as e:
                self.error = e
            finally:
                self.transport.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(PATIENCE)
        assert not self.thread.is_alive(), "the consumer did not stop"


def drain(transport: RabbitMQTransport, queue: str) -> list[tuple[bytes, dict]]:
    messages = []
    while (message := transport.get_message(queue)) is not None:
        messages.append(message)
    return messages


def test_a_published_message_is_handled_once_and_its_outputs_published(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given three tasks
    names = transport.names
    for i in range(3):
        transport.publish(names.tasks, f"task {i}".encode())
    seen: list[bytes] = []

    # When a consumer turns each into a result
    def handle(body: bytes) -> list[Outgoing]:
        seen.append(body)
        return [Outgoing(names.results, body.replace(b"task", b"result"))]

    consumer = Consumer(broker_url, names, names.tasks, handle)
    wait_for(lambda: len(seen) == 3 and transport.queue_depth(names.results) == 3)
    consumer.finish()

    # Then each was handled once, in order, and nothing is left or dead
    assert seen == [b"task 0", b"task 1", b"task 2"]
    assert [body for body, _ in drain(transport, names.results)] == [b"result 0", b"result 1", b"result 2"]
    assert transport.queue_depth(names.tasks) == 0
    assert transport.queue_depth(names.dead) == 0


def test_a_handler_that_raises_sends_the_message_to_the_dead_letter_queue_with_its_error(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given a message the handler cannot take
    names = transport.names
    transport.publish(names.results, b"\x00garbage")

    def handle(body: bytes) -> list[Outgoing]:
        msg = f"cannot read {body!r}"
        raise ValueError(msg)

    # When it is consumed
    consumer = Consumer(broker_url, names, names.results, handle)
    wait_for(lambda: transport.queue_depth(names.dead) == 1)
    consumer.finish()

    # Then it is in the dead-letter queue, with the error and the queue it came from, and nowhere else
    [(body, headers)] = drain(transport, names.dead)
    assert body == b"\x00garbage"
    assert headers[ERROR_HEADER].startswith("ValueError: cannot read")
    assert headers["x-hzz-source-queue"] == names.results
    assert transport.queue_depth(names.results) == 0
    assert consumer.error is None


def test_a_consumer_that_dies_before_acknowledging_leaves_the_message_in_the_queue(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given a task and a handler that takes the process down (no ordinary exception)
    names = transport.names
    transport.publish(names.tasks, b"task")

    def handle(body: bytes) -> list[Outgoing]:
        raise SystemExit(1)

    # When the consumer meets it
    consumer = Consumer(broker_url, names, names.tasks, handle)
    consumer.thread.join(PATIENCE)

    # Then nothing was acknowledged nor published: the task is back, whole, for the next worker
    assert isinstance(consumer.error, SystemExit)
    wait_for(lambda: transport.queue_depth(names.tasks) == 1)
    assert transport.queue_depth(names.results) == 0
    assert transport.queue_depth(names.dead) == 0
    assert drain(transport, names.tasks)[0][0] == b"task"


def test_a_consumer_takes_one_message_at_a_time(transport: RabbitMQTransport, broker_url: str) -> None:
    # Given three tasks and a handler that blocks on the first
    names = transport.names
    for i in range(3):
        transport.publish(names.tasks, str(i).encode())
    started, release = threading.Event(), threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        started.set()
        release.wait(PATIENCE)
        return []

    # When the consumer is busy with the first
    consumer = Consumer(broker_url, names, names.tasks, handle)
    assert started.wait(PATIENCE)
    time.sleep(0.3)

    # Then the two others are still ready for other consumers (prefetch 1)
    assert transport.queue_depth(names.tasks) == 2
    release.set()
    wait_for(lambda: transport.queue_depth(names.tasks) == 0)
    consumer.finish()


def test_an_idle_consumer_is_woken_by_its_stop_event_not_by_a_poll(
    transport: RabbitMQTransport, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a consumer waiting on an empty queue, whose only timeout (the heartbeat) is an hour
    monkeypatch.setattr(rabbitmq, "HEARTBEAT_SECONDS", 3600.0)
    consumer = Consumer(broker_url, transport.names, transport.names.tasks, lambda body: [])
    wait_for(lambda: transport.channel().queue_declare(transport.names.tasks, passive=True).method.consumer_count == 1)

    # When it is told to stop
    # Then it returns (finish() fails if it is still waiting after PATIENCE): the event woke it
    consumer.finish()
    assert consumer.error is None


def test_an_idle_batch_consumer_is_woken_by_its_stop_event_not_by_a_poll(
    transport: RabbitMQTransport, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the aggregator's kind of consumer waiting on an empty queue, its only timeout an hour
    monkeypatch.setattr(rabbitmq, "HEARTBEAT_SECONDS", 3600.0)
    stop = threading.Event()
    consumer = RabbitMQTransport(broker_url, transport.names, signer=TEST_SIGNER)
    thread = threading.Thread(
        target=consumer.consume_batches, args=(transport.names.results, lambda bodies: []), kwargs={"stop": stop}
    )
    thread.start()
    wait_for(
        lambda: transport.channel().queue_declare(transport.names.results, passive=True).method.consumer_count == 1
    )

    # When it is told to stop
    stop.set()

    # Then it returns at once: the event woke it
    thread.join(PATIENCE)
    assert not thread.is_alive(), "the batch consumer did not stop"
    consumer.close()


def test_a_batch_consumer_merges_a_lone_message_without_waiting_for_more(
    transport: RabbitMQTransport, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch consumer whose batches may stay open for an hour, and whose only quiet
    # interval (the heartbeat) is an hour too
    monkeypatch.setattr(rabbitmq, "HEARTBEAT_SECONDS", 3600.0)
    stop = threading.Event()
    handled: list[list[bytes]] = []

    def handle(bodies: list[bytes]) -> list[Outgoing]:
        handled.append(bodies)
        stop.set()
        return []

    consumer = RabbitMQTransport(broker_url, transport.names, signer=TEST_SIGNER)
    thread = threading.Thread(
        target=consumer.consume_batches,
        args=(transport.names.results, handle),
        kwargs={"stop": stop, "max_seconds": 3600.0},
    )
    thread.start()
    wait_for(
        lambda: transport.channel().queue_declare(transport.names.results, passive=True).method.consumer_count == 1
    )

    # When one message arrives and nothing after it
    transport.publish(transport.names.results, b"the last result")

    # Then it is handed over as soon as nothing more is at hand (not after an hour), and acknowledged
    thread.join(PATIENCE)
    assert not thread.is_alive(), "the lone message waited for company"
    assert handled == [[b"the last result"]]
    assert transport.queue_depth(transport.names.results) == 0
    consumer.close()


def test_an_idle_embedded_consumer_is_woken_by_its_stop_event(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two consumers sharing a stop event, as a run's workers do, on an empty queue of a
    # multiprocessing manager, their only timeout (the heartbeat) an hour
    monkeypatch.setattr(embedded, "HEARTBEAT_SECONDS", 3600.0)
    names = QueueNames("embedded")
    with multiprocessing.Manager() as manager:
        transport = EmbeddedTransport.start(names, manager)
        stop = threading.Event()
        threads = [
            threading.Thread(target=transport.consume, args=(names.tasks, lambda body: []), kwargs={"stop": stop})
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()

        # When they are told to stop
        stop.set()

        # Then both return (woken, not timed out), and the wake-ups are never delivered as messages
        for thread in threads:
            thread.join(PATIENCE)
            assert not thread.is_alive(), "a consumer did not stop"
        assert transport.get(names.tasks) is None


def test_a_wake_up_left_in_the_queue_is_not_a_message_for_the_next_consumer() -> None:
    # Given an embedded queue holding a wake-up of a consumer that stopped, then a message
    names = QueueNames("embedded")
    transport = EmbeddedTransport(names, {name: queue_module.Queue() for name in names.all()}, signer=TEST_SIGNER)
    first = threading.Event()
    first.set()
    transport.consume(names.tasks, lambda body: [], stop=first)
    wait_for(lambda: transport._queues[names.tasks].qsize() == 1)  # its watcher's wake-up
    transport.publish(names.tasks, b"task")
    handled: list[bytes] = []
    second = threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        handled.append(body)
        second.set()
        return []

    # When the next consumer runs
    thread = threading.Thread(target=transport.consume, args=(names.tasks, handle), kwargs={"stop": second})
    thread.start()
    thread.join(PATIENCE)

    # Then it handles the message only
    assert handled == [b"task"]


def test_a_stop_during_a_long_message_finishes_it_first(transport: RabbitMQTransport, broker_url: str) -> None:
    # Given a consumer in the middle of a message
    names = transport.names
    transport.publish(names.tasks, b"long")
    transport.publish(names.tasks, b"next")
    started = threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        started.set()
        time.sleep(1.0)
        return [Outgoing(names.results, body)]

    consumer = Consumer(broker_url, names, names.tasks, handle)
    assert started.wait(PATIENCE)

    # When it is told to stop (SIGTERM)
    consumer.finish()

    # Then the message was finished and handed on, and the next one is left for another consumer
    assert [body for body, _ in drain(transport, names.results)] == [b"long"]
    wait_for(lambda: transport.queue_depth(names.tasks) == 1)


def test_a_consumer_whose_queue_vanishes_reconnects_at_once_and_goes_on(
    transport: RabbitMQTransport, broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a consumer waiting on the tasks queue
    names = transport.names
    seen: list[bytes] = []
    consumer = Consumer(broker_url, names, names.tasks, lambda body: seen.append(body) or [])

    def consumers() -> int:
        try:
            return int(transport.channel().queue_declare(names.tasks, passive=True).method.consumer_count)
        except pika.exceptions.ChannelClosedByBroker:  # not there (yet): the next call re-declares it
            return 0

    wait_for(lambda: consumers() == 1)

    # When its queue is deleted under it (the broker cancels the consumer and refuses the next
    # consume: its connection is lost the way a broker's channel error loses it)
    with caplog.at_level(logging.WARNING, logger=rabbitmq.__name__):
        transport.channel().queue_delete(names.tasks)
        wait_for(lambda: "lost the broker while consuming" in caplog.text)
        wait_for(lambda: consumers() == 1)  # re-declared on reconnecting
        transport.publish(names.tasks, b"after the loss")
        wait_for(lambda: seen == [b"after the loss"])
    consumer.finish()

    # Then the first reconnection was at once, not after a backoff
    assert "reconnecting in 0.0 s" in caplog.text


def test_the_work_queues_dead_letter_a_rejected_message_by_themselves(transport: RabbitMQTransport) -> None:
    # Given a task taken off the queue
    names = transport.names
    transport.publish(names.tasks, b"task")
    channel = transport.channel()
    method, _, _ = channel.basic_get(names.tasks, auto_ack=False)

    # When it is rejected without requeue (basic_nack)
    channel.basic_nack(method.delivery_tag, requeue=False)

    # Then the broker routes it into the dead-letter queue
    wait_for(lambda: transport.queue_depth(names.dead) == 1)
    [(body, headers)] = drain(transport, names.dead)
    assert body == b"task"
    assert headers["x-first-death-reason"] == "rejected"


def take_without_ack(broker_url: str, names: QueueNames, queue: str, times: int) -> None:
    """Take the head of ``queue`` and drop the connection, ``times`` times: consumers that die."""
    for _ in range(times):
        t = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER)
        method, _, _ = t.channel().basic_get(queue, auto_ack=False)
        assert method is not None
        t.close()


def test_a_message_that_keeps_killing_its_consumer_is_given_up(transport: RabbitMQTransport, broker_url: str) -> None:
    # Given a task whose consumers died POISON_DELIVERIES times while holding it
    names = transport.names
    transport.publish(names.tasks, b"poison")
    take_without_ack(broker_url, names, names.tasks, POISON_DELIVERIES)
    handled: list[bytes] = []
    reasons: list[str] = []

    def give_up(body: bytes, reason: str) -> list[Outgoing]:
        reasons.append(reason)
        return [Outgoing(names.results, b"failed: " + body)]

    # When a consumer receives it again
    consumer = Consumer(broker_url, names, names.tasks, handled.append, give_up=give_up)
    wait_for(lambda: transport.queue_depth(names.results) == 1)
    consumer.finish()

    # Then the handler is not tried again: give_up records it, and it is acknowledged
    assert handled == []
    assert reasons == [
        f"delivered {POISON_DELIVERIES + 1} times without being acknowledged: it kills or stalls its consumer"
    ]
    assert drain(transport, names.results)[0][0] == b"failed: poison"
    assert transport.queue_depth(names.tasks) == 0


def test_without_give_up_a_poison_message_is_dead_lettered(transport: RabbitMQTransport, broker_url: str) -> None:
    # Given a result whose consumers died POISON_DELIVERIES times while holding it
    names = transport.names
    transport.publish(names.results, b"poison")
    take_without_ack(broker_url, names, names.results, POISON_DELIVERIES)

    # When a consumer without give_up receives it
    consumer = Consumer(broker_url, names, names.results, lambda body: [])
    wait_for(lambda: transport.queue_depth(names.dead) == 1)
    consumer.finish()

    # Then it is in the dead-letter queue with the reason
    [(body, headers)] = drain(transport, names.dead)
    assert body == b"poison"
    assert "without being acknowledged" in headers[ERROR_HEADER]


def test_the_broker_dead_letters_a_message_past_the_delivery_limit(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given a task whose consumers die even before they can give up on it
    names = transport.names
    transport.publish(names.tasks, b"task")

    # When it has been returned more than DELIVERY_LIMIT times
    take_without_ack(broker_url, names, names.tasks, DELIVERY_LIMIT + 1)

    # Then the broker moved it into the dead-letter queue rather than deliver it forever
    wait_for(lambda: transport.queue_depth(names.dead) == 1)
    [(body, headers)] = drain(transport, names.dead)
    assert body == b"task"
    assert headers["x-first-death-reason"] == "delivery_limit"
    assert transport.queue_depth(names.tasks) == 0


def test_a_handler_that_asks_to_retry_keeps_the_message_until_it_succeeds(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given a handler whose disk is full the first time
    names = transport.names
    transport.publish(names.results, b"result")
    calls: list[bytes] = []

    def handle(body: bytes) -> list[Outgoing]:
        calls.append(body)
        if len(calls) == 1:
            msg = "No space left on device"
            raise RetryLater(msg)
        return [Outgoing(names.tasks, b"done")]

    # When the message is consumed
    consumer = Consumer(broker_url, names, names.results, handle)
    wait_for(lambda: transport.queue_depth(names.tasks) == 1)
    consumer.finish()

    # Then it was tried again (not dead-lettered) and then acknowledged
    assert calls == [b"result", b"result"]
    assert transport.queue_depth(names.dead) == 0
    assert transport.queue_depth(names.results) == 0


def test_a_stop_while_retrying_puts_the_message_back(transport: RabbitMQTransport, broker_url: str) -> None:
    # Given a handler that keeps asking to retry
    names = transport.names
    transport.publish(names.results, b"result")
    tried = threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        tried.set()
        msg = "disk still full"
        raise RetryLater(msg)

    consumer = Consumer(broker_url, names, names.results, handle)
    assert tried.wait(PATIENCE)

    # When the consumer is stopped
    consumer.finish()

    # Then the message is back in its queue, not dead
    wait_for(lambda: transport.queue_depth(names.results) == 1)
    assert transport.queue_depth(names.dead) == 0


def test_an_unreachable_broker_is_refused_naming_the_address_and_the_setting() -> None:
    # Given a URL where no broker listens
    port = free_port()
    transport = RabbitMQTransport(
        f"amqp://guest:guest@127.0.0.1:{port}/%2F", QueueNames("x"), connect_attempts=2, signer=TEST_SIGNER
    )

    # When a service connects at start
    with pytest.raises(BrokerUnavailable) as caught:
        transport.connect()

    # Then the error says where it looked and what to change
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "HZZ_BROKER_URL" in str(caught.value)
    assert "guest" not in str(caught.value)


def test_refused_credentials_are_reported_at_once(broker_url: str) -> None:
    # Given a URL with a wrong password
    url = broker_url.replace("guest:guest@", "guest:wrong-password@")
    transport = RabbitMQTransport(url, QueueNames(f"test-{uuid.uuid4().hex[:10]}"))

    # When a service connects
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="credentials"):
        transport.connect()

    # Then it is refused without the reconnection backoff, and without echoing the password
    assert time.monotonic() - started < 5.0


def test_queues_declared_by_an_older_version_are_used_as_they_are(broker_url: str, queue_prefix: str) -> None:
    # Given queues of this prefix made without the dead-letter arguments (an older deployment)
    names = QueueNames(queue_prefix)
    other = RabbitMQTransport(broker_url, QueueNames(f"{queue_prefix}-setup"), signer=TEST_SIGNER)
    for name in names.all():
        other.channel().queue_declare(name, durable=True, arguments={"x-queue-type": "quorum"})
    other.delete_queues()
    other.close()

    # When the current version connects, publishes and reads
    transport = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER).connect()
    transport.publish(names.tasks, b"task")

    # Then it works with the queues as they are
    assert transport.get(names.tasks) == b"task"
    transport.close()


def test_the_embedded_transport_dead_letters_and_retries_the_same_way() -> None:
    # Given an embedded transport with a bad message and one that needs a retry
    names = QueueNames("embedded")
    transport = EmbeddedTransport(names, {name: queue_module.Queue() for name in names.all()}, signer=TEST_SIGNER)
    transport.publish(names.tasks, b"bad")
    transport.publish(names.tasks, b"retry")
    stop = threading.Event()
    calls: list[bytes] = []

    def handle(body: bytes) -> list[Outgoing]:
        calls.append(body)
        if body == b"bad":
            msg = "not a task"
            raise ValueError(msg)
        if calls.count(b"retry") == 1:
            msg = "disk full"
            raise RetryLater(msg)
        stop.set()
        return [Outgoing(names.results, b"ok")]

    # When it is consumed
    thread = threading.Thread(target=transport.consume, args=(names.tasks, handle), kwargs={"stop": stop})
    thread.start()
    thread.join(PATIENCE)

    # Then the bad one is dead with its error and the other was retried and handed on
    body, headers = transport.get_message(names.dead) or (b"", {})
    assert body == b"bad"
    assert headers[ERROR_HEADER] == "ValueError: not a task"
    assert transport.get(names.results) == b"ok"
    assert calls == [b"bad", b"retry", b"retry"]


# --- signatures and batches ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rabbitmq", "embedded"])
def test_unsigned_and_wrongly_signed_messages_are_dead_lettered_before_any_handler_sees_them(
    kind: str, broker_url: str, queue_prefix: str
) -> None:
    # Given a consumer holding the key, and messages published unsigned, with another key, and with the key
    names = QueueNames(queue_prefix)
    if kind == "embedded":
        queues = {name: queue_module.Queue() for name in names.all()}
        ours: Any = EmbeddedTransport(names, queues, signer=TEST_SIGNER)
        unsigned: Any = EmbeddedTransport(names, queues)
        forger: Any = EmbeddedTransport(names, queues, signer=Signer("another-deployment-key"))
    else:
        ours = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER).connect()
        unsigned = RabbitMQTransport(broker_url, names).connect()
        forger = RabbitMQTransport(broker_url, names, signer=Signer("another-deployment-key")).connect()
    unsigned.publish(names.tasks, b"unsigned")
    forger.publish(names.tasks, b"forged")
    ours.publish(names.tasks, b"genuine")
    seen: list[bytes] = []

    # When the consumer runs until the genuine one is handled
    stop = threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        seen.append(body)
        stop.set()
        return []

    ours.consume(names.tasks, handle, stop=stop)

    # Then only the genuine message reached the handler; the others are dead letters saying why
    assert seen == [b"genuine"]
    letters = {body: headers[ERROR_HEADER] for body, headers in iter(lambda: ours.get_message(names.dead), None)}
    assert "unsigned" in letters[b"unsigned"]
    assert "wrongly signed" in letters[b"forged"]
    for t in (ours, unsigned, forger):
        t.close()


def test_a_batch_consumer_hands_over_what_has_arrived_and_acknowledges_it_at_once(
    transport: RabbitMQTransport, broker_url: str
) -> None:
    # Given 300 messages waiting
    names = transport.names
    for i in range(300):
        transport.publish(names.results, str(i).encode())
    batches: list[list[bytes]] = []
    stop = threading.Event()

    def handle(bodies: list[bytes]) -> list[Outgoing]:
        batches.append(bodies)
        if sum(map(len, batches)) == 300:
            stop.set()
        return []

    # When a batch consumer takes them, 100 at most a batch
    consumer = RabbitMQTransport(broker_url, names, signer=TEST_SIGNER)
    consumer.consume_batches(names.results, handle, stop=stop, max_messages=100)
    consumer.close()

    # Then it handed them over in a few full batches, in order, each once, and the queue is empty
    assert [b for batch in batches for b in batch] == [str(i).encode() for i in range(300)]
    assert max(map(len, batches)) == 100
    assert len(batches) <= 6
    assert transport.queue_depth(names.results) == 0
    assert len(consumer.ack_latencies) == 300
