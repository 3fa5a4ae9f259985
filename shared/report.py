"""What a run's results look like: the ``results.json`` document and the plot, written together.

``docs/results-schema.md`` documents ``results.json``; :func:`results_document` is its single
source. The file names and the atomic write are in :mod:`hzz.shared.outputs`, which readers
(the web page) use without importing any of the plotting and physics this module needs.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hzz.shared.drawing import DrawingProcess, PlotJob, draw_plot
from hzz.shared.histograms import BinSums, histogram_from_json
from hzz.shared.merging import RunTally
from hzz.shared.outputs import PLOT_FILES, RESULTS_FILE, ROOT_FILE, SCHEMA_VERSION, write_atomic

__all__ = ["plot_job", "results_document", "write_outputs"]

#: How many pending chunks a stalled run lists.
STALLED_LISTED = 50
_VERSIONED = ("hzz-pipeline", "uproot", "awkward", "vector", "numpy", "hist", "matplotlib", "pika")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def results_document(
    tally: RunTally, *, now: float | None = None, stall_seconds: float | None = None, interrupted: bool = False
) -> dict[str, Any]:
    """The ``results.json`` content for the tally as it stands.

    Args:
        tally: the run.
        now: the time to report as ``updated_at`` (default: now).
        stall_seconds: report the run as "stalled" when its pending chunks saw no progress for this
            long (None: never).
        interrupted: the run was stopped before it completed (Ctrl-C or SIGTERM to ``hzz run``):
            "interrupted" rather than "running", until ``hzz run --resume`` takes it up again.
    """
    now = time.time() if now is None else now
    counts = tally.tally()
    end = tally.finished if tally.finished is not None else now
    elapsed = max(end - tally.started, 1e-9)
    events_read = tally.events_read()
    stalled = stall_seconds is not None and tally.stalled(stall_seconds, now=now)
    if tally.complete:
        state = "complete_with_failures" if tally.failed else "complete"
    else:
        state = "interrupted" if interrupted else "stalled" if stalled else "running"

    chunks_total: dict[str, int] = {}
    for spec in tally.chunks.values():
        chunks_total[spec.sample] = chunks_total.get(spec.sample, 0) + 1
    histograms = {name: s.sums() for name, s in tally.samples.items()}
    samples = {}
    for name, s in tally.samples.items():
        samples[name] = {
            "group": tally.release.group_of(name).label,
            "is_data": tally.release.group_of(name).is_data,
            "chunks_total": chunks_total.get(name, 0),
            "chunks_done": s.chunks_done,
            "chunks_failed": s.chunks_failed,
            "events_read": s.events_read,
            "events_selected": s.events_selected,
            "weighted_yield": s.sumw_total,
            "weighted_yield_uncertainty": _root(s.sumw2_total),
            **histograms[name].to_json(),
        }
    groups = {}
    data: dict[str, Any] = {"events_selected": 0, "in_range": 0, "counts": [0] * tally.binning.bins}
    for group in tally.release.groups:
        members = [name for name in group.samples if name in tally.samples]
        if not members:
            continue
        h = BinSums.total((histograms[m] for m in members), tally.binning.bins)
        groups[group.label] = {
            "color": group.color,
            "is_data": group.is_data,
            "is_signal": group.is_signal,
            "samples": members,
            "events_read": sum(tally.samples[m].events_read for m in members),
            "events_selected": sum(tally.samples[m].events_selected for m in members),
            "weighted_yield": sum(tally.samples[m].sumw_total for m in members),
            "weighted_yield_uncertainty": _root(_sum_or_none(tally.samples[m].sumw2_total for m in members)),
            **h.to_json(),
        }
        if group.is_data:
            bins = [round(v) for v in h.values()]
            data = {"events_selected": groups[group.label]["events_selected"], "in_range": sum(bins), "counts": bins}

    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": tally.run_id,
        "state": state,
        "started_at": _iso(tally.started),
        "updated_at": _iso(now),
        "finished_at": _iso(tally.finished),
        "elapsed_seconds": round(elapsed, 3),
        "events_per_second": round(events_read / elapsed, 1),
        "tally": counts,
        "failed_chunks": sorted(tally.failed.values(), key=lambda f: f["chunk_id"]),
        # The first pending chunks of a stalled run: what to look for in the workers' logs.
        "stalled_chunks": tally.pending[:STALLED_LISTED] if stalled else [],
        # Samples the run asked for and reads nothing of (a file without entries, a fraction too small).
        "warnings": tally.warnings,
        "events": {"read": events_read, "selected": sum(s.events_selected for s in tally.samples.values())},
        "binning": {
            "bins": tally.binning.bins,
            "low": tally.binning.low,
            "high": tally.binning.high,
            "width": tally.binning.width,
            "edges": tally.binning.edges.tolist(),
        },
        "samples": samples,
        "groups": groups,
        "data": data,
        "significance": _significance(tally, groups),
        "plot": dict(PLOT_FILES),
        "root_file": ROOT_FILE,
        "profile": tally.release.name,
        "settings": {k: v for k, v in tally.manifest.settings.items() if k != "transport"},
        # {"kind": "rabbitmq" | "embedded", "broker_url": masked or None}; None for older runs
        "transport": tally.manifest.settings.get("transport"),
        "versions": _versions(),
        "workers": _workers(tally),
    }


def _workers(tally: RunTally) -> dict[str, dict[str, Any]]:
    """Which worker ("<host>:<pid>", on Kubernetes the pod) merged how much, and its events/s while busy."""
    return {
        name: {
            "chunks": w["chunks"],
            "events_read": w["events_read"],
            "busy_seconds": round(w["busy_seconds"], 3),
            "events_per_second": round(w["events_read"] / w["busy_seconds"], 1) if w["busy_seconds"] > 0 else None,
        }
        for name, w in sorted(tally.workers.items())
    }


def _root(sumw2: float | None) -> float | None:
    """√Σw², the statistical uncertainty of a weighted yield (None where Σw² is unknown)."""
    return None if sumw2 is None else math.sqrt(max(sumw2, 0.0))


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _significance(tally: RunTally, groups: dict[str, Any]) -> dict[str, Any] | None:
    """The notebook's signal significance in the profile's window, or None where it has none."""
    window = tally.release.significance_window
    if window is None:
        return None
    background = np.zeros(tally.binning.bins)
    signal = np.zeros(tally.binning.bins)
    for group in groups.values():
        if not group["is_data"]:
            target = signal if group["is_signal"] else background
            target += np.asarray(group["sumw"])
    significance_of = tally.release.selection_module().signal_significance
    n_sig, n_bg, significance = significance_of(signal, background, tally.binning, window)
    return {"window": list(window), "n_sig": n_sig, "n_bg": n_bg, "significance": significance}


def plot_job(tally: RunTally, document: dict[str, Any]) -> PlotJob:
    """The drawing of ``tally`` whose results document is ``document``."""
    counts = document["tally"]
    return PlotJob(
        histograms={name: s.sums() for name, s in tally.samples.items()},
        lumi=tally.manifest.lumi,
        fraction=tally.manifest.fraction,
        binning=tally.binning,
        release_groups=tuple(tally.release.groups),
        style=tally.release.style,
        note="" if tally.complete else f"partial: {counts['done']} of {counts['total']} chunks",
        empty_text=_why_empty(document),
    )


def write_root_file(folder: Path, tally: RunTally, document: dict[str, Any]) -> None:
    """The run's histograms as ``hzz_m4l.root`` (:mod:`hzz.shared.rootfile`), from its results document."""
    from hzz.shared.rootfile import write_root  # uproot's writing and hist: only where the file is written

    binning = tally.binning
    groups = {label: histogram_from_json(g, binning) for label, g in document["groups"].items()}
    data_label = next((label for label, g in document["groups"].items() if g["is_data"]), None)
    write_root(
        folder / ROOT_FILE,
        samples={name: s.histogram(binning) for name, s in tally.samples.items()},
        groups=groups,
        data=groups[data_label] if data_label is not None else None,
    )


