"""The one-machine run: producer, N worker processes and the aggregator wired together.

The same producer, worker and aggregator code as on Kubernetes, over RabbitMQ when a broker
answers (or one is asked for) and over the embedded transport otherwise, so the pipeline runs
on a laptop with nothing installed but Python.

A run ends cleanly however it ends. Ctrl-C or SIGTERM stops it within seconds: the workers get a
moment to finish their chunk and are then terminated, the aggregator records what it has, the
run's queues are deleted, and :class:`~hzz.shared.errors.RunInterrupted` says how many chunks
were done and how to finish the run (``hzz run --resume``, :func:`run_local` with
``resume=True``: the pending and failed chunks of the run in the output folder). Every process
the run starts ends with it, even after a SIGKILL (:class:`hzz.processes.ParentWatch`); over
RabbitMQ the run's queues, its own, expire an hour after their last use.

A small run (a few MB of local files, no more chunks than workers: :func:`hzz.processes.small_local_input`)
starts no process: its chunks are analysed on threads of this process by the same worker loop,
over queues in this process's memory (embedded) or the run's RabbitMQ queues, and aggregated as
any run's. Starting a worker costs more than analysing such an input.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hzz import processes
from hzz.interruption import SignalGuard, interrupted_message
from hzz.shared import drawing
from hzz.shared.aggregation import Aggregator, run_aggregator
from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings, mask_password
from hzz.shared.errors import BrokerUnavailable, HZZError, RunInterrupted
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkTask, RunManifest
from hzz.shared.messaging import QueueNames, Transport
from hzz.shared.messaging.embedded import EmbeddedTransport
from hzz.shared.outputs import RESULTS_FILE, ensure_writable, run_folder
from hzz.shared.processing import run_worker, worker_process
from hzz.shared.runs import bar_class, load_run, publish_run, resume_run, settings_of_run
from hzz.shared.runstore import find_runs, load_run_state
from hzz.shared.signing import Signer, new_key

if TYPE_CHECKING:  # pika is imported only by a run over RabbitMQ
    from hzz.shared.messaging.rabbitmq import RabbitMQTransport

__all__ = ["choose_transport", "run_local"]

log = logging.getLogger(__name__)

TransportChoice = Literal["auto", "rabbitmq", "embedded"]
#: Seconds a stopping worker gets to finish its chunk before it is terminated.
WORKER_STOP_SECONDS = 60
#: … when the run was interrupted: its unfinished chunks stay pending for ``--resume``, and the
#: user waits; a chunk of the default size takes well under a second.
INTERRUPTED_WORKER_STOP_SECONDS = 2.0
#: Seconds a terminated (SIGTERM) worker gets before it is killed.
TERMINATE_SECONDS = 2.0
#: Longest the aggregator of an interrupted run takes to record its last batch and results.json.
INTERRUPTED_AGGREGATOR_STOP_SECONDS = 10.0
#: A run's RabbitMQ queues are deleted by the broker after this long unused (``x-expires``): what
#: a SIGKILLed run leaves behind goes by itself. The run renews them (a declaration counts as
#: use) every :data:`QUEUE_RENEW_SECONDS`, since nothing consumes its dead-letter queue.
QUEUE_EXPIRY_SECONDS = 3600.0
QUEUE_RENEW_SECONDS = 600.0


def choose_transport(settings: Settings, choice: TransportChoice) -> Literal["rabbitmq", "embedded"]:
    """The transport a run uses: RabbitMQ if asked for or if a broker answers; embedded if asked for
    or (auto) if nothing listens at the broker's address.

    "auto" falls back to the embedded transport only when nothing listens (the connection is
    refused or no route reaches the host): a broker that answers and refuses (wrong credentials,
    no such vhost), a name that does not resolve or an address that does not answer are errors,
    never silently replaced by another transport.

    Raises:
        BrokerUnavailable: the broker is needed and cannot be used; the message says why (the
            broker's own reason when it refused) and what to do. Its cause is pika's error.
        ConfigError: the broker URL is malformed.
    """
    if choice == "embedded":
        return "embedded"
    from hzz.shared.messaging.rabbitmq import probe_broker

    probe = probe_broker(settings.broker_url)
    if probe.answers:
        return "rabbitmq"
    if choice == "auto" and probe.outcome == "nothing_listens":
        return "embedded"
    if probe.outcome == "refused":
        todo = "fix the user, password or vhost of --broker-url (HZZ_BROKER_URL), or use --transport embedded"
    elif probe.outcome == "nothing_listens":
        todo = "start one (rabbitmq-server -detached), or use --transport embedded or auto"
    else:
        todo = "check --broker-url (HZZ_BROKER_URL), or use --transport embedded"
    msg = f"broker: {probe.reason} (HZZ_BROKER_URL {mask_password(settings.broker_url)}); {todo}"
    raise BrokerUnavailable(msg) from probe.error


def _clone(transport: Transport) -> Transport:
    # Connections and proxies are not shared between threads: each user gets its own copy.
    return pickle.loads(pickle.dumps(transport))


def run_local(
    settings: Settings,
    *,
    transport: TransportChoice = "auto",
    progress: bool = True,
    worker_log_level: str = "WARNING",
    resume: bool = False,
    retry_failed: bool = False,
    partial_plots: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline on this machine and return the results document.

    Args:
        settings: the run's settings (a run id is made if there is none).
        transport: "auto", "rabbitmq" or "embedded".
        progress: show a progress bar (chunks, events/s).
        worker_log_level: log level of the worker processes.
        resume: instead of a new run, finish the newest run recorded in the output folder: its
            pending chunks (it was interrupted) and its failed ones, with the settings it was
            started with; the aggregator resumes from its recorded state.
        retry_failed: the same as ``resume`` (its older name).
        partial_plots: draw the plot while the run goes (for a page that shows it), not only at the end.

    Raises:
        HZZError: bad settings, an unwritable output folder, an unreachable broker, or a worker
            that died where its chunk cannot be recovered.
        RunInterrupted: SIGINT (Ctrl-C) or SIGTERM stopped the run; its message says how many
            chunks were done and how to finish it. Every process of the run has ended by then.
    """
    output_dir = ensure_writable(settings.output_dir)
    resumed = load_run(output_dir) if resume or retry_failed else None
    if resumed is not None:
        if resumed.complete and not resumed.failed:
            log.warning("run %s in %s is complete: nothing to resume", resumed.run_id, output_dir)
            return json.loads((run_folder(output_dir, resumed.run_id) / RESULTS_FILE).read_text())
        settings = settings_of_run(resumed, settings)
    settings = settings.with_new_run_id()
    small = resumed is None and processes.small_local_input(settings)
    if not small and not processes.fork_from_here():
        processes.warm_up()  # the forkserver imports the workers' modules while this process goes on
    # Planned first (the files opened to count their entries): the workers then find their tasks
    # the moment they start, and a small run is known as one before anything starts.
    planned = plan_run(settings) if resumed is None else None
    in_process = small and planned is not None and len(planned[1]) <= settings.workers
    if not settings.signing_key:
        settings = settings.replace(signing_key=new_key())  # this run's own: only its processes hold it
    signer = Signer(settings.signing_key)
    kind = choose_transport(settings, transport)
    # Over a shared broker the run has queues of its own: another run's tasks and results never
    # meet this one's (two runs at once on one broker both finish, neither touched).
    names = QueueNames(settings.queue_prefix if kind == "embedded" else f"{settings.queue_prefix}.{settings.run_id}")
    if in_process:
        log.info("run %s: in this process (small input), %s transport, output in %s", settings.run_id, kind, output_dir)
    else:
        log.info("run %s: %d workers, %s transport, output in %s", settings.run_id, settings.workers, kind, output_dir)

    with SignalGuard() as guard:
        try:
            _run(
                settings,
                kind,
                names,
                signer,
                resumed,
                guard,
                planned=planned,
                in_process=in_process,
                progress=progress,
                worker_log_level=worker_log_level,
                partial_plots=partial_plots,
            )
        except KeyboardInterrupt:  # ours (RunInterrupted), or another handler's (a notebook's)
            guard.note(signal.SIGINT)
        except Exception as e:
            if guard.signum is None:
                raise
            # The signal reached the children too (a whole process group was signalled): what
            # broke on the way down is the interruption's doing.
            log.debug("while interrupted: %s: %s", type(e).__name__, e)
    if guard.signum is not None:
        tally = _recorded(output_dir, settings.run_id)
        if tally is None or not tally.complete:
            raise RunInterrupted(guard.signum, interrupted_message(settings, guard.signum, tally))
    return json.loads((run_folder(output_dir, settings.run_id) / RESULTS_FILE).read_text())


class _WorkerThread:
    """A worker of a small run: the worker loop on a thread of the run's process, stopped as a
    worker process is (its stop event) and watched as one (``exitcode``). A thread cannot be
    killed: one still busy when the run gives up on it is left behind (a daemon thread, it does
    not hold the process's exit)."""

    def __init__(self, settings: Settings, transport: Transport, stop: threading.Event, name: str) -> None:
        self.name = name
        self._failed = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._work, args=(settings, transport, stop), name=name, daemon=True)

    def _work(self, settings: Settings, transport: Transport, stop: threading.Event) -> None:
        try:
            run_worker(settings, transport, stop)
        except BaseException:
            self._failed = True
            log.exception("%s stopped", self.name)

    def start(self) -> None:
        self._thread.start()

    @property
    def exitcode(self) -> int | None:
        if self._thread.ident is None or self._thread.is_alive():
            return None
        return 1 if self._failed else 0

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if not self._abandoned:
            self._thread.join(timeout)

    def terminate(self) -> None:
        pass  # nothing stops a thread but its stop event, already set

    def kill(self) -> None:
        self._abandoned = True


