"""The scale model checked against real runs: ``python -m benchmarks model-check``.

:func:`benchmarks.scale.predict` says how long a run takes with W workers, given a worker's time
per chunk and the aggregator's and broker's rates. Here it is checked against runs that really
happened:

- **one machine**: ``hzz run --transport rabbitmq --workers N`` (real processes, the real broker)
  on a generated dataset, first with 1 worker, then with 2. The 1-worker run gives the model its
  input: a worker's mean time per chunk (the ``busy_seconds`` its results report, over its
  chunks). The model then predicts both runs' wall time (the run's ``elapsed_seconds`` in
  results.json: from the manifest's arrival to the last result merged), and the table says by
  how much each prediction missed;
- **Kubernetes** (``--k8s-output DIR``): the output folder of a ``deploy.sh`` run with the HPA
  (``output_plots/``), read, not run: the worker pods over time from ``pod_scaling.log``
  (:mod:`hzz.shared.scaling`) are the model's schedule, the pods' mean time per chunk (from
  results.json) its chunk time; the prediction is compared with that run's wall time.

The aggregator's rate is not measured here (``python -m benchmarks scale`` does that): it is an
option, by default the drain rate measured at 10,000 chunks. Writes ``<out>/model-check.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.scale import predict, predict_scaled

__all__ = ["Check", "k8s_check", "local_checks", "main"]

#: The broker's rate in the model (messages/s through one queue); never the bottleneck here.
BROKER_RATE = 20_000.0
#: The aggregator's drain rate measured by ``python -m benchmarks scale`` at 10,000 chunks (results/scale.md).
AGGREGATOR_RATE = 1_800.0
#: How far a prediction may miss (issue 11's target).
TOLERANCE = 0.25


@dataclass
class Check:
    """One real run against the model's prediction for it."""

    where: str
    workers: str
    chunks: int
    chunk_seconds: float
    measured_seconds: float
    predicted_seconds: float
    bottleneck: str
    note: str = ""

    @property
    def error(self) -> float:
        """(predicted − measured) / measured."""
        return (self.predicted_seconds - self.measured_seconds) / self.measured_seconds

    def row(self) -> str:
        verdict = "✅" if abs(self.error) <= TOLERANCE else "❌"
        return (
            f"| {self.where} | {self.workers} | {self.chunks:,} | {self.chunk_seconds:.3f} | "
            f"{self.measured_seconds:.1f} | {self.predicted_seconds:.1f} | {self.error:+.0%} {verdict} | "
            f"{self.bottleneck} | {self.note} |"
        )


def _chunk_seconds(results: dict[str, Any]) -> float:
    """A worker's mean time per chunk: what the workers report being busy, over the chunks."""
    workers = results["workers"].values()
    return sum(w["busy_seconds"] for w in workers) / sum(w["chunks"] for w in workers)


