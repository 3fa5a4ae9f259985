"""The H→ZZ*→4ℓ physics of the 2020 notebook: the two cuts, the four-lepton mass, the MC weight.

Everything here works on whole columns (awkward or numpy arrays of one chunk), never on single
events in Python. The arithmetic mirrors the notebook's expressions operation for operation and
in the same dtypes (the branches are float32), so that every event lands in the same bin as in
the notebook.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import vector

from shared.infofile import infos

__all__ = [
    "DATA_BRANCHES",
    "MC_BRANCHES",
    "TREE_NAME",
    "cross_section_weight",
    "four_lepton_mass",
    "mc_event_weights",
    "select_four_lepton_events",
]

#: The TTree of the 2020 release.
TREE_NAME = "mini"

#: The lepton branches the selection and the mass need.
DATA_BRANCHES: tuple[str, ...] = ("lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type")

#: The per-event weight factors, multiplied in the notebook's order.
WEIGHT_BRANCHES: tuple[str, ...] = (
    "mcWeight",
    "scaleFactor_PILEUP",
    "scaleFactor_ELE",
    "scaleFactor_MUON",
    "scaleFactor_LepTRIGGER",
)

#: Everything an MC chunk reads.
MC_BRANCHES: tuple[str, ...] = DATA_BRANCHES + WEIGHT_BRANCHES

#: MeV → GeV.
MEV = 0.001

#: lep_type sums of the first four leptons that the flavour cut keeps: eeee, eeμμ, μμμμ.
ALLOWED_FLAVOUR_SUMS = (44, 48, 52)


def _first_four(values: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array, ak.Array]:
    return values[:, 0], values[:, 1], values[:, 2], values[:, 3]


def select_four_lepton_events(lep_charge: ak.Array, lep_type: ak.Array) -> np.ndarray:
    """Which events pass the notebook's two cuts (on the first four leptons).

    Args:
        lep_charge: jagged charges, at least four per event.
        lep_type: jagged |PDG id| (11 electron, 13 muon), at least four per event.

    Returns:
        numpy.ndarray: a boolean mask, True for events with charge sum 0 and flavour sum 44, 48 or 52.
    """
    q0, q1, q2, q3 = _first_four(lep_charge)
    t0, t1, t2, t3 = _first_four(lep_type)
    charge_sum = ak.to_numpy(q0 + q1 + q2 + q3)
    flavour_sum = ak.to_numpy(t0 + t1 + t2 + t3)
    return (charge_sum == 0) & np.isin(flavour_sum, ALLOWED_FLAVOUR_SUMS)


def four_lepton_mass(lep_pt: ak.Array, lep_eta: ak.Array, lep_phi: ak.Array, lep_E: ak.Array) -> np.ndarray:
    """Invariant mass of the first four leptons in GeV, as the notebook's ``calc_mllll``.

    Args:
        lep_pt, lep_eta, lep_phi, lep_E: jagged lepton kinematics in MeV, at least four per event.

    Returns:
        numpy.ndarray: m4ℓ in GeV, one value per event.
    """
    p4 = vector.zip({"pt": lep_pt, "eta": lep_eta, "phi": lep_phi, "E": lep_E})
    p0, p1, p2, p3 = _first_four(p4)
    return ak.to_numpy((p0 + p1 + p2 + p3).M * MEV)


def cross_section_weight(sample: str, lumi: float) -> float:
    """``lumi·1000·xsec / (sumw·red_eff)`` for one MC sample (lumi in fb⁻¹, xsec in pb)."""
    info = infos[sample]
    return (lumi * 1000 * info["xsec"]) / (info["sumw"] * info["red_eff"])


def mc_event_weights(events: ak.Array, xsec_weight: float) -> np.ndarray:
    """Each MC event's weight: the cross-section weight times the five per-event factors.

    Signs are kept. The float32 product is taken in the notebook's order, so that weights match
    the notebook's to the last bit.

    Args:
        events: a record array with the :data:`WEIGHT_BRANCHES` fields.
        xsec_weight: from :func:`cross_section_weight`.

    Returns:
        numpy.ndarray: one weight per event.
    """
    weight = xsec_weight * events.mcWeight
    for branch in WEIGHT_BRANCHES[1:]:
        weight = weight * events[branch]
    return ak.to_numpy(weight)
