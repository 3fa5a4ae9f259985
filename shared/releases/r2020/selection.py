"""The 2020 notebook's selection on one chunk: the two cuts, the mass in GeV and the MC weight.

The cuts and the mass are :mod:`hzz.shared.physics`'s (both releases share them); the weight is
this release's: the infofile's cross-section weight times five per-event factors, signs kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from hzz.shared.infofile import infos
from hzz.shared.physics import first_four_of, four_lepton_mass, select_four_lepton_events
from hzz.shared.releases.r2020 import KINEMATIC_BRANCHES, WEIGHT_BRANCHES

__all__ = ["cross_section_weight", "mc_event_weights", "measure"]


def measure(events: Any, *, sample: str, lumi: float, is_data: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The 2020 notebook on one chunk: the selected events' m4ℓ in GeV and, for MC, their weights.

    Args:
        events: the chunk's :data:`DATA_BRANCHES` (and for MC :data:`WEIGHT_BRANCHES`), as
            uproot reads them (a record array or a mapping of jagged/flat arrays).
        sample: the sample's name (its cross-section weight).
        lumi: integrated luminosity in fb⁻¹.
        is_data: data events carry no weight.

    Raises:
        ValueError: an event has fewer than four leptons.
    """
    # The first four leptons as plain numpy columns: every step below is numpy on contiguous
    # arrays instead of awkward broadcasting over jagged ones; the kinematics are gathered for
    # the selected events only.
    charge, flavour = first_four_of([events["lep_charge"], events["lep_type"]])
    selected = np.flatnonzero(select_four_lepton_events(charge, flavour))
    kinematics = first_four_of([events[branch] for branch in KINEMATIC_BRANCHES], rows=selected)
    mass = four_lepton_mass(*kinematics)
    if is_data:
        return mass, None
    # Weighing every event and then taking the selected ones is one gather instead of five.
    return mass, mc_event_weights(events, cross_section_weight(sample, lumi))[selected]


def cross_section_weight(sample: str, lumi: float) -> float:
    """``lumi·1000·xsec / (sumw·red_eff)`` for one MC sample (lumi in fb⁻¹, xsec in pb)."""
    info = infos[sample]
    return (lumi * 1000 * info["xsec"]) / (info["sumw"] * info["red_eff"])


def mc_event_weights(events: Mapping[str, Any] | ak.Array, xsec_weight: float) -> np.ndarray:
    """Each MC event's weight: the cross-section weight times the five per-event factors.

    Signs are kept. The float32 product is taken in the notebook's order, so that weights match
    the notebook's to the last bit.

    Args:
        events: a record array or a mapping with the :data:`WEIGHT_BRANCHES` fields (1-d arrays).
        xsec_weight: from :func:`cross_section_weight`.

    Returns:
        numpy.ndarray: one weight per event.
    """
    weight = xsec_weight * ak.to_numpy(events["mcWeight"])
    for branch in WEIGHT_BRANCHES[1:]:
        weight = weight * ak.to_numpy(events[branch])
    return weight
