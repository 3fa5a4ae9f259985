"""The aggregator at scale: ``python -m benchmarks scale``.

Drives the real ``python -m hzz.aggregator`` through the real broker with signed synthetic
results from simulated workers, for runs of 1,000, 10,000 and 100,000 chunks, and reports:

- **sustained results/s**: every result published first, then the aggregator started; the rate
  is results over the time from its first merged batch to the run's completion (from its log);
- **p99 publish → acknowledgement**: a second run whose results are published at a steady rate
  while the aggregator consumes (the aggregator measures each message's age when it acknowledges);
- **peak RSS** of the aggregator process (``/usr/bin/time``) and the run's **state on disk**.

Beside it, :func:`predict` is a small discrete-event model: W workers each taking a measured time
per chunk, a broker and an aggregator each with a measured rate; it predicts a run's wall time
against the number of workers and says which of them is the bottleneck.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from hzz.shared.histograms import M4L_BINNING
from hzz.shared.messages import ChunkResult, RunManifest
from hzz.shared.messaging import SENT_HEADER, QueueNames
from hzz.shared.signing import Signer, new_key

__all__ = ["ScaleRow", "main", "measure_aggregator", "predict", "predict_scaled"]

#: Files in a synthetic run; chunks are spread evenly over them.
FILES = 20
#: Entries per synthetic chunk.
CHUNK_ENTRIES = 1000


@dataclass
class ScaleRow:
    chunks: int
    results_per_second: float
    p99_ack_seconds: float
    peak_rss_mb: float
    state_mb: float
    manifest_bytes: int


def synthetic_manifest(run_id: str, chunks: int) -> RunManifest:
    """A manifest of ``chunks`` chunks of the llll sample, over :data:`FILES` files."""
    per_file = -(-chunks // FILES)
    files = []
    left = chunks
    for i in range(FILES):
        n = min(per_file, left)
        left -= n
        if n:
            location = f"/data/MC/mc_363490.llll.{i:03d}.4lep.root"
            files.append(
                {"sample": "llll", "location": location, "entries": n * CHUNK_ENTRIES, "chunk_size": CHUNK_ENTRIES}
            )
    return RunManifest(run_id, "2020", 10.0, 1.0, files, {"lumi": 10.0, "fraction": 1.0}, time.time())


def synthetic_run(run_id: str, chunks: int, seed: int = 1) -> tuple[RunManifest, list[bytes]]:
    """A manifest of ``chunks`` chunks and a plausible result for each."""
    manifest = synthetic_manifest(run_id, chunks)
    rng = np.random.default_rng(seed)
    bodies = []
    for task in manifest.tasks():
        sumw = rng.uniform(0, 0.01, M4L_BINNING.bins)
        result = ChunkResult(
            run_id=run_id,
            chunk_id=task.chunk_id,
            sample="llll",
            events_read=CHUNK_ENTRIES,
            events_selected=CHUNK_ENTRIES // 2,
            sumw_total=float(sumw.sum()),
            sumw=sumw.tolist(),
            sumw2=(sumw * 0.01).tolist(),
            binning=M4L_BINNING.to_json(),
            worker="simulated",
        )
        bodies.append(result.encode())
    return manifest, bodies


def _channel(broker_url: str):  # type: ignore[no-untyped-def]
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    return connection, connection.channel()


def _publish(channel, queue: str, bodies: list[bytes], signer: Signer, *, rate: float | None = None) -> None:  # type: ignore[no-untyped-def]
    # Simulated workers: many publishers at once, which one unconfirmed channel stands for.
    import pika

    started = time.monotonic()
    for i, body in enumerate(bodies):
        if rate is not None:
            pause = started + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        headers = signer.headers(body, {SENT_HEADER: time.time_ns() // 1000})
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2, headers=headers))


def _log_time(line: str) -> float:
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", line)
    assert stamp is not None, line
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(stamp.group(2)) / 1000


def measure_aggregator(broker_url: str, chunks: int, *, rate: float = 1000.0) -> ScaleRow:
    """One row of the scale table (see the module's docstring)."""
    from hzz.shared.messaging.rabbitmq import RabbitMQTransport

    key = new_key()
    signer = Signer(key)
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    names = QueueNames(prefix)
    declare = RabbitMQTransport(broker_url, names, signer=signer).connect()
    with tempfile.TemporaryDirectory(prefix="hzz-scale-") as tmp:
        env = {
            **os.environ,
            "HZZ_BROKER_URL": broker_url,
            "HZZ_QUEUE_PREFIX": prefix,
            "HZZ_SIGNING_KEY": key,
            "HZZ_OUTPUT_DIR": tmp,
            "HZZ_REFRESH_SECONDS": "5",
        }
        connection, channel = _channel(broker_url)
        try:
            # 1. Throughput: everything waiting, then the aggregator drains it.
            manifest, bodies = synthetic_run("drain", chunks)
            _publish(channel, names.results, [manifest.encode(), *bodies], signer)
            log = Path(tmp) / "drain.log"
            command = [
                "/usr/bin/time",
                "-f",
                "maxrss %M",
                sys.executable,
                "-m",
                "hzz.aggregator",
                "--exit-when-complete",
            ]
            with log.open("w") as out:
                subprocess.run(command, env=env, stderr=out, stdout=out, check=True, timeout=3600)
            text = log.read_text()
            start = next(_log_time(line) for line in text.splitlines() if "started:" in line)
            end = next(_log_time(line) for line in text.splitlines() if " complete:" in line)
            rss = float(re.search(r"maxrss (\d+)", text).group(1)) / 1024  # type: ignore[union-attr]
            state = sum(p.stat().st_size for p in (Path(tmp) / "runs" / "drain").iterdir())
            # 2. Latency: results arrive at a steady rate while the aggregator consumes.
            steady = min(chunks, int(rate * 10))
            manifest2, bodies2 = synthetic_run("steady", steady, seed=2)
            env2 = {**env, "HZZ_OUTPUT_DIR": str(Path(tmp) / "steady")}
            log2 = Path(tmp) / "steady.log"
            with log2.open("w") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "hzz.aggregator", "--exit-when-complete"], env=env2, stderr=out, stdout=out
                )
                _publish(channel, names.results, [manifest2.encode()], signer)
                time.sleep(2)
                _publish(channel, names.results, bodies2, signer, rate=rate)
                process.wait(timeout=600)
            p99 = float(re.search(r"p99 ([\d.]+) s", log2.read_text()).group(1))  # type: ignore[union-attr]
        finally:
            connection.close()
            declare.close()  # idle for minutes by now: clean up on a fresh connection
            cleanup = RabbitMQTransport(broker_url, names, signer=signer)
            cleanup.delete_queues()
            cleanup.close()
    return ScaleRow(chunks, chunks / max(end - start, 1e-9), p99, rss, state / 2**20, len(manifest.encode()))


