"""Drawing a run's plot, in a process of its own that is warm before the plot is due.

matplotlib takes ~0.6 s to import and a plot 0.2-0.5 s to draw, all of it holding the
interpreter lock of the process that draws. A :class:`DrawingProcess` imports it in a child
process the moment it starts, and then draws each :class:`PlotJob` it is sent while the process
that sent it goes on: the aggregator acknowledging results, or writing the ROOT file beside the
plot. ``hzz run`` starts one (:func:`start_early`) before it imports the analysis, so that the
two imports go on side by side on two cores and a small run's plot is drawn as soon as its last
result is merged.

A job is plain arrays and the release's plot settings (no ``hist``), so that the child imports
matplotlib and nothing of the analysis. The child holds nothing the run needs: it ends when it is
closed, and by itself (end-of-file on its pipe) when the process that started it is gone. It is
forked where that is safe (Linux, from a process that runs no other thread: ``hzz run`` at its
start; a fork is ready in milliseconds) and spawned otherwise, a fresh interpreter, safe on every
platform whatever threads the parent runs (and it does not re-run the parent's main script:
:mod:`hzz.processes`).

This module imports nothing heavy: the aggregator and ``hzz run`` import it before anything else.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hzz import processes
from hzz.shared.outputs import PLOT_FILES, write_atomic

__all__ = ["DrawingFailed", "DrawingProcess", "PlotJob", "draw_plot", "start_early", "take"]

#: The resolution of the PNG (the SVG is resolution-free).
PNG_DPI = 150


class DrawingFailed(RuntimeError):
    """The drawing process raised (the message is its error) or ended while drawing."""


@dataclass(frozen=True)
class PlotJob:
    """Everything a run's plot needs: small and picklable, plain arrays and the release's plot
    settings, so that a drawing process imports matplotlib and nothing else."""

    histograms: Mapping[str, Any]  # per sample: hzz.shared.histograms.BinSums
    lumi: float
    fraction: float
    binning: Any  # hzz.shared.histograms.Binning
    release_groups: tuple[Any, ...]  # the release's SampleGroups, in stacking order
    style: Any  # the release's PlotStyle
    note: str
    empty_text: str


def draw_plot(folder: Path, job: PlotJob, *, fork_formats: bool = False) -> None:
    """Draw ``job`` into ``folder``: the PNG and the SVG, each replaced atomically.

    Args:
        folder: where the plot goes.
        job: what to draw.
        fork_formats: save the SVG in a forked copy of this process while this one saves the PNG
            (half the time on two cores). Only for a process without threads (a drawing
            process), and only on Linux: elsewhere forking a process that has loaded system
            libraries is not safe, and the formats are saved one after the other.
    """
    from hzz.shared.plotting import m4l_figure

    figure = m4l_figure(
        job.histograms,
        lumi=job.lumi,
        fraction=job.fraction,
        binning=job.binning,
        groups=job.release_groups,
        style=job.style,
        note=job.note,
        empty_text=job.empty_text,
    )
    formats = list(PLOT_FILES.items())
    if fork_formats and sys.platform == "linux" and len(formats) > 1:
        *here, there = formats
        with _in_forked_copy(lambda: _save(figure, folder, *there)):
            for fmt, name in here:
                _save(figure, folder, fmt, name)
    else:
        for fmt, name in formats:
            _save(figure, folder, fmt, name)


def _save(figure: Any, folder: Path, fmt: str, name: str) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=PNG_DPI)
    write_atomic(folder / name, buffer.getvalue())


@contextlib.contextmanager
def _in_forked_copy(task: Callable[[], None]) -> Iterator[None]:
    """Run ``task`` in a forked copy of this process while the body runs here; raise its error after."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: do the task, report, and leave without running anything of the parent's
        os.close(reader)
        try:
            task()
            error = b""
        except BaseException as e:
            error = f"{type(e).__name__}: {e}".encode()
        os.write(writer, error[:4000])
        os._exit(0)
    os.close(writer)
    try:
        yield
    finally:
        with os.fdopen(reader, "rb") as pipe:
            error = pipe.read()
        _pid, status = os.waitpid(pid, 0)
    if error or status:
        raise DrawingFailed(error.decode(errors="replace") or f"the forked copy ended with status {status}")


class DrawingProcess:
    """Draws plots in a child process, one at a time, started warm.

    :meth:`draw` sends a job and returns at once with the wait for it; the caller does something
    else meanwhile and then waits (without holding the interpreter lock). A child that died (out
    of memory, killed) fails the job it had and is replaced by a new one for the next.

    Raises:
        OSError: no process can be started here.
    """

    def __init__(self) -> None:
        self._connection, self._process = _start_child()

    def draw(self, folder: Path, job: PlotJob) -> Callable[[], None]:
        """Start drawing ``job`` into ``folder``; call what this returns to wait for the plot.

        The wait raises :class:`DrawingFailed` with the child's error, or when the child ended.
        """
        try:
            self._connection.send((folder, job))
        except OSError as e:  # the child is gone: the next job gets a new one
            self._replace()
            raise DrawingFailed(f"the drawing process had ended ({e})") from e

        def wait() -> None:
            try:
                error = self._connection.recv()
            except (EOFError, OSError) as e:
                code = self._process.exitcode
                self._replace()
                raise DrawingFailed(f"the drawing process ended while drawing (exit code {code})") from e
            if error is not None:
                raise DrawingFailed(error)

        return wait

    def _replace(self) -> None:
        self.close()
        self._connection, self._process = _start_child()

    def close(self) -> None:
        """End the child (it exits at once, without an interpreter teardown) and wait for it."""
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self._connection.close()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _start_child() -> tuple[Any, Any]:
    forked = processes.fork_from_here()
    ctx = multiprocessing.get_context("fork" if forked else "spawn")
    ours, theirs = ctx.Pipe()
    # A forked child holds a copy of our end too: it closes it, or it would never see ours close.
    args = (theirs, ours) if forked else (theirs,)
    process = ctx.Process(target=_serve, args=args, name=f"{processes.PROCESS_PREFIX}drawing", daemon=True)
    process.start()
    theirs.close()
    return ours, process


def _serve(connection: Any, parents_end: Any = None) -> None:
    """The child: import matplotlib, then draw each job sent until told to stop or orphaned."""
    if parents_end is not None:
        parents_end.close()
    processes.show_name()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the run's process to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked child may have inherited a handler
    import hzz.shared.plotting  # noqa: F401 (the import is the point: matplotlib loaded ahead of the plot)

    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            request = None
        if request is None:
            # Nothing to flush or free: every file was written atomically before its reply.
            os._exit(0)
        try:
            draw_plot(*request, fork_formats=True)
            reply = None
        except Exception as e:  # the parent reports it; this process draws the next job
            reply = f"{type(e).__name__}: {e}"
        connection.send(reply)


_early: DrawingProcess | None = None


def start_early() -> None:
    """Start a drawing process now, for the next :func:`take` (``hzz run`` calls this before its
    own imports). Where no process can start, :func:`take` says so later."""
    global _early
    if _early is None:
        with contextlib.suppress(OSError):
            _early = DrawingProcess()


def take() -> DrawingProcess:
    """The drawing process :func:`start_early` started, else a new one; the caller closes it.

    Raises:
        OSError: no process can be started here.
    """
    global _early
    taken, _early = _early, None
    return taken if taken is not None else DrawingProcess()
