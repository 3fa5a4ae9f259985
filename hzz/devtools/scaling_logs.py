"""The worker-scaling record of a Kubernetes run: parse ``deploy.sh``'s logs, write CSVs, draw a chart.

``deploy.sh`` appends a block to two logs in the output folder every few seconds while a run goes:

``pod_scaling.log``
    a header line ``=== <timestamp>`` then the lines of
    ``kubectl get pods -l app=hzz-worker --no-headers`` (NAME READY STATUS RESTARTS AGE);
``hpa_metrics.log``
    a header line ``=== <timestamp>`` then the line of ``kubectl get hpa hzz-worker --no-headers``
    (NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE, TARGETS like ``87%/50%``).

The timestamp is ISO 8601 (``date -u +%Y-%m-%dT%H:%M:%SZ``); plain ``date`` output is accepted too,
with or without the ``===``. A block whose lines are all kubectl errors is skipped rather than read
as zero pods. :func:`convert` turns the logs into ``pod_scaling.csv`` (``timestamp,pods,total``:
Running pods and all pods) and ``hpa_metrics.csv`` (``timestamp,replicas,cpu_percent,target_percent``,
empty when unknown) and draws ``scaling.png``; ``python -m hzz.devtools.scaling_logs OUTPUT_DIR`` runs it.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from hzz.shared.outputs import write_atomic

__all__ = [
    "HpaSample",
    "PodSample",
    "convert",
    "draw_scaling_png",
    "load_hpa_samples",
    "load_pod_samples",
    "parse_hpa_log",
    "parse_pod_log",
    "read_csv",
    "write_csv",
]

#: File names inside the output folder.
POD_LOG, HPA_LOG = "pod_scaling.log", "hpa_metrics.log"
POD_CSV, HPA_CSV = "pod_scaling.csv", "hpa_metrics.csv"
SCALING_PNG = "scaling.png"

#: ``Wed Nov 25 10:30:00 UTC 2026``: the default format of ``date`` (the zone name is optional).
_DATE_RE = re.compile(r"^\w{3}\s+(\w{3})\s+(\d{1,2})\s+(\d{2}:\d{2}:\d{2})(?:\s+\S+)?\s+(\d{4})$")
#: One HPA metric in TARGETS: ``87%/50%`` or ``<unknown>/50%`` (the ``cpu:`` prefix of newer kubectl
#: is a separate token).
_TARGET_RE = re.compile(r"(<unknown>|\d+(?:\.\d+)?%)/(\d+(?:\.\d+)?)%")
#: READY of a pod line: ``1/1``; it tells a pod line from a kubectl message.
_READY_RE = re.compile(r"^\d+/\d+$")


@dataclass(frozen=True)
class PodSample:
    """Worker pods at one moment: ``pods`` in STATUS Running, ``total`` in any status."""

    timestamp: str
    pods: int
    total: int


@dataclass(frozen=True)
class HpaSample:
    """The worker HPA at one moment; ``None`` where kubectl showed ``<unknown>`` or nothing."""

    timestamp: str
    replicas: int | None
    cpu_percent: float | None
    target_percent: float | None


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


def _blocks(text: str) -> Iterator[tuple[str, list[str]]]:
    """The log's blocks as (timestamp, non-empty lines); lines before the first header are dropped."""
    stamp: str | None = None
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        is_header = line.startswith("===")
        header = parse_timestamp(line.lstrip("=")) if is_header else parse_timestamp(line)
        if header is not None or is_header:
            if stamp is not None:
                yield stamp, lines
            # A "===" line whose timestamp does not parse drops its block: rows need a time.
            stamp, lines = header, []
        elif stamp is not None:
            lines.append(line)
    if stamp is not None:
        yield stamp, lines


def parse_pod_log(text: str) -> list[PodSample]:
    """Running and total worker pods per block of ``pod_scaling.log``, in the log's order.

    A block with no pod line counts zero pods when it is empty or says "No resources found", and
    is skipped when it holds only other lines: kubectl could not reach the cluster, the count is unknown.
    """
    samples = []
    for stamp, lines in _blocks(text):
        pods = [line.split() for line in lines if _is_pod_line(line)]
        if not pods and any(not line.startswith("No resources found") for line in lines):
            continue
        running = sum(1 for tokens in pods if tokens[2] == "Running")
        samples.append(PodSample(stamp, running, len(pods)))
    return samples