# --- the model -------------------------------------------------------------------------------------


def predict(
    chunks: int, workers: int, *, chunk_seconds: float, aggregator_rate: float, broker_rate: float, cores: int
) -> tuple[float, str]:
    """Wall time of a run and its bottleneck, by a discrete-event simulation.

    Workers take chunks one at a time; a worker's chunk takes ``chunk_seconds`` on a core of its
    own, longer when workers outnumber ``cores`` (they share them). Each result passes the broker
    (``broker_rate`` messages/s, one at a time) and the aggregator (``aggregator_rate``/s).

    Returns:
        tuple[float, str]: seconds from the first task to the last result merged, and the stage
            whose busy time was largest ("workers", "broker" or "aggregator").
    """
    return predict_scaled(
        chunks,
        [(0.0, workers)],
        chunk_seconds=chunk_seconds,
        aggregator_rate=aggregator_rate,
        broker_rate=broker_rate,
        cores=cores,
    )


def predict_scaled(
    chunks: int,
    schedule: list[tuple[float, int]],
    *,
    chunk_seconds: float,
    aggregator_rate: float,
    broker_rate: float,
    cores: int,
) -> tuple[float, str]:
    """:func:`predict` for a number of workers that changes during the run (an autoscaler).

    Args:
        schedule: ``(seconds from the run's start, workers from then on)``, in time order; the
            first entry's count applies from 0. A worker scaled away finishes its chunk first
            (SIGTERM), as the pipeline's workers do.

    Returns:
        tuple[float, str]: as :func:`predict`.
    """
    if not schedule or chunks < 1:
        raise ValueError("a schedule of at least one step and at least one chunk")

    def count_at(t: float) -> int:
        current = schedule[0][1]
        for since, n in schedule:
            if since > t:
                break
            current = n
        return current

    def next_time_with(slot: int, t: float) -> float | None:
        # the first moment after t at which worker number `slot` (0-based) exists
        return next((since for since, n in schedule if since > t and n > slot), None)

    free_at: list[tuple[float, int]] = []
    for slot in range(max(n for _, n in schedule)):
        first = 0.0 if schedule[0][1] > slot else next_time_with(slot, 0.0)
        if first is not None:
            heapq.heappush(free_at, (first, slot))
    done_by_workers: list[float] = []
    busy_seconds = 0.0
    while len(done_by_workers) < chunks and free_at:
        start, slot = heapq.heappop(free_at)
        working = count_at(start)
        if working <= slot:  # scaled away meanwhile: back when the autoscaler brings it back
            back = next_time_with(slot, start)
            if back is not None:
                heapq.heappush(free_at, (back, slot))
            continue
        per_chunk = chunk_seconds * max(1.0, working / cores)
        busy_seconds += per_chunk
        done_by_workers.append(start + per_chunk)
        heapq.heappush(free_at, (start + per_chunk, slot))
    if len(done_by_workers) < chunks:
        raise ValueError(f"the schedule ends with no worker and {chunks - len(done_by_workers)} chunks left")
    broker_free = aggregator_free = 0.0
    for arrival in sorted(done_by_workers):
        broker_free = max(broker_free, arrival) + 1.0 / broker_rate
        aggregator_free = max(aggregator_free, broker_free) + 1.0 / aggregator_rate
    busy = {
        "workers": busy_seconds / max(1, min(max(n for _, n in schedule), chunks)),
        "broker": chunks / broker_rate,
        "aggregator": chunks / aggregator_rate,
    }
    return aggregator_free, max(busy, key=busy.__getitem__)


