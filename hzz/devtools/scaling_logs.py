"""The scaling report of a Kubernetes run: the monitor's logs → CSVs, ``scaling.png`` and ``scaling.md``.

``python -m hzz.devtools.scaling_logs OUTPUT_DIR`` reads ``pod_scaling.log`` and ``hpa_metrics.log``
(written by :mod:`hzz.devtools.scaling_monitor`; format and parsing in :mod:`hzz.shared.scaling`) and
``results.json``, and writes beside them:

- ``pod_scaling.csv``: the timeline, a column per field of :class:`~hzz.shared.scaling.ScalingSample`
  (pods desired / running / ready / in all, queue ready / unacknowledged, chunks, events/s, CPU);
- ``worker_pods.csv``: each worker pod at each sample (status, readiness, CPU, events/s);
- ``hpa_metrics.csv``: the autoscaler's replicas and CPU reading against its target;
- ``scaling.png``: pods, queue depth, throughput and CPU in aligned panels, the run's start and end marked;
- ``scaling.md``: what the run measured (:mod:`hzz.devtools.scaling_report`).

It prints a few summary lines (warnings start with ``warning:``), which deploy.sh shows. deploy.sh
runs it in the monitor's pod, so the machine running deploy.sh needs no Python.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path
from typing import Any

from hzz.devtools.scaling_report import ScalingReport, console_lines, markdown, summarise, when
from hzz.shared.outputs import RESULTS_FILE, read_json, write_atomic
from hzz.shared.scaling import (
    HPA_CSV,
    HPA_LOG,
    POD_CSV,
    POD_LOG,
    WORKER_CSV,
    HpaSample,
    ScalingSample,
    WorkerPodSample,
    parse_hpa_log,
    parse_pod_log,
    sample_fields,
)

__all__ = ["SCALING_MD", "SCALING_PNG", "convert", "draw_scaling_png", "main", "write_csv"]

SCALING_PNG, SCALING_MD = "scaling.png", "scaling.md"
#: The colours of the page's chart (webserver/static/chart.js), so both read alike.
COLORS = {"ready": "#1f6feb", "desired": "#8250df", "queue": "#bf8700", "rate": "#1a7f37", "cpu": "#cf222e"}


def write_csv(rows: Sequence[Any], path: Path, kind: type) -> None:
    """Write samples of ``kind`` as CSV with a header, atomically (empty cells for unknown values)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(sample_fields(kind))
    for row in rows:
        writer.writerow(["" if value is None else _plain(value) for value in astuple(row)])
    write_atomic(path, buffer.getvalue().encode())


def _plain(value: object) -> object:
    # 87.0 → "87", 1234.5678 → "1234.6": the CSV reads like the logs.
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 1)
    return value


