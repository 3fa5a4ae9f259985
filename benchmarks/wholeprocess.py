"""Whole-process races: each competitor run as a command, timed from start to exit as a user waits.

What ``/usr/bin/time`` would say: the interpreter starting, the imports, the work, writing the
results and the interpreter's exit, for

- the notebook: the loop of :mod:`hzz.devtools.notebook` as its own process
  (``python -m benchmarks.notebook_run``);
- ``hzz run`` with 2 workers, over the embedded transport and over RabbitMQ;
- coffea's Runner with the same selection (:mod:`benchmarks.coffea_run`), Iterative and
  Futures(2) executors, chunks aligned to clusters — when coffea is installed (``.[bench]``).

The competitors run interleaved: every round runs each once, the order rotated from round to
round, so a burst of load from elsewhere hits all of them alike; the load average is recorded
before each round. Each competitor writes its per-sample histograms, compared with the notebook's.
A command's CPU time includes every descendant's, those it left to exit after it too (hzz run's
forkserver, which reaps the workers): on Linux this process adopts them (a child subreaper).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.measure import compare_to_notebook

__all__ = ["Competitor", "competitors", "race", "summarise"]

#: The folder holding the benchmarks package.
REPOSITORY = Path(__file__).resolve().parents[1]
#: A run that takes longer than this has hung.
RUN_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Competitor:
    """A command to race, and how to read its per-sample results afterwards."""

    name: str
    kind: str  # "notebook", "hzz" or "coffea"
    #: argv for (dataset, samples or None, scratch folder); the results land in the scratch folder.
    command: Callable[[str, list[str] | None, Path], list[str]]
    #: reads the per-sample results from the scratch folder.
    results: Callable[[Path], dict[str, dict[str, Any]]]
    cleanup: Callable[[Path], None] = lambda scratch: None


def _samples_args(samples: list[str] | None) -> list[str]:
    return ["--samples", ",".join(samples)] if samples else []


def _hzz_command() -> list[str]:
    # The console script next to this interpreter, as a user types it; `python -m hzz` otherwise.
    script = Path(sys.executable).parent / "hzz"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hzz"]


def _json_results(scratch: Path) -> dict[str, dict[str, Any]]:
    return json.loads((scratch / "samples.json").read_text())


def _hzz_results(scratch: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((scratch / "out" / "results.json").read_text())
    keys = ("events_read", "events_selected", "weighted_yield", "sumw", "sumw2")
    return {name: {k: s[k] for k in keys} for name, s in document["samples"].items()}


def competitors(*, workers: int = 2, broker_url: str | None = None, coffea: bool = True) -> list[Competitor]:
    """The notebook first (the reference), then hzz run per transport, then coffea's executors."""
    python = sys.executable
    chosen = [
        Competitor(
            "notebook (own process)",
            "notebook",
            lambda d, s, scratch: [
                python,
                "-m",
                "benchmarks.notebook_run",
                "--dataset",
                d,
                *_samples_args(s),
                "--out",
                str(scratch / "samples.json"),
            ],
            _json_results,
        )
    ]
    transports = ["embedded"] + (["rabbitmq"] if broker_url else [])
    for transport in transports:
        prefix = f"bench-{uuid.uuid4().hex[:10]}"

        def command(d: str, s: list[str] | None, scratch: Path, transport: str = transport, prefix: str = prefix):
            extra = ["--broker-url", broker_url, "--queue-prefix", prefix] if transport == "rabbitmq" else []
            return [
                *_hzz_command(), "run", "--dataset", d, *_samples_args(s), "--workers", str(workers),
                "--transport", transport, "--quiet", "--output-dir", str(scratch / "out"), *extra,
            ]  # fmt: skip

        cleanup = (
            (lambda scratch, prefix=prefix: _delete_queues(broker_url, prefix)) if transport == "rabbitmq" else None
        )
        chosen.append(
            Competitor(
                f"hzz run, {workers} workers, {transport}",
                "hzz",
                command,
                _hzz_results,
                **({"cleanup": cleanup} if cleanup else {}),
            )
        )
    # Another installation's `hzz` (HZZ_BENCH_BASELINE=/path/to/its/bin/hzz, e.g. a worktree of the
    # previous commit): a change's before and after in the same rounds.
    baseline = os.environ.get("HZZ_BENCH_BASELINE")
    if baseline:
        chosen.append(
            Competitor(
                f"baseline hzz run, {workers} workers, embedded ({baseline})",
                "hzz",
                lambda d, s, scratch: [
                    baseline,
                    *["run", "--dataset", d, *_samples_args(s), "--workers", str(workers), "--transport", "embedded"],
                    *["--quiet", "--output-dir", str(scratch / "out")],
                ],
                _hzz_results,
            )
        )
    if coffea and coffea_available():
        for executor, label in (
            ("iterative", "coffea IterativeExecutor"),
            ("futures", f"coffea FuturesExecutor({workers})"),
        ):
            chosen.append(
                Competitor(
                    f"{label}, clusters aligned",
                    "coffea",
                    lambda d, s, scratch, executor=executor: [
                        python,
                        "-m",
                        "benchmarks.coffea_run",
                        "--dataset",
                        d,
                        *_samples_args(s),
                        "--executor",
                        executor,
                        "--workers",
                        str(workers),
                        "--out",
                        str(scratch / "samples.json"),
                    ],
                    _json_results,
                )
            )
    return chosen


