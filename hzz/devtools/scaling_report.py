"""What a scaling run measured: the numbers of ``scaling.md``, from the monitor's timeline and results.json.

Times are seconds after the run started (``started_at`` of results.json: when the aggregator got the
manifest) or, for the scale-down, after it finished, as exact as the monitor's sampling interval.
:data:`DEFINITIONS` says how each number is computed; ``scaling.md`` repeats it for its reader.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hzz.shared.scaling import HpaSample, ScalingSample

__all__ = ["DEFINITIONS", "ScalingReport", "console_lines", "markdown", "rows", "summarise"]

#: A node whose cores are at least this busy (%) cannot give another pod more CPU.
SATURATED_PERCENT = 90.0
#: The option that runs a workload long enough to watch the autoscaler.
DEMO_OPTION = "bash deploy.sh --scaling-demo"
#: How each number is computed (Markdown, also the end of scaling.md).
DEFINITIONS = [
    "- **time to first scale-up**: the first sample after the start whose desired pods (the worker"
    " Deployment's replicas, set by the autoscaler) exceed those at the start;",
    "- **peak pods**: the most pods Ready (working) at one sample during the run, and when first seen;",
    "- **throughput** of a phase: the median events/s of the run's samples whose Ready pods are the"
    " phase's and were the same at the sample before (an interval in which pods came or went does not"
    " count); **speed-up**: the peak phase's over the one-pod phase's; **parallel efficiency**: the"
    " speed-up divided by the peak pods;",
    "- **queue empty**: the first sample, after the task queue was seen non-empty, with no task ready"
    " or unacknowledged;",
    f"- **node CPU at peak**: the median busy share of the node's cores over the peak phase; {SATURATED_PERCENT:.0f} %"
    " or more is *saturated*: the node, not the pipeline, limited the speed-up;",
    "- **time to scale back down**: the first sample after the end with only the minimum of pods"
    " desired and present; the steps are the samples at which the desired pods fell.",
]


def when(stamp: str | None) -> datetime | None:
    """A ``YYYY-MM-DDTHH:MM:SSZ`` time as an aware datetime; ``None`` stays ``None``."""
    return None if not stamp else datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass
class ScalingReport:
    """The numbers of one run; ``None`` where the record does not allow them (see ``warnings``)."""

    run_id: str | None = None
    state: str | None = None
    started: datetime | None = None
    finished: datetime | None = None
    chunks: int | None = None
    events: int | None = None
    interval: float | None = None
    largest_gap: tuple[datetime, float] | None = None
    min_pods: int | None = None
    start_pods: int | None = None
    first_scale_up: float | None = None
    first_scale_up_to: int | None = None
    peak_pods: int | None = None
    peak_at: float | None = None
    first_reading: float | None = None
    first_reading_percent: float | None = None
    one_pod_rate: float | None = None
    one_pod_samples: int = 0
    peak_rate: float | None = None
    peak_samples: int = 0
    speed_up: float | None = None
    efficiency: float | None = None
    queue_peak: int | None = None
    queue_empty_at: float | None = None
    node_cores: int | None = None
    node_busy_at_peak: float | None = None
    saturated: bool | None = None
    scale_down: list[tuple[float, int]] = field(default_factory=list)
    down_during_run: list[tuple[float, int]] = field(default_factory=list)
    back_to_min: float | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def run_seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


def _phase_rate(samples: Sequence[ScalingSample], pods: int) -> tuple[float | None, int]:
    """Median events/s over samples with ``pods`` Ready at them and at the sample before."""
    rates = [
        s.events_per_second
        for before, s in itertools.pairwise(samples)
        if s.ready == pods and before.ready == pods and s.events_per_second is not None
    ]
    return (statistics.median(rates) if rates else None), len(rates)


def _per_pod(results: dict[str, Any]) -> list[dict[str, Any]]:
    pods: dict[str, dict[str, Any]] = {}
    for worker, record in (results.get("workers") or {}).items():
        pod = pods.setdefault(worker.split(":")[0], {"chunks": 0, "events_read": 0, "busy_seconds": 0.0})
        pod["chunks"] += int(record.get("chunks", 0))
        pod["events_read"] += int(record.get("events_read", 0))
        pod["busy_seconds"] += float(record.get("busy_seconds", 0.0))
    return [
        {"pod": name, **p, "events_per_second": p["events_read"] / p["busy_seconds"] if p["busy_seconds"] else None}
        for name, p in sorted(pods.items())
    ]


def summarise(
    timeline: Sequence[ScalingSample], hpa: Sequence[HpaSample], results: dict[str, Any] | None
) -> ScalingReport:
    """The report's numbers from the monitor's samples and the run's results.json (if any)."""
    report = ScalingReport()
    results = results or {}
    report.run_id, report.state = results.get("run_id"), results.get("state")
    report.started, report.finished = when(results.get("started_at")), when(results.get("finished_at"))
    report.chunks = (results.get("tally") or {}).get("total")
    report.events = (results.get("events") or {}).get("read")
    report.workers = _per_pod(results)
    times = [when(s.timestamp) for s in timeline]
    if len(times) > 1:
        gaps = [(a, (b - a).total_seconds()) for a, b in itertools.pairwise(times)]
        report.interval = statistics.median(gap for _, gap in gaps)
        report.largest_gap = max(gaps, key=lambda gap: gap[1])
        when_, gap = report.largest_gap
        if gap > 3 * report.interval:
            report.warnings.append(
                f"the record has a gap of {gap:.0f} s after {when_:%H:%M:%S} UTC (the monitor was short of CPU or "
                "restarted): times near it are that uncertain"
            )
    report.min_pods = next((h.min_replicas for h in reversed(hpa) if h.min_replicas is not None), None)
    start, end = report.started, report.finished
    if start is None:
        report.warnings.append("no results.json of a run: only the timeline is shown")
        return report
    if end is None:
        report.warnings.append("the run is not complete: the numbers are those so far")
    after = [(t, s) for t, s in zip(times, timeline, strict=True) if t >= start]
    during = [s for t, s in after if end is None or t <= end]
    before = [s for t, s in zip(times, timeline, strict=True) if t < start and s.desired is not None]
    report.start_pods = before[-1].desired if before else next((s.desired for s in during if s.desired), None)
    if report.min_pods is None:
        report.min_pods = report.start_pods

    def seconds(t: datetime, since: datetime) -> float:
        return (t - since).total_seconds()

    if report.start_pods is not None:
        up = next(((t, s) for t, s in after if (s.desired or 0) > report.start_pods), None)
        if up is not None:
            report.first_scale_up, report.first_scale_up_to = seconds(up[0], start), up[1].desired
    ready = [s.ready for s in during if s.ready is not None]
    if ready:
        report.peak_pods = max(ready)
        report.peak_at = next(seconds(t, start) for t, s in after if s.ready == report.peak_pods)
    report.one_pod_rate, report.one_pod_samples = _phase_rate(during, 1)
    if report.peak_pods:
        report.peak_rate, report.peak_samples = _phase_rate(during, report.peak_pods)
        peak = [
            s.node_cpu_percent
            for b, s in itertools.pairwise(during)
            if s.ready == b.ready == report.peak_pods and s.node_cpu_percent is not None
        ]
        if peak:
            report.node_busy_at_peak = statistics.median(peak)
            report.saturated = report.node_busy_at_peak >= SATURATED_PERCENT
    report.node_cores = next((s.node_cores for s in reversed(timeline) if s.node_cores), None)
    if report.one_pod_rate and report.peak_rate is not None and report.peak_pods:
        report.speed_up = report.peak_rate / report.one_pod_rate
        report.efficiency = report.speed_up / report.peak_pods
    elif report.peak_pods and report.peak_pods > 1 and not report.one_pod_rate:
        report.warnings.append("no interval with exactly one pod working during the run: no speed-up to compute")
    queued = [s.queue_ready for _, s in after if s.queue_ready is not None]
    if queued:
        report.queue_peak = max(queued)
        seen = False
        for t, s in after:
            seen = seen or bool(s.queue_ready)
            if seen and s.queue_ready == 0 and s.queue_unacked == 0:
                report.queue_empty_at = seconds(t, start)
                break
    last = end or max(times, default=start)
    readings = [h for h in hpa if h.cpu_percent is not None and start <= when(h.timestamp) <= last]
    if readings:
        report.first_reading = seconds(when(readings[0].timestamp), start)
        report.first_reading_percent = readings[0].cpu_percent
    elif end is not None and any(h.target_percent is not None for h in hpa):
        report.warnings.append(
            f"the run ended {report.run_seconds:.0f} s after it started, before the autoscaler's first CPU "
            f"reading during it, so it could not scale; for a workload long enough to watch it: {DEMO_OPTION}"
        )
    previous = report.start_pods
    for t, s in after:
        if end is not None and t > end:
            break
        if s.desired is not None and previous is not None and s.desired < previous:
            report.down_during_run.append((seconds(t, start), s.desired))
        previous = s.desired if s.desired is not None else previous
    if report.down_during_run:
        steps = ", ".join(f"to {pods} at +{t:.0f} s" for t, pods in report.down_during_run)
        report.warnings.append(
            f"the autoscaler removed pods during the run ({steps}): the CPU per pod fell below its target "
            "while work was left, e.g. because other work took the node's CPU; the speed-up is the peak's"
        )
    if end is not None:
        at_end = next((s.desired for s in reversed(during) if s.desired is not None), report.peak_pods)
        _scale_down(report, [(t, s) for t, s in after if t > end], end, at_end)
    return report