def draw_scaling_png(
    timeline: Sequence[ScalingSample],
    hpa: Sequence[HpaSample],
    path: Path,
    *,
    pods: Sequence[WorkerPodSample] = (),
    report: ScalingReport | None = None,
) -> None:
    """Draw pods, queue depth, throughput and CPU against time in four aligned panels to ``path``."""
    from matplotlib.figure import Figure  # here: reading the logs must not need matplotlib
    from matplotlib.ticker import MaxNLocator

    start = report.started if report else None
    origin = start or min((when(s.timestamp) for s in [*timeline, *hpa]), default=None)

    def x(stamp: str) -> float:
        return (when(stamp) - origin).total_seconds()  # type: ignore[operator]

    fig = Figure(figsize=(10, 9), dpi=110, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    ax_pods, ax_queue, ax_rate, ax_cpu = axes

    def steps(ax: Any, rows: Sequence[Any], attr: str, **style: Any) -> None:
        points = [(x(r.timestamp), getattr(r, attr)) for r in rows if getattr(r, attr) is not None]
        if points:
            ax.step(*zip(*points, strict=True), where="post", **style)

    steps(ax_pods, timeline, "desired", color=COLORS["desired"], lw=1.2, ls="--", label="desired (autoscaler)")
    steps(ax_pods, timeline, "running", color=COLORS["ready"], lw=1, ls=":", label="running")
    steps(ax_pods, timeline, "ready", color=COLORS["ready"], lw=2.2, label="ready")
    ax_pods.set_ylabel("worker pods")
    ax_pods.yaxis.set_major_locator(MaxNLocator(integer=True))
    steps(ax_queue, timeline, "queue_ready", color=COLORS["queue"], lw=2, label="tasks ready")
    steps(ax_queue, timeline, "queue_unacked", color=COLORS["queue"], lw=1, ls="--", label="unacknowledged")
    ax_queue.set_ylabel("task queue")
    ax_queue.yaxis.set_major_locator(MaxNLocator(integer=True))
    # A rate holds over the interval before its sample: steps "pre".
    rates = [(x(s.timestamp), s.events_per_second) for s in timeline if s.events_per_second is not None]
    if rates:
        ax_rate.step(*zip(*rates, strict=True), where="pre", color=COLORS["rate"], lw=2, label="all pods")
    for name in sorted({p.pod for p in pods}):
        own = [(x(p.timestamp), p.events_per_second) for p in pods if p.pod == name and p.events_per_second]
        if own:
            ax_rate.step(*zip(*own, strict=True), where="pre", lw=0.8, alpha=0.6)
    ax_rate.set_ylabel("events/s")
    cpu = [(x(h.timestamp), h.cpu_percent) for h in hpa if h.cpu_percent is not None]
    if cpu:
        label = "per pod, % of request (HPA)"
        ax_cpu.plot(*zip(*cpu, strict=True), color=COLORS["cpu"], lw=1.5, marker=".", label=label)
    target = next((h.target_percent for h in reversed(hpa) if h.target_percent is not None), None)
    if target is not None:
        ax_cpu.axhline(target, color=COLORS["cpu"], lw=1, ls="--", alpha=0.6, label=f"HPA target {target:.0f} %")
    node = [(x(s.timestamp), s.node_cpu_percent) for s in timeline if s.node_cpu_percent is not None]
    if node:
        ax_cpu.plot(*zip(*node, strict=True), color="#57606a", lw=1.2, label="node, % busy")
    ax_cpu.set_ylabel("CPU [%]")
    for ax in axes:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        if start is not None:
            ax.axvline(0, color="black", lw=1, alpha=0.7)
        if report and report.finished and start:
            ax.axvline((report.finished - start).total_seconds(), color="black", lw=1, ls="--", alpha=0.7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax_cpu.set_xlabel(
        f"seconds after the run started ({start:%H:%M:%S} UTC); solid line: start, dashed: end"
        if start
        else f"seconds after {origin:%H:%M:%S} UTC"
        if origin
        else "seconds"
    )
    title = "Worker autoscaling" + (f": run {report.run_id}" if report and report.run_id else "")
    fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())


def _results(folder: Path) -> dict[str, Any] | None:
    try:
        results = read_json(folder / RESULTS_FILE)
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) else None


def convert(output_dir: str | os.PathLike[str]) -> tuple[list[Path], ScalingReport | None]:
    """Write the CSVs, ``scaling.png`` and ``scaling.md`` from the logs that exist.

    Args:
        output_dir (str | os.PathLike[str]): the output folder holding the logs.

    Returns:
        tuple[list[Path], ScalingReport | None]: the files written (none without logs) and the report.
    """
    folder = Path(output_dir)
    written: list[Path] = []
    timeline: list[ScalingSample] = []
    pods: list[WorkerPodSample] = []
    hpa: list[HpaSample] = []
    if (folder / POD_LOG).is_file():
        timeline, pods = parse_pod_log((folder / POD_LOG).read_text("utf-8", "replace"))
        write_csv(timeline, folder / POD_CSV, ScalingSample)
        write_csv(pods, folder / WORKER_CSV, WorkerPodSample)
        written += [folder / POD_CSV, folder / WORKER_CSV]
    if (folder / HPA_LOG).is_file():
        hpa = parse_hpa_log((folder / HPA_LOG).read_text("utf-8", "replace"))
        write_csv(hpa, folder / HPA_CSV, HpaSample)
        written.append(folder / HPA_CSV)
    if not (timeline or hpa):
        return written, None
    report = summarise(timeline, hpa, _results(folder))
    draw_scaling_png(timeline, hpa, folder / SCALING_PNG, pods=pods, report=report)
    write_atomic(folder / SCALING_MD, markdown(report).encode())
    return [*written, folder / SCALING_PNG, folder / SCALING_MD], report


def main(argv: Sequence[str] | None = None) -> int:
    """Convert the logs of an output folder; exit 0 also when there are no logs yet, 2 without the folder."""
    parser = argparse.ArgumentParser(prog="python -m hzz.devtools.scaling_logs", description=main.__doc__)
    parser.add_argument("output_dir", nargs="?", help="the output folder (default: HZZ_OUTPUT_DIR)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the summary, not the files")
    args = parser.parse_args(argv)
    if args.output_dir is None:
        from hzz.shared.data_vars import Settings  # only here: converting must not depend on the settings

        args.output_dir = Settings.from_env().output_dir
    folder = Path(args.output_dir)
    if not folder.is_dir():
        print(f"scaling_logs: output folder {str(folder)!r} does not exist", file=sys.stderr)
        return 2
    written, report = convert(folder)
    if not written:
        print(f"scaling_logs: no {POD_LOG} or {HPA_LOG} in {str(folder)!r}; nothing written")
    if not args.quiet:
        for path in written:
            print(f"scaling_logs: wrote {path}")
    for line in console_lines(report) if report else []:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
