"""How the one-machine run starts its worker processes: warm, with the analysis already imported.

A spawned worker is a fresh interpreter that imports numpy, awkward and uproot (~0.5 s of CPU)
and, before that, re-runs the parent's main script — ``hzz run``'s CLI, a benchmark, or a user's
script — before it takes its first chunk. Here the workers are forked instead:

- from the run's own process (:func:`worker_context`), which has imported the analysis itself by
  then, on Linux while it runs no other thread (:func:`fork_from_here`): ``hzz run`` starts its
  workers before its first thread. They start in milliseconds and nothing is imported twice.
  Each closes its copies of the run's pipes at once (:class:`ParentWatch`, :class:`StopPipe`) and
  takes a fresh copy of the transport, without the run's connections;
- else (a notebook's kernel runs threads; macOS, where forking a process that loaded its system
  frameworks is not safe) from multiprocessing's forkserver: one process started early
  (:func:`warm_up`, from ``hzz run`` before it imports anything heavy) that imports the worker's
  modules once (:data:`PRELOAD`), then forks a worker in milliseconds per request. The forkserver
  runs none of the run's threads and holds no broker connection, and it is the start method
  Python itself uses by default from 3.14 on Linux. Windows has no fork: there the workers are
  spawned.

Our processes do not re-run the parent's main script either (:func:`_preparation_without_main`): their targets
and arguments are importable from ``hzz`` alone, so a script without an
``if __name__ == "__main__":`` guard can call :func:`hzz.local.run_local` too instead of running
itself again in every child, which would start a run from each of them.

Every process the run starts ends with it (:class:`ParentWatch`): a pipe whose write end only
the run's process holds reaches end-of-file in each child the moment that process is gone, even
after a SIGKILL, and the child then exits; the forkserver does the same by itself. Children ignore
SIGINT: a Ctrl-C in a terminal reaches every process of the group, and the run's process alone
decides how its children stop — by closing another such pipe (:class:`StopPipe`), which never
waits for anyone, where setting a ``multiprocessing.Event`` waits for every process asleep on it
to wake: forever, for one that was killed.

A small run starts no worker process (:func:`small_local_input`): a few MB of local files are
analysed in well under a second on one core, less than starting a worker costs; :mod:`hzz.local`
then analyses its chunks in its own process, on a thread (and draws its plot in a drawing
process started at once: :mod:`hzz.shared.drawing`).

This module is preloaded into the forkserver, so it imports nothing heavy itself.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.spawn
import multiprocessing.util
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.managers import SyncManager
from typing import Any

__all__ = [
    "IN_PROCESS_BYTES",
    "ORPHAN_EXIT_CODE",
    "PRELOAD",
    "PROCESS_PREFIX",
    "ParentWatch",
    "RunManager",
    "StopPipe",
    "context",
    "fork_from_here",
    "run_watched",
    "show_name",
    "small_local_input",
    "warm_up",
    "watch_parent",
    "worker_context",
]

#: Imported once by the forkserver, so that a forked worker starts with them loaded: this module
#: (every child's target, :func:`run_watched`) and the worker's loop with everything it imports
#: (numpy, awkward, uproot, the analysis); and, added by :func:`context`, each release's
#: selection module.
PRELOAD = ("hzz.processes", "hzz.shared.processing")

#: Names of the processes the run starts; only these skip re-running the parent's main script.
PROCESS_PREFIX = "hzz-"
#: Exit status of a child that ended because the run's process was gone.
ORPHAN_EXIT_CODE = 3


#: A run whose input files are all on this machine and add up to at most this many bytes may be
#: analysed in the run's own process (:func:`small_local_input`): about 160,000 entries of the
#: 2020 release, under a second of one core and less than a chunk of the default size (250,000).
IN_PROCESS_BYTES = 16 * 1024 * 1024


def small_local_input(settings: Any) -> bool:
    """Whether the run's input is small enough to analyse in this process: every file local, all
    together at most :data:`IN_PROCESS_BYTES`. Checked before anything heavy is imported, so that
    such a run does not start the forkserver (:func:`warm_up`) either.

    Args:
        settings: a :class:`hzz.shared.data_vars.Settings`.
    """
    total = 0
    for sample in settings.samples:
        try:
            total += os.stat(settings.file_location(sample)).st_size  # a URL is no file here: not local
        except (OSError, ValueError):
            return False
    return total <= IN_PROCESS_BYTES


def fork_from_here() -> bool:
    """Whether the run's workers may be forked from this process itself, now: on Linux, while no
    thread but the main one runs. They then start at once with what it has imported (no
    forkserver importing it all a second time); a fork of a process with other threads running
    could copy a lock one of them holds, and macOS does not support forking a process that has
    loaded its system frameworks.
    """
    return sys.platform == "linux" and threading.active_count() == 1


def worker_context() -> BaseContext:
    """The context the run's worker processes start from: a fork of this process where
    :func:`fork_from_here`, else :func:`context`.

    Forked workers inherit what this process has imported, so it first imports what the
    forkserver would have preloaded (the selection modules, whose import checks the mass formula
    against vector's: ~0.1 s each worker would otherwise spend on its first chunk; measured on 1×,
    0.84 → 0.77× the notebook).
    """
    if not fork_from_here():
        return context()
    for module in _preloaded():
        importlib.import_module(module)
    return multiprocessing.get_context("fork")


def context() -> BaseContext:
    """The multiprocessing context for the run's processes: a preloading forkserver, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # Applies when the forkserver starts; one already running (started by warm_up, or by other
    # code of this process) keeps what it has, and a worker then imports its modules itself.
    ctx.set_forkserver_preload(_preloaded())
    return ctx


