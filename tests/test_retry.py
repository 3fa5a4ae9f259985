"""Tests of shared/retry.py: exponential backoff with a cap and bounded jitter, and the retry limit."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from hzz.shared.retry import backoff_seconds, should_retry


@pytest.fixture(autouse=True)
def seeded_random() -> Iterator[None]:
    """Make the jitter reproducible, and leave the global generator as it was."""
    state = random.getstate()
    random.seed(20201125)
    yield
    random.setstate(state)


def test_without_jitter_the_delay_doubles_from_the_base() -> None:
    # Given no jitter and a base of 1 s
    # When the delays of the first tries are computed
    delays = [backoff_seconds(attempt, base=1.0, cap=1000.0, jitter=0.0) for attempt in range(6)]

    # Then they are 1, 2, 4, 8, 16, 32 s
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_the_base_scales_every_delay() -> None:
    # Given a base of 0.5 s (the broker's reconnects)
    # Then the delays are 0.5, 1, 2, 4 s
    assert [backoff_seconds(a, base=0.5, cap=8.0, jitter=0.0) for a in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_the_delay_stops_growing_at_the_cap() -> None:
    # Given a cap of 30 s
    # When many tries have failed
    delays = [backoff_seconds(attempt, cap=30.0, jitter=0.0) for attempt in (5, 6, 10, 50)]

    # Then the delay is the cap
    assert delays == [30.0, 30.0, 30.0, 30.0]


def test_the_delay_is_capped_after_any_number_of_tries() -> None:
    # Given a consumer that has been failing for a very long time
    # When the delay for its 10 000th try is computed
    delay = backoff_seconds(10_000, base=0.5, cap=8.0, jitter=0.0)

    # Then it is the cap (and not an overflow of 2**10000)
    assert delay == 8.0


def test_the_delays_never_decrease_without_jitter() -> None:
    # Given the default policy without jitter
    delays = [backoff_seconds(attempt, jitter=0.0) for attempt in range(40)]

    # Then the delays never shrink, and end at the default cap of 30 s
    assert delays == sorted(delays)
    assert delays[-1] == 30.0


def test_a_negative_attempt_counts_as_the_first() -> None:
    # Given a nonsensical attempt count
    # Then it waits the base delay
    assert backoff_seconds(-3, base=2.0, jitter=0.0) == 2.0


def test_jitter_stays_within_its_relative_bound_and_spreads_the_delays() -> None:
    # Given ±25 % jitter around 8 s
    # When many delays are drawn
    delays = [backoff_seconds(3, base=1.0, cap=30.0, jitter=0.25) for _ in range(500)]

    # Then all lie within 6…10 s, and they are spread out on both sides of 8 s
    assert all(6.0 <= d <= 10.0 for d in delays)
    assert min(delays) < 7.0
    assert max(delays) > 9.0
    assert len(set(delays)) > 400


def test_jitter_applies_to_the_capped_delay() -> None:
    # Given a delay at the cap with ±10 % jitter
    delays = [backoff_seconds(20, cap=30.0, jitter=0.1) for _ in range(200)]

    # Then it never exceeds cap × 1.1 nor falls below cap × 0.9
    assert all(27.0 <= d <= 33.0 for d in delays)


def test_the_delay_is_never_negative_even_with_a_huge_jitter() -> None:
    # Given a jitter larger than 100 %
    delays = [backoff_seconds(0, jitter=3.0) for _ in range(200)]

    # Then no delay is negative
    assert all(d >= 0.0 for d in delays)
    assert any(d == 0.0 for d in delays)


@pytest.mark.parametrize(
    ("attempt", "max_retries", "expected"),
    [
        (0, 3, True),
        (1, 3, True),
        (2, 3, True),
        (3, 3, False),
        (4, 3, False),
        (0, 0, False),
        (0, 1, True),
        (1, 1, False),
    ],
)
def test_a_chunk_is_retried_until_the_limit(attempt: int, max_retries: int, expected: bool) -> None:
    # Given a chunk that failed on try `attempt` (from 0) and a limit of retries
    # Then it gets another try only while fewer than max_retries retries were made
    assert should_retry(attempt, max_retries) is expected


def test_a_limit_of_three_allows_four_tries_in_all() -> None:
    # Given the default limit of 3 retries
    # When a chunk keeps failing
    tries = 1
    attempt = 0
    while should_retry(attempt, 3):
        attempt += 1
        tries += 1

    # Then it is tried once and retried three times
    assert tries == 4
