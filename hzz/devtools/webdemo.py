"""Output folders written by the real results writer, for the page's tests and for trying the page.

A small real run is analysed in this process (no broker, no worker processes): the release's
files, generated small (with the real data_A and data_B files of the 2020 release where they
are at hand), planned into chunks as a run plans them and each chunk analysed as a worker does
(:func:`~hzz.shared.analysis.analyse_chunk`). Any moment of that run is then a real
:class:`~hzz.shared.merging.RunTally`: some chunks merged, some failed, some pending. Its
outputs are written by :func:`hzz.shared.report.write_outputs` — the aggregator's own writer —
into a folder, or into ``runs/<run_id>/`` with the newest run mirrored at the top, the layout
of runs side by side. ``python -m hzz.devtools.webdemo FOLDER`` writes one for a look at the page.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hzz.shared.analysis import analyse_chunk, failed_result
from hzz.shared.chunking import plan_run
from hzz.shared.data_vars import Settings
from hzz.shared.errors import PermanentChunkError
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, ChunkTask, RunManifest
from hzz.shared.outputs import PLOT_FILES, RESULTS_FILE, ROOT_FILE, write_atomic
from hzz.shared.releases import RELEASES
from hzz.shared.report import results_document, write_outputs
from hzz.shared.scaling import ScalingSample, WorkerPodSample, format_pod_line, format_summary

__all__ = ["RUNS_DIR", "DemoRun", "demo_run", "main", "mirror", "write_demo", "write_run", "write_scaling_logs"]

#: Where each run's folder sits inside the output folder (``runs/<run_id>/``).
RUNS_DIR = "runs"
#: The real files of the 2020 release shipped beside the project (data_A and data_B).
REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "atlas-open-data" / "2020-4lep"
#: When the scaling logs start.
START = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
#: How long a demo run takes per chunk.
SECONDS_PER_CHUNK = 0.5


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """A run's manifest and each chunk's result, from which any moment of the run is made."""

    manifest: RunManifest
    tasks: tuple[ChunkTask, ...]
    results: tuple[ChunkResult, ...]

    def tally(
        self, *, progress: float = 1.0, failed: int = 0, run_id: str | None = None, started: float | None = None
    ) -> RunTally:
        """The run when ``progress`` of its chunks are in, the last ``failed`` of those as failures.

        Args:
            progress: the fraction of the chunks merged (1.0: the run is complete).
            failed: how many of the merged chunks (the last ones) failed instead, naming their file.
            run_id: another run id for the same run (to have several runs side by side).
            started: when it started (default: half a second a merged chunk ago, so that a
                running run's elapsed time reads as a live one's).

        Returns:
            RunTally: the run at that moment.
        """
        manifest = self.manifest if run_id is None else dataclasses.replace(self.manifest, run_id=run_id)
        n = len(self.results)
        merged = round(n * progress)
        started = time.time() - SECONDS_PER_CHUNK * merged if started is None else started
        tally = RunTally(manifest, started=started)
        for index, (task, result) in enumerate(zip(self.tasks, self.results, strict=True)):
            if index >= merged:
                break
            if index >= merged - failed:
                error = PermanentChunkError(f"{task.describe()}: cannot read the file: TimeoutError: read timed out")
                result = failed_result(task, error, worker="demo:1")
            tally.add(dataclasses.replace(result, run_id=manifest.run_id))
        if tally.complete:
            tally.finished = started + SECONDS_PER_CHUNK * n
        return tally


def _dataset(folder: Path, profile: str) -> Path:
    from hzz.devtools.samplegen import generator_of

    generator = generator_of(profile)
    counts, default, _ = generator.PAGE_DEMO
    samples = Settings(profile=profile).samples
    real = generator.SHIPPED_REAL_FILES if REAL_DATA.is_dir() else ()
    generated = [s for s in samples if s not in real]
    # A data file no bigger than the real one: data events are what the page counts one by one.
    events = {
        s: min(counts.get(s, default), generator.REAL_ENTRIES.get(s, default))
        if s.startswith("data")
        else counts.get(s, default)
        for s in generated
    }
    generator.generate_dataset(folder, events=events, seed=int(profile))
    if real:
        for sample in real:
            shutil.copyfile(REAL_DATA / f"{sample}.4lep.root", folder / "Data" / f"{sample}.4lep.root")
    return folder


@functools.cache
def demo_run(profile: str = "2020", dataset: str | None = None) -> DemoRun:
    """A small run of every sample of the release, analysed here (cached per process).

    Args:
        profile: the release.
        dataset: where to write its files (default a temporary folder, kept for the process).

    Returns:
        DemoRun: its manifest and chunk results.
    """
    if dataset:
        folder = Path(dataset)
    else:
        folder = Path(tempfile.mkdtemp(prefix=f"hzz-demo-{profile}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the results are kept, not the files
    _dataset(folder, profile)
    from hzz.devtools.samplegen import generator_of

    chunk_size = generator_of(profile).PAGE_DEMO[2]
    settings = Settings(profile=profile, dataset=str(folder), chunk_size=chunk_size, run_id="20261125-103000-d3m0a1")
    manifest, tasks = plan_run(settings)
    manifest = dataclasses.replace(manifest, created=START.timestamp())
    results = tuple(dataclasses.replace(analyse_chunk(task, worker="demo:1"), seconds=0.5) for task in tasks)
    return DemoRun(manifest, tuple(tasks), results)


def write_run(folder: str | os.PathLike[str], tally: RunTally, *, plot: bool = True) -> dict[str, Any]:
    """Write a run's outputs into ``folder`` with the aggregator's writer.

    Args:
        folder: the folder (created if needed).
        tally: the run at some moment.
        plot: draw the plot and the ROOT file too (False: results.json only, which is much faster).

    Returns:
        dict[str, Any]: the results document written.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    if plot:
        return write_outputs(path, tally)
    document = results_document(tally)
    write_atomic(path / RESULTS_FILE, json.dumps(document, indent=1).encode())
    return document


