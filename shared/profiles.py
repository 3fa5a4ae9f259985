"""How each release is analysed: its tree, branches, selection and weights, binning and plot style.

An :class:`AnalysisProfile` gathers everything that differs between the notebook's releases;
the services only ever ask the profile named by the ``HZZ_PROFILE`` setting. *What* is analysed
(the samples, their groups and colours, the luminosity, where the files are) is a setting, in
:mod:`shared.data_vars`. Adding a release means adding its physics functions and one entry in
:data:`PROFILES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hzz.shared.data_vars import PROFILE_NAMES
from hzz.shared.errors import ConfigError
from hzz.shared.histograms import M4L_BINNING, Binning
from hzz.shared.physics import DATA_BRANCHES, MC_BRANCHES, TREE_NAME, measure_2020
from hzz.shared.physics2025 import DATA_BRANCHES_2025, MC_BRANCHES_2025, TREE_NAME_2025, measure_2025

__all__ = ["PROFILES", "AnalysisProfile", "PlotStyle", "get_profile"]

#: ``measure(events, *, sample, lumi, is_data)`` → (m4ℓ in GeV of the selected events, their
#: weights or None for data).
Measure = Callable[..., tuple[np.ndarray, np.ndarray | None]]


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
    #: The y axis ends at this multiple of the largest data bin.
    y_headroom: float = 1.6


@dataclass(frozen=True)
class AnalysisProfile:
    """Everything about analysing one release."""

    name: str
    tree: str
    data_branches: tuple[str, ...]
    mc_branches: tuple[str, ...]
    measure: Measure
    binning: Binning
    style: PlotStyle
    #: m4ℓ window (GeV) of the notebook's signal significance; None: not computed.
    significance_window: tuple[float, float] | None = None

    def branches(self, *, is_data: bool) -> tuple[str, ...]:
        """The branches a chunk of a data or MC sample reads."""
        return self.data_branches if is_data else self.mc_branches


#: Every profile, by the name the ``HZZ_PROFILE`` setting uses.
PROFILES: dict[str, AnalysisProfile] = {
    "2020": AnalysisProfile(
        name="2020",
        tree=TREE_NAME,
        data_branches=DATA_BRANCHES,
        mc_branches=MC_BRANCHES,
        measure=measure_2020,
        binning=M4L_BINNING,
        style=PlotStyle(),
    ),
    "2025": AnalysisProfile(
        name="2025",
        tree=TREE_NAME_2025,
        data_branches=DATA_BRANCHES_2025,
        mc_branches=MC_BRANCHES_2025,
        measure=measure_2025,
        binning=Binning(68, 80.0, 250.0),
        style=PlotStyle(figsize=(12, 8), text_x=0.1, title_size=16, education_size=12, text_size=16, y_headroom=2.0),
        significance_window=(122.5, 130.0),
    ),
}
assert tuple(PROFILES) == PROFILE_NAMES, "shared.data_vars.PROFILE_NAMES lists the profiles defined here"


def get_profile(name: str) -> AnalysisProfile:
    """The profile called ``name``.

    Raises:
        ConfigError: no such profile.
    """
    try:
        return PROFILES[name]
    except KeyError:
        msg = f"unknown analysis profile {name!r}; set HZZ_PROFILE to one of {', '.join(PROFILES)}"
        raise ConfigError(msg) from None
