"""The measurements: each runs in a fresh Python process and reports wall time, CPU and memory.

A fresh (spawned) process per measurement means no measurement inherits another's imports,
caches or uproot settings, and its peak RSS is its own. Imports and the planning of chunks
happen before the clock starts wherever the thing measured would have them done already (a
long-lived worker has imported uproot before its first chunk); the pipeline is timed end to
end, worker start-up included, because that is what a user waits for.

Every function named ``measure_*`` takes and returns plain JSON-able values; the parent calls
it through :func:`in_child`.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FLOOR_STEP",
    "compare_to_notebook",
    "in_child",
    "measure_floor",
    "measure_notebook",
    "measure_pipeline",
    "measure_worker",
]

#: Entries per ``iterate`` step of the read floor: a multiple of any basket size we write, so
#: that every basket is decompressed exactly once, and small enough to bound its memory.
FLOOR_STEP = 1_000_000
#: A measurement that takes longer than this has hung (a dead broker, a stuck server).
CHILD_TIMEOUT_SECONDS = 1800


class MeasurementError(RuntimeError):
    """A measurement failed in its child process; the message carries the child's traceback."""


def in_child(name: str, /, **kwargs: Any) -> dict[str, Any]:
    """Run ``measure_<name>(**kwargs)`` in a fresh spawned process and return its result.

    Raises:
        MeasurementError: the measurement raised, or its process died or hung.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child_main, args=(name, kwargs, sender), name=f"bench-{name}")
    process.start()
    sender.close()
    try:
        if not receiver.poll(CHILD_TIMEOUT_SECONDS):
            raise MeasurementError(f"{name}: no result after {CHILD_TIMEOUT_SECONDS} s")
        outcome = receiver.recv()
    except EOFError as e:
        raise MeasurementError(f"{name}: the measuring process died (exit code {process.exitcode})") from e
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join()
    if not outcome["ok"]:
        raise MeasurementError(f"{name} failed:\n{outcome['error']}")
    return outcome["value"]


def _child_main(name: str, kwargs: dict[str, Any], sender: Any) -> None:
    try:
        function: Callable[..., dict[str, Any]] = globals()[f"measure_{name}"]
        sender.send({"ok": True, "value": function(**kwargs)})
    except BaseException:
        sender.send({"ok": False, "error": traceback.format_exc()})
    finally:
        sender.close()


class _Clock:
    """Wall and CPU time of a block (this process and its children), and this process's peak RSS."""

    def __enter__(self) -> _Clock:
        self._wall = time.perf_counter()
        self._self = resource.getrusage(resource.RUSAGE_SELF)
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu_self = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(self._self)
        self.cpu_children = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(self._children)
        self.rss_self_mb = peak_rss_mb()

    def report(self) -> dict[str, float | None]:
        return {
            "wall_s": self.wall,
            "cpu_s": self.cpu_self + self.cpu_children,
            "cpu_children_s": self.cpu_children,
            "rss_self_mb": self.rss_self_mb,
        }


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """The peak resident memory of a process since it started its program (VmHWM), in MB.

    Not ``getrusage``'s ru_maxrss: Linux carries that across exec, so a spawned child would
    report at least its parent's size at the fork.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class _ChildMemory:
    """Samples the peak RSS of this process's children (the pipeline's workers) while they run."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="child-memory", daemon=True)

    def __enter__(self) -> _ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def largest_mb(self) -> float | None:
        return max(self.peaks.values(), default=None)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            # Descendants, not children: run_local's workers are children of its forkserver.
            for pid in _descendants_of(me):
                peak = peak_rss_mb(pid)
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))