def _preloaded() -> list[str]:
    """What a worker finds imported when it starts: :data:`PRELOAD` and each release's selection
    module (vector, the mass check), which a worker would otherwise import at its first chunk."""
    from hzz.shared.releases import RELEASES  # light: the definitions, not the physics

    return [*PRELOAD, *(release.selection for release in RELEASES.values())]


def warm_up() -> None:
    """Start the forkserver now, so that it imports the worker's modules while this process goes on.

    Returns at once: the forkserver imports in the background (on another core), and the first
    worker forked from it waits only for what is not done yet.
    """
    ctx = context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class _EndOfFilePipe:
    """A pipe nobody writes to: its readers see end-of-file once the write end is closed, by
    :meth:`set` or by the kernel when the process holding it ends. Closing never blocks (a
    ``multiprocessing.Event`` can wait forever on a killed process), and closing twice is harmless.

    Args:
        ctx: the run's multiprocessing context.
    """

    def __init__(self, ctx: BaseContext) -> None:
        #: Handed to each child (a process argument or a manager initializer's).
        self.reader, self._writer = ctx.Pipe(duplex=False)
        # A child forked from the run's process holds a copy of the write end, which would keep
        # the pipe open after the run's process is gone: the copy is closed in the child at once.
        multiprocessing.util.register_after_fork(self, _EndOfFilePipe._close_writer)

    def _close_writer(self) -> None:
        self._writer.close()

    def set(self) -> None:
        """Close the write end: the children see end-of-file."""
        self._writer.close()

    def close(self) -> None:
        """Close both ends."""
        self._writer.close()
        self.reader.close()


class ParentWatch(_EndOfFilePipe):
    """The run's process is gone when this pipe's end-of-file arrives (:func:`watch_parent`).

    The run's process keeps the write end (its descriptor is not inheritable, and only the read
    end is handed to children); the kernel closes it when the process ends, however it ends, so
    each child sees end-of-file within milliseconds. Unlike ``PR_SET_PDEATHSIG`` it works on macOS
    too, and for the workers, whose parent is the forkserver rather than the run's process.
    """


class StopPipe(_EndOfFilePipe):
    """The run's process tells its children to stop by closing this pipe (:meth:`set`): at once,
    whatever became of them; each child sees it as a ``threading.Event`` (:func:`run_watched`)."""


def _when_closed(reader: Any, action: Callable[[], None], name: str) -> None:
    """Call ``action`` on a thread of its own once ``reader`` sees end-of-file."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            reader.recv_bytes()  # nothing is ever sent: this returns by end-of-file only
        action()

    threading.Thread(target=watch, name=name, daemon=True).start()


def _event_closed_by(reader: Any) -> threading.Event:
    event = threading.Event()
    _when_closed(reader, event.set, "stop-watch")
    return event


def show_name() -> None:
    """Show this child under its own name ("hzz-worker-0", "hzz-drawing") in ps and top, not as
    another copy of the command that forked it (Linux: the kernel's 15-character process name;
    elsewhere, or where it cannot be set, nothing changes)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
            comm.write(multiprocessing.current_process().name[:15])


def watch_parent(reader: Any) -> None:
    """In a child of the run: exit at once when the run's process is gone; ignore SIGINT.

    Args:
        reader: :attr:`ParentWatch.reader`.
    """
    show_name()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a child forked from the run's process has its handler
    # No cleanup is owed to anyone: the run's state is on disk and an unfinished chunk is pending
    # there (over RabbitMQ, its unacknowledged task goes back to the run's queue).
    _when_closed(reader, lambda: os._exit(ORPHAN_EXIT_CODE), "parent-watch")


def run_watched(reader: Any, target: Callable[..., None], *args: Any, stop: Any = None, **kwargs: Any) -> None:
    """A child's target: :func:`watch_parent`, then ``target(*args, **kwargs)``.

    Args:
        reader: :attr:`ParentWatch.reader`.
        target: what the child does.
        stop: a :attr:`StopPipe.reader`: ``target`` then gets ``stop=`` a ``threading.Event`` that
            is set when the run's process sets the pipe (or ends).
    """
    watch_parent(reader)
    if stop is not None:
        kwargs["stop"] = _event_closed_by(stop)
    target(*args, **kwargs)


class RunManager(SyncManager):
    """The embedded transport's queue server; its process is named "RunManager-<n>" after the class,
    which marks it as one of ours (see :func:`_preparation_without_main`)."""


# --- the child's side ---------------------------------------------------------------------------

#: The names a child of ours is started under (its preparation data carries the name).
_OUR_NAMES = (PROCESS_PREFIX, f"{RunManager.__name__}-")

_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


def _preparation_without_main(
    original: Callable[[str], dict[str, Any]],
) -> Callable[[str], dict[str, Any]]:
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if str(name).startswith(_OUR_NAMES):
            # Our targets and arguments live in hzz modules: the parent's main script is not needed,
            # and re-running a script without a __main__ guard would start a run in every child.
            data = {key: value for key, value in data.items() if key not in _MAIN_KEYS}
        return data

    get_preparation_data._hzz_skips_main = True  # type: ignore[attr-defined]
    return get_preparation_data


# multiprocessing.spawn.get_preparation_data is what the parent sends a starting child, spawned or
# forked from the forkserver, to set it up with (sys.path, working directory, main module); the
# child runs the main script only if it is named there.
if not getattr(multiprocessing.spawn.get_preparation_data, "_hzz_skips_main", False):
    multiprocessing.spawn.get_preparation_data = _preparation_without_main(multiprocessing.spawn.get_preparation_data)
