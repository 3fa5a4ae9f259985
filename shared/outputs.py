"""The output folder's names and how files get into it: atomically, so no reader sees half a file.

This module imports no plotting and no physics: the web page and the scaling-log tools read
the output folder through it. What goes into ``results.json`` is :mod:`hzz.shared.report`'s.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

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
    "ensure_writable",
    "read_json",
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
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
