"""Read-only view of the output folder: the run's status, its results and the files the page may serve.

Everything here tolerates a folder in any state: no folder, no ``results.json``, a half-written or
foreign one all read as ``"waiting"``, because the aggregator may be starting, restarting or
rewriting (it replaces files atomically, but a reader must not count on it). See
``docs/results-schema.md`` for the contract and ``docs/webserver.md`` for the fields derived here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from hzz.shared.scaling import load_hpa, load_timeline, load_worker_pods

__all__ = [
    "ALLOWED_FILES",
    "RESULTS_FILE",
    "STATES",
    "file_version",
    "load_results",
    "readiness",
    "scaling",
    "status",
]

#: The results file of the aggregator.
RESULTS_FILE = "results.json"
#: The m4l plot the page shows (the aggregator's default name).
PLOT_PNG = "hzz_m4l.png"
#: The only results.json schema this page understands.
SCHEMA_VERSION = 1
#: Every state of /api/status; "waiting" is the page's own (no valid results.json).
STATES = ("waiting", "running", "complete", "complete_with_failures")
#: The files /files/<name> serves, with their media types; nothing else in the folder is exposed
#: (notably not ``.checkpoint.json`` nor temporary files of the atomic writes).
ALLOWED_FILES: dict[str, str] = {
    "hzz_m4l.png": "image/png",
    "hzz_m4l.svg": "image/svg+xml",
    "results.json": "application/json",
    "scaling.png": "image/png",
    "pod_scaling.log": "text/plain",
    "hpa_metrics.log": "text/plain",
    "pod_scaling.csv": "text/csv",
    "hpa_metrics.csv": "text/csv",
    "worker_pods.csv": "text/csv",
    "scaling.md": "text/markdown",
}
#: Files behind the scaling chart.
SCALING_FILES = (
    "pod_scaling.log",
    "hpa_metrics.log",
    "pod_scaling.csv",
    "hpa_metrics.csv",
    "worker_pods.csv",
    "scaling.png",
    "scaling.md",
)


def file_version(path: Path) -> str | None:
    """A short string that changes whenever the file is replaced, or ``None`` if it is absent.

    Args:
        path (Path): a file of the output folder.

    Returns:
        str | None: modification time (ns) and size in hex, used for cache busting (``?v=``).
    """
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_mtime_ns:x}-{st.st_size:x}" if os.path.isfile(path) else None


def load_results(output_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The content of ``results.json`` if it is complete and of the known schema, else ``None``.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        dict[str, Any] | None: the parsed results (shared between callers: do not modify).
    """
    path = Path(output_dir) / RESULTS_FILE
    try:
        st = path.stat()
    except OSError:
        return None
    # Keyed on the file's identity and time: every poll of every browser re-reads only a new file.
    return _parse_results(str(path), st.st_ino, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _parse_results(path: str, inode: int, mtime_ns: int, size: int) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            # NaN and ±Infinity (Python's json writes them) are not JSON: a browser could not
            # parse /api/results, so they are read as null.
            content = json.loads(f.read(), parse_constant=lambda _: None)
    except (OSError, ValueError):
        # ValueError covers bad JSON, bad UTF-8 and a half-written file alike.
        return None
    if not isinstance(content, dict):
        return None
    version = content.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1, but is no version
        return None
    if content.get("state") not in STATES[1:]:
        return None
    return content


def status(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The run's status for /api/status: always the same fields, whatever the folder holds.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        dict[str, Any]: the fields documented in ``docs/webserver.md``.
    """
    folder = Path(output_dir)
    results = load_results(folder)
    plot_name = PLOT_PNG
    present = [name for name in ALLOWED_FILES if (folder / name).is_file()]
    base: dict[str, Any] = {
        "state": "waiting",
        "message": "",
        "run_id": None,
        "started_at": None,
        "updated_at": None,
        "finished_at": None,
        "elapsed_seconds": None,
        "events_per_second": None,
        "tally": {"total": 0, "done": 0, "failed": 0, "pending": 0},
        "events": {"read": 0, "selected": 0},
        "failed_chunks": 0,
        "results_version": None,
        "plot": PLOT_PNG,
        "plot_version": None,
        "scaling_version": _scaling_version(folder),
        "files": present,
    }
    if results is None:
        exists = (folder / RESULTS_FILE).exists()
        base["message"] = (
            "results.json is being written or is not a valid schema 1 file; waiting for the aggregator"
            if exists
            else "no run has written results yet; waiting for a run to start"
        )
        return base
    plot = results.get("plot")
    if isinstance(plot, dict) and ALLOWED_FILES.get(str(plot.get("png"))) == "image/png":
        plot_name = plot["png"]
    tally = results.get("tally") if isinstance(results.get("tally"), dict) else {}
    events = results.get("events") if isinstance(results.get("events"), dict) else {}
    counts = {key: _count(tally.get(key)) for key in ("done", "failed", "pending")}
    failed = results.get("failed_chunks")
    base.update(
        state=results["state"],
        message=_message(results["state"]),
        run_id=_text(results.get("run_id")),
        started_at=_text(results.get("started_at")),
        updated_at=_text(results.get("updated_at")),
        finished_at=_text(results.get("finished_at")),
        elapsed_seconds=_number(results.get("elapsed_seconds")),
        events_per_second=_number(results.get("events_per_second")),
        tally={"total": _count(tally.get("total")) or sum(counts.values()), **counts},
        events={"read": _count(events.get("read")), "selected": _count(events.get("selected"))},
        failed_chunks=len(failed) if isinstance(failed, list) else 0,
        results_version=file_version(folder / RESULTS_FILE),
        plot_version=file_version(folder / plot_name),
        plot=plot_name,
    )
    return base


def _message(state: str) -> str:
    return {
        "running": "the run is in progress; the plot and the yields are partial",
        "complete": "the run is complete",
        "complete_with_failures": "the run is complete, but some chunks failed: the yields miss them",
    }[state]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _scaling_version(folder: Path) -> str | None:
    versions = [file_version(folder / name) for name in SCALING_FILES]
    if not any(versions):
        return None
    return hashlib.blake2s(repr(versions).encode(), digest_size=8).hexdigest()


def scaling(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The rows of the scaling chart for /api/scaling.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        dict[str, Any]: ``available``, ``version``, ``pods`` (the timeline: pods desired, running,
        ready and in all, queue depth, chunks, events/s, CPU), ``hpa`` (replicas, CPU reading and
        target), ``worker_pods`` (each pod's CPU and events/s), ``run`` (its ``started_at`` and
        ``finished_at``, to mark them) and ``png`` (whether scaling.png exists).
    """
    folder = Path(output_dir)
    pods = [asdict(sample) for sample in load_timeline(folder)]
    hpa = [asdict(sample) for sample in load_hpa(folder)]
    worker_pods = [asdict(sample) for sample in load_worker_pods(folder)]
    has_png = (folder / "scaling.png").is_file()
    results = load_results(folder) or {}
    return {
        "available": bool(pods or hpa or has_png),
        "version": _scaling_version(folder),
        "pods": pods,
        "hpa": hpa,
        "worker_pods": worker_pods,
        "run": {"started_at": _text(results.get("started_at")), "finished_at": _text(results.get("finished_at"))},
        "png": has_png,
    }


def readiness(output_dir: str | os.PathLike[str]) -> tuple[bool, str]:
    """Whether the page can serve: the output folder exists and can be listed.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        tuple[bool, str]: ready, and why not (empty when ready).
    """
    try:
        with os.scandir(output_dir) as entries:
            next(entries, None)
    except FileNotFoundError:
        return False, "the output folder does not exist"
    except NotADirectoryError:
        return False, "the output folder is not a folder"
    except OSError as e:
        return False, f"the output folder cannot be read: {e.strerror or type(e).__name__}"
    return True, ""
