"""The worker's loop: turn chunk tasks into results until told to stop.

``python -m hzz.worker`` runs it as a service, the one-machine run in its worker processes
(:func:`worker_process` is their target: importable from here alone, so a worker forked or
spawned for the run needs nothing of the run's own modules).

SIGTERM (a scale-down, a rolling update) lets the current chunk finish and be handed on
before the process exits with 0; an unacknowledged chunk of a worker that dies goes back to
the queue. A chunk that keeps killing its workers is recorded as failed after
:data:`~hzz.shared.messaging.rabbitmq.POISON_DELIVERIES` deliveries instead of looping forever.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from hzz.shared.analysis import analyse_chunk, default_worker_name, failed_result, use_fastest_zlib
from hzz.shared.data_vars import Settings
from hzz.shared.errors import PermanentChunkError, ReadDeadlineExceeded, TransientChunkError
from hzz.shared.logs import configure_logging
from hzz.shared.messages import ChunkTask
from hzz.shared.messaging import Outgoing, QueueNames, Transport, dead_letter
from hzz.shared.remote import is_remote
from hzz.shared.retry import backoff_seconds, should_retry

__all__ = [
    "chunk_handler",
    "give_up_handler",
    "keep_freed_memory",
    "location_within",
    "run_worker",
    "worker_process",
]

log = logging.getLogger(__name__)

#: A try of a remote chunk needs at least this much of its read deadline left to be worth making.
MIN_TRY_SECONDS = 1.0


def chunk_handler(
    names: QueueNames,
    *,
    max_retries: int,
    worker: str,
    stop: threading.Event | None = None,
    backoff: Callable[[int], float] = backoff_seconds,
    dataset: str | None = None,
    read_deadline: float | None = None,
    read_ahead: bool = True,
) -> Callable[[bytes], list[Outgoing]]:
    """The function that turns one task message into the messages to publish.

    A success gives a result. A transient failure gives the same task again with its attempt
    count raised (after a backoff), until ``max_retries``; then, or for a permanent failure,
    a failed result for the aggregator and the task, with its error, for the dead-letter queue.
    A body that is not a task raises, and the transport dead-letters it.

    Args:
        names: the queues.
        max_retries: tries after the first for a transient failure.
        worker: this worker's name, recorded in each result.
        stop: cuts the backoff short when set (SIGTERM): the retry is handed on at once.
        backoff: seconds to wait before try ``attempt + 1``.
        dataset: read only files under this folder or URL (the run's dataset); a task naming
            another location fails without reading it. None: any location.
        read_deadline: seconds a chunk of a remote file may take to connect and read, in all its
            tries together (each retry carries the time spent so far); once spent, the chunk
            fails saying so. None: no deadline.
        read_ahead: read a chunk's other branches on a second thread while the cuts run
            (:func:`reads_ahead`).
    """
    pause = stop if stop is not None else threading.Event()

    def handle(body: bytes) -> list[Outgoing]:
        task = ChunkTask.decode(body)
        if dataset is not None and not location_within(task.location, dataset):
            error = PermanentChunkError(f"{task.describe()}: the location is outside the dataset {dataset}; not read")
            return _failed(names, task, error, body, worker)
        budget = None
        if read_deadline is not None and is_remote(task.location):
            budget = read_deadline - task.read_seconds
            if budget < MIN_TRY_SECONDS:
                # At the first try only counting the file's entries (the producer) can have spent it.
                why = "its file gave no complete answer to the producer" if task.attempt == 0 else "no time left"
                what = f"{task.describe()}: not read: {why}"
                error = _deadline_spent(task, what, read_deadline, max_retries, tries=task.attempt)
                return _failed(names, task, error, body, worker)
        log.info("%s: started (attempt %d)", task.chunk_id, task.attempt)
        started = time.monotonic()
        try:
            result = analyse_chunk(task, worker=worker, read_deadline=budget, read_ahead=read_ahead)
        except Exception as e:
            if read_deadline is not None and budget is not None:  # a remote file: the tries share the deadline
                task = dataclasses.replace(task, read_seconds=task.read_seconds + time.monotonic() - started)
                if isinstance(e, ReadDeadlineExceeded) or (
                    isinstance(e, TransientChunkError) and read_deadline - task.read_seconds < MIN_TRY_SECONDS
                ):
                    error = _deadline_spent(task, str(e), read_deadline, max_retries, tries=task.attempt + 1)
                    return _failed(names, task, error, body, worker)
            if isinstance(e, TransientChunkError) and should_retry(task.attempt, max_retries):
                delay = backoff(task.attempt)
                log.warning("%s failed transiently (%s); retry %d in %.1f s", task.chunk_id, e, task.attempt + 1, delay)
                pause.wait(delay)
                retry = dataclasses.replace(task, attempt=task.attempt + 1)
                return [Outgoing(names.tasks, retry.encode())]
            return _failed(names, task, e, body, worker)
        log.info(
            "%s: %d events read, %d selected in %.2f s",
            task.chunk_id,
            result.events_read,
            result.events_selected,
            result.seconds,
        )
        return [Outgoing(names.results, result.encode())]

    return handle


def _deadline_spent(
    task: ChunkTask, what: str, read_deadline: float, max_retries: int, *, tries: int
) -> PermanentChunkError:
    """The failure of a chunk whose read deadline is spent, stating what was spent and the retries left."""
    unused = max(max_retries - max(tries - 1, 0), 0)
    msg = (
        f"{what}; the chunk's read deadline of {read_deadline:g} s (HZZ_READ_DEADLINE_SECONDS), shared by "
        f"counting the file's entries and all the chunk's tries, is spent: {task.read_seconds:.1f} s over "
        f"{tries} {'try' if tries == 1 else 'tries'}; {unused} of {max_retries} retries (HZZ_MAX_RETRIES) left unused"
    )
    return PermanentChunkError(msg)


def location_within(location: str, dataset: str) -> bool:
    """Whether a file's location lies under the dataset (a URL prefix, or a folder on this machine)."""
    scheme = urlparse(dataset).scheme
    if scheme in ("http", "https"):
        return location.startswith(dataset.rstrip("/") + "/") and ".." not in urlparse(location).path.split("/")
    base = Path(unquote(urlparse(dataset).path) if scheme == "file" else dataset).resolve()
    path = unquote(urlparse(location).path) if urlparse(location).scheme == "file" else location
    if urlparse(location).scheme not in ("", "file"):
        return False
    return Path(path).resolve().is_relative_to(base)


def give_up_handler(names: QueueNames, *, worker: str) -> Callable[[bytes, str], list[Outgoing]]:
    """What to publish for a task that keeps killing its workers: a failed result and a dead letter."""

    def give_up(body: bytes, reason: str) -> list[Outgoing]:
        task = ChunkTask.decode(body)
        return _failed(names, task, RuntimeError(f"{task.describe()}: {reason}"), body, worker)

    return give_up


def _failed(names: QueueNames, task: ChunkTask, error: BaseException, body: bytes, worker: str) -> list[Outgoing]:
    failed = failed_result(task, error, worker=worker)
    log.error("%s failed: %s", task.chunk_id, failed.error)
    return [Outgoing(names.results, failed.encode()), dead_letter(names.tasks, body, failed.error or "", names.dead)]


def usable_cores() -> float:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU quota (a
    container's limit, such as a worker pod's one CPU)."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, int(quota) / int(period))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return cores


def reads_ahead(settings: Settings, *, workers_here: int) -> bool:
    """Whether a worker reads a chunk's other branches on a second thread while its cuts run
    (``settings.read_ahead``). "auto": only where a core is left for that thread beside the
    ``workers_here`` workers sharing the machine; where every core runs a worker, the thread only
    adds switching and contention for the interpreter lock (measured: 1× the release, 2 workers
    on 2 cores, 8 % slower with it; one worker beside a free core, faster).
    """
    if settings.read_ahead != "auto":
        return settings.read_ahead == "on"
    return usable_cores() >= workers_here + 1


#: glibc's mallopt parameters, and the values a worker sets: arrays up to 32 MB (glibc's largest
#: such threshold) come from the heap, and nothing freed is handed back to the kernel below 1 GB.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEPT_HEAP_BYTES = 1 << 30
HEAP_ARRAY_BYTES = 32 << 20


def keep_freed_memory() -> bool:
    """Let this process keep the memory it frees for its next allocations (glibc only).

    By default glibc maps every array above its (adaptive) threshold afresh and hands freed
    memory at the top of the heap straight back to the kernel, so each chunk's arrays are faulted
    in again page by page: ~20,000 page faults per 250,000 entries, most of a worker's system
    time (measured on 10×: 784,000 faults and 1.9 s of system time for the run, 116,000 and 0.65 s
    with this; 4.4 → 3.7 s). A worker's memory then stays at its peak between chunks instead of
    dropping and climbing back, which is what it holds during every chunk anyway.

    Returns:
        bool: whether the allocator took the settings (False: not glibc, e.g. macOS or musl).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that call, or no mallopt in it
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_ARRAY_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEPT_HEAP_BYTES))


def run_worker(settings: Settings, transport: Transport, stop: threading.Event, *, workers_here: int = 1) -> None:
    """Consume tasks until ``stop`` is set (the current chunk is finished and handed on first).

    Args:
        settings: the run's (or the service's) settings.
        transport: where the tasks come from and the results go.
        stop: set to stop.
        workers_here: the workers sharing this machine's cores (``hzz run``'s; one for a pod).
    """
    use_fastest_zlib()
    keep_freed_memory()
    name = default_worker_name()
    handle = chunk_handler(
        transport.names,
        max_retries=settings.max_retries,
        worker=name,
        stop=stop,
        dataset=settings.dataset,
        read_deadline=settings.read_deadline_seconds,
        read_ahead=reads_ahead(settings, workers_here=workers_here),
    )
    transport.consume(transport.names.tasks, handle, stop=stop, give_up=give_up_handler(transport.names, worker=name))
    transport.close()


def worker_process(settings: Settings, transport: Transport, stop: threading.Event, log_level: str) -> None:
    """A worker process of the one-machine run: logging at ``log_level``, then :func:`run_worker`."""
    configure_logging("worker")
    logging.getLogger().setLevel(log_level)
    run_worker(settings, transport, stop, workers_here=settings.workers)
