"""The project's exceptions: every message names the culprit (file, chunk, setting, queue).

``ChunkError`` and its two kinds decide what happens to a chunk that cannot be processed: a
:class:`TransientChunkError` is retried with backoff, a :class:`PermanentChunkError` is
recorded as failed at once.
"""

from __future__ import annotations

import signal

__all__ = [
    "BrokerUnavailable",
    "CheckpointError",
    "ChunkError",
    "ConfigError",
    "DecodeError",
    "HZZError",
    "PermanentChunkError",
    "ReadDeadlineExceeded",
    "RefusedFile",
    "RetryLater",
    "RunInterrupted",
    "TransientChunkError",
]


class HZZError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(HZZError, ValueError):
    """A setting is missing, malformed or out of range."""


class CheckpointError(ConfigError):
    """A run's checkpoint is there but cannot be read; ``path`` is the file."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class DecodeError(HZZError, ValueError):
    """A message body is not valid JSON of the expected schema."""


class BrokerUnavailable(HZZError, ConnectionError):
    """The message broker cannot be reached (after the configured retries)."""


class ChunkError(HZZError):
    """A chunk could not be processed; the message names the file and the entry range."""


class TransientChunkError(ChunkError):
    """Worth another try: a timeout, a reset connection, an HTTP 5xx."""


class PermanentChunkError(ChunkError):
    """Will fail again: a missing or corrupt file, a missing tree or branch, an HTTP 404."""


class RefusedFile(HZZError, OSError):
    """A file is not read: it is a symbolic link, a FIFO, a device or a folder where a regular file
    belongs, or larger than the cap for reading it whole; ``path`` is the file."""

    def __init__(self, message: str, path: object = None, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.too_large = too_large

    def __str__(self) -> str:
        return str(self.args[0])


class ReadDeadlineExceeded(ChunkError):
    """A remote file did not answer in full within the read deadline (``HZZ_READ_DEADLINE_SECONDS``).

    Neither kind above: the deadline covers every try of a chunk together, so once it has passed
    there is no time left for another.
    """


class RetryLater(HZZError):
    """A handler's own resources failed (say, a full disk): keep the message and try it again later.

    An instruction to the transport, not a fault of the message, which is not dead-lettered.
    """


class RunInterrupted(KeyboardInterrupt):
    """The one-machine run was stopped by a signal (Ctrl-C, SIGTERM); what it finished is kept.

    A ``KeyboardInterrupt``, so that ``except Exception`` does not swallow a Ctrl-C. The message
    says how many chunks were done and how to finish the run (``hzz run --resume``).

    Args:
        signum: the signal.
        message: what to tell the user (default: the signal's name).
    """

    def __init__(self, signum: int, message: str = "") -> None:
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by the signal: 128 + its number (130, 143)."""
        return 128 + self.signum
