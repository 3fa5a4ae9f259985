"""The retry policy, as pure functions: exponential backoff with jitter and a limit.

Used for reconnecting to the broker and for chunks that fail transiently. Jitter spreads out
workers that failed together (say, when the file server blinked), so they do not all come
back at the same instant.
"""

from __future__ import annotations

import random

__all__ = ["backoff_seconds", "should_retry"]


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 30.0, jitter: float = 0.25) -> float:
    """Seconds to wait before try number ``attempt + 1``: ``base·2^attempt`` (capped) ± jitter.

    Args:
        attempt: tries made so far, from 0.
        base: the first delay.
        cap: the longest delay.
        jitter: relative spread, e.g. 0.25 for ±25 %.

    Returns:
        float: a delay in seconds, never negative.
    """
    # Bound the exponent: 2**64 × base is past any sensible cap, and 2**1024 no longer fits a float.
    delay = min(cap, base * 2 ** min(max(0, attempt), 64))
    return max(0.0, delay * (1 + random.uniform(-jitter, jitter)))


def should_retry(attempt: int, max_retries: int) -> bool:
    """Whether a chunk that failed on try ``attempt`` (from 0) gets another try."""
    return attempt < max_retries
