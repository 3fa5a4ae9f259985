"""The output folder's names and how files get into it: atomically, so no reader sees half a file.

This module imports no plotting and no physics: the web page and the scaling-log tools read
the output folder through it. What goes into ``results.json`` is :mod:`hzz.shared.report`'s.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hzz.shared.errors import ConfigError

__all__ = [
    "CHECKPOINT_FILE",
    "PLOT_FILES",
    "RESULTS_FILE",
    "ROOT_FILE",
    "SCHEMA_VERSION",
    "ensure_writable",
    "read_json",
    "write_atomic",
]

RESULTS_FILE = "results.json"
CHECKPOINT_FILE = ".checkpoint.json"
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


def read_json(path: Path) -> Any:
    """A JSON file of the output folder, parsed (``OSError`` or ``ValueError`` if it cannot be)."""
    return json.loads(path.read_bytes())