def real_run(dataset: Path, workers: int, *, broker_url: str, chunk_size: int | None) -> dict[str, Any]:
    """One ``hzz run --transport rabbitmq`` in a folder of its own; its results.json and process wall time."""
    with tempfile.TemporaryDirectory(prefix="hzz-model-check-") as out:
        command = [
            sys.executable,
            "-m",
            "hzz",
            "run",
            "--transport",
            "rabbitmq",
            "--quiet",
            "--workers",
            str(workers),
            "--dataset",
            str(dataset),
            "--output-dir",
            out,
            "--queue-prefix",
            f"model-check-{uuid.uuid4().hex[:6]}",
        ]
        if chunk_size is not None:
            command += ["--chunk-size", str(chunk_size)]
        env = {**os.environ, "HZZ_BROKER_URL": broker_url}
        started = time.monotonic()
        subprocess.run(command, env=env, check=True, timeout=1800, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - started
        results = json.loads((Path(out) / "results.json").read_text())
    if results["state"] != "complete":
        raise RuntimeError(f"the {workers}-worker run ended {results['state']}: {results['failed_chunks'][:3]}")
    return {**results, "process_seconds": wall}


def local_checks(
    dataset: Path, *, broker_url: str, aggregator_rate: float, chunk_size: int | None, worker_counts: list[int]
) -> tuple[list[Check], list[str]]:
    """Real runs with 1, then more workers; the model fed from the 1-worker run predicts each."""
    checks: list[Check] = []
    notes: list[str] = []
    chunk_seconds: float | None = None
    cores = os.cpu_count() or 1
    for workers in worker_counts:
        load = os.getloadavg()[0]
        results = real_run(dataset, workers, broker_url=broker_url, chunk_size=chunk_size)
        if chunk_seconds is None:  # the first run (1 worker) feeds the model
            chunk_seconds = _chunk_seconds(results)
        chunks = results["tally"]["total"]
        own = _chunk_seconds(results)
        note = f"load {load:.1f} before; whole process {results['process_seconds']:.1f} s"
        inputs = [("fed by the 1-worker run", chunk_seconds)]
        if own != chunk_seconds:  # the model's structure alone: fed with this run's own time per chunk
            inputs.append(("fed with this run's own time per chunk", own))
        for how, seconds in inputs:
            predicted, neck = predict(
                chunks,
                workers,
                chunk_seconds=seconds,
                aggregator_rate=aggregator_rate,
                broker_rate=BROKER_RATE,
                cores=cores,
            )
            checks.append(
                Check(
                    "one machine",
                    str(workers),
                    chunks,
                    seconds,
                    results["elapsed_seconds"],
                    predicted,
                    neck,
                    f"{how}; {note}",
                )
            )
        notes.append(
            f"{workers} worker(s): {results['events']['read']:,} events in {chunks} chunks, "
            f"{results['elapsed_seconds']:.1f} s from the manifest to the last result "
            f"({results['process_seconds']:.1f} s the whole `hzz run`), load average {load:.1f} before."
        )
    return checks, notes


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def k8s_check(folder: Path, *, aggregator_rate: float) -> tuple[list[Check], list[str]]:
    """The model against a Kubernetes run: its ready worker pods over time as the schedule.

    Fed two ways: with the pods' mean time per chunk over the run (their sharing of the node
    included, so the model adds none), and with the time per chunk of the first pod while it
    was the only one (from the monitor's chunk counts, no other pod even starting), the model
    sharing the node's cores among the pods.
    """
    from hzz.shared.scaling import load_timeline

    results = json.loads((folder / "results.json").read_text())
    timeline = load_timeline(folder)
    start = _seconds(results["started_at"])
    end = _seconds(results["finished_at"])
    steps: list[tuple[float, int]] = []
    alone: list[tuple[float, int]] = []  # (time, chunks done) while one pod was all there was
    for sample in timeline:
        workers = sample.ready if sample.ready is not None else sample.running
        if workers is None:
            continue
        at = _seconds(sample.timestamp)
        if at > end:
            break
        t = max(0.0, at - start)
        if steps and steps[-1][0] == t:
            steps[-1] = (t, workers)
        elif not steps or steps[-1][1] != workers:
            steps.append((t, workers))
        if sample.total == 1 and workers == 1 and sample.chunks_done is not None and len(steps) == 1:
            alone.append((at, sample.chunks_done))
    if not steps or all(n == 0 for _, n in steps):
        raise ValueError(f"{folder}: pod_scaling.log shows no running worker during the run")
    if steps[0][1] == 0:  # the first pod not ready yet at the start: the run waits for it
        first = next(t for t, n in steps if n > 0)
        steps = [(0.0, 0), *[(t, n) for t, n in steps if t >= first]]
    chunks = results["tally"]["total"]
    cores = next((x.node_cores for x in timeline if x.node_cores), None) or os.cpu_count() or 1
    inputs = [(_chunk_seconds(results), 10**6, "fed with the pods' mean time per chunk (their sharing included)")]
    if len(alone) >= 2 and alone[-1][1] > alone[0][1]:
        lone = (alone[-1][0] - alone[0][0]) / (alone[-1][1] - alone[0][1])
        inputs.append((lone, cores, f"fed with the first pod's time per chunk while alone, {cores} cores shared"))
    pods = "→".join(str(n) for _, n in steps)
    checks = []
    for seconds, shared_cores, how in inputs:
        predicted, neck = predict_scaled(
            chunks,
            steps,
            chunk_seconds=seconds,
            aggregator_rate=aggregator_rate,
            broker_rate=BROKER_RATE,
            cores=shared_cores,
        )
        checks.append(
            Check("Kubernetes (HPA)", pods, chunks, seconds, results["elapsed_seconds"], predicted, neck, how)
        )
    schedule = ", ".join(f"{n} from {t:.0f} s" for t, n in steps)
    notes = [
        f"Kubernetes run {results['run_id']}: {results['events']['read']:,} events in {chunks} chunks, "
        f"{results['elapsed_seconds']:.1f} s from start to finish (results.json); ready worker pods "
        f"(pod_scaling.log, every ~5 s): {schedule}; {len(results['workers'])} pods merged results."
    ]
    return checks, notes


def render(checks: list[Check], notes: list[str], *, aggregator_rate: float) -> str:
    lines = [
        f"# The scale model against real runs ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "`python -m benchmarks model-check` (benchmarks/modelcheck.py). The model is "
        "`benchmarks.scale.predict` (constant workers) or `predict_scaled` (workers over time); fed with "
        f"the measured time per chunk, the aggregator at {aggregator_rate:,.0f} results/s (the `scale` "
        f"drain rate) and the broker at {BROKER_RATE:,.0f}/s. Wall time: results.json's start to finish "
        f"(the manifest's arrival to the last result merged). Target: within {TOLERANCE:.0%}.",
        "",
        "| where | workers | chunks | s per chunk (model input) | measured [s] | predicted [s] | error "
        "| bottleneck (model) | note |",
        "|---|---|--:|--:|--:|--:|--:|---|---|",
        *(c.row() for c in checks),
        "",
        *(f"- {n}" for n in notes),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks model-check", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10x", help="the generated dataset of the local runs (default 10x)")
    parser.add_argument("--workers", default="1,2", help="worker counts of the local runs, 1 first (default 1,2)")
    parser.add_argument("--chunk-size", type=int, help="entries per chunk (default: hzz's)")
    parser.add_argument(
        "--broker-url", default=os.environ.get("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    )
    parser.add_argument("--aggregator-rate", type=float, default=AGGREGATOR_RATE, help="results/s (default 1800)")
    parser.add_argument("--no-local", action="store_true", help="skip the local runs")
    parser.add_argument("--k8s-output", type=Path, help="output_plots/ of a deploy.sh run to check the model against")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for model-check.md")
    args = parser.parse_args(argv)
    checks: list[Check] = []
    notes: list[str] = []
    if not args.no_local:
        from benchmarks.datasets import ensure_dataset, parse_size

        counts = [int(n) for n in args.workers.split(",")]
        if counts[0] != 1:
            parser.error("--workers: the first run has 1 worker (it feeds the model)")
        dataset = ensure_dataset(args.size, parse_size(args.size))
        local, local_notes = local_checks(
            dataset.folder,
            broker_url=args.broker_url,
            aggregator_rate=args.aggregator_rate,
            chunk_size=args.chunk_size,
            worker_counts=counts,
        )
        checks += local
        notes += [f"Dataset {args.size}: {dataset.events:,} events in {dataset.files} files.", *local_notes]
    if args.k8s_output is not None:
        k8s, k8s_notes = k8s_check(args.k8s_output, aggregator_rate=args.aggregator_rate)
        checks += k8s
        notes += k8s_notes
    report = render(checks, notes, aggregator_rate=args.aggregator_rate)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model-check.md").write_text(report + "\n")
    (args.out / "model-check.json").write_text(json.dumps([c.__dict__ for c in checks], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
