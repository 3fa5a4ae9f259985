"""The scaling record of a Kubernetes run: its file format, and the logs or CSVs read back as samples.

The scaling monitor (:mod:`hzz.devtools.scaling_monitor`, deployment ``hzz-monitor``) appends one block
to each of two logs in the output folder every few seconds, from the deployment until it is deleted:

``pod_scaling.log``
    a summary line (one line, cut here), then one line per worker pod::

        === 2026-11-25T10:30:10Z  pods: 4 desired, 3 running, 2 ready, 4 in all | queue: 812 ready,
            2 unacked | chunks: 120/1600 | 20.6 chunks/s, 41200 events/s | cpu: 480m per pod, node 97% of 2 cores
        hzz-worker-6b7f9c-abcde   1/1   Running   0   50s   cpu=512m   events/s=18000

    ``?`` stands for a value the monitor could not read; the rates are over the last interval.
``hpa_metrics.log``
    ``=== <time>``, then the HPA as ``kubectl get hpa --no-headers`` prints it (NAME REFERENCE TARGETS
    MINPODS MAXPODS REPLICAS AGE; TARGETS like ``cpu: 87%/50%``).

The older format (a bare ``=== <time>`` header, kubectl's pod lines, ``date`` output as the time) is
read too. A block of only kubectl errors is skipped rather than read as zero pods. The CSVs that
``hzz.devtools.scaling_logs`` writes have one column per field of :class:`ScalingSample`,
:class:`WorkerPodSample` and :class:`HpaSample`. Nothing here needs more than the standard library:
the web page reads the scaling files through this module.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hzz.shared.safe_files import MAX_LOG_BYTES, read_regular, regular_file_stat

__all__ = [
    "HPA_CSV",
    "HPA_LOG",
    "POD_CSV",
    "POD_LOG",
    "WORKER_CSV",
    "HpaSample",
    "ScalingSample",
    "WorkerPodSample",
    "format_pod_line",
    "format_summary",
    "load_hpa",
    "load_timeline",
    "load_worker_pods",
    "parse_hpa_log",
    "parse_pod_log",
    "parse_timestamp",
    "read_csv",
    "sample_fields",
]

#: File names inside the output folder.
POD_LOG, HPA_LOG = "pod_scaling.log", "hpa_metrics.log"
POD_CSV, HPA_CSV, WORKER_CSV = "pod_scaling.csv", "hpa_metrics.csv", "worker_pods.csv"

#: ``Wed Nov 25 10:30:00 UTC 2026``: the default format of ``date`` (the zone name is optional).
_DATE_RE = re.compile(r"^\w{3}\s+(\w{3})\s+(\d{1,2})\s+(\d{2}:\d{2}:\d{2})(?:\s+\S+)?\s+(\d{4})$")
#: One HPA metric in TARGETS: ``87%/50%``, ``<unknown>/50%``, or a plain value like KEDA's ``812/2``.
_METRIC_RE = re.compile(r"^(<unknown>|-?\d+(?:\.\d+)?[m%]?)/(\d+(?:\.\d+)?[m%]?),?$")
#: READY of a pod line: ``1/1``; it tells a pod line from a kubectl message.
_READY_RE = re.compile(r"^(\d+)/(\d+)$")
#: The parts of a summary line, each value a number or ``?``.
_SUMMARY_RE = {
    "desired": r"pods: (\S+) desired",
    "running": r"(\S+) running",
    "ready": r"(\S+) ready, \S+ in all",
    "total": r"(\S+) in all",
    "queue_ready": r"queue: (\S+) ready",
    "queue_unacked": r"(\S+) unacked",
    "chunks_done": r"chunks: ([^/\s]+)/",
    "chunks_total": r"chunks: [^/\s]+/(\S+)",
    "chunks_per_second": r"(\S+) chunks/s",
    "events_per_second": r"(\S+) events/s",
    "cpu_millicores_per_pod": r"cpu: (\S+?)m? per pod",
    "node_cpu_percent": r"node (\S+?)%? of",
    "node_cores": r"of (\S+) cores",
}


@dataclass(frozen=True)
class ScalingSample:
    """The workers, the task queue and the run at one moment; ``None`` where unknown.

    ``desired`` is the worker Deployment's replicas (what the autoscaler asks for), ``running`` the
    pods in STATUS Running, ``ready`` those of them that pass their readiness probe, ``total`` the
    pods in any state; ``events_per_second`` is over the interval since the previous sample;
    ``cpu_millicores_per_pod`` the mean over running pods; ``node_cpu_percent`` how busy all
    ``node_cores`` of the monitor's node were (100: saturated).
    """

    timestamp: str
    desired: int | None = None
    running: int | None = None
    ready: int | None = None
    total: int | None = None
    queue_ready: int | None = None
    queue_unacked: int | None = None
    chunks_done: int | None = None
    chunks_total: int | None = None
    chunks_per_second: float | None = None
    events_per_second: float | None = None
    cpu_millicores_per_pod: int | None = None
    node_cpu_percent: float | None = None
    node_cores: int | None = None


@dataclass(frozen=True)
class WorkerPodSample:
    """One worker pod at one moment: its state, its CPU and the events per second of its results
    (merged by the aggregator between its two latest versions of results.json)."""

    timestamp: str
    pod: str
    status: str
    ready: bool
    restarts: int | None = None
    cpu_millicores: int | None = None
    events_per_second: float | None = None


@dataclass(frozen=True)
class HpaSample:
    """The worker HPA at one moment; ``None`` where kubectl showed ``<unknown>`` or nothing.

    ``replicas`` is ``None`` until the HPA has looked at the workers (it shows 0 before that).
    """

    timestamp: str
    replicas: int | None
    cpu_percent: float | None
    target_percent: float | None
    min_replicas: int | None = None
    max_replicas: int | None = None


def parse_timestamp(text: str) -> str | None:
    """ISO 8601 (no offset: UTC) or ``date`` output as ``YYYY-MM-DDTHH:MM:SSZ``; ``None`` if neither."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        match = _DATE_RE.match(text)
        if match is None:
            return None
        try:
            moment = datetime.strptime(" ".join(match.groups()), "%b %d %H:%M:%S %Y")
        except ValueError:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _show(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "?"
    return f"{round(value, digits) if digits else round(value)}{unit}"


def format_summary(s: ScalingSample) -> str:
    """The header line of a ``pod_scaling.log`` block (see the module's docstring)."""
    return (
        f"=== {s.timestamp}  pods: {_show(s.desired)} desired, {_show(s.running)} running, "
        f"{_show(s.ready)} ready, {_show(s.total)} in all | queue: {_show(s.queue_ready)} ready, "
        f"{_show(s.queue_unacked)} unacked | chunks: {_show(s.chunks_done)}/{_show(s.chunks_total)} | "
        f"{_show(s.chunks_per_second, digits=1)} chunks/s, {_show(s.events_per_second)} events/s | "
        f"cpu: {_show(s.cpu_millicores_per_pod, 'm')} per pod, "
        f"node {_show(s.node_cpu_percent, '%')} of {_show(s.node_cores)} cores"
    )


def format_pod_line(p: WorkerPodSample, age: str) -> str:
    """A worker pod's line in a ``pod_scaling.log`` block: kubectl's columns, then CPU and events/s."""
    ready = "1/1" if p.ready else "0/1"
    return (
        f"{p.pod}   {ready}   {p.status}   {_show(p.restarts)}   {age}   "
        f"cpu={_show(p.cpu_millicores, 'm')}   events/s={_show(p.events_per_second)}"
    )


def _number(text: str | None, cast: Callable[[str], Any]) -> Any:
    if text is None or text == "?":
        return None
    try:
        return cast(text)
    except ValueError:
        return None


def _blocks(text: str) -> Iterator[tuple[str, str, list[str]]]:
    """The log's blocks as (timestamp, rest of the header, lines); lines before the first header are dropped."""
    stamp: str | None = None
    rest = ""
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        is_header = line.startswith("===")
        body = line.lstrip("=").strip() if is_header else line
        # The summary follows the time after two spaces ("pods: ..."); a `date` time has single spaces.
        when, _, summary = body.partition("  pods:")
        header = parse_timestamp(when)
        if header is not None or is_header:
            if stamp is not None:
                yield stamp, rest, lines
            # A "===" line whose timestamp does not parse drops its block: rows need a time.
            stamp, rest, lines = header, ("pods:" + summary if summary else ""), []
        elif stamp is not None:
            lines.append(line)
    if stamp is not None:
        yield stamp, rest, lines


def _pod_line(stamp: str, line: str) -> WorkerPodSample | None:
    tokens = line.split()
    if len(tokens) < 3 or tokens[0] == "NAME":
        return None
    ready = _READY_RE.match(tokens[1])
    if ready is None:
        return None
    values = dict(token.split("=", 1) for token in tokens[3:] if "=" in token)
    return WorkerPodSample(
        timestamp=stamp,
        pod=tokens[0],
        status=tokens[2],
        ready=int(ready.group(2)) > 0 and ready.group(1) == ready.group(2),
        restarts=int(tokens[3]) if len(tokens) > 3 and tokens[3].isdigit() else None,
        cpu_millicores=_number(values.get("cpu", "?").removesuffix("m"), int),
        events_per_second=_number(values.get("events/s"), float),
    )


def parse_pod_log(text: str) -> tuple[list[ScalingSample], list[WorkerPodSample]]:
    """The timeline and the per-pod lines of ``pod_scaling.log``, in the log's order.

    A block of the older format (no summary) gives running, ready and total from its pod lines; it
    counts zero pods when it is empty or says "No resources found", and is skipped when it holds
    only other lines: kubectl could not reach the cluster, so the count is unknown.
    """
    timeline: list[ScalingSample] = []
    pods: list[WorkerPodSample] = []
    for stamp, summary, lines in _blocks(text):
        block = [p for p in (_pod_line(stamp, line) for line in lines) if p is not None]
        if summary:
            values = {}
            for name, pattern in _SUMMARY_RE.items():
                match = re.search(pattern, summary)
                cast = float if name in ("chunks_per_second", "events_per_second", "node_cpu_percent") else int
                values[name] = _number(match.group(1) if match else None, cast)
            timeline.append(ScalingSample(stamp, **values))
        elif block or all(line.startswith("No resources found") for line in lines):
            timeline.append(
                ScalingSample(
                    stamp,
                    running=sum(1 for p in block if p.status == "Running"),
                    ready=sum(1 for p in block if p.ready and p.status == "Running"),
                    total=len(block),
                )
            )
        else:
            continue
        pods += block
    return timeline, pods


def parse_hpa_log(text: str) -> list[HpaSample]:
    """Replicas and CPU (current and target, in %) per block of ``hpa_metrics.log`` that has an HPA line."""
    samples = []
    for stamp, _, lines in _blocks(text):
        for line in lines:
            sample = _hpa_line(stamp, line)
            if sample is not None:
                samples.append(sample)
                break
    return samples


def _hpa_line(stamp: str, line: str) -> HpaSample | None:
    tokens = line.split()
    # TARGETS may hold several metrics ("cpu: 87%/50%, memory: …"); the CPU one is the first in %.
    # MINPODS MAXPODS REPLICAS are the first three whole numbers after the last metric.
    metrics = [(i, _METRIC_RE.match(token)) for i, token in enumerate(tokens)]
    metrics = [(i, m) for i, m in metrics if m is not None]
    if not metrics:
        return None
    cpu = next((m for _, m in metrics if m.group(2).endswith("%")), None)
    numbers = [int(token) for token in tokens[metrics[-1][0] + 1 :] if token.isdigit()]
    low, high, replicas = numbers[:3] if len(numbers) >= 3 else (None, None, None)
    # Before its first look at the workers the HPA shows 0 replicas, below its own minimum: unknown.
    if replicas == 0 and low:
        replicas = None
    current = None if cpu is None or cpu.group(1) == "<unknown>" else float(cpu.group(1).rstrip("%"))
    return HpaSample(
        timestamp=stamp,
        replicas=replicas,
        cpu_percent=current,
        target_percent=None if cpu is None else float(cpu.group(2).rstrip("%")),
        min_replicas=low,
        max_replicas=high,
    )


def _bool(raw: str) -> bool:
    if raw.strip().lower() in ("true", "1", "yes"):
        return True
    if raw.strip().lower() in ("false", "0", "no"):
        return False
    msg = f"not a boolean: {raw!r}"
    raise ValueError(msg)


def _stamp(raw: str) -> str:
    stamp = parse_timestamp(raw)
    if stamp is None:
        msg = f"bad timestamp {raw!r}"
        raise ValueError(msg)
    return stamp


#: How a CSV cell is read back, by the field's annotation.
_CASTS: dict[str, Callable[[str], Any]] = {
    "int | None": lambda raw: int(raw) if raw.strip() else None,
    "float | None": lambda raw: float(raw) if raw.strip() else None,
    "str": str,
    "bool": _bool,
}


def read_csv(path: Path, kind: type) -> list[Any]:
    """Samples of ``kind`` from a CSV with a column per field; bad rows are skipped.

    A ``pod_scaling.csv`` of the older format (``timestamp,pods,total``) reads ``pods`` as ``running``.
    """
    samples = []
    text = read_regular(path, limit=MAX_LOG_BYTES).decode("utf-8", errors="replace")
    with io.StringIO(text, newline="") as f:
        for row in csv.DictReader(f):
            if kind is ScalingSample and "running" not in row and "pods" in row:
                row["running"] = row["pods"]
            values: dict[str, Any] = {}
            try:
                for field in fields(kind):
                    raw = row.get(field.name)
                    if raw is None:
                        continue  # a column the file lacks: the field's default
                    values[field.name] = _stamp(raw) if field.name == "timestamp" else _CASTS[str(field.type)](raw)
                samples.append(kind(**values))
            except (TypeError, ValueError):
                continue
    return samples


def _newer_log(folder: Path, log_name: str, csv_name: str) -> tuple[str | None, Path | None]:
    """The log's text if it is the newer of the two files, else the CSV's path; neither: (None, None)."""
    # The monitor keeps appending to the log and the CSV is converted from it now and then, so the
    # newer of the two is the fuller record. An unreadable file counts as absent (the page just
    # shows no chart), never as an error.
    # Only regular files, read with a cap (hzz.shared.safe_files says why): a link, a FIFO or a
    # device under these names is no record.
    log, table = folder / log_name, folder / csv_name
    log_stat, csv_stat = regular_file_stat(log), regular_file_stat(table)
    log_time = log_stat.st_mtime_ns if log_stat is not None else None
    csv_time = csv_stat.st_mtime_ns if csv_stat is not None else None
    if log_time is not None and (csv_time is None or log_time >= csv_time):
        try:
            return read_regular(log, limit=MAX_LOG_BYTES).decode("utf-8", errors="replace"), None
        except OSError:
            return None, None
    return None, (table if csv_time is not None else None)


def _load(folder: str | os.PathLike[str], log_name: str, csv_name: str, parse: Callable, kind: type) -> list:
    text, table = _newer_log(Path(folder), log_name, csv_name)
    if text is not None:
        return parse(text)
    try:
        return read_csv(table, kind) if table is not None else []
    except OSError:
        return []


def load_timeline(output_dir: str | os.PathLike[str]) -> list[ScalingSample]:
    """The timeline of an output folder, from ``pod_scaling.log`` or (if newer) ``pod_scaling.csv``."""
    return _load(output_dir, POD_LOG, POD_CSV, lambda text: parse_pod_log(text)[0], ScalingSample)


def load_worker_pods(output_dir: str | os.PathLike[str]) -> list[WorkerPodSample]:
    """The per-pod lines of an output folder, from ``pod_scaling.log`` or (if newer) ``worker_pods.csv``."""
    return _load(output_dir, POD_LOG, WORKER_CSV, lambda text: parse_pod_log(text)[1], WorkerPodSample)


def load_hpa(output_dir: str | os.PathLike[str]) -> list[HpaSample]:
    """The HPA samples of an output folder, from ``hpa_metrics.log`` or (if newer) ``hpa_metrics.csv``."""
    return _load(output_dir, HPA_LOG, HPA_CSV, parse_hpa_log, HpaSample)


def sample_fields(kind: type) -> Sequence[str]:
    """The CSV columns of a sample class, in order."""
    return [f.name for f in fields(kind)]