def _descendants_of(ancestor: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid …; comm may hold spaces, so split after its closing parenthesis.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [ancestor]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# --- the measurements (run in the child) ---------------------------------------------------------


def _settings(dataset: str, samples: list[str] | None, **overrides: Any) -> Any:
    from hzz.shared.data_vars import Settings

    if samples:
        overrides["samples"] = tuple(samples)
    return Settings(dataset=dataset, **overrides)


def measure_notebook(dataset: str, *, fast_zlib: bool = False, samples: list[str] | None = None) -> dict[str, Any]:
    """The notebook's loop (hzz.devtools.notebook), one file after the other, as a notebook user runs it.

    ``fast_zlib`` gives it libdeflate too (not what the notebook does; reported for reference).
    """
    from hzz.devtools.notebook import run_notebook
    from hzz.shared.analysis import use_fastest_zlib, zlib_library

    if fast_zlib:
        use_fastest_zlib()
    settings = _settings(dataset, samples)
    with _Clock() as clock:
        outcome = run_notebook(settings)
    samples = {name: s.to_json() for name, s in outcome.items()}
    return {
        **clock.report(),
        "events": sum(s["events_read"] for s in samples.values()),
        "zlib": zlib_library(),
        "samples": samples,
    }


def measure_floor(dataset: str, *, fast_zlib: bool = True, samples: list[str] | None = None) -> dict[str, Any]:
    """uproot reading the analysis's branches of every entry, and nothing else.

    The same branches, entries, source options (shared.analysis), ZLIB library and allocator
    setting (``keep_freed_memory``) as a worker, unless ``fast_zlib`` is off (the reference row
    with uproot's defaults); each file read in steps of :data:`FLOOR_STEP` entries, so each
    basket is decompressed once.
    """
    import uproot

    from hzz.shared.analysis import use_fastest_zlib, zlib_library
    from hzz.shared.processing import keep_freed_memory
    from hzz.shared.releases.r2020 import DATA_BRANCHES, MC_BRANCHES, RELEASE, TREE_NAME
    from hzz.shared.remote import open_options

    if fast_zlib:
        use_fastest_zlib()
        keep_freed_memory()
    settings = _settings(dataset, samples)
    events = 0
    with _Clock() as clock:
        for sample in settings.samples:
            location = settings.file_location(sample)
            branches = list(DATA_BRANCHES if RELEASE.is_data(sample) else MC_BRANCHES)
            with uproot.open(location, **open_options(location)) as file:
                tree = file[TREE_NAME]
                stop = int(tree.num_entries * settings.fraction)
                for arrays in tree.iterate(branches, entry_stop=stop, step_size=FLOOR_STEP, library="ak"):
                    events += len(arrays)
    return {**clock.report(), "events": events, "zlib": zlib_library()}


def measure_worker(dataset: str, *, chunk_size: int | None = None, samples: list[str] | None = None) -> dict[str, Any]:
    """What one long-lived worker process does, without the messaging: analyse_chunk on every chunk.

    Its throughput is a worker's per core; its peak RSS is a worker's peak memory; the
    encoded results are the result messages.
    """
    from hzz.shared.analysis import analyse_chunk, use_fastest_zlib, zlib_library
    from hzz.shared.chunking import plan_run
    from hzz.shared.processing import keep_freed_memory

    use_fastest_zlib()  # as hzz.shared.processing.run_worker does at start-up
    keep_freed_memory()
    overrides = {} if chunk_size is None else {"chunk_size": chunk_size}
    settings = _settings(dataset, samples, run_id="benchmark", **overrides)
    _manifest, tasks = plan_run(settings)
    sizes, seconds, events = [], [], 0
    merged: dict[str, dict[str, Any]] = {}
    with _Clock() as clock:
        for task in tasks:
            result = analyse_chunk(task, worker="benchmark")
            sizes.append(len(result.encode()))
            seconds.append(result.seconds)
            events += result.events_read
            _merge(merged, result)
    return {
        **clock.report(),
        "events": events,
        "chunks": len(tasks),
        "chunk_size": settings.chunk_size,
        "result_bytes_mean": sum(sizes) / max(len(sizes), 1),
        "result_bytes_max": max(sizes, default=0),
        "chunk_seconds_max": max(seconds, default=0.0),
        "zlib": zlib_library(),
        "samples": merged,
    }


def _merge(merged: dict[str, dict[str, Any]], result: Any) -> None:
    """Add a chunk's result to its sample's totals (what the aggregator does, without the broker)."""
    sample = merged.setdefault(
        result.sample,
        {"events_read": 0, "events_selected": 0, "weighted_yield": 0.0, "sumw": None, "sumw2": None},
    )
    sample["events_read"] += result.events_read
    sample["events_selected"] += result.events_selected
    sample["weighted_yield"] += result.sumw_total
    for key in ("sumw", "sumw2"):
        values = getattr(result, key)
        sample[key] = list(values) if sample[key] is None else [a + b for a, b in zip(sample[key], values, strict=True)]


def measure_pipeline(
    dataset: str,
    *,
    workers: int,
    transport: str,
    broker_url: str,
    chunk_size: int | None = None,
    samples: list[str] | None = None,
) -> dict[str, Any]:
    """hzz.local.run_local end to end: worker start-up, producer, workers, aggregator, plot."""
    from hzz.local import run_local
    from hzz.shared.data_vars import Settings
    from hzz.shared.messaging import QueueNames
    from hzz.shared.messaging.rabbitmq import RabbitMQTransport

    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="hzz-bench-") as output:
        overrides: dict[str, Any] = {} if chunk_size is None else {"chunk_size": chunk_size}
        if samples:
            overrides["samples"] = tuple(samples)
        settings = Settings(
            dataset=dataset,
            workers=workers,
            output_dir=output,
            queue_prefix=prefix,
            broker_url=broker_url,
            **overrides,
        )
        try:
            with _Clock() as clock, _ChildMemory() as memory:
                document = run_local(settings, transport=transport, progress=False)  # type: ignore[arg-type]
        finally:
            if transport == "rabbitmq":
                queues = RabbitMQTransport(broker_url, QueueNames(prefix))
                queues.delete_queues()
                queues.close()
    chunks = int(document["tally"]["total"])
    return {
        **clock.report(),
        "events": int(document["events"]["read"]),
        "chunks": chunks,
        "failed": int(document["tally"]["failed"]),
        "chunk_size": settings.chunk_size,
        # One task per chunk, one result per chunk, and the run's manifest.
        "broker_messages": 2 * chunks + 1,
        # The largest process run_local started: a worker (the others are the forkserver, the manager).
        "rss_children_mb": memory.largest_mb,
        "samples": {
            name: {key: s[key] for key in ("events_read", "events_selected", "weighted_yield", "sumw", "sumw2")}
            for name, s in document["samples"].items()
        },
    }


