"""A made-up output folder for trying the page without a run: ``python -m hzz.webserver.demo FOLDER``.

It writes a schema 1 ``results.json`` (yields of the published 2020 analysis, smooth histograms
shaped like the real ones, Poisson-drawn data), the m4ℓ plot as PNG and SVG and, optionally,
scaling logs, in any state of a run. The tests use it to feed the page; nothing in it is physics.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hzz.shared.data_vars import Settings
from hzz.shared.outputs import write_atomic
from hzz.shared.releases import get_release
from hzz.shared.scaling import ScalingSample, WorkerPodSample, format_pod_line, format_summary

__all__ = ["demo_results", "draw_plot", "write_demo", "write_scaling_logs"]

#: Entries read → selected, and the weighted yield, per sample (the published notebook's numbers).
SAMPLES: dict[str, tuple[int, int, float]] = {
    "data_A": (39, 27, 27.0),
    "data_B": (156, 86, 86.0),
    "data_C": (237, 146, 146.0),
    "data_D": (400, 248, 248.0),
    "Zee": (898, 243, 43.141792),
    "Zmumu": (684, 257, 51.99949),
    "ttbar_lep": (1031, 334, 28.132816),
    "llll": (554279, 523957, 264.85263),
    "ggH125_ZZ4lep": (164716, 161451, 8.639792),
    "VBFH125_ZZ4lep": (191126, 186870, 0.7747851),
    "WH125_ZZ4lep": (15379, 9772, 0.2175638),
    "ZH125_ZZ4lep": (14485, 11947, 0.0015058718),
}
#: Chunks of 100 000 entries per sample.
CHUNKS = {name: max(1, -(-read // 100_000)) for name, (read, _, _) in SAMPLES.items()}
#: Bin edges of the plot: 80–250 GeV in 5 GeV bins.
EDGES = np.linspace(80.0, 250.0, 35)
#: When the demo run starts.
START = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def _shape(group: int) -> np.ndarray:
    """A smooth m4ℓ shape (fraction of the group's yield per bin) for the group's index."""
    x = 0.5 * (EDGES[:-1] + EDGES[1:])
    gauss = lambda mu, sigma: np.exp(-0.5 * ((x - mu) / sigma) ** 2)  # noqa: E731
    shapes = [
        gauss(91, 4) + 0.35 * np.exp(-(x - 80) / 40),  # data: unused
        np.exp(-(x - 80) / 35) * 0.25,  # Z, tt̄
        0.09 * gauss(91, 3) + 0.018 + 0.12 / (1 + np.exp(-(x - 185) / 4)) * np.exp(-(x - 185) / 90),
        0.8 * gauss(125, 2.2),  # signal
    ]
    return shapes[group] / shapes[group].sum() * (0.5 if group == 1 else 0.8)


def demo_results(state: str = "complete", *, progress: float = 1.0, failed: int = 0) -> dict[str, Any]:
    """A results.json of the given state.

    Args:
        state (str): "running", "complete" or "complete_with_failures".
        progress (float): the fraction of the chunks done (used while running).
        failed (int): failed chunks (the last ones of sample llll, named after its file).

    Returns:
        dict[str, Any]: the results, schema 1.
    """
    # Chunks are done in manifest order: the first chunk of every sample, then the second ones…;
    # failed chunks are the last ones of llll.
    lost = {"llll": min(failed, CHUNKS["llll"])}
    order = [name for i in range(max(CHUNKS.values())) for name in SAMPLES if i < CHUNKS[name] - lost.get(name, 0)]
    finished = order if state != "running" else order[: round(len(order) * progress)]
    done = {name: finished.count(name) for name in SAMPLES}
    samples, groups, expected = {}, {}, np.zeros(len(EDGES) - 1)
    for index, group in enumerate(get_release("2020").groups):
        entry = {
            "color": group.color,
            "is_data": group.is_data,
            "is_signal": group.is_signal,
            "samples": list(group.samples),
            "events_read": 0,
            "events_selected": 0,
            "weighted_yield": 0.0,
            "sumw": np.zeros(len(EDGES) - 1),
            "sumw2": np.zeros(len(EDGES) - 1),
        }
        for name in group.samples:
            read, selected, weighted = SAMPLES[name]
            share = done[name] / CHUNKS[name]
            sumw = _shape(index) * weighted * share
            samples[name] = {
                "group": group.label,
                "is_data": group.is_data,
                "chunks_total": CHUNKS[name],
                "chunks_done": done[name],
                "chunks_failed": lost.get(name, 0),
                "events_read": round(read * share),
                "events_selected": round(selected * share),
                "weighted_yield": weighted * share,
                "sumw": sumw,
                "sumw2": sumw * weighted / selected,
            }
            for key in ("events_read", "events_selected", "weighted_yield", "sumw", "sumw2"):
                entry[key] = entry[key] + samples[name][key]
            if not group.is_data:
                expected += _shape(index) * weighted
        groups[group.label] = entry
    data = groups[get_release("2020").groups[0].label]
    data_share = sum(done[n] for n in data["samples"]) / sum(CHUNKS[n] for n in data["samples"])
    counts = rng_poisson(expected * data_share)
    data["sumw"] = data["sumw2"] = counts
    read = sum(s["events_read"] for s in samples.values())
    total = sum(CHUNKS.values())
    elapsed = 96.4 * (len(finished) + failed) / total
    results = {
        "schema_version": 1,
        "run_id": "20261125-103000-d3m0a1",
        "state": state,
        "started_at": _iso(START),
        "updated_at": _iso(START + timedelta(seconds=elapsed)),
        "finished_at": None if state == "running" else _iso(START + timedelta(seconds=elapsed)),
        "elapsed_seconds": round(elapsed, 1),
        "events_per_second": round(read / max(elapsed, 0.1), 1),
        "tally": {"total": total, "done": len(finished), "failed": failed, "pending": total - len(finished) - failed},
        "failed_chunks": [
            {
                "chunk_id": f"llll/mc_363490.llll.4lep.root:{start}-{min(start + 100_000, SAMPLES['llll'][0])}",
                "sample": "llll",
                "attempt": 3,
                "error": "cannot read https://…/MC/mc_363490.llll.4lep.root: TimeoutError: read timed out "
                "after 30 s (4 attempts)",
            }
            for start in (100_000 * (CHUNKS["llll"] - 1 - i) for i in range(failed))
        ],
        "events": {"read": read, "selected": sum(s["events_selected"] for s in samples.values())},
        "binning": {"bins": len(EDGES) - 1, "low": 80.0, "high": 250.0, "width": 5.0, "edges": EDGES},
        "samples": samples,
        "groups": groups,
        "data": {"events_selected": data["events_selected"], "in_range": int(counts.sum()), "counts": counts},
        "plot": {"png": "hzz_m4l.png", "svg": "hzz_m4l.svg"},
        "settings": Settings(output_dir="output_plots").public_dict(),
        "versions": {
            "hzz-pipeline": "1.0.0",
            "python": platform.python_version(),
            **{name: _version(name) for name in ("numpy", "matplotlib", "flask")},
        },
    }
    return json.loads(json.dumps(results, default=lambda a: a.tolist()))


def rng_poisson(mean: np.ndarray) -> np.ndarray:
    """Poisson counts around ``mean``, the same on every call (seed 1 gives a typical draw)."""
    return np.random.default_rng(1).poisson(mean)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def draw_plot(output_dir: Path, results: dict[str, Any]) -> None:
    """Draw the stacked m4ℓ plot of ``results`` as ``hzz_m4l.png`` and ``.svg`` (atomically)."""
    from matplotlib.figure import Figure  # here: the rest of the demo needs no matplotlib

    centres, bottom = 0.5 * (EDGES[:-1] + EDGES[1:]), np.zeros(len(EDGES) - 1)
    fig = Figure(figsize=(9, 6.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for label, group in results["groups"].items():
        if not group["is_data"]:
            ax.bar(centres, group["sumw"], width=5.0, bottom=bottom, color=group["color"], label=label)
            bottom = bottom + np.asarray(group["sumw"])
    counts = np.asarray(results["data"]["counts"])
    ax.errorbar(centres, counts, yerr=np.sqrt(counts), fmt="ko", label="Data")
    ax.set(
        xlim=(80, 250),
        ylim=(0, 1.6 * max(counts.max(), 1)),
        ylabel="Events / 5.0 GeV",
        xlabel=r"4-lepton invariant mass $\mathrm{m_{4l}}$ [GeV]",
    )
    ax.tick_params(which="both", direction="in", top=True, right=True)
    ax.minorticks_on()
    ax.text(0.05, 0.93, "ATLAS Open Data", transform=ax.transAxes, fontsize=13)
    ax.text(0.05, 0.88, "for education (demo)", transform=ax.transAxes, style="italic", fontsize=8)
    ax.text(0.05, 0.82, r"$\sqrt{s}$=13 TeV,$\int$L dt = 10.0 fb$^{-1}$", transform=ax.transAxes)
    ax.text(0.05, 0.76, r"$H \rightarrow ZZ^* \rightarrow 4\ell$", transform=ax.transAxes)
    ax.legend(frameon=False)
    for suffix in ("png", "svg"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix)
        write_atomic(output_dir / f"hzz_m4l.{suffix}", buffer.getvalue())


def write_scaling_logs(output_dir: Path, *, steps: int = 30) -> None:
    """Write ``pod_scaling.log`` and ``hpa_metrics.log`` as the scaling monitor does, every 10 s from
    the run's start: 1 worker, 4 from +30 s (the HPA's first reading at +20 s), the queue drained
    by +100 s, one pod fewer every 15 s from +150 s; on a 2-core node that 4 pods saturate."""
    pods_log, hpa_log = [], []
    total = sum(CHUNKS.values())
    for step in range(steps):
        t = 10 * step
        stamp = _iso(START + timedelta(seconds=t))
        busy = t <= 100
        desired = 1 if t < 30 else 4 if t < 150 else max(1, 4 - (t - 135) // 15)
        ready = 1 if t < 40 else desired
        done = min(total, round(total * t / 100))
        rate = (10_000.0 if ready == 1 else 18_000.0) if busy and t > 0 else 0.0
        cpu = (950 if ready == 1 else 480) if busy else 10
        summary = ScalingSample(
            stamp, desired, ready, ready, desired, max(0, total - done - ready), min(ready, total - done),
            done, total, rate / 25_000, rate, cpu, (50.0 if ready == 1 else 97.0) if busy else 5.0, 2,
        )  # fmt: skip
        pods_log.append(format_summary(summary))
        for i in range(desired):
            up = i < ready
            name = f"hzz-worker-7d9c5-{i:05d}"
            status = "Running" if up else "ContainerCreating"
            pod = WorkerPodSample(stamp, name, status, up, 0, cpu if up else None, rate / ready if up else None)
            pods_log.append(format_pod_line(pod, f"{t + 40}s"))
        reading = "<unknown>" if t < 20 else f"{round(100 * cpu / 250)}%"
        hpa_log += [f"=== {stamp}", f"hzz-worker  Deployment/hzz-worker  cpu: {reading}/50%  1  4  {desired}  40s"]
    write_atomic(output_dir / "pod_scaling.log", ("\n".join(pods_log) + "\n").encode())
    write_atomic(output_dir / "hpa_metrics.log", ("\n".join(hpa_log) + "\n").encode())


def write_demo(
    output_dir: str | os.PathLike[str],
    state: str = "complete",
    *,
    progress: float = 1.0,
    failed: int = 0,
    scaling: bool = False,
) -> dict[str, Any]:
    """Write a demo output folder (the plot first, then results.json, as the aggregator does).

    Returns:
        dict[str, Any]: the results written.
    """
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    results = demo_results(state, progress=progress, failed=failed)
    draw_plot(folder, results)
    write_atomic(folder / "results.json", json.dumps(results, indent=1).encode())
    if scaling:
        write_scaling_logs(folder)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hzz.webserver.demo FOLDER [--state S] [--progress P] [--failed N] [--scaling]``."""
    parser = argparse.ArgumentParser(prog="python -m hzz.webserver.demo", description=__doc__.splitlines()[0])
    parser.add_argument("output_dir")
    parser.add_argument("--state", default="complete", choices=("running", "complete", "complete_with_failures"))
    parser.add_argument("--progress", type=float, default=0.5, help="fraction done while running")
    parser.add_argument("--failed", type=int, default=0, help="failed chunks")
    parser.add_argument("--scaling", action="store_true", help="also write scaling logs")
    args = parser.parse_args(argv)
    write_demo(args.output_dir, args.state, progress=args.progress, failed=args.failed, scaling=args.scaling)


if __name__ == "__main__":
    main()
