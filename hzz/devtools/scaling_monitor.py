"""The scaling monitor: every few seconds, the worker pods, the autoscaler, the task queue and the run.

It runs in the cluster as the Deployment ``hzz-monitor`` (``k8s/monitor.yaml``) from the moment
``deploy.sh`` deploys the pipeline until the namespace is deleted, so the scaling logs hold the
autoscaler's whole life, scale-down included, whatever deploy.sh's options (``--keep`` too). Each
sample reads:

- the worker Deployment (the replicas the autoscaler asks for) and its pods, from the Kubernetes
  API with the pod's service-account token (its Role allows exactly these reads);
- each worker pod's CPU from the metrics API (``metrics.k8s.io``), as ``kubectl top`` does;
- the HPA ``hzz-worker``, as ``kubectl get hpa`` shows it;
- the task queue from RabbitMQ's management API: its ready and unacknowledged tasks, and how many
  the workers acknowledged per second over the broker's last statistics interval (its own samples,
  so the rate does not depend on when the monitor looks); times the run's events per chunk, the
  events per second of all pods;
- chunks done and events read, in all and per worker, from ``results.json``: a pod's events per
  second are the difference between the file's two latest versions over the time between them
  (the aggregator rewrites it every few seconds, or less often when its CPU is short, so this
  rate is the smoother and later of the two);
- how busy the node's cores are, from ``/proc/stat``, which containers share with their node.

and appends a block to ``pod_scaling.log`` and ``hpa_metrics.log`` (the format is
:mod:`hzz.shared.scaling`'s). What cannot be read is ``?`` in that block, never a crash: the monitor
outlives restarts of the broker, the aggregator and the API server.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import ssl
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hzz.shared.outputs import RESULTS_FILE, read_json
from hzz.shared.scaling import (
    HPA_LOG,
    POD_LOG,
    ScalingSample,
    WorkerPodSample,
    format_pod_line,
    format_summary,
)

__all__ = ["Monitor", "hpa_line", "main", "node_cpu_times", "parse_quantity", "pod_status", "worker_pods"]

log = logging.getLogger(__name__)

#: Where Kubernetes mounts a pod's service-account token, CA and namespace.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: The worker pods' label and the names of their Deployment and HPA (k8s/worker.yaml, worker-hpa.yaml).
WORKER = "hzz-worker"
#: Seconds for any one request: a sample must not wait longer than its interval.
REQUEST_TIMEOUT = 3.0
#: The file the liveness probe checks (as for the worker and the aggregator).
HEARTBEAT = Path("/tmp/hzz-heartbeat")
#: API versions of the HPA, newest first (autoscaling/v2 is GA since Kubernetes 1.23).
HPA_APIS = ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")


def parse_quantity(text: str) -> float:
    """A Kubernetes CPU quantity (``250m``, ``1``, ``512345n``, ``12u``) in millicores."""
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text) * 1000.0


def _age(created: str | None, now: datetime) -> str:
    """kubectl's AGE column: ``45s``, ``3m12s``, ``2h5m``."""
    if not created:
        return "?"
    seconds = max(0, int((now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60}m"


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS kubectl shows for a pod: Terminating, Init:0/1, ContainerCreating, Running, …"""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    inits = status.get("initContainerStatuses") or []
    for i, container in enumerate(inits):
        state = container.get("state", {})
        if state.get("terminated", {}).get("exitCode") == 0:
            continue
        reason = (state.get("waiting") or state.get("terminated") or {}).get("reason")
        return f"Init:{reason}" if reason and reason != "PodInitializing" else f"Init:{i}/{len(inits)}"
    for container in status.get("containerStatuses") or []:
        state = container.get("state", {})
        reason = (state.get("waiting") or state.get("terminated") or {}).get("reason")
        if reason:
            return reason
    return status.get("phase") or "Unknown"


def _is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def worker_pods(
    pods: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    rates: dict[str, float],
    *,
    timestamp: str,
    now: datetime,
) -> list[tuple[WorkerPodSample, str]]:
    """The worker pods of a pod list and their CPU (metrics API) and events/s, with kubectl's AGE each."""
    cpu = {}
    for item in (metrics or {}).get("items") or []:
        usage = [parse_quantity(c.get("usage", {}).get("cpu", "0")) for c in item.get("containers") or []]
        cpu[item.get("metadata", {}).get("name")] = round(sum(usage))
    found = []
    for pod in sorted((pods or {}).get("items") or [], key=lambda p: p.get("metadata", {}).get("name", "")):
        meta, status = pod.get("metadata", {}), pod.get("status", {})
        name = meta.get("name", "?")
        restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
        sample = WorkerPodSample(
            timestamp=timestamp,
            pod=name,
            status=pod_status(pod),
            ready=_is_ready(pod),
            restarts=restarts,
            cpu_millicores=cpu.get(name),
            events_per_second=rates.get(name),
        )
        found.append((sample, _age(meta.get("creationTimestamp"), now)))
    return found


def hpa_line(hpa: dict[str, Any] | None, *, now: datetime) -> str:
    """The HPA as ``kubectl get hpa --no-headers`` prints it, from the API object (any version)."""
    if not hpa:
        return f"no HPA {WORKER} (yet)"
    spec, status = hpa.get("spec", {}), hpa.get("status", {})
    targets = []

    def percent(value: Any) -> str:
        return "<unknown>" if value is None else f"{value}%"

    if "targetCPUUtilizationPercentage" in spec or "currentCPUUtilizationPercentage" in status:  # v1
        current = status.get("currentCPUUtilizationPercentage")
        targets.append(f"cpu: {percent(current)}/{spec.get('targetCPUUtilizationPercentage', 80)}%")
    for metric in spec.get("metrics") or []:
        kind = metric.get("type", "")
        key = kind[:1].lower() + kind[1:]  # "Resource" -> "resource", "External" -> "external"
        source = metric.get(key, {})
        name = source.get("name") or source.get("metric", {}).get("name", "?")
        target = source.get("target", {})
        reading = next(
            (
                m.get(key, {}).get("current", {})
                for m in status.get("currentMetrics") or []
                if m.get("type") == kind
                and (m.get(key, {}).get("name") or m.get(key, {}).get("metric", {}).get("name")) == name
            ),
            {},
        )
        if "averageUtilization" in target:
            targets.append(f"{name}: {percent(reading.get('averageUtilization'))}/{target['averageUtilization']}%")
        else:
            wanted = target.get("averageValue") or target.get("value") or "?"
            current = reading.get("averageValue") or reading.get("value") or "<unknown>"
            targets.append(f"{name}: {current}/{wanted} (avg)")
    ref = spec.get("scaleTargetRef", {})
    reference = f"{ref.get('kind', 'Deployment')}/{ref.get('name', WORKER)}"
    return (
        f"{hpa.get('metadata', {}).get('name', WORKER)}   {reference}   {', '.join(targets) or '<none>'}   "
        f"{spec.get('minReplicas', 1)}   {spec.get('maxReplicas', '?')}   {status.get('currentReplicas', 0)}   "
        f"{_age(hpa.get('metadata', {}).get('creationTimestamp'), now)}"
    )


def node_cpu_times(text: str) -> tuple[float, float, int]:
    """(busy, total) jiffies of all cores and the number of cores, from the text of ``/proc/stat``."""
    lines = text.splitlines()
    values = [float(v) for v in lines[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    # guest and guest_nice are already counted in user and nice.
    total = sum(values[:8])
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return total - idle, total, cores


class KubeApi:
    """GETs to the Kubernetes API with the pod's service-account token; ``None`` for any failure."""

    def __init__(self, base_url: str, namespace: str, *, account: Path = SERVICE_ACCOUNT):
        self.base_url = base_url.rstrip("/")
        self.namespace = namespace
        self.account = account
        self.context = ssl.create_default_context(cafile=str(account / "ca.crt"))

    @classmethod
    def in_cluster(cls, namespace: str | None = None) -> KubeApi:
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        host = f"[{host}]" if ":" in host else host
        if namespace is None:
            namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip()
        return cls(f"https://{host}:{port}", namespace)

    def get(self, path: str) -> dict[str, Any] | None:
        # The token is read for every request: Kubernetes rotates projected tokens.
        token = (self.account / "token").read_text().strip()
        request = urllib.request.Request(self.base_url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT, context=self.context) as answer:
                return json.load(answer)
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
            log.debug("GET %s: %s", path, e)
            return None


@dataclass
class _Progress:
    """What results.json said at one version: used to turn counts into rates."""

    run_id: str | None = None
    mtime: float = 0.0
    per_pod: dict[str, int] = field(default_factory=dict)


def _events_per_chunk(results: dict[str, Any] | None) -> float | None:
    """The run's events per chunk so far, or its chunk size before any chunk is in; None without a run."""
    if not results:
        return None
    done, events = results.get("tally", {}).get("done") or 0, results.get("events", {}).get("read") or 0
    if done and events:
        return events / done
    return (results.get("settings") or {}).get("chunk_size")


class Monitor:
    """Takes the samples and appends them to the logs in ``output_dir``."""

    def __init__(self, output_dir: Path, api: KubeApi, *, broker_api: str, queue: str, credentials: tuple[str, str]):
        self.output_dir = output_dir
        self.api = api
        self.queue_url = f"{broker_api.rstrip('/')}/api/queues/%2F/{urllib.parse.quote(queue, safe='')}"
        self.auth = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        self.hpa_api: str | None = None
        self.progress = _Progress()
        self.pod_rates: dict[str, float] = {}
        self.cpu_before: tuple[float, float] | None = None
        self.acks_before: tuple[float, int] | None = None

    def queue(self) -> tuple[int | None, int | None, float | None]:
        """The task queue's ready and unacknowledged tasks, and the tasks acknowledged per second."""
        # msg_rates_age/incr: the broker's own samples of its counters, with their times.
        request = urllib.request.Request(
            self.queue_url + "?msg_rates_age=60&msg_rates_incr=5", headers={"Authorization": self.auth}
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
                queue = json.load(answer)
        except (OSError, ValueError) as e:
            log.debug("task queue: %s", e)  # the queue exists only once the producer ran
            return None, None, None
        return queue.get("messages_ready"), queue.get("messages_unacknowledged"), self._ack_rate(queue)

    def _ack_rate(self, queue: dict[str, Any]) -> float | None:
        stats = queue.get("message_stats") or {}
        samples = (stats.get("ack_details") or {}).get("samples") or []
        if len(samples) >= 2:  # newest first
            (newer, older) = samples[:2]
            seconds = (newer["timestamp"] - older["timestamp"]) / 1000
            return (newer["sample"] - older["sample"]) / seconds if seconds > 0 else None
        # A broker without samples: the counter's change since the previous look.
        acks, now = stats.get("ack"), time.monotonic()
        before = self.acks_before
        self.acks_before = None if acks is None else (now, acks)
        if acks is None:
            return 0.0 if "messages_ready" in queue else None  # a queue nobody has acknowledged from yet
        if before is None or now <= before[0]:
            return None
        return (acks - before[1]) / (now - before[0])

    def hpa(self) -> dict[str, Any] | None:
        for version in (self.hpa_api,) if self.hpa_api else HPA_APIS:
            found = self.api.get(f"/apis/{version}/namespaces/{self.api.namespace}/horizontalpodautoscalers/{WORKER}")
            if found is not None:
                self.hpa_api = version
                return found
        return None

    def run_progress(self) -> tuple[dict[str, Any] | None, dict[str, float]]:
        """results.json, and each pod's events per second between its two latest versions."""
        path = self.output_dir / RESULTS_FILE
        try:
            mtime = path.stat().st_mtime
            results = read_json(path)
        except (OSError, ValueError):
            return None, {}
        per_pod: dict[str, int] = {}
        for worker, record in (results.get("workers") or {}).items():
            pod = worker.split(":")[0]  # "<hostname>:<pid>", and a pod's hostname is its name
            per_pod[pod] = per_pod.get(pod, 0) + int(record.get("events_read", 0))
        if results.get("run_id") != self.progress.run_id:
            self.progress, self.pod_rates = _Progress(results.get("run_id"), mtime, per_pod), {}
            return results, {}
        if mtime > self.progress.mtime:
            before, seconds = self.progress, mtime - self.progress.mtime
            self.pod_rates = {pod: (n - before.per_pod.get(pod, 0)) / seconds for pod, n in per_pod.items()}
            self.progress = _Progress(results.get("run_id"), mtime, per_pod)
        elif results.get("finished_at"):
            self.pod_rates = dict.fromkeys(per_pod, 0.0)  # the run is over: nothing is processed
        # Not rewritten since: the rates of its latest version still stand.
        return results, dict(self.pod_rates)

    def node_cpu(self) -> tuple[float | None, int | None]:
        try:
            busy, total, cores = node_cpu_times(Path("/proc/stat").read_text())
        except (OSError, ValueError, IndexError):
            return None, None
        before, self.cpu_before = self.cpu_before, (busy, total)
        if before is None or total <= before[1]:
            return None, cores
        return 100.0 * (busy - before[0]) / (total - before[1]), cores

    def sample(self) -> tuple[str, str]:
        """One block for each log, as text."""
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        ns = self.api.namespace
        deployment = self.api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{WORKER}")
        selector = urllib.parse.quote(f"app={WORKER}")
        pods = self.api.get(f"/api/v1/namespaces/{ns}/pods?labelSelector={selector}")
        metrics = self.api.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods?labelSelector={selector}")
        hpa = self.hpa()
        queue_ready, queue_unacked, chunk_rate = self.queue()
        results, rates = self.run_progress()
        node_percent, cores = self.node_cpu()
        lines = worker_pods(pods, metrics, rates, timestamp=stamp, now=now)
        running = [p for p, _ in lines if p.status == "Running"]
        cpu = [p.cpu_millicores for p in running if p.cpu_millicores is not None]
        tally = (results or {}).get("tally", {})
        per_chunk = _events_per_chunk(results)
        summary = ScalingSample(
            timestamp=stamp,
            desired=(deployment or {}).get("spec", {}).get("replicas"),
            running=len(running) if pods is not None else None,
            ready=sum(1 for p in running if p.ready) if pods is not None else None,
            total=len(lines) if pods is not None else None,
            queue_ready=queue_ready,
            queue_unacked=queue_unacked,
            chunks_done=tally.get("done"),
            chunks_total=tally.get("total"),
            chunks_per_second=chunk_rate,
            events_per_second=None if chunk_rate is None or per_chunk is None else per_chunk * chunk_rate,
            cpu_millicores_per_pod=round(statistics.fmean(cpu)) if cpu else None,
            node_cpu_percent=node_percent,
            node_cores=cores,
        )
        pod_block = "\n".join([format_summary(summary), *(format_pod_line(p, age) for p, age in lines)]) + "\n"
        hpa_block = f"=== {stamp}\n{hpa_line(hpa, now=now)}\n"
        return pod_block, hpa_block

    def append(self) -> None:
        pod_block, hpa_block = self.sample()
        for name, block in ((POD_LOG, pod_block), (HPA_LOG, hpa_block)):
            # One write per block, so that a reader never sees half of one.
            with open(self.output_dir / name, "a", encoding="utf-8") as f:
                f.write(block)
        HEARTBEAT.touch()


def main(argv: Sequence[str] | None = None) -> int:
    """Sample every ``--interval`` seconds into the output folder until SIGTERM."""
    from hzz.shared.data_vars import Settings  # the output folder and queue names are settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m hzz.devtools.scaling_monitor", description=main.__doc__)
    parser.add_argument("--output-dir", default=settings.output_dir, help="where the logs go (default: HZZ_OUTPUT_DIR)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--broker-api", default="http://hzz-rabbitmq:15672", help="RabbitMQ's management API")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.interval > 0:
        parser.error(f"--interval must be a positive number of seconds, not {args.interval}")
    credentials = (os.environ.get("RABBITMQ_USER", "guest"), os.environ.get("RABBITMQ_PASS", "guest"))
    monitor = Monitor(
        Path(args.output_dir),
        KubeApi.in_cluster(),
        broker_api=args.broker_api,
        queue=f"{settings.queue_prefix}.tasks",
        credentials=credentials,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("sampling every %s s into %s and %s of %r", args.interval, POD_LOG, HPA_LOG, args.output_dir)
    while not stop.is_set():
        started = time.monotonic()
        try:
            monitor.append()
        except OSError as e:  # the output folder went away or is full: say so, and try again
            log.warning("cannot write the scaling logs in %r: %s", args.output_dir, e)
        stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
