"""The benchmark's report: derived figures per run, the targets, the machine, Markdown and JSON.

A *row* is one measurement (a dict) with at least ``section``, ``run``, ``kind``, ``cores``,
``events`` and ``wall_s``; :func:`derive` adds the per-second, per-core and relative figures
against the same section's read floor and notebook baseline.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "TARGETS",
    "derive",
    "evaluate_targets",
    "evaluate_whole_targets",
    "machine_info",
    "render_markdown",
    "summary_markdown",
]

#: The targets: what is measured and the limit. "whole process" figures are commands timed from
#: start to exit (the race); "in-process" ones are timed inside a running Python process.
TARGETS = {
    "whole_tiny": ("Whole process, real data_A alone: hzz run ≤ 1.0 s (median)", 1.0),
    "whole_1x_ratio": ("Whole process, 1×, 2 workers: hzz run ≤ 0.8 × the notebook (median ratio, same round)", 0.8),
    "whole_1x_coffea": ("Whole process, 1×, 2 workers: hzz run faster than coffea IterativeExecutor (median)", 1.0),
    "whole_10x_ratio": (
        "Whole process, 10×, 2 workers: hzz run ≤ 0.45 × the notebook (median ratio, same round)",
        0.45,
    ),
    "whole_identical": ("Whole process: histograms equal to the notebook's in every run", None),
    "worker_vs_floor": ("In-process: a worker's throughput per core ≥ 0.8 × the read floor's", 0.8),
    "e2e_10x_ratio": ("In-process, end to end, 10× dataset, 2 workers: wall ≤ 0.6 × the notebook's", 0.6),
    "http_speedup": ("Over HTTP with {latency} ms per request: ≥ 4 × faster than the notebook", 4.0),
    "result_bytes": ("Result message ≤ 16 KB per chunk", 16 * 1024),
    "worker_rss": ("A worker's peak memory ≤ 500 MB at the default chunk size", 500.0),
}

_VERSIONED = ("uproot", "awkward", "vector", "numpy", "hist", "deflate", "pika", "matplotlib", "coffea")


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, load, Python and library versions of this machine."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    info["versions"] = versions
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def derive(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add events/s, per core, per CPU-second, ÷ floor and ÷ baseline to every row (in place)."""
    reference: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        row["events_per_s"] = row["events"] / row["wall_s"] if row["wall_s"] > 0 else 0.0
        row["events_per_s_per_core"] = row["events_per_s"] / max(row["cores"], 1)
        row["events_per_cpu_s"] = row["events"] / row["cpu_s"] if row.get("cpu_s") else None
        if row["kind"] in ("baseline", "floor"):
            reference.setdefault((row["section"], row["kind"]), row)
    for row in rows:
        floor = reference.get((row["section"], "floor"))
        baseline = reference.get((row["section"], "baseline"))
        row["per_core_vs_floor"] = (
            row["events_per_s_per_core"] / floor["events_per_s_per_core"] if floor and row is not floor else None
        )
        row["cpu_vs_floor"] = (
            row["events_per_cpu_s"] / floor["events_per_cpu_s"]
            if floor and row is not floor and row["events_per_cpu_s"] and floor["events_per_cpu_s"]
            else None
        )
        row["wall_vs_baseline"] = row["wall_s"] / baseline["wall_s"] if baseline and row is not baseline else None
    return rows


def evaluate_targets(
    rows: Sequence[dict[str, Any]], *, latency_ms: float, large_section: str | None
) -> list[dict[str, Any]]:
    """Each target with the measurement it is judged on and whether it is met."""
    targets: list[dict[str, Any]] = []

    def add(key: str, run: str, value: float | None, met: bool | None, shown: str) -> None:
        text, limit = TARGETS[key]
        targets.append(
            {
                "target": text.format(latency=f"{latency_ms:g}"),
                "key": key,
                "limit": limit,
                "run": run,
                "value": value,
                "shown": shown,
                "met": met,
            }
        )

    workers = [r for r in rows if r["kind"] == "worker" and r.get("per_core_vs_floor") is not None]
    for r in [r for r in workers if r["section"] == large_section] or workers[-1:]:
        v = r["per_core_vs_floor"]
        cpu = r.get("cpu_vs_floor")
        shown = f"{v:.2f} × (per CPU-second: {cpu:.2f} ×)" if cpu else f"{v:.2f} ×"
        add("worker_vs_floor", f"{r['section']}: {r['run']}", v, v >= TARGETS["worker_vs_floor"][1], shown)
    for r in rows:
        if r["section"] == "10x" and r["kind"] == "pipeline" and r.get("workers") == 2:
            v = r["wall_vs_baseline"]
            add("e2e_10x_ratio", f"{r['section']}: {r['run']}", v, v is not None and v <= 0.6, f"{v:.2f} ×")
    for r in rows:
        if r["kind"] == "pipeline" and r["section"].startswith("http") and r.get("wall_vs_baseline"):
            speedup = 1 / r["wall_vs_baseline"]
            add("http_speedup", f"{r['section']}: {r['run']}", speedup, speedup >= 4.0, f"{speedup:.2f} × faster")
    sizes = [r["result_bytes_max"] for r in rows if r.get("result_bytes_max")]
    if sizes:
        v = max(sizes)
        add("result_bytes", "largest result message of any run", v, v <= 16 * 1024, f"{v:,.0f} B")
    default_rss = [
        (r["peak_rss_mb"], f"{r['section']}: {r['run']}")
        for r in rows
        if r["kind"] in ("worker", "pipeline") and r.get("peak_rss_mb") and r.get("default_chunk_size", True)
    ]
    if default_rss:
        v, where = max(default_rss)
        add("worker_rss", f"largest: {where}", v, v <= 500, f"{v:.0f} MB")
    return targets