def _is_pod_line(line: str) -> bool:
    tokens = line.split()
    return len(tokens) >= 3 and tokens[0] != "NAME" and bool(_READY_RE.match(tokens[1]))


def parse_hpa_log(text: str) -> list[HpaSample]:
    """Replicas and CPU (current and target, in %) per block of ``hpa_metrics.log`` that has an HPA line."""
    samples = []
    for stamp, lines in _blocks(text):
        for line in lines:
            sample = _hpa_line(stamp, line)
            if sample is not None:
                samples.append(sample)
                break
    return samples


def _hpa_line(stamp: str, line: str) -> HpaSample | None:
    tokens = line.split()
    # TARGETS may hold several metrics ("cpu: 87%/50%, memory: …"): the first is the CPU one the HPA
    # is built on; MINPODS MAXPODS REPLICAS are the first three whole numbers after the last metric.
    with_target = [i for i, token in enumerate(tokens) if _TARGET_RE.search(token)]
    if not with_target:
        return None
    current, target = _TARGET_RE.search(tokens[with_target[0]]).groups()  # type: ignore[union-attr]
    numbers = [int(token) for token in tokens[with_target[-1] + 1 :] if token.isdigit()]
    return HpaSample(
        timestamp=stamp,
        replicas=numbers[2] if len(numbers) >= 3 else None,
        cpu_percent=None if current == "<unknown>" else float(current.rstrip("%")),
        target_percent=float(target),
    )


