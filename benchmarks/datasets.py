"""The benchmark's datasets: synthetic files in the real schema, generated once and cached.

``1x`` has the real 2020 sizes (12 files, 943,430 events), ``10x`` ten times as many events per
file; ``quick`` is a small one for smoke tests. A dataset is regenerated only when its marker
file (``.complete.json``: scale, seed, event counts) is missing or different, so an interrupted
generation is never mistaken for a finished one.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import uproot

from hzz.devtools.samplegen.r2020 import event_counts, generate_dataset
from hzz.shared.data_vars import Settings
from hzz.shared.releases.r2020 import TREE_NAME

__all__ = [
    "DATA_DIR",
    "QUICK_SCALE",
    "REAL_FILES",
    "SEED",
    "Dataset",
    "ensure_dataset",
    "parse_size",
    "real_data_a",
    "size_name",
]

#: Where the datasets are cached (gitignored).
DATA_DIR = Path(__file__).resolve().parent / ".data"
#: One seed for every dataset: the same files on every machine.
SEED = 2020
#: ``--quick``: 2 % of the real sizes (18,868 events), enough to exercise every code path.
QUICK_SCALE = 0.02
_MARKER = ".complete.json"
#: The real files of the 2020 release in the project's shared folder (data_A: 39 events).
REAL_FILES = Path(__file__).resolve().parents[2] / "shared" / "atlas-open-data" / "2020-4lep"


@dataclass(frozen=True)
class Dataset:
    """A generated dataset: where it is and what is in it."""

    name: str
    folder: Path
    scale: float
    events: int
    files: int
    bytes: int
    #: Entries per basket of the largest file (the unit in which uproot decompresses).
    basket_entries: int

    def settings(self, **overrides: object) -> Settings:
        return Settings(dataset=str(self.folder), **overrides)  # type: ignore[arg-type]

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "scale": self.scale,
            "events": self.events,
            "files": self.files,
            "megabytes": round(self.bytes / 1e6, 1),
            "basket_entries": self.basket_entries,
            "folder": str(self.folder),
        }


def parse_size(text: str) -> float:
    """``"10x"`` → 10.0 (the scale of the real sizes)."""
    value = text.strip().lower().removesuffix("x")
    scale = float(value)
    if scale <= 0:
        raise ValueError(f"size {text!r}: expected a positive multiple of the real sizes, e.g. 1x or 10x")
    return scale


def size_name(scale: float) -> str:
    return f"{scale:g}x"


def ensure_dataset(name: str, scale: float, *, root: Path = DATA_DIR, seed: int = SEED) -> Dataset:
    """The dataset ``name`` at ``scale`` × the real sizes, generating it first if needed."""
    folder = root / name
    counts = event_counts(None, None, scale)
    expected = {"scale": scale, "seed": seed, "counts": counts}
    marker = folder / _MARKER
    try:
        cached = json.loads(marker.read_text()) == expected
    except (OSError, ValueError):
        cached = False
    if not cached:
        print(f"generating the {name} dataset ({sum(counts.values()):,} events) in {folder} …", file=sys.stderr)
        marker.unlink(missing_ok=True)
        # In a process of its own: the generator's peak memory (~400 MB for 10×) would stay with
        # this one, and Linux counts what a process held before its exec in its max RSS, so every
        # command the race starts from here would report it as its own.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(generate_dataset, folder, events=counts, seed=seed, progress=sys.stderr.isatty()).result()
        marker.write_text(json.dumps(expected, indent=1))
    return _describe(name, folder, scale, counts)


def _describe(name: str, folder: Path, scale: float, counts: dict[str, int]) -> Dataset:
    settings = Settings(dataset=str(folder), samples=tuple(counts))
    paths = [Path(settings.file_location(sample)) for sample in counts]
    largest = max(paths, key=lambda p: p.stat().st_size)
    with uproot.open(largest) as file:
        offsets = file[TREE_NAME]["lep_pt"].entry_offsets
    basket_entries = max(b - a for a, b in itertools.pairwise(offsets)) if len(offsets) > 1 else 0
    return Dataset(
        name=name,
        folder=folder,
        scale=scale,
        events=sum(counts.values()),
        files=len(paths),
        bytes=sum(p.stat().st_size for p in paths),
        basket_entries=int(basket_entries),
    )


def real_data_a(*, root: Path = DATA_DIR, source: Path = REAL_FILES) -> Path | None:
    """A folder holding the real data_A file in the server's layout (``Data/``), or None without it.

    The smallest real input: 39 events, so that a run's time is its fixed cost.
    """
    original = source / "data_A.4lep.root"
    if not original.is_file():
        return None
    folder = root / "real"
    copy = folder / "Data" / original.name
    if not copy.is_file() or copy.stat().st_size != original.stat().st_size:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
    return folder
