"""The one-machine run: producer, N worker processes and the aggregator wired together.

The same producer, worker and aggregator code as on Kubernetes, over RabbitMQ when a broker
answers (or one is asked for) and over the embedded transport otherwise, so the pipeline runs
on a laptop with nothing installed but Python.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
from contextlib import ExitStack
from typing import Any, Literal

from tqdm.auto import tqdm  # a widget in Jupyter (with ipywidgets), a bar in a terminal

from hzz import processes
from hzz.shared.aggregation import Aggregator, run_aggregator
from hzz.shared.data_vars import Settings, mask_password
from hzz.shared.errors import BrokerUnavailable, HZZError
from hzz.shared.messaging import QueueNames, Transport
from hzz.shared.messaging.embedded import EmbeddedTransport
from hzz.shared.messaging.rabbitmq import RabbitMQTransport, probe_broker
from hzz.shared.outputs import RESULTS_FILE, ensure_writable, run_folder
from hzz.shared.processing import worker_process
from hzz.shared.runs import load_run, publish_run, requeue_failed
from hzz.shared.signing import Signer, new_key

__all__ = ["choose_transport", "run_local"]

log = logging.getLogger(__name__)

TransportChoice = Literal["auto", "rabbitmq", "embedded"]
#: Seconds a stopping worker gets to finish its chunk before it is terminated.
WORKER_STOP_SECONDS = 60


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
    retry_failed: bool = False,
    partial_plots: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline on this machine and return the results document.

    Args:
        settings: the run's settings (a run id is made if there is none).
        transport: "auto", "rabbitmq" or "embedded".
        progress: show a progress bar (chunks, events/s).
        worker_log_level: log level of the worker processes.
        retry_failed: instead of a new run, re-run the failed chunks of the newest run recorded in
            the output folder and merge them into it (the aggregator resumes from its state).
        partial_plots: draw the plot while the run goes (for a page that shows it), not only at the end.

    Raises:
        HZZError: bad settings, an unwritable output folder, an unreachable broker, or a worker
            that died where its chunk cannot be recovered.
    """
    output_dir = ensure_writable(settings.output_dir)
    retry = load_run(output_dir) if retry_failed else None
    if retry is not None:
        if not retry.failed:
            log.warning("run %s in %s has no failed chunk to retry", retry.run_id, output_dir)
            return json.loads((run_folder(output_dir, retry.run_id) / RESULTS_FILE).read_text())
        settings = settings.replace(run_id=retry.run_id)
    settings = settings.with_new_run_id()
    processes.warm_up()  # the forkserver imports the workers' modules while this process goes on
    if not settings.signing_key:
        settings = settings.replace(signing_key=new_key())  # this run's own: only its processes hold it
    signer = Signer(settings.signing_key)
    kind = choose_transport(settings, transport)
    # Over a shared broker the run has queues of its own: another run's tasks and results never
    # meet this one's (two runs at once on one broker both finish, neither touched).
    names = QueueNames(settings.queue_prefix if kind == "embedded" else f"{settings.queue_prefix}.{settings.run_id}")
    # Workers fork from a forkserver that has imported their modules (hzz.processes says why).
    context = processes.context()
    log.info("run %s: %d workers, %s transport, output in %s", settings.run_id, settings.workers, kind, output_dir)

    with ExitStack() as stack:
        if kind == "embedded":
            manager = stack.enter_context(processes.RunManager(ctx=context))
            shared_transport: Transport = EmbeddedTransport.start(names, manager, signer=signer)
        else:
            shared_transport = RabbitMQTransport(settings.broker_url, names, signer=signer)
            stack.callback(_delete_queues, shared_transport)

        aggregator = Aggregator(
            output_dir,
            refresh_seconds=settings.refresh_seconds,
            expected_run=settings.run_id,
            stall_seconds=settings.stall_seconds,
            partial_plots=partial_plots,
        )
        if retry is not None:
            aggregator.reopen(sorted(retry.failed))  # the run is pending again until they are in
        aggregator_stop = threading.Event()
        aggregator_thread = threading.Thread(
            target=run_aggregator,
            args=(settings, _clone(shared_transport), aggregator_stop, aggregator),
            name="aggregator",
        )
        aggregator_thread.start()
        stack.callback(aggregator_thread.join)
        stack.callback(aggregator_stop.set)

        worker_stop = context.Event()
        workers: list[Any] = []

        def start_worker() -> None:
            process = context.Process(  # type: ignore[attr-defined]
                target=worker_process,
                args=(settings, shared_transport, worker_stop, worker_log_level),
                name=f"{processes.PROCESS_PREFIX}worker-{len(workers)}",
            )
            process.start()
            workers.append(process)

        for _ in range(settings.workers):
            start_worker()
        stack.callback(_stop_workers, workers, worker_stop)

        producer_transport = _clone(shared_transport)
        if retry is not None:
            requeue_failed(retry, producer_transport)
            total = len(retry.chunk_samples)
        else:
            total = len(publish_run(settings, producer_transport, progress=progress).tasks())
        producer_transport.close()
        _follow(aggregator, total, workers, kind, start_worker, progress=progress)

    return json.loads((run_folder(output_dir, settings.run_id) / RESULTS_FILE).read_text())


def _delete_queues(transport: Transport) -> None:
    cleanup = _clone(transport)
    try:
        cleanup.delete_queues()  # type: ignore[attr-defined]
    except Exception as e:  # the run's result is in; a queue left behind is only untidy
        log.warning("could not delete the run's queues: %s", e)
    finally:
        cleanup.close()


def _follow(
    aggregator: Aggregator, total: int, workers: list[Any], kind: str, start_worker: Any, *, progress: bool
) -> None:
    started = time.monotonic()
    with tqdm(total=total, unit="chunk", desc="chunks", disable=not progress, dynamic_ncols=True) as bar:
        while not aggregator.finished.wait(0.5):
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
        snap = aggregator.snapshot()
        bar.n = snap["done"] + snap["failed"]
        bar.refresh()


def _stop_workers(workers: list[Any], stop: Any) -> None:
    stop.set()
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
            process.join()
