"""Plain, single-process re-implementations of the HZZAnalysis notebook's loop (2020 and 2025 releases).

This is the oracle the tests compare the pipeline against and the baseline the benchmark races:
it follows the notebook line for line (``tree.iterate``, ``vector`` four-vectors, the two cuts,
``np.histogram`` over all of a sample's events at once) and deliberately shares no code with
:mod:`shared.physics`, so that a mistake there cannot hide behind the same mistake here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
import uproot
import vector

from hzz.shared.data_vars import Settings
from hzz.shared.infofile import infos
from hzz.shared.releases import release_of_sample

__all__ = ["NotebookSample", "run_notebook", "run_notebook_2025", "significance_2025"]

MeV = 0.001
GeV = 1.0


@dataclass
class NotebookSample:
    """One sample's outcome: events read and selected, Σw, the binned Σw and Σw², and Σw² in all."""

    events_read: int
    events_selected: int
    sumw_total: float
    sumw: np.ndarray
    sumw2: np.ndarray
    #: Σw² over the whole mass range: the square of the yield's statistical uncertainty.
    sumw2_total: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The counts and binned sums as JSON values (what the benchmarks compare with the pipeline)."""
        return {
            "events_read": self.events_read,
            "events_selected": self.events_selected,
            "sumw_total": self.sumw_total,
            "sumw": [float(v) for v in self.sumw],
            "sumw2": [float(v) for v in self.sumw2],
        }


def _bin_edges() -> np.ndarray:
    xmin, xmax, step_size = 80 * GeV, 250 * GeV, 5 * GeV
    return np.arange(start=xmin, stop=xmax + step_size, step=step_size)


def cut_lep_charge(lep_charge: ak.Array) -> ak.Array:
    # True for events to throw away, as in the notebook
    return lep_charge[:, 0] + lep_charge[:, 1] + lep_charge[:, 2] + lep_charge[:, 3] != 0


def cut_lep_type(lep_type: ak.Array) -> ak.Array:
    sum_lep_type = lep_type[:, 0] + lep_type[:, 1] + lep_type[:, 2] + lep_type[:, 3]
    return (sum_lep_type != 44) & (sum_lep_type != 48) & (sum_lep_type != 52)


def calc_mllll(lep_pt: ak.Array, lep_eta: ak.Array, lep_phi: ak.Array, lep_E: ak.Array) -> ak.Array:
    p4 = vector.zip({"pt": lep_pt, "eta": lep_eta, "phi": lep_phi, "E": lep_E})
    return (p4[:, 0] + p4[:, 1] + p4[:, 2] + p4[:, 3]).M * MeV


def get_xsec_weight(sample: str, lumi: float) -> float:
    info = infos[sample]
    return (lumi * 1000 * info["xsec"]) / (info["sumw"] * info["red_eff"])


def calc_weight(xsec_weight: float, events: ak.Array) -> ak.Array:
    return (
        xsec_weight
        * events.mcWeight
        * events.scaleFactor_PILEUP
        * events.scaleFactor_ELE
        * events.scaleFactor_MUON
        * events.scaleFactor_LepTRIGGER
    )


def _iterate(path: str, tree_name: str, variables: list[str], fraction: float) -> Iterator[ak.Array]:
    """The notebook's ``tree.iterate`` over the first int(entries × fraction) entries of a file."""
    handler = {"handler": uproot.source.http.HTTPSource} if path.startswith("http") else {}
    with uproot.open(path, **handler) as file:
        tree = file[tree_name]
        numevents = tree.num_entries
        yield from tree.iterate(variables, library="ak", entry_stop=int(numevents * fraction), step_size=1000000)


def _outcome(n_in: int, mass: np.ndarray, weights: np.ndarray | None, edges: np.ndarray) -> NotebookSample:
    """A sample's histograms the notebook's way (``np.histogram``), Σw and Σw² per bin."""
    if weights is None:
        counts = np.histogram(mass, bins=edges)[0].astype(np.float64)
        return NotebookSample(n_in, len(mass), float(len(mass)), counts, counts.copy(), float(len(mass)))
    # The one departure from the notebook: np.histogram would sum float32 weights in float32
    # (~1e-7 rounding); the pipeline and this reference both sum in float64.
    weights = np.asarray(weights, dtype=np.float64)
    return NotebookSample(
        n_in,
        len(mass),
        float(np.sum(weights)),
        np.histogram(mass, bins=edges, weights=weights)[0],
        np.histogram(mass, bins=edges, weights=weights**2)[0],
        float(np.sum(weights**2)),
    )


def read_file(path: str, sample: str, *, lumi: float, fraction: float) -> tuple[int, np.ndarray, np.ndarray | None]:
    """The notebook's ``read_file``: (events read, m4ℓ of the selected events, their weights)."""
    is_data = release_of_sample(sample).is_data(sample)
    variables = ["lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type"]
    if not is_data:
        variables += ["mcWeight", "scaleFactor_PILEUP", "scaleFactor_ELE", "scaleFactor_MUON", "scaleFactor_LepTRIGGER"]
    masses, weights, n_in = [], [], 0
    for data in _iterate(path, "mini", variables, fraction):
        n_in += len(data)
        data = data[~cut_lep_charge(data["lep_charge"])]
        data = data[~cut_lep_type(data["lep_type"])]
        masses.append(ak.to_numpy(calc_mllll(data["lep_pt"], data["lep_eta"], data["lep_phi"], data["lep_E"])))
        if not is_data:
            weights.append(ak.to_numpy(calc_weight(get_xsec_weight(sample, lumi), data)))
    mass = np.concatenate(masses) if masses else np.zeros(0)
    return n_in, mass, (np.concatenate(weights) if weights else np.zeros(0, np.float32)) if not is_data else None


