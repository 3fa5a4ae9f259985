"""A run's results as Python objects: ``hist`` histograms, yields with uncertainties, the data counts.

:class:`Result` is what :func:`hzz.run` returns and :func:`hzz.load` reads back from a
``results.json`` (or the folder holding one); both give the same object. It is built from the
results document alone (``docs/results-schema.md``), so a result read from disk draws the same
plot and writes the same ROOT file as the run that made it.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import hist
import numpy as np
from matplotlib.figure import Figure

from hzz.shared.errors import ConfigError
from hzz.shared.histograms import Binning, histogram_from_json
from hzz.shared.outputs import RESULTS_FILE, SCHEMA_VERSION, write_atomic
from hzz.shared.releases import get_release
from hzz.shared.rootfile import group_key, write_root

__all__ = ["DataCounts", "PerName", "Result", "Yield", "load"]

T = TypeVar("T")


@dataclass(frozen=True)
class Yield:
    """A weighted yield and its statistical uncertainty √Σw² (None where the run did not record Σw²)."""

    value: float
    uncertainty: float | None

    def __str__(self) -> str:
        if self.uncertainty is None:
            return f"{self.value:.6g}"
        return f"{self.value:.6g} ± {self.uncertainty:.2g}"


@dataclass(frozen=True)
class DataCounts:
    """The selected data events: per m4ℓ bin, in the plot's range, and in all."""

    counts: np.ndarray
    edges: np.ndarray
    #: Selected data events over the whole mass range.
    events_selected: int
    #: Selected data events inside the histogram's range (the sum of ``counts``).
    in_range: int

    @property
    def errors(self) -> np.ndarray:
        """√N per bin, the error bars of the plot."""
        return np.sqrt(self.counts)


class PerName(Mapping[str, T], Generic[T]):
    """Values per sample and per group: ``x["llll"]``, ``x[r"Background $ZZ^*$"]`` or ``x["Background_ZZ"]``.

    Iterating gives the samples, then the groups (by legend label); :attr:`samples` and
    :attr:`groups` hold each alone. A group is also found by its name in the ROOT file
    (:func:`hzz.shared.rootfile.group_key`), which has no LaTeX in it.
    """

    def __init__(self, samples: Mapping[str, T], groups: Mapping[str, T]) -> None:
        self.samples: dict[str, T] = dict(samples)
        self.groups: dict[str, T] = dict(groups)
        self._keys = {group_key(label): label for label in self.groups}

    def __getitem__(self, name: str) -> T:
        if name in self.samples:
            return self.samples[name]
        if name in self.groups:
            return self.groups[name]
        if name in self._keys:
            return self.groups[self._keys[name]]
        msg = f"no sample or group {name!r}; samples: {', '.join(self.samples)}; groups: {', '.join(self.groups)}"
        raise KeyError(msg)

    def __iter__(self) -> Iterator[str]:
        yield from self.samples
        yield from self.groups

    def __len__(self) -> int:
        return len(self.samples) + len(self.groups)

    def __repr__(self) -> str:
        return f"PerName(samples={list(self.samples)}, groups={list(self.groups)})"