def compare_to_notebook(notebook: dict[str, dict[str, Any]], pipeline: dict[str, dict[str, Any]]) -> str:
    """ "yes" when the pipeline's histograms equal the notebook's (counts exactly, Σw to 1e-9), else why not."""
    import numpy as np

    for name, expected in notebook.items():
        got = pipeline.get(name)
        if got is None:
            return f"no {name}"
        if got["events_read"] != expected["events_read"] or got["events_selected"] != expected["events_selected"]:
            return f"{name}: counts differ"
        for key in ("sumw", "sumw2"):
            if not np.allclose(got[key], expected[key], rtol=1e-9, atol=0):
                return f"{name}: {key} differs"
        if not np.isclose(got["weighted_yield"], expected["sumw_total"], rtol=1e-9, atol=0):
            return f"{name}: Σw differs"
    return "yes"


def measure_breakdown(dataset: str, *, chunk_size: int | None = None) -> dict[str, Any]:
    """CPU time of each step of analyse_chunk, summed over every chunk: where a worker's time goes.

    The steps are analyse_chunk's own calls, timed one by one (it is kept in step with it by
    hand; the totals are checked against a plain analyse_chunk loop in the report).
    """
    import numpy as np

    from hzz.shared.analysis import read_chunk, use_fastest_zlib
    from hzz.shared.chunking import plan_run
    from hzz.shared.data_vars import Settings
    from hzz.shared.histograms import histogram_sums
    from hzz.shared.physics import first_four_of, four_lepton_mass, select_four_lepton_events
    from hzz.shared.releases.r2020 import DATA_BRANCHES, KINEMATIC_BRANCHES, MC_BRANCHES, RELEASE, TREE_NAME
    from hzz.shared.releases.r2020.selection import cross_section_weight, mc_event_weights

    use_fastest_zlib()
    overrides = {} if chunk_size is None else {"chunk_size": chunk_size}
    _manifest, tasks = plan_run(Settings(dataset=dataset, run_id="benchmark", **overrides))
    steps = dict.fromkeys(
        (
            "read (uproot: decompress, build arrays)",
            "cuts (gathering charge and type included)",
            "gathering the selected kinematics",
            "mass",
            "weights",
            "histogram",
        ),
        0.0,
    )
    names = list(steps)
    events = 0
    for task in tasks:
        is_data = RELEASE.is_data(task.sample)
        t = [time.process_time()]
        chunk = read_chunk(task, DATA_BRANCHES if is_data else MC_BRANCHES, TREE_NAME)
        t.append(time.process_time())
        charge, flavour = first_four_of([chunk.lep_charge, chunk.lep_type])
        selected = np.flatnonzero(select_four_lepton_events(charge, flavour))
        t.append(time.process_time())
        kinematics = first_four_of([chunk[branch] for branch in KINEMATIC_BRANCHES], rows=selected)
        t.append(time.process_time())
        mass = four_lepton_mass(*kinematics)
        t.append(time.process_time())
        weights = None if is_data else mc_event_weights(chunk, cross_section_weight(task.sample, task.lumi))[selected]
        t.append(time.process_time())
        histogram_sums(mass, weights)
        t.append(time.process_time())
        for name, start, stop in zip(names, t, t[1:], strict=False):
            steps[name] += stop - start
        events += len(chunk)
    per_million = {name: seconds / max(events, 1) * 1e9 for name, seconds in steps.items()}  # ms per 10⁶
    return {"events": events, "chunks": len(tasks), "ms_per_million": per_million}