def run_notebook(settings: Settings, samples: Iterable[str] | None = None) -> dict[str, NotebookSample]:
    """Every sample's outcome, computed the notebook's way, one file after the other."""
    edges = _bin_edges()
    outcome: dict[str, NotebookSample] = {}
    for sample in samples or settings.samples:
        n_in, mass, weights = read_file(
            settings.file_location(sample), sample, lumi=settings.lumi, fraction=settings.fraction
        )
        outcome[sample] = _outcome(n_in, mass, weights, edges)
    return outcome


# ---------------------------------------------------------------------------------------------
# The 2025 release's notebook (exactly4lep skim, 36.6 fb⁻¹, tree "analysis", GeV)
# ---------------------------------------------------------------------------------------------

#: The 2025 notebook's weight factors, multiplied (as absolute values) in this order.
WEIGHT_VARIABLES_2025 = [
    "filteff", "kfac", "xsec", "mcWeight",
    "ScaleFactor_PILEUP", "ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER",
]  # fmt: skip
VARIABLES_2025 = [
    "lep_pt", "lep_eta", "lep_phi", "lep_e", "lep_charge", "lep_type", "trigE", "trigM",
    "lep_isTrigMatched", "lep_isLooseID", "lep_isMediumID", "lep_isLooseIso",
]  # fmt: skip


def cut_trig_match(lep_trigmatch: ak.Array) -> ak.Array:
    return ak.sum(lep_trigmatch, axis=1) >= 1


def cut_trig(trigE: ak.Array, trigM: ak.Array) -> ak.Array:
    return trigE | trigM


def ID_iso_cut(IDel: ak.Array, IDmu: ak.Array, isoel: ak.Array, isomu: ak.Array, pid: ak.Array) -> ak.Array:
    return ak.sum(((pid == 13) & IDmu & isomu) | ((pid == 11) & IDel & isoel), axis=1) == 4


def calc_mass(lep_pt: ak.Array, lep_eta: ak.Array, lep_phi: ak.Array, lep_e: ak.Array) -> ak.Array:
    p4 = vector.zip({"pt": lep_pt, "eta": lep_eta, "phi": lep_phi, "E": lep_e})
    return (p4[:, 0] + p4[:, 1] + p4[:, 2] + p4[:, 3]).M


def calc_weight_2025(events: ak.Array, lumi: float) -> ak.Array:
    total_weight = lumi * 1000 / events["sum_of_weights"]
    for variable in WEIGHT_VARIABLES_2025:
        total_weight = total_weight * abs(events[variable])
    return total_weight


def read_file_2025(
    path: str, *, is_data: bool, lumi: float, fraction: float
) -> tuple[int, np.ndarray, np.ndarray | None]:
    """The 2025 notebook's loop over one file: (events read, m4ℓ of the selected, their weights)."""
    variables = VARIABLES_2025 + ["lep_n"] + ([] if is_data else [*WEIGHT_VARIABLES_2025, "sum_of_weights"])
    masses, weights, n_in = [], [], 0
    for data in _iterate(path, "analysis", variables, fraction):
        n_in += len(data)
        data = data[cut_trig(data.trigE, data.trigM)]
        data = data[cut_trig_match(data.lep_isTrigMatched)]
        data = data[data["lep_pt"][:, 0] > 20]
        data = data[data["lep_pt"][:, 1] > 15]
        data = data[data["lep_pt"][:, 2] > 10]
        data = data[
            ID_iso_cut(data.lep_isLooseID, data.lep_isMediumID, data.lep_isLooseIso, data.lep_isLooseIso, data.lep_type)
        ]
        data = data[~cut_lep_type(data["lep_type"])]
        data = data[~cut_lep_charge(data["lep_charge"])]
        masses.append(ak.to_numpy(calc_mass(data["lep_pt"], data["lep_eta"], data["lep_phi"], data["lep_e"])))
        if not is_data:
            weights.append(ak.to_numpy(calc_weight_2025(data, lumi)))
    mass = np.concatenate(masses) if masses else np.zeros(0)
    if is_data:
        return n_in, mass, None
    return n_in, mass, np.concatenate(weights) if weights else np.zeros(0)


def run_notebook_2025(
    locations: dict[str, str], *, lumi: float = 36.6, fraction: float = 1.0
) -> dict[str, NotebookSample]:
    """Every sample's outcome the 2025 notebook's way; ``locations`` maps sample → file.

    Samples whose name starts with ``data`` are data, as in the notebook.
    """
    edges = np.arange(start=80 * GeV, stop=250 * GeV + 2.5 * GeV, step=2.5 * GeV)
    outcome: dict[str, NotebookSample] = {}
    for sample, path in locations.items():
        n_in, mass, weights = read_file_2025(path, is_data=sample.startswith("data"), lumi=lumi, fraction=fraction)
        outcome[sample] = _outcome(n_in, mass, weights, edges)
    return outcome


def significance_2025(signal_sumw: np.ndarray, background_sumw: np.ndarray) -> tuple[float, float, float]:
    """The 2025 notebook's printout over bins 17–19 (122.5–130 GeV): (N_sig, N_bg, significance).

    As in the notebook, N_sig is the stacked height, signal plus background.
    """
    signal_tot = signal_sumw + background_sumw
    n_sig = signal_tot[17:20].sum()
    n_bg = background_sumw[17:20].sum()
    return float(n_sig), float(n_bg), float(n_sig / np.sqrt(n_bg + 0.3 * n_bg**2))
