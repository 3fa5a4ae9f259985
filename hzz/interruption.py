"""How a one-machine run is interrupted: the signals it answers, and the line it ends with.

:func:`hzz.local.run_local` runs inside a :class:`SignalGuard`: the first SIGINT (Ctrl-C) or
SIGTERM raises :class:`~hzz.shared.errors.RunInterrupted` in the main thread, the teardown that
follows is bounded and not cut short by a second signal, and the run ends with
:func:`interrupted_message`: the chunks done and the command that finishes the run.
"""

from __future__ import annotations

import shlex
import signal
import threading
from dataclasses import fields
from typing import Any

from hzz.shared.data_vars import Settings
from hzz.shared.errors import RunInterrupted
from hzz.shared.merging import RunTally

__all__ = ["SignalGuard", "interrupted_message"]

#: The output folder when none is set: the hint to resume names the folder only when it is another.
_DEFAULT_OUTPUT_DIR = next(f.default for f in fields(Settings) if f.name == "output_dir")


class SignalGuard:
    """While a run goes: the first SIGINT or SIGTERM raises :class:`RunInterrupted` in the main thread.

    From :meth:`hold` on (the teardown), signals are only noted, so that a second Ctrl-C cannot
    cut the teardown short and leave processes or queues behind. A signal the caller ignores
    (``SIG_IGN``: a background job, ``nohup``) stays ignored. Outside the main thread Python
    delivers no signal, and nothing is installed.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        #: The first signal that arrived, or None.
        self.signum: int | None = None
        self._raising = True
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.note(signum)
        if self._raising:
            self._raising = False
            raise RunInterrupted(signum)

    def note(self, signum: int) -> None:
        """Record a signal (the first one counts), e.g. a KeyboardInterrupt raised by another handler."""
        if self.signum is None:
            self.signum = signum

    def hold(self) -> None:
        """From now on (the teardown), signals are only noted."""
        self._raising = False


def interrupted_message(settings: Settings, signum: int, tally: RunTally | None) -> str:
    """The one line an interrupted run ends with: how far it got and the command that finishes it.

    Args:
        settings: the run's.
        signum: the signal that interrupted it.
        tally: what its database records, or None when nothing was recorded yet.
    """
    name = signal.Signals(signum).name
    if tally is None:
        return f"run {settings.run_id}: interrupted by {name} before anything of it was recorded; start it again"
    command = "hzz run --resume"
    if settings.output_dir != _DEFAULT_OUTPUT_DIR:
        command += f" --output-dir {shlex.quote(settings.output_dir)}"
    counts = tally.tally()
    return (
        f"run {settings.run_id}: interrupted by {name} — {counts['done']} of {counts['total']} chunks done, "
        f"{counts['failed']} failed, {counts['pending']} pending; finish it with: {command}"
    )