def _run(
    settings: Settings,
    kind: str,
    names: QueueNames,
    signer: Signer,
    resumed: RunTally | None,
    guard: SignalGuard,
    *,
    planned: tuple[RunManifest, list[ChunkTask]] | None,
    in_process: bool,
    progress: bool,
    worker_log_level: str,
    partial_plots: bool,
) -> None:
    output_dir = Path(settings.output_dir)
    with ExitStack() as stack:
        try:
            renew: Callable[[], None] | None = None
            if not in_process:
                # Workers fork from this process while it runs no other thread, else from a
                # forkserver that has imported their modules (hzz.processes says why); every
                # process started below ends when this one does, however it ends.
                context = processes.worker_context()
                watch = processes.ParentWatch(context)
                stack.callback(watch.close)
            if in_process and kind == "embedded":
                # Queues in this process's memory, shared by its threads as they are (no copies).
                local_queues = {name: queue.Queue() for name in names.all()}
                shared_transport: Transport = EmbeddedTransport(names, local_queues, signer=signer)
            elif kind == "embedded":
                # Forked from this process with the workers where they are (at once), else spawned:
                # a manager needs none of the workers' modules, and the forkserver would first
                # import them.
                forked = context.get_start_method() == "fork"
                manager = processes.RunManager(ctx=context if forked else multiprocessing.get_context("spawn"))
                manager.start(processes.watch_parent, (watch.reader,))
                stack.callback(manager.shutdown)
                shared_transport = EmbeddedTransport.start(names, manager, signer=signer)
            else:
                from hzz.shared.messaging.rabbitmq import RabbitMQTransport

                rabbitmq = RabbitMQTransport(
                    settings.broker_url, names, signer=signer, queue_expiry_seconds=QUEUE_EXPIRY_SECONDS
                )
                shared_transport = rabbitmq
                stack.callback(_delete_queues, rabbitmq)
                if resumed is not None:
                    _purge_queues(rabbitmq)  # what a killed run left there; its recorded state says what is to do
                renew = _renewer(rabbitmq)

            def copy(transport: Transport) -> Transport:
                return transport if in_process and kind == "embedded" else _clone(transport)

            workers: list[Any] = []
            if not in_process:
                # First, before this process starts a thread: they may then be forked from it.
                worker_stop: Any = processes.StopPipe(context)
                stack.callback(worker_stop.close)
                for _ in range(settings.workers):
                    _start_process(context, workers, watch, settings, shared_transport, worker_stop, worker_log_level)

                def start_worker() -> None:
                    # A replacement, forked from the forkserver (threads run here by now).
                    _start_process(
                        processes.context(), workers, watch, settings, shared_transport, worker_stop, worker_log_level
                    )

            aggregator = Aggregator(
                output_dir,
                refresh_seconds=settings.refresh_seconds,
                expected_run=settings.run_id,
                stall_seconds=settings.stall_seconds,
                partial_plots=partial_plots,
                draw_in_process=True,
            )
            if resumed is not None:
                aggregator.reopen(sorted(resumed.failed))  # the run is pending again until they are in
            aggregator_stop = threading.Event()
            aggregator_errors: list[BaseException] = []
            aggregator_thread = threading.Thread(
                target=_aggregate,
                args=(settings, copy(shared_transport), aggregator_stop, aggregator, aggregator_errors, guard),
                name="aggregator",
            )
            aggregator_thread.start()
            stack.callback(_stop_aggregator, aggregator, aggregator_thread, aggregator_stop, guard)

            if in_process:
                thread_stop = threading.Event()
                worker_stop = thread_stop

                def start_worker() -> None:
                    thread = _WorkerThread(settings, copy(shared_transport), thread_stop, f"worker-{len(workers)}")
                    thread.start()
                    workers.append(thread)

                # One thread: a small run's chunks take less than a second of one core.
                start_worker()
            stack.callback(_stop_workers, workers, worker_stop, guard)
            # The plot's process imports matplotlib while the chunks are analysed; started after the
            # workers, whose start it would delay (hzz run started it already for a small run).
            drawing.start_early()

            producer_transport = copy(shared_transport)
            if resumed is not None:
                resume_run(resumed, producer_transport)
                total = len(resumed.chunks)
            else:
                total = len(publish_run(settings, producer_transport, progress=progress, planned=planned).tasks())
            producer_transport.close()

            def check() -> None:
                if aggregator_errors:
                    error = aggregator_errors[0]
                    msg = f"the aggregator stopped: {type(error).__name__}: {error}"
                    raise HZZError(msg) from error

            _follow(aggregator, total, workers, kind, start_worker, check, renew, progress=progress)
        finally:
            guard.hold()  # the teardown below is bounded; a second Ctrl-C does not cut it short