def evaluate_whole_targets(races: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole-process targets, judged on the race of each input (hzz run rows, every transport)."""
    targets: list[dict[str, Any]] = []

    def add(key: str, run: str, value: float | None, met: bool | None, shown: str) -> None:
        text, limit = TARGETS[key]
        targets.append(
            {"target": text, "key": key, "limit": limit, "run": run, "value": value, "shown": shown, "met": met}
        )

    for entry in races:
        hzz = [c for c in entry["summary"] if c["kind"] == "hzz"]
        coffea = next((c for c in entry["summary"] if c["name"].startswith("coffea Iterative")), None)
        for c in hzz:
            where = f"{entry['name']}: {c['name']}"
            if entry["name"] == "data_A":
                v = c["wall_median_s"]
                add("whole_tiny", where, v, v <= 1.0, f"{v:.2f} s (min {c['wall_min_s']:.2f} s)")
            if entry["name"] == "1x":
                v = c["ratio_median"]
                add("whole_1x_ratio", where, v, v <= 0.8, f"{v:.2f} ×")
                if coffea is not None:
                    v = c["wall_median_s"] / coffea["wall_median_s"]
                    add(
                        "whole_1x_coffea",
                        where,
                        v,
                        v < 1.0,
                        f"{c['wall_median_s']:.2f} s vs {coffea['wall_median_s']:.2f} s",
                    )
            if entry["name"] == "10x":
                v = c["ratio_median"]
                add("whole_10x_ratio", where, v, v <= 0.45, f"{v:.2f} ×")
    verdicts = [
        (f"{e['name']}: {c['name']}", c["identical"]) for e in races for c in e["summary"] if c["kind"] != "notebook"
    ]
    if verdicts:
        wrong = [f"{where}: {v}" for where, v in verdicts if v != "yes"]
        shown = "every run" if not wrong else "; ".join(wrong)
        add("whole_identical", f"{len(verdicts)} competitors × inputs", None, not wrong, shown)
    return targets


# --- Markdown -------------------------------------------------------------------------------------


def _fmt(value: Any, spec: str, none: str = "–") -> str:
    if value is None:
        return none
    return format(value, spec)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    http = any(r.get("http_requests") is not None for r in rows)
    lines = [
        "| run | wall [s] | events/s | cores | events/s per core | per core ÷ floor | wall ÷ notebook "
        "| result B/chunk | broker msgs | peak RSS [MB] | = notebook |" + (" HTTP requests |" if http else ""),
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|" + ("--:|" if http else ""),
    ]
    for r in rows:
        cells = [
            r["run"],
            _fmt(r["wall_s"], ".2f"),
            _fmt(r["events_per_s"], ",.0f"),
            str(r["cores"]),
            _fmt(r["events_per_s_per_core"], ",.0f"),
            _fmt(r.get("per_core_vs_floor"), ".2f"),
            _fmt(r.get("wall_vs_baseline"), ".2f"),
            _fmt(r.get("result_bytes_mean"), ",.0f"),
            _fmt(r.get("broker_messages"), "d"),
            _fmt(r.get("peak_rss_mb"), ".0f"),
            r.get("identical") or "–",
        ]
        if http:
            cells.append(_fmt(r.get("http_requests"), ",d"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown: machine, one table per section, chunk sizes, targets."""
    m = report["machine"]
    v = m["versions"]
    opts = report["options"]
    command = " ".join(["python -m benchmarks", opts["command_line"]]).strip()
    out = [
        "# Benchmark: the pipeline against the notebook and the read floor",
        "",
        f"Run {m['date']} with `{command}` ({report['elapsed_s']:.0f} s in all).",
        "",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, {m['os']}; "
        f"load average before/after: {', '.join(f'{x:g}' for x in m['load_average'])} / "
        f"{', '.join(f'{x:g}' for x in report['load_average_after'])}",
        f"- **Software**: Python {m['python']}, uproot {v['uproot']}, awkward {v['awkward']}, "
        f"vector {v['vector']}, numpy {v['numpy']}, deflate {v['deflate']}, pika {v['pika']}",
        f"- **ZLIB**: the notebook baseline decompresses with uproot's default ({report['zlib']['baseline']}); "
        f"the read floor and the workers with **{report['zlib']['worker']}** "
        "(`shared.analysis.use_fastest_zlib`, which the worker calls at start-up).",
        f"- **Chunk size**: {report['chunk_size']:,} entries (the default); "
        f"RabbitMQ: {'yes' if report['rabbitmq'] else 'not available, skipped'}; "
        f"repeats: best of {opts['repeat']}.",
        "",
    ]
    out += _whole_markdown(report)
    described = set()
    for section in report["sections"]:
        rows = [r for r in report["rows"] if r["section"] == section["name"]]
        if not rows:
            continue
        out += [f"## {section['title']}", ""]
        if section["description"] not in described:  # said once for the local and once for the HTTP tables
            described.add(section["description"])
            out += [section["description"], ""]
        out += [*_table(rows), ""]
    if report.get("sweep"):
        out += [
            f"## Chunk size ({report['sweep_section']} dataset, one worker process, no messaging)",
            "",
            "| chunk size | chunks | wall [s] | events/s | per core ÷ floor | result B/chunk | peak RSS [MB] |",
            "|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for r in report["sweep"]:
            out.append(
                f"| {r['chunk_size']:,} | {r['chunks']} | {r['wall_s']:.2f} | {r['events_per_s']:,.0f} "
                f"| {_fmt(r.get('per_core_vs_floor'), '.2f')} | {r['result_bytes_mean']:,.0f} "
                f"| {r['peak_rss_mb']:.0f} |"
            )
        out.append("")
    if report.get("breakdown"):
        b = report["breakdown"]
        out += [
            f"## Where a worker's time goes ({b['section']} dataset, per million events, CPU time)",
            "",
            "| step | ms per 10⁶ events |",
            "|---|--:|",
            *[f"| {step} | {ms:.0f} |" for step, ms in b["steps"].items()],
            "",
        ]
    out += ["## Targets", "", "| target | judged on | measured | met |", "|---|---|--:|:-:|"]
    for t in report["targets"]:
        met = "✅" if t["met"] else "❌" if t["met"] is False else "–"
        out.append(f"| {t['target']} | {t['run']} | {t['shown']} | {met} |")
    out.append("")
    if report.get("notes"):
        out += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(out)


def summary_markdown(report: dict[str, Any]) -> list[str]:
    """The README's table: per input, each command's median wall and median ratio to the notebook."""
    races = report.get("whole") or []
    if not races:
        return []
    names = [c["name"] for c in races[0]["summary"]]
    out = [
        "| input (whole process, median of " + str(len(races[0]["rounds"])) + " rounds) | " + " | ".join(names) + " |",
        "|---|" + "--:|" * len(names),
    ]
    for entry in races:
        cells = []
        for c in entry["summary"]:
            ratio = "" if c["kind"] == "notebook" else f" = {c['ratio_median']:.2f}×"
            cells.append(f"{c['wall_median_s']:.2f} s{ratio}")
        out.append(f"| {entry['title']} | " + " | ".join(cells) + " |")
    loads = [x["load_average"][0] for entry in races for x in entry["rounds"]]
    out += ["", f"(load average before the rounds: {min(loads):g}–{max(loads):g})"]
    return out


def _whole_markdown(report: dict[str, Any]) -> list[str]:
    """The whole-process race: one table per input, the load before each round."""
    races = report.get("whole") or []
    if not races:
        return []
    rounds = len(races[0]["rounds"])
    coffea = report.get("coffea")
    out = [
        f"## Whole process, as a user waits: start to exit, interleaved, {rounds} round{'s' if rounds > 1 else ''}",
        "",
        "Each competitor is a command run as a subprocess and timed from its start to its exit (what "
        "`/usr/bin/time` says): the notebook loop (`python -m benchmarks.notebook_run`), `hzz run` with 2 workers "
        "per transport, and "
        + (
            f"coffea {coffea}'s Runner with the same selection (`benchmarks/coffea_run.py`, BaseSchema, clusters "
            "aligned, chunks of 250,000)"
            if coffea
            else "coffea (not installed here: `pip install -e '.[bench]'`)"
        )
        + ". Every round runs each once, the order rotated; ÷ notebook is the median of each run's ratio to the "
        "notebook of the same round. CPU is the command's and its children's; max RSS the largest process's.",
        "",
        *summary_markdown(report),
        "",
    ]
    for entry in races:
        loads = "; ".join(", ".join(f"{x:g}" for x in r["load_average"]) for r in entry["rounds"])
        out += [
            f"### {entry['title']}",
            "",
            f"Load average before each round: {loads}.",
            "",
            "| command | min [s] | median [s] | ÷ notebook (median) | CPU [s] (median) | max RSS [MB] "
            "| = notebook | walls [s] |",
            "|---|--:|--:|--:|--:|--:|:-:|---|",
        ]
        for c in entry["summary"]:
            ratio = "–" if c["kind"] == "notebook" else f"{c['ratio_median']:.2f}"
            walls = ", ".join(f"{w:.2f}" for w in c["walls_s"])
            out.append(
                f"| {c['name']} | {c['wall_min_s']:.2f} | {c['wall_median_s']:.2f} | {ratio} "
                f"| {c['cpu_median_s']:.2f} | {c['max_rss_mb']:.0f} | {c['identical']} | {walls} |"
            )
        out.append("")
    return out