def write_csv(rows: Sequence[PodSample] | Sequence[HpaSample], path: Path, kind: type) -> None:
    """Write samples as CSV with a header, atomically; ``kind`` names the columns when ``rows`` is empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(kind)])
    for row in rows:
        writer.writerow(["" if value is None else _plain(value) for value in astuple(row)])
    write_atomic(path, buffer.getvalue().encode())


def _plain(value: object) -> object:
    # 87.0 → "87": the CSV reads like kubectl's output.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def read_csv(path: Path, kind: type) -> list:
    """Samples (``kind``) from a CSV of :func:`write_csv`; bad rows are skipped; no ``total``: ``pods``."""
    samples = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if kind is PodSample and not row.get("total"):
                row["total"] = row.get("pods", "")
            try:
                samples.append(kind(**{f.name: _CASTS[f.name](row.get(f.name)) for f in fields(kind)}))
            except (TypeError, ValueError):
                continue
    return samples


def _stamp(raw: str | None) -> str:
    stamp = parse_timestamp(raw or "")
    if stamp is None:
        msg = f"bad timestamp {raw!r}"
        raise ValueError(msg)
    return stamp


def _maybe(cast: type) -> Callable[[str | None], int | float | None]:
    return lambda raw: None if raw is None or not raw.strip() else cast(raw)


#: How each CSV column is read back.
_CASTS: dict[str, Callable[[str | None], object]] = {
    "timestamp": _stamp,
    "pods": int,  # type: ignore[dict-item]
    "total": int,  # type: ignore[dict-item]
    "replicas": _maybe(int),
    "cpu_percent": _maybe(float),
    "target_percent": _maybe(float),
}


def load_pod_samples(output_dir: str | os.PathLike[str]) -> list[PodSample]:
    """The pod samples of an output folder: from the log if it is the newer file, else the CSV."""
    return _load(Path(output_dir), POD_LOG, POD_CSV, parse_pod_log, PodSample)


def load_hpa_samples(output_dir: str | os.PathLike[str]) -> list[HpaSample]:
    """The HPA samples of an output folder: from the log if it is the newer file, else the CSV."""
    return _load(Path(output_dir), HPA_LOG, HPA_CSV, parse_hpa_log, HpaSample)


def _load(folder: Path, log_name: str, csv_name: str, parse: Callable[[str], list], kind: type) -> list:
    # deploy.sh keeps appending to the log during a run and converts it at the end, so the newer
    # of the two is the fuller record; an unreadable file is treated as absent (the page just
    # shows no chart), never as an error.
    log, table = folder / log_name, folder / csv_name
    try:
        log_time = log.stat().st_mtime_ns if log.is_file() else None
        csv_time = table.stat().st_mtime_ns if table.is_file() else None
        if log_time is not None and (csv_time is None or log_time >= csv_time):
            return parse(log.read_text(encoding="utf-8", errors="replace"))
        if csv_time is not None:
            return read_csv(table, kind)
    except OSError:
        pass
    return []


def draw_scaling_png(pods: Sequence[PodSample], hpa: Sequence[HpaSample], path: Path) -> None:
    """Draw worker pods (left axis) and HPA CPU against its target (right axis) over time to ``path``."""
    from matplotlib.dates import DateFormatter  # imported here: the parsers must not need matplotlib
    from matplotlib.figure import Figure

    def when(stamp: str) -> datetime:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")

    fig = Figure(figsize=(10, 4.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    if pods:
        times = [when(p.timestamp) for p in pods]
        ax.step(times, [p.pods for p in pods], where="post", color="#1f6feb", lw=2, label="Running pods")
        ax.step(times, [p.total for p in pods], where="post", color="#1f6feb", lw=1, ls=":", label="All pods")
    replicas = [(when(h.timestamp), h.replicas) for h in hpa if h.replicas is not None]
    if replicas:
        ax.step(*zip(*replicas, strict=True), where="post", color="#8250df", lw=1.2, ls="--", label="HPA replicas")
    ax.set_ylabel("worker pods")
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    cpu_ax = ax.twinx()
    cpu = [(when(h.timestamp), h.cpu_percent) for h in hpa if h.cpu_percent is not None]
    if cpu:
        cpu_ax.plot(*zip(*cpu, strict=True), color="#d1242f", lw=1.5, marker=".", label="CPU (% of request)")
    targets = [h.target_percent for h in hpa if h.target_percent is not None]
    if targets:
        cpu_ax.axhline(targets[-1], color="#d1242f", lw=1, ls="--", alpha=0.6, label="CPU target")
    cpu_ax.set_ylabel("CPU utilisation [%]")
    cpu_ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))
    ax.set_xlabel("time (UTC)")
    ax.set_title("Worker autoscaling")
    handles = ax.get_legend_handles_labels()[0] + cpu_ax.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) or 1, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())


def convert(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``pod_scaling.csv``, ``hpa_metrics.csv`` and ``scaling.png`` from the logs that exist.

    Args:
        output_dir (str | os.PathLike[str]): the output folder holding the logs.

    Returns:
        list[Path]: the files written (none when neither log exists).
    """
    folder = Path(output_dir)
    written, series = [], []
    for log, table, parse, kind in (
        (POD_LOG, POD_CSV, parse_pod_log, PodSample),
        (HPA_LOG, HPA_CSV, parse_hpa_log, HpaSample),
    ):
        rows = parse((folder / log).read_text("utf-8", "replace")) if (folder / log).is_file() else []
        series.append(rows)
        if (folder / log).is_file():
            write_csv(rows, folder / table, kind)
            written.append(folder / table)
    if any(series):
        draw_scaling_png(*series, folder / SCALING_PNG)
        written.append(folder / SCALING_PNG)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Convert the logs of an output folder; exit 0 also when there are no logs yet, 2 without the folder."""
    parser = argparse.ArgumentParser(prog="python -m hzz.devtools.scaling_logs", description=main.__doc__)
    parser.add_argument("output_dir", nargs="?", help="the output folder (default: HZZ_OUTPUT_DIR)")
    args = parser.parse_args(argv)
    if args.output_dir is None:
        from hzz.shared.data_vars import Settings  # only here: parsing must not depend on the settings

        args.output_dir = Settings.from_env().output_dir
    folder = Path(args.output_dir)
    if not folder.is_dir():
        print(f"scaling_logs: output folder {str(folder)!r} does not exist", file=sys.stderr)
        return 2
    written = convert(folder)
    if not written:
        print(f"scaling_logs: no {POD_LOG} or {HPA_LOG} in {str(folder)!r}; nothing written")
    for path in written:
        print(f"scaling_logs: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