def coffea_available() -> bool:
    """Whether coffea can be imported here (it is the optional ``bench`` extra)."""
    return importlib.util.find_spec("coffea") is not None


def _delete_queues(broker_url: str | None, prefix: str) -> None:
    from hzz.shared.messaging import QueueNames
    from hzz.shared.messaging.rabbitmq import RabbitMQTransport

    if broker_url:
        queues = RabbitMQTransport(broker_url, QueueNames(prefix))
        queues.delete_queues()
        queues.close()


def run_once(competitor: Competitor, dataset: str, samples: list[str] | None) -> dict[str, Any]:
    """One run of a competitor: wall from start to exit, CPU of it and its children, peak RSS, results.

    Raises:
        RuntimeError: the command failed (its stderr's tail says why).
    """
    scratch = Path(tempfile.mkdtemp(prefix="hzz-race-"))
    try:
        argv = competitor.command(dataset, samples, scratch)
        with open(scratch / "stderr.txt", "wb") as stderr, _reaping_orphans():
            started = time.perf_counter()
            # From the repository, so that `python -m benchmarks.…` finds this package; in a
            # process group of its own, so that its descendants can be told from ours.
            process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=REPOSITORY, start_new_session=True
            )
            # wait4 gives this process's own resource usage, its waited-for children included.
            # Its max RSS is at least this process's peak when it forked (Linux carries the old
            # memory's high-water mark over the exec): the race runs before anything big is
            # loaded here, and datasets are generated in a child (benchmarks.datasets).
            _pid, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
            # Descendants it did not wait for (hzz run's forkserver, which reaped the workers) are
            # ours now: their CPU counts too, though the wall stopped when the command exited.
            for orphan in _reap_group(process.pid):
                cpu += orphan.ru_utime + orphan.ru_stime
                rss = max(rss, orphan.ru_maxrss)
        if process.returncode != 0:
            tail = (scratch / "stderr.txt").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{competitor.name} exited with {process.returncode}:\n{tail}")
        return {"wall_s": wall, "cpu_s": cpu, "max_rss_mb": rss / 1024, "samples": competitor.results(scratch)}
    finally:
        competitor.cleanup(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


#: prctl option making orphaned descendants children of this process (Linux ≥ 3.4).
_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def _reaping_orphans() -> Iterator[None]:
    """While inside, orphaned descendants are re-parented to this process (Linux; elsewhere a no-op)."""
    libc = _libc()
    if libc is None:
        yield
        return
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


def _reap_group(group: int) -> Iterator[Any]:
    """Wait for every child of ours left in the process group ``group``; yield each one's resource usage."""
    while True:
        try:
            _pid, _status, usage = os.wait4(-group, 0)
        except ChildProcessError:
            return
        yield usage


def race(
    entrants: list[Competitor],
    dataset: str,
    samples: list[str] | None,
    *,
    rounds: int,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """``rounds`` rounds of every competitor once, the order rotated each round.

    Returns:
        dict: ``rounds`` (per round: the load average before it and each competitor's run) and
        ``summary`` (per competitor: see :func:`summarise`).
    """
    played = []
    for number in range(rounds):
        shift = number % len(entrants)
        order = entrants[shift:] + entrants[:shift]
        load = [round(x, 2) for x in os.getloadavg()]
        runs = {}
        for competitor in order:
            log(f"round {number + 1}/{rounds}: {competitor.name}")
            runs[competitor.name] = run_once(competitor, dataset, samples)
        played.append({"load_average": load, "order": [c.name for c in order], "runs": runs})
    return {"rounds": played, "summary": summarise(entrants, played)}


def summarise(entrants: list[Competitor], played: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per competitor: min and median wall, the median of its ratio to the notebook in the same round,
    median CPU, largest RSS, and whether every run's histograms equal the notebook's of its round."""
    reference = entrants[0].name
    summary = []
    for competitor in entrants:
        runs = [r["runs"][competitor.name] for r in played]
        walls = [r["wall_s"] for r in runs]
        ratios = [r["runs"][competitor.name]["wall_s"] / r["runs"][reference]["wall_s"] for r in played]
        verdicts = (
            ["–"]
            if competitor.name == reference
            else [
                compare_to_notebook(
                    _as_notebook(r["runs"][reference]["samples"]), r["runs"][competitor.name]["samples"]
                )
                for r in played
            ]
        )
        summary.append(
            {
                "name": competitor.name,
                "kind": competitor.kind,
                "wall_min_s": min(walls),
                "wall_median_s": statistics.median(walls),
                "walls_s": [round(w, 3) for w in walls],
                "ratio_median": statistics.median(ratios),
                "ratios": [round(r, 3) for r in ratios],
                "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
                "max_rss_mb": max(r["max_rss_mb"] for r in runs),
                "identical": next((v for v in verdicts if v != "yes"), verdicts[0]),
            }
        )
    return summary


def _as_notebook(samples: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # The notebook's own key for Σw over every selected event is sumw_total.
    return {name: {**s, "sumw_total": s.get("sumw_total", s.get("weighted_yield"))} for name, s in samples.items()}
