"""Read-only view of the output folder: the run's status, its results and the files the page may serve.

Everything here tolerates a folder in any state: no folder, no ``results.json``, a half-written or
foreign one all read as ``"waiting"``, because the aggregator may be starting, restarting or
rewriting (it replaces files atomically, but a reader must not count on it). Only regular files
are read or offered, never through a symbolic link, and JSON only up to a size cap
(:mod:`hzz.shared.safe_files`): anything else under an allowed name is refused with a reason. See
``docs/results-schema.md`` for the contract and ``docs/webserver.md`` for the fields derived here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import stat
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from hzz.shared.errors import RefusedFile
from hzz.shared.safe_files import MAX_JSON_BYTES, read_regular, regular_file_stat
from hzz.shared.scaling import load_hpa, load_timeline, load_worker_pods

__all__ = [
    "ALLOWED_FILES",
    "RESULTS_FILE",
    "RUNS_DIR",
    "STATES",
    "file_version",
    "list_runs",
    "load_results",
    "log_refusal",
    "readiness",
    "results_refusal",
    "run_folder",
    "runs_version",
    "scaling",
    "status",
    "valid_run_id",
]

#: The results file of the aggregator.
RESULTS_FILE = "results.json"
#: The m4l plot the page shows (the aggregator's default name).
PLOT_PNG = "hzz_m4l.png"
#: The only results.json schema this page understands.
SCHEMA_VERSION = 1
#: Every state of /api/status; "waiting" is the page's own (no valid results.json).
STATES = ("waiting", "running", "stalled", "interrupted", "complete", "complete_with_failures")
#: The files /files/<name> serves, with their media types; nothing else in the folder is exposed
#: (notably not ``.checkpoint.json`` nor temporary files of the atomic writes).
ALLOWED_FILES: dict[str, str] = {
    "hzz_m4l.png": "image/png",
    "hzz_m4l.svg": "image/svg+xml",
    "hzz_m4l.root": "application/octet-stream",
    "results.json": "application/json",
    "scaling.png": "image/png",
    "pod_scaling.log": "text/plain",
    "hpa_metrics.log": "text/plain",
    "pod_scaling.csv": "text/csv",
    "hpa_metrics.csv": "text/csv",
    "worker_pods.csv": "text/csv",
    "scaling.md": "text/markdown",
}
#: Where each run has its folder, ``runs/<run_id>/`` (the newest run is also mirrored at the top).
RUNS_DIR = "runs"
#: What a run id may look like. It comes from the network (``?run=``): it is checked against this,
#: then looked up among the folders that exist, never joined to a path as given.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: The most runs /api/runs lists (the newest).
MAX_RUNS = 200
log = logging.getLogger(__name__)

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
        str | None: modification time (ns) and size in hex, used for cache busting (``?v=``); ``None``
        also for anything but a regular file (a link, a FIFO: never served).
    """
    st = regular_file_stat(path)
    return None if st is None else f"{st.st_mtime_ns:x}-{st.st_size:x}"


def load_results(output_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The content of ``results.json`` if it is complete and of the known schema, else ``None``.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        dict[str, Any] | None: the parsed results (shared between callers: do not modify); ``None``
        also for a results.json that is refused (see :func:`results_refusal`).
    """
    path = Path(output_dir) / RESULTS_FILE
    st = regular_file_stat(path)
    if st is None or st.st_size > MAX_JSON_BYTES:
        return None
    # Keyed on the file's identity and time: every poll of every browser re-reads only a new file.
    return _parse_results(str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def results_refusal(output_dir: str | os.PathLike[str]) -> str | None:
    """Why the folder's ``results.json`` is not read, or ``None`` when it is absent or may be read.

    A symbolic link, a FIFO, a device or a folder under that name, or a file over
    :data:`~hzz.shared.safe_files.MAX_JSON_BYTES`, is refused (logged once per file).

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        str | None: one line naming the file, what it is and what is expected.
    """
    path = Path(output_dir) / RESULTS_FILE
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_JSON_BYTES:
        return None
    try:
        # Opened the safe way to say what it is: O_NONBLOCK, so a FIFO cannot hold the request.
        read_regular(path, limit=MAX_JSON_BYTES)
    except RefusedFile as e:
        return log_refusal(path, str(e))
    except OSError:
        return None
    return None  # replaced by a regular file of an allowed size meanwhile


def log_refusal(path: Path, reason: str) -> str:
    """Log a refused file in one line, once per file and reason (the page polls every second).

    Args:
        path (Path): the file refused.
        reason (str): why (the :class:`~hzz.shared.errors.RefusedFile` message).

    Returns:
        str: ``reason``, for the answer.
    """
    try:
        st = os.lstat(path)
        identity: tuple[int, int] = (st.st_ino, st.st_mtime_ns)
    except OSError:
        identity = (0, 0)
    _log_once(str(path), reason, identity)
    return reason


@lru_cache(maxsize=256)
def _log_once(path: str, reason: str, identity: tuple[int, int]) -> None:
    log.warning("refused %s: %s", path, reason)


@lru_cache(maxsize=64)
def _parse_results(path: str, device: int, inode: int, mtime_ns: int, size: int) -> dict[str, Any] | None:
    try:
        # NaN and ±Infinity (Python's json writes them) are not JSON: a browser could not parse
        # /api/results, so they are read as null. Read the safe way: the file may have been
        # replaced by a link or a FIFO since it was looked at.
        content = json.loads(read_regular(path, limit=MAX_JSON_BYTES), parse_constant=lambda _: None)
    except (OSError, ValueError):
        # ValueError covers bad JSON, bad UTF-8 and a half-written file alike; OSError an absent,
        # unreadable or refused one (RefusedFile, never cached: lru_cache keeps no exception).
        return None
    if not isinstance(content, dict):
        return None
    version = content.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1, but is no version
        return None
    if content.get("state") not in STATES[1:]:
        return None
    return content


def status(output_dir: str | os.PathLike[str], run: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The run's status for /api/status: always the same fields, whatever the folder holds.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.
        run (str | os.PathLike[str] | None): the folder of the run to show (from :func:`run_folder`);
            default the output folder itself (the newest run).

    Returns:
        dict[str, Any]: the fields documented in ``docs/webserver.md``.
    """
    top = Path(output_dir)
    folder = top if run is None else Path(run)
    results = load_results(folder)
    plot_name = PLOT_PNG
    # Only regular files are offered (and served): a link or a FIFO under an allowed name is not.
    present = [name for name in ALLOWED_FILES if regular_file_stat(folder / name) is not None]
    if folder != top:  # the scaling files are the deployment's, at the top
        present += [name for name in SCALING_FILES if name not in present and regular_file_stat(top / name) is not None]
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
        "scaling_version": _scaling_version(top),
        "runs_version": runs_version(top),
        # The page counts "elapsed" on from started_at with this clock, not the browser's.
        "server_time": _now_iso(),
        "files": present,
    }
    if results is None:
        refusal = results_refusal(folder)
        exists = os.path.lexists(folder / RESULTS_FILE)
        if refusal is not None:
            base["message"] = f"{refusal}; waiting for the aggregator to write it"
        elif exists:
            base["message"] = (
                "results.json is being written or is not a valid schema 1 file; waiting for the aggregator"
            )
        else:
            base["message"] = "no run has written results yet; waiting for a run to start"
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


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def valid_run_id(run_id: str) -> bool:
    """Whether ``run_id`` has the form of a run id (letters, digits, ``.``, ``_``, ``-``; no path)."""
    return RUN_ID.fullmatch(run_id) is not None