def _start_process(
    context: Any,
    workers: list[Any],
    watch: processes.ParentWatch,
    settings: Settings,
    transport: Transport,
    stop: processes.StopPipe,
    log_level: str,
) -> None:
    process = context.Process(  # type: ignore[attr-defined]
        target=processes.run_watched,
        # A copy of the transport: a forked child gets the object itself, not a pickled copy
        # without connections.
        args=(watch.reader, worker_process, settings, _clone(transport)),
        kwargs={"stop": stop.reader, "log_level": log_level},
        name=f"{processes.PROCESS_PREFIX}worker-{len(workers)}",
    )
    process.start()
    workers.append(process)


def _aggregate(
    settings: Settings,
    transport: Transport,
    stop: threading.Event,
    aggregator: Aggregator,
    errors: list[BaseException],
    guard: SignalGuard,
) -> None:
    try:
        run_aggregator(settings, transport, stop, aggregator)
    except Exception as e:  # reported by the main thread (_follow), or part of an interruption
        errors.append(e)
        if guard.signum is not None:
            log.debug("the aggregator stopped while interrupted: %s: %s", type(e).__name__, e)


def _stop_aggregator(
    aggregator: Aggregator, thread: threading.Thread, stop: threading.Event, guard: SignalGuard
) -> None:
    if guard.signum is not None:
        aggregator.renderer.interrupt()  # results.json says so at once; the plot waits for the finished run
    stop.set()
    thread.join(INTERRUPTED_AGGREGATOR_STOP_SECONDS if guard.signum is not None else None)