def _scale_down(
    report: ScalingReport, later: list[tuple[datetime, ScalingSample]], end: datetime, previous: int | None
) -> None:
    for t, s in later:
        if s.desired is not None and previous is not None and s.desired < previous:
            report.scale_down.append(((t - end).total_seconds(), s.desired))
        previous = s.desired if s.desired is not None else previous
        if report.back_to_min is None and report.min_pods is not None and s.desired == s.total == report.min_pods:
            report.back_to_min = (t - end).total_seconds()


def _n(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def rows(r: ScalingReport) -> list[tuple[str, str]]:
    """The report's table: (measure, value starting with its number)."""
    steps = ", ".join(f"{pods} at +{t:.0f} s" for t, pods in r.scale_down) or "none"
    saturation = {
        None: "",
        True: ": saturated, the node's CPU (not the pipeline) limited the speed-up",
        False: ": not saturated",
    }[r.saturated]
    up = f"{_n(r.start_pods)} → {_n(r.first_scale_up_to)} pods desired"
    reading = f"{_n(r.first_reading_percent, ' %')} of the request"
    return [
        ("time to first scale-up", f"{_n(r.first_scale_up, ' s')} after the run started ({up})"),
        ("first autoscaler CPU reading during the run", f"{_n(r.first_reading, ' s')} after the start ({reading})"),
        ("peak pods", f"{_n(r.peak_pods)} Ready, first at {_n(r.peak_at, ' s')}"),
        ("throughput with one pod", f"{_n(r.one_pod_rate, ' events/s')} (median of {r.one_pod_samples} samples)"),
        ("throughput at peak", f"{_n(r.peak_rate, ' events/s')} (median of {r.peak_samples} samples)"),
        ("speed-up", f"{_n(r.speed_up, '×', 2)} with {_n(r.peak_pods)} pods against one"),
        ("parallel efficiency", f"{_n(None if r.efficiency is None else 100 * r.efficiency, ' %')}"),
        ("queue depth", f"{_n(r.queue_peak)} tasks ready at most; empty at {_n(r.queue_empty_at, ' s')}"),
        ("node CPU at peak", f"{_n(r.node_busy_at_peak, ' %')} busy of {_n(r.node_cores)} cores{saturation}"),
        ("time to scale back down", f"{_n(r.back_to_min, ' s')} after the run ended, to {_n(r.min_pods)} pods"
         f" (steps: {steps})"),
    ]  # fmt: skip


def markdown(r: ScalingReport) -> str:
    """``scaling.md``: the run, the table of :func:`rows`, the pods that did the work, how it is computed."""
    lines = [f"# Scaling report{f': run {r.run_id}' if r.run_id else ''}", ""]
    if r.started is not None:
        span = f"{r.started:%H:%M:%S} → {r.finished:%H:%M:%S} UTC" if r.finished else f"from {r.started:%H:%M:%S} UTC"
        gap = None if r.largest_gap is None else r.largest_gap[1]
        lines.append(
            f"Run {r.state}: {_n(r.chunks)} chunks, {_n(r.events)} events, {_n(r.run_seconds, ' s')} ({span}). "
            f"Sampled every {_n(r.interval, ' s')} by hzz-monitor (the largest gap {_n(gap, ' s')}):"
            " times are ± one interval."
        )
        lines.append("")
    lines += [f"> **warning:** {w}" for w in r.warnings] + ([""] if r.warnings else [])
    lines += ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows(r)), ""]
    if r.workers:
        lines += [
            "## The pods that did the work (results.json `workers`)",
            "",
            "| pod | chunks | events | busy [s] | events/s while busy |",
            "|---|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {w['pod']} | {w['chunks']:,} | {w['events_read']:,} | {w['busy_seconds']:.1f} | "
            f"{_n(w['events_per_second'])} |"
            for w in r.workers
        ]
        lines.append("")
    lines += ["## How these are computed", "", *DEFINITIONS, ""]
    return "\n".join(lines)


