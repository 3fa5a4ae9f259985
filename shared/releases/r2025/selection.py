"""The 2025 notebook's selection on one chunk: six cuts, the mass in GeV, the absolute-value weight.

The 2025 education release stores GeV and carries its normalisation per event (``xsec``,
``filteff``, ``kfac``, ``sum_of_weights``). The notebook keeps an event when, in this order:
(1) ``trigE or trigM``; (2) at least one lepton is trigger-matched; (3) the three leading
leptons have pT > 20, 15 and 10 GeV; (4) all four leptons pass identification and isolation
(electrons loose ID, muons medium ID, both loose isolation); (5) the flavour sum is 44, 48 or
52; (6) the charge sum is 0. Every cut looks at one event only, so one combined mask selects
what the notebook's successive filters select.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hzz.shared.histograms import Binning
from hzz.shared.physics import first_four, four_lepton_mass, select_four_lepton_events
from hzz.shared.releases.r2025 import WEIGHT_FACTORS

__all__ = ["PT_THRESHOLDS", "mc_event_weights", "measure", "select_events", "signal_significance"]

#: Lowest pT (GeV, strictly above) of the leading, sub-leading and third lepton.
PT_THRESHOLDS = (20, 15, 10)

ELECTRON, MUON = 11, 13


def select_events(events: Any) -> np.ndarray:
    """Which events pass the 2025 notebook's six cuts.

    Args:
        events: a record array with the :data:`~hzz.shared.releases.r2025.DATA_BRANCHES` fields (four leptons each).

    Returns:
        numpy.ndarray: a boolean mask, True for the events the notebook keeps.
    """
    trigger = ak.to_numpy(events.trigE | events.trigM)
    trigger_matched = ak.to_numpy(ak.sum(events.lep_isTrigMatched, axis=1) >= 1)
    pt = first_four(events.lep_pt)
    hard_enough = np.logical_and.reduce([pt[i] > threshold for i, threshold in enumerate(PT_THRESHOLDS)])
    lep_type = events.lep_type
    good_lepton = ((lep_type == MUON) & events.lep_isMediumID & events.lep_isLooseIso) | (
        (lep_type == ELECTRON) & events.lep_isLooseID & events.lep_isLooseIso
    )
    identified = ak.to_numpy(ak.sum(good_lepton, axis=1) == 4)
    flavour_and_charge = select_four_lepton_events(events.lep_charge, lep_type)
    return trigger & trigger_matched & hard_enough & identified & flavour_and_charge


def mc_event_weights(events: Any, lumi: float) -> np.ndarray:
    """``lumi·1000 / sum_of_weights`` times the absolute value of every factor, in the notebook's order.

    Args:
        events: a record array with :data:`WEIGHT_FACTORS` and ``sum_of_weights``.
        lumi: integrated luminosity in fb⁻¹.

    Returns:
        numpy.ndarray: one weight per event, never negative.
    """
    weight = lumi * 1000 / ak.to_numpy(events["sum_of_weights"])
    for factor in WEIGHT_FACTORS:
        weight = weight * np.abs(ak.to_numpy(events[factor]))
    return weight


def measure(events: Any, *, sample: str, lumi: float, is_data: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The selected events' m4ℓ in GeV and, for MC, their weights.

    Raises:
        ValueError: an event has fewer than four leptons.
    """
    selected = np.flatnonzero(select_events(events))
    chosen = events[selected]
    # The release stores GeV, so no MeV → GeV step: the notebook takes .M as it comes.
    mass = four_lepton_mass(chosen.lep_pt, chosen.lep_eta, chosen.lep_phi, chosen.lep_e, unit=1.0)
    return mass, None if is_data else mc_event_weights(chosen, lumi)


def signal_significance(
    signal: np.ndarray, background: np.ndarray, binning: Binning, window: tuple[float, float]
) -> tuple[float, float, float]:
    """The notebook's ``N_sig / sqrt(N_bg + 0.3·N_bg²)`` over the bins inside ``window``.

    As in the notebook, ``N_sig`` is the stacked height, signal plus background, and the 0.3·N_bg²
    term stands for a 30 % background uncertainty.

    Args:
        signal, background: Σw per bin of the signal and of all backgrounds.
        binning: their axis.
        window: (low, high) in GeV; the bins wholly inside count (122.5–130: three 2.5 GeV bins).

    Returns:
        tuple[float, float, float]: N_sig, N_bg and the significance (0 without background).
    """
    edges = binning.edges
    inside = (edges[:-1] >= window[0]) & (edges[1:] <= window[1])
    n_sig = float(np.sum((signal + background)[inside]))
    n_bg = float(np.sum(background[inside]))
    significance = n_sig / np.sqrt(n_bg + 0.3 * n_bg**2) if n_bg > 0 else 0.0
    return n_sig, n_bg, float(significance)