def _recorded(output_dir: Path, run_id: str) -> RunTally | None:
    # find_runs first: opening the state of a run never recorded would create it.
    return load_run_state(output_dir, run_id) if run_id in find_runs(output_dir) else None


def _delete_queues(transport: RabbitMQTransport) -> None:
    cleanup = _clone(transport)
    cleanup.connect_attempts = 1  # type: ignore[attr-defined]  # a queue left behind expires by itself
    try:
        cleanup.delete_queues()  # type: ignore[attr-defined]
    except Exception as e:  # the run's result is in; a queue left behind is only untidy
        log.warning("could not delete the run's queues: %s", e)
    finally:
        cleanup.close()


def _purge_queues(transport: RabbitMQTransport) -> None:
    cleanup = _clone(transport)
    try:
        cleanup.purge()  # type: ignore[attr-defined]
    finally:
        cleanup.close()


def _renewer(transport: RabbitMQTransport) -> Callable[[], None]:
    def renew() -> None:
        declarer = _clone(transport)
        declarer.connect_attempts = 1  # type: ignore[attr-defined]
        try:
            declarer.connect()  # type: ignore[attr-defined]  # declaring the queues again renews their lease
        except Exception as e:  # the consumers reconnect by themselves; the next renewal tries again
            log.warning("could not renew the run's queues: %s", e)
        finally:
            declarer.close()

    return renew