def console_lines(r: ScalingReport) -> list[str]:
    """A few lines for deploy.sh's summary; warnings start with ``warning:``."""
    lines = []
    if r.first_scale_up is not None:
        lines.append(
            f"first scale-up {r.first_scale_up:.0f} s after the run started ({r.start_pods} → "
            f"{r.first_scale_up_to} pods); peak {r.peak_pods} pods Ready at +{_n(r.peak_at)} s"
        )
    elif r.peak_pods is not None:
        lines.append(f"no scale-up: at most {r.peak_pods} pods Ready during the run")
    if r.speed_up is not None:
        node = "" if r.node_busy_at_peak is None else f"; node CPU {r.node_busy_at_peak:.0f} % of {r.node_cores} cores"
        lines.append(
            f"throughput {_n(r.one_pod_rate)} events/s with 1 pod, {_n(r.peak_rate)} with {r.peak_pods}: "
            f"speed-up {r.speed_up:.2f}×, parallel efficiency {100 * (r.efficiency or 0):.0f} %{node}"
        )
    if r.saturated:
        lines.append("the node's CPU was saturated: it, not the pipeline, limited the speed-up")
    if r.back_to_min is not None and r.scale_down:
        lines.append(f"back to {r.min_pods} pod(s) {r.back_to_min:.0f} s after the run ended")
    elif r.scale_down:
        lines.append(f"scaling down: {r.scale_down[-1][1]} pods desired {r.scale_down[-1][0]:.0f} s after the run")
    return lines + [f"warning: {w}" for w in r.warnings]
