"""The output folder's names and how files get into it: atomically, so no reader sees half a file.

This module imports no plotting and no physics: the web page and the scaling-log tools read
the output folder through it. What goes into ``results.json`` is :mod:`hzz.shared.report`'s.

A writer killed mid-write leaves its temporary file behind; the next aggregator to start in the
folder removes those (:func:`remove_stale_temporaries`), telling them from files being written
right now by a lock that every writer holds until its file is in place and that dies with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no file locks; abandoned temporaries are told by their age alone
    fcntl = None  # type: ignore[assignment]

from hzz.shared.errors import ConfigError

__all__ = [
    "CHECKPOINT_FILE",
    "PLOT_FILES",
    "RESULTS_FILE",
    "ROOT_FILE",
    "RUNS_FOLDER",
    "RUN_ID_PATTERN",
    "SCHEMA_VERSION",
    "STATE_FILE",
    "TEMP_NAME",
    "ensure_writable",
    "read_json",
    "remove_stale_temporaries",
    "run_folder",
    "write_atomic",
]

RESULTS_FILE = "results.json"
#: The single-run checkpoint of the previous version (refused by name, never resumed).
CHECKPOINT_FILE = ".checkpoint.json"
#: Every run has its folder ``runs/<run_id>/`` (results.json, plots, its durable state); the
#: newest run is mirrored at the top of the output folder, where users and deploy.sh look.
RUNS_FOLDER = "runs"
#: The run's durable state inside its folder (:mod:`hzz.shared.runstore`).
STATE_FILE = "state.sqlite"
#: What a run id may be: it names the run's folder, so nothing that could climb out of it.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: The plot in a raster format for the page and a vector format for papers.
PLOT_FILES = {"png": "hzz_m4l.png", "svg": "hzz_m4l.svg"}
#: The histograms as a ROOT file (one TH1D per sample, per group and the data).
ROOT_FILE = "hzz_m4l.root"
#: Version of the results.json layout; bump on incompatible changes (new fields are compatible).
SCHEMA_VERSION = 1
#: The temporary files this module makes: :func:`write_atomic`'s ``.<name>.<8 random>.tmp`` and
#: :func:`ensure_writable`'s ``.write-test-<8 random>`` (``tempfile``'s random part).
TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp|\.write-test-[a-z0-9_]{8}")
#: A temporary file younger than this is never removed: its writer may not have locked it yet.
TEMP_GRACE_SECONDS = 5.0
#: Where files cannot be locked, a temporary file this old counts as abandoned (a write takes
#: well under a second).
STALE_TEMP_SECONDS = 600.0


def ensure_writable(folder: str | Path) -> Path:
    """Create the output folder if needed and check that files can be written in it.

    Raises:
        ConfigError: naming the folder and the setting to change.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        msg = f"output folder {str(path)!r} is not writable ({e.strerror}); set HZZ_OUTPUT_DIR to a writable folder"
        raise ConfigError(msg) from e
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _lock(f)  # held until the file is in place: who finds it unlocked knows its writer died
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            if fcntl is not None:
                os.replace(tmp, path)
        if fcntl is None:
            os.replace(tmp, path)  # Windows renames no open file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _lock(f: IO[bytes]) -> None:
    if fcntl is not None:
        with contextlib.suppress(OSError):  # a file system without locks: age tells instead
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_temporaries(output_dir: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writers left in the output folder and its runs' folders.

    Only files of this module's naming (:data:`TEMP_NAME`) are touched, and only regular files
    of this user, older than :data:`TEMP_GRACE_SECONDS`, that no process holds locked (where the
    file system has no locks: older than :data:`STALE_TEMP_SECONDS`). A file being written by a
    live writer, of this process or another, is left alone.

    Returns:
        list[Path]: the files removed.
    """
    now = time.time() if now is None else now
    root = Path(output_dir)
    folders = [root]
    with contextlib.suppress(OSError):
        folders += sorted(p for p in (root / RUNS_FOLDER).iterdir() if p.is_dir() and not p.is_symlink())
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if TEMP_NAME.fullmatch(entry.name) and _abandoned(entry, now):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _abandoned(entry: os.DirEntry[str], now: float) -> bool:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        return False
    age = now - info.st_mtime
    if age < TEMP_GRACE_SECONDS:
        return False
    if fcntl is None:
        return age > STALE_TEMP_SECONDS
    try:
        fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its writer is alive and holds it
    except OSError:
        return age > STALE_TEMP_SECONDS  # no locks here
    finally:
        os.close(fd)
    return True


def run_folder(output_dir: str | Path, run_id: str) -> Path:
    """The folder of one run inside the output folder.

    Raises:
        ConfigError: the run id could name something outside ``runs/`` (it may come from the network).
    """
    if not RUN_ID_PATTERN.fullmatch(run_id):
        msg = f"run id {run_id[:80]!r} is not 1–64 letters, digits, '.', '_' or '-' starting with a letter or digit"
        raise ConfigError(msg)
    return Path(output_dir) / RUNS_FOLDER / run_id


def read_json(path: Path) -> Any:
    """A JSON file of the output folder, parsed (``OSError`` or ``ValueError`` if it cannot be)."""
    return json.loads(path.read_bytes())
