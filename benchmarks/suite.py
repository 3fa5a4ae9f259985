"""What ``python -m benchmarks`` runs, in order, and how the rows of the report are made.

Per dataset size: the notebook baseline, the read floor, one worker process on every chunk
(no messaging), then the pipeline (hzz.local.run_local) with 1 and 2 workers over the
embedded transport and over RabbitMQ. Then, over HTTP with the added latency: the notebook,
the read floor and the pipeline with several workers. On the largest size also: the notebook
with libdeflate and the read floor with zlib (how much each side owes to the library), a
sweep of chunk sizes, the pipeline's fixed cost on a one-chunk run, and the worker's time by step.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.datasets import QUICK_SCALE, Dataset, ensure_dataset, real_data_a, size_name
from benchmarks.httpserver import serve_folder
from benchmarks.measure import compare_to_notebook, in_child
from benchmarks.report import derive, evaluate_targets, evaluate_whole_targets, machine_info
from benchmarks.wholeprocess import coffea_available, competitors, race
from hzz.shared.data_vars import Settings
from hzz.shared.messaging.rabbitmq import broker_answers

__all__ = ["Options", "run_suite"]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
#: Chunk sizes of the sweep (entries).
SWEEP_CHUNK_SIZES = (100_000, 250_000, 500_000, 1_000_000)


@dataclass
class Options:
    sizes: list[float] = field(default_factory=lambda: [1.0, 10.0])
    http_sizes: list[float] = field(default_factory=lambda: [1.0, 10.0])
    latency_ms: float = 20.0
    http_workers: int = 4
    repeat: int = 3
    quick: bool = False
    broker_url: str = DEFAULT_BROKER_URL
    extras: bool = True
    command_line: str = ""
    #: Rounds of the whole-process race (every competitor once per round).
    rounds: int = 3
    #: Run the whole-process race (the commands as a user runs them).
    whole: bool = True
    #: Run the in-process measurements (notebook loop, floor, worker, pipeline; HTTP).
    in_process: bool = True
    #: Race coffea too, when it is installed.
    coffea: bool = True


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _best(name: str, repeat: int, **kwargs: Any) -> dict[str, Any]:
    """The fastest of ``repeat`` runs of a measurement (the least disturbed by other load)."""
    runs = [in_child(name, **kwargs) for _ in range(max(repeat, 1))]
    best = min(runs, key=lambda r: r["wall_s"])
    best["walls_s"] = [round(r["wall_s"], 3) for r in runs]
    return best


def run_suite(options: Options) -> dict[str, Any]:
    """Run every measurement and return the report (rows, targets, machine, …)."""
    started = time.perf_counter()
    machine = machine_info()
    rabbitmq = broker_answers(options.broker_url)
    cores = os.cpu_count() or 1
    default_chunk_size = Settings().chunk_size
    rows: list[dict[str, Any]] = []
    sections: list[dict[str, str]] = []
    zlib_used = {"baseline": "zlib", "worker": "zlib"}

    if options.quick:
        datasets = [ensure_dataset("quick", QUICK_SCALE)]
        http_datasets = datasets
    else:
        datasets = [ensure_dataset(size_name(s), s) for s in options.sizes]
        http_datasets = [ensure_dataset(size_name(s), s) for s in options.http_sizes]
    largest = max(datasets, key=lambda d: d.events)
    whole = _whole_process(options, datasets, rabbitmq=rabbitmq) if options.whole else []
    described = datasets + http_datasets
    if not options.in_process:
        datasets, http_datasets = [], []

    def row(section: str, run: str, kind: str, result: dict[str, Any], *, processes: int = 1, **extra: Any) -> None:
        rows.append(
            {
                "section": section,
                "run": run,
                "kind": kind,
                "cores": min(processes, cores),
                "events": result["events"],
                "wall_s": result["wall_s"],
                "cpu_s": result["cpu_s"],
                "peak_rss_mb": extra.pop("peak_rss_mb", None),
                "walls_s": result.get("walls_s"),
                **{k: result[k] for k in ("chunks", "result_bytes_mean", "result_bytes_max") if k in result},
                **extra,
            }
        )

    def pipelines(section: str, ds_url: str, baseline: dict[str, Any], worker_counts: list[int]) -> None:
        transports = ["embedded", "rabbitmq"] if rabbitmq else ["embedded"]
        for transport in transports:
            for workers in worker_counts:
                _log(f"{section}: pipeline, {workers} workers, {transport}")
                result = _best(
                    "pipeline",
                    options.repeat,
                    dataset=ds_url,
                    workers=workers,
                    transport=transport,
                    broker_url=options.broker_url,
                )
                row(
                    section,
                    f"pipeline, {workers} worker{'s' if workers > 1 else ''}, {transport}",
                    "pipeline",
                    result,
                    processes=workers,
                    workers=workers,
                    transport=transport,
                    broker_messages=result["broker_messages"],
                    peak_rss_mb=result["rss_children_mb"],
                    identical=compare_to_notebook(baseline["samples"], result["samples"]),
                    http_requests=result.get("http_requests"),
                )

    for ds in datasets:
        section = ds.name
        sections.append(
            {
                "name": section,
                "title": f"{section}: {ds.events:,} events in {ds.files} files "
                f"({ds.bytes / 1e6:,.0f} MB, baskets of {ds.basket_entries:,} entries), local disk",
                "description": _LOCAL_DESCRIPTION,
            }
        )
        url = str(ds.folder)
        _log(f"{section}: notebook baseline")
        baseline = _best("notebook", options.repeat, dataset=url)
        zlib_used["baseline"] = baseline["zlib"]
        row(section, "notebook baseline", "baseline", baseline, peak_rss_mb=baseline["rss_self_mb"])
        _log(f"{section}: read floor")
        floor = _best("floor", options.repeat, dataset=url)
        zlib_used["worker"] = floor["zlib"]
        row(section, f"read floor (uproot, {floor['zlib']})", "floor", floor, peak_rss_mb=floor["rss_self_mb"])
        _log(f"{section}: one worker process, every chunk")
        worker = _best("worker", options.repeat, dataset=url)
        row(
            section,
            "worker: analyse_chunk on every chunk, 1 process",
            "worker",
            worker,
            peak_rss_mb=worker["rss_self_mb"],
            identical=compare_to_notebook(baseline["samples"], worker["samples"]),
        )
        pipelines(section, url, baseline, [1, 2])
        if ds is largest and options.extras and not options.quick:
            _log(f"{section}: notebook with libdeflate (reference)")
            fast = _best("notebook", options.repeat, dataset=url, fast_zlib=True)
            row(section, "notebook + libdeflate (reference, not the baseline)", "reference", fast)
            _log(f"{section}: read floor with zlib (reference)")
            slow = _best("floor", options.repeat, dataset=url, fast_zlib=False)
            row(section, "read floor with zlib (reference)", "reference", slow, peak_rss_mb=slow["rss_self_mb"])

    for ds in http_datasets:
        section = f"http-{ds.name}"
        with serve_folder(ds.folder, latency=options.latency_ms / 1000) as server:
            sections.append(
                {
                    "name": section,
                    "title": f"{ds.name} over HTTP, {options.latency_ms:g} ms added per request",
                    "description": _HTTP_DESCRIPTION.format(latency=f"{options.latency_ms:g}", url=server.url),
                }
            )
            measured: dict[str, dict[str, Any]] = {}
            for name, kwargs in (("notebook", {}), ("floor", {})):
                _log(f"{section}: {name}")
                server.reset_stats()
                measured[name] = _best(name, options.repeat, dataset=server.url, **kwargs)
                measured[name]["http_requests"] = server.stats()["requests"] // max(options.repeat, 1)
            row(
                section,
                "notebook baseline",
                "baseline",
                measured["notebook"],
                peak_rss_mb=measured["notebook"]["rss_self_mb"],
                http_requests=measured["notebook"]["http_requests"],
            )
            row(
                section,
                f"read floor (uproot, {measured['floor']['zlib']})",
                "floor",
                measured["floor"],
                peak_rss_mb=measured["floor"]["rss_self_mb"],
                http_requests=measured["floor"]["http_requests"],
            )
            transport = "rabbitmq" if rabbitmq else "embedded"
            _log(f"{section}: pipeline, {options.http_workers} workers, {transport}")
            server.reset_stats()
            result = _best(
                "pipeline",
                options.repeat,
                dataset=server.url,
                workers=options.http_workers,
                transport=transport,
                broker_url=options.broker_url,
            )
            row(
                section,
                f"pipeline, {options.http_workers} workers, {transport}",
                "pipeline",
                result,
                processes=options.http_workers,
                workers=options.http_workers,
                transport=transport,
                broker_messages=result["broker_messages"],
                peak_rss_mb=result["rss_children_mb"],
                identical=compare_to_notebook(measured["notebook"]["samples"], result["samples"]),
                http_requests=server.stats()["requests"] // max(options.repeat, 1),
            )

    derive(rows)
    report: dict[str, Any] = {
        "whole": whole,
        "coffea": _coffea_version() if options.coffea else None,
        "machine": machine,
        "options": vars(options),
        "datasets": [d.describe() for d in {d.name: d for d in described}.values()],
        "chunk_size": default_chunk_size,
        "rabbitmq": rabbitmq,
        "zlib": zlib_used,
        "sections": sections,
        "rows": rows,
    }
    if options.extras and options.in_process:
        _extras(report, largest, floor_row=_floor_row(rows, largest.name), repeat=options.repeat, quick=options.quick)
    report["targets"] = evaluate_whole_targets(whole) + evaluate_targets(
        rows, latency_ms=options.latency_ms, large_section=largest.name
    )
    report["notes"] = _notes(report)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = time.perf_counter() - started
    return report


def _whole_process(options: Options, datasets: list[Dataset], *, rabbitmq: bool) -> list[dict[str, Any]]:
    """The race of whole commands on the real data_A file alone and on each dataset."""
    entrants = competitors(workers=2, broker_url=options.broker_url if rabbitmq else None, coffea=options.coffea)
    inputs: list[tuple[str, str, str, list[str] | None]] = []
    real = real_data_a()
    if real is not None:
        inputs.append(("data_A", "real data_A alone (39 events)", str(real), ["data_A"]))
    for ds in datasets:
        inputs.append((ds.name, f"{ds.name}: {ds.events:,} events in {ds.files} files", str(ds.folder), None))
    races = []
    for name, title, folder, samples in inputs:
        _log(f"whole process, {title}: {len(entrants)} competitors × {options.rounds} rounds")
        result = race(entrants, folder, samples, rounds=options.rounds, log=lambda m, n=name: _log(f"{n}: {m}"))
        races.append({"name": name, "title": title, **result})
    return races


def _coffea_version() -> str | None:
    if not coffea_available():
        return None
    from importlib import metadata

    return metadata.version("coffea")


def _floor_row(rows: list[dict[str, Any]], section: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["section"] == section and r["kind"] == "floor"), None)


def _extras(report: dict[str, Any], ds: Dataset, *, floor_row: dict[str, Any] | None, repeat: int, quick: bool) -> None:
    """The chunk-size sweep, the pipeline's fixed cost and the worker's time by step."""
    url = str(ds.folder)
    sweep = []
    for chunk_size in SWEEP_CHUNK_SIZES[:2] if quick else SWEEP_CHUNK_SIZES:
        _log(f"{ds.name}: worker with chunks of {chunk_size:,}")
        r = _best("worker", repeat, dataset=url, chunk_size=chunk_size)
        eps = r["events"] / r["wall_s"]
        sweep.append(
            {
                "chunk_size": chunk_size,
                "chunks": r["chunks"],
                "wall_s": r["wall_s"],
                "events_per_s": eps,
                "per_core_vs_floor": eps / floor_row["events_per_s_per_core"] if floor_row else None,
                "result_bytes_mean": r["result_bytes_mean"],
                "peak_rss_mb": r["rss_self_mb"],
            }
        )
    report["sweep"] = sweep
    report["sweep_section"] = ds.name
    _log(f"{ds.name}: worker time by step")
    breakdown = in_child("breakdown", dataset=url)
    report["breakdown"] = {"section": ds.name, "steps": breakdown["ms_per_million"]}
    _log("fixed cost: pipeline on one tiny chunk (data_A, 2 workers, embedded)")
    fixed = in_child(
        "pipeline", dataset=url, workers=2, transport="embedded", broker_url=DEFAULT_BROKER_URL, samples=["data_A"]
    )
    report["fixed_cost_s"] = fixed["wall_s"]


def _notes(report: dict[str, Any]) -> list[str]:
    notes = [
        "Whole-process figures (the race) are commands timed from start to exit; every other figure is "
        "in-process, as follows.",
        "Wall times are end to end for the pipeline (worker processes started, files planned, every chunk "
        "published, analysed and merged, plot and results.json written) and the work alone for the notebook, "
        "the read floor and the worker (a notebook user has Python running; a worker has imported uproot).",
        "cores = the processes that compute, at most the machine's cores; per core = events/s ÷ cores.",
        "broker msgs = one task per chunk + one result per chunk + the run's manifest.",
        "peak RSS: of the measuring process (notebook, floor, worker), or of the largest child process of "
        "run_local (a worker) for the pipeline.",
        "= notebook: the histograms equal the notebook baseline's (counts exactly, Σw and Σw² to 1e-9).",
    ]
    if "fixed_cost_s" in report:
        notes.append(
            f"Fixed cost of a pipeline run (2 worker processes started, one 39-event chunk, outputs written): "
            f"{report['fixed_cost_s']:.2f} s."
        )
    notes += _limits(report)
    return notes


def _limits(report: dict[str, Any]) -> list[str]:
    """What the measurements say about the targets' reach: the worker's ceiling, HTTP's latency share."""
    notes = []
    breakdown = report.get("breakdown")
    if breakdown:
        steps = list(breakdown["steps"].values())
        read, rest = steps[0], sum(steps[1:])
        notes.append(
            f"Worker ceiling: per 10⁶ events a worker spends {read:.0f} ms of CPU reading (what the read floor "
            f"does) and {rest:.0f} ms on the cuts, the first four leptons, the mass, the weights and the "
            f"histogram; one after the other that is at most {read / (read + rest):.2f} × the floor's throughput "
            "per CPU-second. A worker reads on two threads while it computes (shared/columns.py), so with a free "
            "core its wall can beat that; with every core busy (a worker per core) it cannot."
        )
    rows = report["rows"]
    latency_s = report["options"]["latency_ms"] / 1000
    for section in report["sections"]:
        if not section["name"].startswith("http-"):
            continue
        local = section["name"].removeprefix("http-")
        baseline = next((r for r in rows if r["section"] == section["name"] and r["kind"] == "baseline"), None)
        pipeline = next((r for r in rows if r["section"] == section["name"] and r["kind"] == "pipeline"), None)
        local_best = min((r["wall_s"] for r in rows if r["section"] == local and r["kind"] == "pipeline"), default=None)
        if not baseline or not pipeline or not baseline.get("http_requests"):
            continue
        waited = baseline["http_requests"] * latency_s
        text = (
            f"{section['name']}: the notebook made {baseline['http_requests']} requests (uproot fetches a step's "
            f"baskets in one multipart request), so the latency is {waited:.1f} s of its {baseline['wall_s']:.1f} s; "
            f"4 × faster means the pipeline in {baseline['wall_s'] / 4:.1f} s"
        )
        if local_best:
            text += (
                f", while on local disk, with no latency at all, it takes {local_best:.1f} s: over HTTP at most "
                f"{baseline['wall_s'] / local_best:.1f} × is possible on this machine"
            )
        notes.append(text + ".")
    return notes


_LOCAL_DESCRIPTION = (
    "The notebook baseline is shared/notebook.py (tree.iterate, vector, the two cuts, np.histogram) in one "
    "process; the read floor is uproot reading the same branches of the same entries and nothing else; the "
    "worker row is one process calling analyse_chunk on every chunk (a worker's throughput per core, its "
    "peak memory and its result messages); the pipeline rows are hzz run (hzz.local.run_local) end to end."
)

_HTTP_DESCRIPTION = (
    "The files served by benchmarks/httpserver.py at {url} (byte ranges, multipart ranges, HEAD), which "
    "sleeps {latency} ms before answering each request; uproot reads with its HTTPSource. The pipeline runs "
    "more workers than cores because they wait on the network."
)