def mirror(output_dir: str | os.PathLike[str], run_id: str) -> None:
    """Copy a run's files from ``runs/<run_id>/`` to the top of the output folder (the newest run's place)."""
    source = Path(output_dir) / RUNS_DIR / run_id
    for name in (*PLOT_FILES.values(), ROOT_FILE, RESULTS_FILE):  # results.json last, as the writer does
        if (source / name).is_file():
            write_atomic(Path(output_dir) / name, (source / name).read_bytes())


def write_demo(
    output_dir: str | os.PathLike[str],
    state: str = "complete",
    *,
    progress: float = 0.5,
    failed: int = 0,
    profile: str = "2020",
    runs: int = 0,
    scaling: bool = False,
) -> dict[str, Any]:
    """Write a demo output folder: one run in the given state (and earlier runs side by side).

    Args:
        output_dir: the folder.
        state: "running" (``progress`` of the chunks in), "complete" or "complete_with_failures".
        progress: the fraction done while running.
        failed: failed chunks (at least one for "complete_with_failures").
        profile: the release.
        runs: earlier complete runs to write under ``runs/`` before this one (0: the flat layout).
        scaling: also write the scaling logs deploy.sh writes.

    Returns:
        dict[str, Any]: the results document of the (newest) run.
    """
    run = demo_run(profile)
    if state == "complete_with_failures":
        failed = max(failed, 1)
    tally = run.tally(progress=progress if state == "running" else 1.0, failed=failed)
    if runs:
        for index in range(runs):
            started = time.time() - 3600.0 * (runs - index)
            earlier = run.tally(run_id=f"20261124-0{index}0000-e{index}a1b2", started=started)
            write_run(Path(output_dir) / RUNS_DIR / earlier.run_id, earlier)
        document = write_run(Path(output_dir) / RUNS_DIR / tally.run_id, tally)
        mirror(output_dir, tally.run_id)
    else:
        document = write_run(output_dir, tally)
    if scaling:
        write_scaling_logs(Path(output_dir))
    return document


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_scaling_logs(output_dir: Path, *, steps: int = 30) -> None:
    """Write ``pod_scaling.log`` and ``hpa_metrics.log`` as the scaling monitor does, every 10 s from
    the run's start: 1 worker, 4 from +30 s (the HPA's first reading at +20 s), the queue drained
    by +100 s, one pod fewer every 15 s from +150 s; on a 2-core node that 4 pods saturate."""
    pods_log, hpa_log = [], []
    total = 19  # chunks of the demo run
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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hzz.devtools.webdemo FOLDER [--state S] [--progress P] [--failed N] [--profile P] [--runs N]``."""
    parser = argparse.ArgumentParser(prog="python -m hzz.devtools.webdemo", description=__doc__.splitlines()[0])
    parser.add_argument("output_dir")
    parser.add_argument("--state", default="complete", choices=("running", "complete", "complete_with_failures"))
    parser.add_argument("--progress", type=float, default=0.5, help="fraction done while running")
    parser.add_argument("--failed", type=int, default=0, help="failed chunks")
    parser.add_argument("--profile", default="2020", choices=tuple(RELEASES))
    parser.add_argument("--runs", type=int, default=0, help="earlier runs side by side under runs/")
    parser.add_argument("--scaling", action="store_true", help="also write scaling logs")
    args = parser.parse_args(argv)
    write_demo(
        args.output_dir,
        args.state,
        progress=args.progress,
        failed=args.failed,
        profile=args.profile,
        runs=args.runs,
        scaling=args.scaling,
    )


if __name__ == "__main__":
    main()