def model_table(*, chunks: int, chunk_seconds: float, aggregator_rate: float, broker_rate: float, cores: int) -> str:
    rows = ["| workers | predicted wall [s] | bottleneck |", "|--:|--:|---|"]
    for workers in (1, 2, 4, 10, 20, 50, 100, 200, 500, 1000):
        wall, neck = predict(
            chunks,
            workers,
            chunk_seconds=chunk_seconds,
            aggregator_rate=aggregator_rate,
            broker_rate=broker_rate,
            cores=cores,
        )
        rows.append(f"| {workers} | {wall:,.1f} | {neck} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="1000,10000,100000", help="run sizes (default 1000,10000,100000)")
    parser.add_argument(
        "--broker-url", default=os.environ.get("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="results/s of the latency run (default 1000)")
    parser.add_argument("--chunk-seconds", type=float, default=0.13, help="a worker's time per 250k-entry chunk")
    parser.add_argument("--cores", type=int, default=1000, help="cores the workers share (model; default: a core each)")
    parser.add_argument("--out", type=Path, help="write the report (Markdown) and rows (JSON) here")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows = [measure_aggregator(args.broker_url, int(n), rate=args.rate) for n in args.chunks.split(",")]
    lines = [
        f"Aggregator at scale, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load[0]:.2f} at start, {os.cpu_count()} cores; real RabbitMQ, real `python -m hzz.aggregator`.",
        "",
        "| chunks | results/s (drain) | p99 publish → ack [s] | peak RSS [MB] | state on disk [MB] "
        "| manifest [bytes] |",
        "|--:|--:|--:|--:|--:|--:|",
        *(
            f"| {r.chunks:,} | {r.results_per_second:,.0f} | {r.p99_ack_seconds:.3f} | {r.peak_rss_mb:.0f} | "
            f"{r.state_mb:.2f} | {r.manifest_bytes:,} |"
            for r in rows
        ),
    ]
    million = len(synthetic_manifest("million", 1_000_000).encode())  # grows with files, not chunks
    lines += ["", f"A 1,000,000-chunk run over {FILES} files has a manifest of {million:,} bytes (it lists files).", ""]
    rate = min(r.results_per_second for r in rows)
    lines += [
        f"Model (10,000 chunks of 250,000 entries, {args.chunk_seconds} s a chunk per worker, aggregator "
        f"{rate:,.0f}/s measured, broker 20,000/s assumed, {args.cores} cores):",
        "",
        model_table(
            chunks=10_000, chunk_seconds=args.chunk_seconds, aggregator_rate=rate, broker_rate=20_000, cores=args.cores
        ),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.md").write_text(report + "\n")
        (args.out / "scale.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