def write_outputs(
    folder: Path,
    tally: RunTally,
    *,
    draw: bool = True,
    stall_seconds: float | None = None,
    interrupted: bool = False,
    drawer: DrawingProcess | None = None,
) -> dict[str, Any]:
    """Write ``results.json``, then, when ``draw``, the ROOT file and the plot (PNG, SVG).

    results.json goes first: its numbers need no drawing, so a reader sees them as soon as they
    are merged, and the page shows the previous plot (or none yet: it asks for the plot's file
    only once it exists) until the new one replaces it. Without ``draw`` the document says
    ``"plot": null`` unless a plot of the run is already there. The JSON is strict (no NaN or
    infinity: :class:`ValueError` rather than a file no reader takes).

    Args:
        folder: the run's folder.
        tally: the run as merged so far.
        draw: draw the plot and write the ROOT file too.
        stall_seconds, interrupted: see :func:`results_document`.
        drawer: a process that draws the plot while this one writes the ROOT file (the
            aggregator's, so that matplotlib never holds its acknowledgements); None: drawn here.

    Returns:
        dict[str, Any]: the results document written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    document = results_document(tally, stall_seconds=stall_seconds, interrupted=interrupted)
    if not draw and not (folder / PLOT_FILES["png"]).exists():
        document["plot"] = None
    write_atomic(folder / RESULTS_FILE, json.dumps(document, indent=1, allow_nan=False).encode())
    if draw:
        job = plot_job(tally, document)
        drawn = drawer.draw(folder, job) if drawer is not None else None
        write_root_file(folder, tally, document)
        if drawn is not None:
            drawn()
        else:
            draw_plot(folder, job)
    return document


def _why_empty(document: dict[str, Any]) -> str:
    """The line under "No events selected" on a plot without events: what the run has done so far."""
    counts = document["tally"]
    if counts["failed"] and not counts["done"]:
        if counts["pending"]:
            return f"{counts['failed']} of {counts['total']} chunks failed, none done yet"
        return f"all {counts['total']} chunks failed"
    if counts["pending"]:
        return f"{counts['done']} of {counts['total']} chunks done"
    if not document["events"]["read"] and document["warnings"]:
        return "no entries to read (see the warnings in results.json)"
    return f"none of the {document['events']['read']:,} events read passed the selection"
