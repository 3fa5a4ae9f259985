"""What a release is: the fields every release module fills in (:class:`Release`).

Only the standard library is imported here, so that settings, the web page and the command
line can ask a release for its samples and files without loading the physics. A release's
selection (cuts, mass, weights) is a module of its own, imported the first time a chunk is
measured.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from hzz.shared.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from hzz.shared.histograms import Binning

__all__ = ["DATA_GROUP", "BranchType", "PlotStyle", "Release", "SampleGroup"]

#: Legend label of the data group, in every release.
DATA_GROUP = "Data"


@dataclass(frozen=True)
class SampleGroup:
    """A legend entry of the plot: a label, a colour and the samples drawn under it."""

    label: str
    color: str
    samples: tuple[str, ...]
    is_data: bool = False
    is_signal: bool = False


#: The numpy kinds (``dtype.kind``) each declared kind of value accepts.
NUMPY_KINDS: dict[str, str] = {"float": "f", "integer": "iu", "signed integer": "i", "bool": "b", "flag": "biu"}


@dataclass(frozen=True)
class BranchType:
    """What a release stores in a branch, as a chunk's reading of it must find it.

    Args:
        kind: "float", "integer" (signed or unsigned: the generated files write some counters
            signed where the real ones are unsigned), "signed integer" (a value that can be
            negative, such as a charge), "bool", or "flag" (a yes/no stored as bool or as 0/1).
        jagged: a list of values per event (``std::vector``) rather than one value.
        finite: every value must be finite (the weights: one NaN poisons every sum it enters).
    """

    kind: str
    jagged: bool = False
    finite: bool = False

    def __post_init__(self) -> None:
        if self.kind not in NUMPY_KINDS:
            msg = f"branch kind {self.kind!r}; expected one of {', '.join(NUMPY_KINDS)}"
            raise ConfigError(msg)

    def describe(self) -> str:
        """In awkward's notation: ``var * signed integer``, ``float``."""
        return f"var * {self.kind}" if self.jagged else self.kind


@dataclass(frozen=True)
class PlotStyle:
    """The notebook's plot settings that differ between releases."""

    figsize: tuple[float, float] = (6.4, 4.8)
    #: x of the ATLAS texts, in axes coordinates.
    text_x: float = 0.05
    title_size: float = 13
    education_size: float = 8
    #: Size of the luminosity and process lines and of the legend (None: matplotlib's default).
    text_size: float | None = None
    #: The y axis ends at this multiple of the largest data bin (or higher, where the drawing
    #: needs it to stay clear of the texts and the legend: :mod:`hzz.shared.plotting`).
    y_headroom: float = 1.6
    #: Size of the axis titles (None: matplotlib's default; the notebook sets 13 on the x title).
    label_size: float | None = None
    #: Size of the tick labels (None: matplotlib's default).
    tick_size: float | None = None


@dataclass(frozen=True)
class Release:
    """Everything about one ATLAS Open Data release and how its notebook analyses it."""

    #: The ``HZZ_PROFILE`` value that chooses it.
    name: str
    description: str
    #: Integrated luminosity in fb⁻¹ of its data.
    lumi: float
    #: Where its files are served (HTTPS).
    public_location: str
    #: A sample's file, relative to the dataset's folder or URL.
    file_name: Callable[[str], str]
    tree: str
    data_branches: tuple[str, ...]
    mc_branches: tuple[str, ...]
    #: The plot's groups in the notebook's stacking order (data first, then backgrounds, signal).
    groups: tuple[SampleGroup, ...]
    #: m4ℓ bins: (number, low GeV, high GeV).
    bins: tuple[int, float, float]
    style: PlotStyle
    #: Module with ``measure(events, *, sample, lumi, is_data)``: the cuts, the mass and the weights.
    selection: str
    #: Module that writes synthetic files in this release's schema (``generate_dataset``).
    sample_generator: str
    #: The notebook's loop, re-implemented plainly as the reference the tests compare with.
    notebook: str
    #: m4ℓ window (GeV) of the notebook's signal significance; None: not computed.
    significance_window: tuple[float, float] | None = None
    #: Branches the selection reads first. When set, ``measure`` gets a mapping of columns instead
    #: of a record array, and the other branches are read on a thread while it runs
    #: (:mod:`hzz.shared.columns`); empty: every branch is read before ``measure`` starts.
    first_branches: tuple[str, ...] = ()
    #: What each branch the release reads holds (:class:`BranchType`); every chunk's columns are
    #: checked against it (:mod:`hzz.shared.schema`). A branch not listed is not checked.
    branch_types: Mapping[str, BranchType] = field(default_factory=dict, hash=False)

    @property
    def samples(self) -> tuple[str, ...]:
        """Every sample, in the groups' order."""
        return tuple(sample for group in self.groups for sample in group.samples)

    def group_of(self, sample: str) -> SampleGroup:
        """The group a sample is drawn in.

        Raises:
            ConfigError: not a sample of this release.
        """
        for group in self.groups:
            if sample in group.samples:
                return group
        msg = f"unknown sample {sample!r} of the {self.name} release; known: {', '.join(self.samples)}"
        raise ConfigError(msg)

    def is_data(self, sample: str) -> bool:
        return self.group_of(sample).is_data

    def branches(self, *, is_data: bool) -> tuple[str, ...]:
        """The branches a chunk of a data or MC sample reads."""
        return self.data_branches if is_data else self.mc_branches

    def file_location(self, dataset: str, sample: str) -> str:
        """The URL or local path of a sample's file under ``dataset`` (a folder or URL).

        Raises:
            ConfigError: not a sample of this release.
        """
        self.group_of(sample)  # refuses an unknown sample by name
        relative = self.file_name(sample)
        scheme = urlparse(dataset).scheme
        if scheme in ("http", "https"):
            return dataset.rstrip("/") + "/" + relative
        if scheme == "file":
            dataset = unquote(urlparse(dataset).path)
        return str(Path(dataset) / relative)

    @property
    def binning(self) -> Binning:
        from hzz.shared.histograms import Binning  # numpy and hist only where histograms are made

        return Binning(*self.bins)

    def measure(self, events: Any, *, sample: str, lumi: float, is_data: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The selected events' m4ℓ in GeV and, for MC, their weights (see :attr:`selection`)."""
        return self.selection_module().measure(events, sample=sample, lumi=lumi, is_data=is_data)

    def selection_module(self) -> ModuleType:
        return _module(self.selection)


@functools.cache
def _module(name: str) -> ModuleType:
    return importlib.import_module(name)