class Result:
    """One run's results.

    Attributes:
        document (dict[str, Any]): the results document (results.json) it was made from.
        folder (Path | None): the folder the run wrote (or it was loaded from), if any.
        binning (Binning): the release's m4ℓ bins.
        histograms (PerName[hist.Hist]): Σw and Σw² per bin (``Weight`` storage) per sample and group.
        yields (PerName[Yield]): the weighted yield over the whole mass range ± √Σw², per sample
            and group (the event count ± √N for data).
        data (DataCounts): the selected data events per bin.
    """

    def __init__(self, document: Mapping[str, Any], folder: str | Path | None = None) -> None:
        self.document: dict[str, Any] = dict(document)
        self.folder = Path(folder) if folder is not None else None
        binning = self.document["binning"]
        self.binning = Binning(int(binning["bins"]), float(binning["low"]), float(binning["high"]))
        samples, groups = self.document["samples"], self.document["groups"]
        self.histograms: PerName[hist.Hist] = PerName(
            {name: histogram_from_json(s, self.binning) for name, s in samples.items()},
            {label: histogram_from_json(g, self.binning) for label, g in groups.items()},
        )
        self.yields: PerName[Yield] = PerName(
            {name: _yield(s) for name, s in samples.items()},
            {label: _yield(g) for label, g in groups.items()},
        )
        data = self.document["data"]
        self.data = DataCounts(
            counts=np.asarray(data["counts"], dtype=np.int64),
            edges=self.binning.edges,
            events_selected=int(data["events_selected"]),
            in_range=int(data["in_range"]),
        )

    @property
    def run_id(self) -> str:
        return str(self.document["run_id"])

    @property
    def state(self) -> str:
        """``running``, ``complete`` or ``complete_with_failures``."""
        return str(self.document["state"])

    @property
    def profile(self) -> str:
        """The analysis profile (release): ``2020`` or ``2025``."""
        return str(self.document.get("profile", "2020"))

    @property
    def failed_chunks(self) -> list[dict[str, Any]]:
        """The chunks that failed, each with its error."""
        return list(self.document["failed_chunks"])

    @property
    def warnings(self) -> list[str]:
        """What the run asked for and read nothing of (a file without entries, a fraction too small)."""
        return list(self.document.get("warnings", []))

    @property
    def significance(self) -> dict[str, Any] | None:
        """The 2025 notebook's signal significance over its window, or None (2020)."""
        return self.document.get("significance")

    def plot(self, *, note: str = "") -> Figure:
        """The m4ℓ plot, as the run drew it.

        Args:
            note: an extra line above the top right corner.

        Returns:
            Figure: a matplotlib figure (shown by Jupyter when it is a cell's value; ``savefig`` saves it).
        """
        from hzz.shared.plotting import m4l_figure

        release = get_release(self.profile)
        settings = self.document.get("settings") or {}
        figure = m4l_figure(
            self.histograms.samples,
            lumi=float(settings.get("lumi", release.lumi)),
            fraction=float(settings.get("fraction", 1.0)),
            binning=self.binning,
            groups=release.groups,
            style=release.style,
            note=note,
        )
        # Jupyter shows a cell's value through _repr_png_; a figure made without pyplot has none.
        figure._repr_png_ = lambda: _png(figure)  # type: ignore[attr-defined]
        return figure

    def to_root(self, path: str | Path) -> Path:
        """Write the histograms as a ROOT file: ``samples/<sample>``, ``groups/<group>`` and ``data`` TH1Ds.

        Returns:
            Path: the file written.
        """
        data_label = next((label for label, g in self.document["groups"].items() if g["is_data"]), None)
        path = Path(path)
        write_root(
            path,
            samples=self.histograms.samples,
            groups=self.histograms.groups,
            data=self.histograms.groups[data_label] if data_label is not None else None,
        )
        return path

    def to_json(self, path: str | Path) -> Path:
        """Write the results document (the ``results.json`` schema).

        Returns:
            Path: the file written.
        """
        path = Path(path)
        write_atomic(path, json.dumps(self.document, indent=1, allow_nan=False).encode())
        return path

    def _rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for label, group in self.document["groups"].items():
            rows.append((label, f"{group['events_selected']:,}", str(self.yields.groups[label])))
            rows += [
                (f"  {s}", f"{self.document['samples'][s]['events_selected']:,}", str(self.yields[s]))
                for s in group["samples"]
            ]
        return rows

    def __repr__(self) -> str:
        tally = self.document["tally"]
        head = (
            f"Result(run {self.run_id}, profile {self.profile}, {self.state}: {tally['done']} of "
            f"{tally['total']} chunks, {tally['failed']} failed; data {self.data.events_selected} selected, "
            f"{self.data.in_range} in {self.binning.low:g}–{self.binning.high:g} GeV)"
        )
        width = max((len(name) for name, _, _ in self._rows()), default=0)
        lines = [f"{name:<{width}}  {selected:>10}  {value}" for name, selected, value in self._rows()]
        return "\n".join([head, *lines])

    def _repr_html_(self) -> str:
        from html import escape

        cells = "".join(
            f"<tr><td>{escape(name)}</td><td style='text-align:right'>{selected}</td>"
            f"<td style='text-align:right'>{escape(value)}</td></tr>"
            for name, selected, value in self._rows()
        )
        head = escape(self.__repr__().splitlines()[0])
        return (
            f"<p>{head}</p><table><tr><th>sample / group</th><th>selected</th>"
            f"<th>weighted yield ± √Σw²</th></tr>{cells}</table>"
        )


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _yield(entry: Mapping[str, Any]) -> Yield:
    uncertainty = entry.get("weighted_yield_uncertainty")
    if uncertainty is None and entry.get("is_data"):
        uncertainty = math.sqrt(entry["weighted_yield"])  # a count: ±√N
    return Yield(float(entry["weighted_yield"]), None if uncertainty is None else float(uncertainty))


def load(path: str | Path) -> Result:
    """Read a run's results back: a ``results.json``, or a folder holding one (an output or run folder).

    Args:
        path: the file or the folder.

    Returns:
        Result: the same object :func:`hzz.run` returned for that run.

    Raises:
        ConfigError: nothing readable there, or a results.json of another schema version.
    """
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    try:
        document = json.loads(file.read_bytes())
    except FileNotFoundError:
        msg = f"no results at {file}: give a results.json or the folder a run wrote (its output folder)"
        raise ConfigError(msg) from None
    except (OSError, ValueError) as e:
        msg = f"{file} is not a readable results.json ({type(e).__name__}: {e})"
        raise ConfigError(msg) from e
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        msg = f"{file} has schema_version {version!r}; this hzz reads version {SCHEMA_VERSION}"
        raise ConfigError(msg)
    return Result(document, file.parent)