def _run_dirs(output_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The run folders under ``runs/``: real folders (no symbolic links) with a valid name."""
    runs = Path(output_dir) / RUNS_DIR
    try:
        with os.scandir(runs) as entries:
            return {
                entry.name: runs / entry.name
                for entry in entries
                if valid_run_id(entry.name) and entry.is_dir(follow_symlinks=False)
            }
    except OSError:
        return {}


def run_folder(output_dir: str | os.PathLike[str], run_id: str) -> Path | None:
    """The folder of run ``run_id``: ``runs/<run_id>/``, or the top of the output folder when the
    run there (the newest, or the only one of an older layout) has that id.

    Args:
        output_dir (str | os.PathLike[str]): the output folder.
        run_id (str): the run asked for (from the network: checked, then looked up, never joined).

    Returns:
        Path | None: the folder, or None when the id is malformed or no such run is there.
    """
    if not valid_run_id(run_id):
        return None
    found = _run_dirs(output_dir).get(run_id)
    if found is not None:
        return found
    top = load_results(output_dir)
    if top is not None and top.get("run_id") == run_id:
        return Path(output_dir)
    return None


def list_runs(output_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The runs in the output folder, newest first, for /api/runs.

    Each run folder under ``runs/`` with a valid results.json, and the run at the top of the folder
    if no run folder has its id (an output folder of the single-run layout).

    Args:
        output_dir (str | os.PathLike[str]): the output folder.

    Returns:
        list[dict[str, Any]]: per run ``run_id``, ``state``, ``profile``, ``tally``, ``events``,
        ``started_at``, ``updated_at``, ``finished_at`` and ``latest`` (the one mirrored at the top);
        at most :data:`MAX_RUNS`.
    """
    top = load_results(output_dir)
    latest = top.get("run_id") if top is not None else None
    folders = _run_dirs(output_dir)
    runs = []
    for run_id, folder in folders.items():
        results = load_results(folder)
        if results is not None and results.get("run_id") == run_id:
            runs.append(_summary(results, latest))
    if top is not None and isinstance(latest, str) and latest not in folders:
        runs.append(_summary(top, latest))
    runs.sort(key=lambda r: (r["started_at"] or "", r["run_id"]), reverse=True)
    return runs[:MAX_RUNS]


def _summary(results: dict[str, Any], latest: Any) -> dict[str, Any]:
    tally = results.get("tally") if isinstance(results.get("tally"), dict) else {}
    events = results.get("events") if isinstance(results.get("events"), dict) else {}
    counts = {key: _count(tally.get(key)) for key in ("done", "failed", "pending")}
    return {
        "run_id": results["run_id"],
        "state": results["state"],
        "profile": _text(results.get("profile")),
        "tally": {"total": _count(tally.get("total")) or sum(counts.values()), **counts},
        "events": {"read": _count(events.get("read")), "selected": _count(events.get("selected"))},
        "started_at": _text(results.get("started_at")),
        "updated_at": _text(results.get("updated_at")),
        "finished_at": _text(results.get("finished_at")),
        "latest": results["run_id"] == latest,
    }


def runs_version(output_dir: str | os.PathLike[str]) -> str | None:
    """A short string that changes whenever a run's results.json is written; None without any run."""
    versions = [(name, file_version(folder / RESULTS_FILE)) for name, folder in sorted(_run_dirs(output_dir).items())]
    versions.append(("", file_version(Path(output_dir) / RESULTS_FILE)))
    if not any(version for _, version in versions):
        return None
    return hashlib.blake2s(repr(versions).encode(), digest_size=8).hexdigest()


def _message(state: str) -> str:
    return {
        "running": "the run is in progress; the plot and the yields are partial",
        "stalled": "the run's pending chunks have made no progress for a while: see stalled_chunks",
        "interrupted": "the run was interrupted; finish it with hzz run --resume (the yields are partial)",
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
    has_png = regular_file_stat(folder / "scaling.png") is not None
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