def _follow(
    aggregator: Aggregator,
    total: int,
    workers: list[Any],
    kind: str,
    start_worker: Callable[[], None],
    check: Callable[[], None],
    renew: Callable[[], None] | None,
    *,
    progress: bool,
) -> None:
    tqdm = bar_class(progress)
    started = time.monotonic()
    renewed = started
    with tqdm(total=total, unit="chunk", desc="chunks", disable=not progress, dynamic_ncols=True) as bar:
        while not aggregator.finished.wait(0.5):
            check()
            snap = aggregator.snapshot()
            bar.n = snap["done"] + snap["failed"]
            rate = snap["events_read"] / max(time.monotonic() - started, 1e-9)
            bar.set_postfix_str(f"{snap['events_read']:,} events, {rate:,.0f} events/s, {snap['failed']} failed")
            for process in [w for w in workers if w.exitcode is not None]:
                if kind == "embedded":
                    msg = (
                        f"{process.name} died (exit code {process.exitcode}); the embedded transport cannot "
                        "recover its chunk: use RabbitMQ for crash safety"
                    )
                    raise HZZError(msg)
                # Over RabbitMQ its unacknowledged chunk went back to the queue: just replace it.
                log.warning("%s died (exit code %s); starting a replacement", process.name, process.exitcode)
                workers.remove(process)
                start_worker()
            if renew is not None and time.monotonic() - renewed > QUEUE_RENEW_SECONDS:
                renew()
                renewed = time.monotonic()
        snap = aggregator.snapshot()
        bar.n = snap["done"] + snap["failed"]
        bar.refresh()


def _stop_workers(workers: list[Any], stop: processes.StopPipe | threading.Event, guard: SignalGuard) -> None:
    stop.set()
    grace = INTERRUPTED_WORKER_STOP_SECONDS if guard.signum is not None else WORKER_STOP_SECONDS
    deadline = time.monotonic() + grace
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(TERMINATE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
