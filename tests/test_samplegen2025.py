"""The 2025 sample generator writes files that look, to the 2025 profile, like the ``exactly4lep`` release.

Given the default generated dataset, then: the files sit flat under the release's names; the tree
``analysis`` has the release's branches and types; every event has exactly four leptons ordered by
pT, in GeV (the Z and the Higgs peak where they should); the same seed gives the same files; the data
carry unit weights and no metadata; each cut of the notebook's 2025 selection, in its order, removes
some events, pT exactly at a threshold among them; negative weight factors are there to take the
absolute value of; the yields at 36.6 fb⁻¹ and the data's ~1300 selected events are like the real
analysis'. The selection and the weight are written here from the reference, independently of the
pipeline's code.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hzz.devtools.samplegen import main
from hzz.devtools.samplegen.r2025 import (
    ALL_SAMPLES,
    DATA_RUNS,
    DEFAULT_EVENTS,
    MC_RUN_NUMBER,
    PT_THRESHOLDS,
    RECIPES_2025,
    dsid_of,
    event_counts,
    generate_dataset,
)
from hzz.shared.errors import ConfigError
from hzz.shared.releases import r2025 as release2025

LLLL = "mc_700600.Sh_2212_llll"
GGH = "mc_345060.PowhegPythia8EvtGen_NNLOPS_nnlo_30_ggH125_ZZ4l"
ZEE = "mc_700322.Sh_2211_Zee_maxHTpTV2_CVetoBVeto"
ZZ_LABEL, SIGNAL_LABEL = r"Background $ZZ^{*}$", r"Signal ($m_H$ = 125 GeV)"

#: The release's branches and their awkward types (``lep_n`` counts the ``lep_*`` ones).
BRANCH_TYPES = {
    "runNumber": "int32",
    "eventNumber": "int64",
    "channelNumber": "int32",
    "mcWeight": "float32",
    "xsec": "float32",
    "filteff": "float32",
    "kfac": "float32",
    "sum_of_weights": "float64",
    "ScaleFactor_PILEUP": "float32",
    "ScaleFactor_ELE": "float32",
    "ScaleFactor_MUON": "float32",
    "ScaleFactor_LepTRIGGER": "float32",
    "trigE": "bool",
    "trigM": "bool",
    "lep_n": "int32",
    "lep_pt": "var * float32",
    "lep_eta": "var * float32",
    "lep_phi": "var * float32",
    "lep_e": "var * float32",
    "lep_charge": "var * int32",
    "lep_type": "var * int32",
    "lep_isTrigMatched": "var * bool",
    "lep_isLooseID": "var * bool",
    "lep_isMediumID": "var * bool",
    "lep_isLooseIso": "var * bool",
}
WEIGHT_FACTORS = ("mcWeight", "ScaleFactor_PILEUP", "ScaleFactor_ELE", "ScaleFactor_MUON", "ScaleFactor_LepTRIGGER")
METADATA = ("xsec", "filteff", "kfac", "sum_of_weights")
CUTS = ("trigger", "trigger match", "lepton pT", "ID + isolation", "flavour", "charge")


def read(path: Path) -> ak.Array:
    with uproot.open(path) as file:
        return file["analysis"].arrays()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default dataset (106,000 events in 40 files, ~2 s)."""
    return generate_dataset(tmp_path_factory.mktemp("generated2025"))


@pytest.fixture(scope="module")
def events(dataset: dict[str, Path]) -> dict[str, ak.Array]:
    return {sample: read(path) for sample, path in dataset.items()}


@pytest.fixture(scope="module")
def data(events: dict[str, ak.Array]) -> ak.Array:
    return ak.concatenate([events[sample] for sample in release2025.DATA_SAMPLES])


def cut_masks(array: ak.Array) -> list[np.ndarray]:
    """The events kept after each cut of the 2025 notebook, in its order (cumulative)."""
    pt = array.lep_pt
    good = ak.where(
        array.lep_type == 11,
        array.lep_isLooseID & array.lep_isLooseIso,
        array.lep_isMediumID & array.lep_isLooseIso,
    )
    flavour, charge = ak.sum(array.lep_type, axis=1), ak.sum(array.lep_charge, axis=1)
    each = [
        array.trigE | array.trigM,
        ak.any(array.lep_isTrigMatched, axis=1),
        (pt[:, 0] > 20) & (pt[:, 1] > 15) & (pt[:, 2] > 10),
        ak.all(good, axis=1),
        (flavour == 44) | (flavour == 48) | (flavour == 52),
        charge == 0,
    ]
    masks, kept = [], np.ones(len(array), bool)
    for mask in each:
        kept = kept & ak.to_numpy(mask)
        masks.append(kept)
    return masks


def selected(array: ak.Array) -> ak.Array:
    return array[cut_masks(array)[-1]]


def columns(array: ak.Array, branch: str) -> np.ndarray:
    """A lepton branch as an (n, 4) float64 array."""
    return ak.to_numpy(array[branch]).astype(np.float64)


def m4l(array: ak.Array) -> np.ndarray:
    pt, eta, phi, e = (columns(array, b) for b in ("lep_pt", "lep_eta", "lep_phi", "lep_e"))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    return np.sqrt(np.maximum(e.sum(1) ** 2 - px**2 - py**2 - pz**2, 0.0))


def weights(array: ak.Array) -> np.ndarray:
    """The 2025 MC weight: every factor's absolute value."""
    w = 36.6 * 1000 / array.sum_of_weights
    for factor in ("filteff", "kfac", "xsec", *WEIGHT_FACTORS):
        w = w * abs(array[factor])
    return ak.to_numpy(w)


def test_files_are_flat_with_the_release_names(dataset: dict[str, Path]) -> None:
    folder = dataset[LLLL].parent
    assert list(dataset) == list(ALL_SAMPLES)
    assert len(dataset) == len(release2025.DATA_SAMPLES) + sum(map(len, release2025.MC_SAMPLES.values())) == 40
    assert dataset[LLLL] == folder / "ODEO_FEB2025_v0_exactly4lep_mc_700600.Sh_2212_llll.exactly4lep.root"
    assert dataset["data15_periodD"] == folder / "ODEO_FEB2025_v0_exactly4lep_data15_periodD.exactly4lep.root"
    for sample, path in dataset.items():
        assert path == folder / release2025.file_name(sample)
    # Nothing else: no sub-folder, no partial file left behind.
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in dataset.values())


def test_tree_and_branches_have_the_release_names_and_types(dataset: dict[str, Path]) -> None:
    for sample in ("data16_periodA", LLLL, ZEE):
        with uproot.open(dataset[sample]) as file:
            assert file.keys(cycle=False) == ["analysis"]
            tree = file["analysis"]
            assert set(tree.keys()) == set(BRANCH_TYPES)
            array = tree.arrays()
        for branch, expected in BRANCH_TYPES.items():
            assert str(array[branch].type.content) == expected, (sample, branch)


def test_events_have_exactly_four_leptons_by_decreasing_pt_in_gev(events: dict[str, ak.Array]) -> None:
    for sample, array in events.items():
        assert len(array) == DEFAULT_EVENTS[sample]
        assert ak.all(array.lep_n == 4) and ak.all(ak.num(array.lep_pt) == 4), sample
        pt, eta = columns(array, "lep_pt"), columns(array, "lep_eta")
        assert np.all(pt[:, :-1] >= pt[:, 1:]), sample
        assert np.all(columns(array, "lep_e") >= pt * np.cosh(eta)), sample  # E ≥ |p|
        assert np.all(np.abs(eta) < 2.5) and np.all(np.abs(columns(array, "lep_phi")) <= np.pi), sample
        assert set(np.unique(ak.flatten(array.lep_type))) == {11, 13}, sample
        assert set(np.unique(ak.flatten(array.lep_charge))) == {-1, 1}, sample
        # GeV, not MeV: leading leptons of tens of GeV, the softest above a few GeV.
        assert 25 < np.median(pt[:, 0]) < 150 and pt.min() > 2, sample


def test_the_z_and_the_higgs_peak_at_their_masses_in_gev(events: dict[str, ak.Array]) -> None:
    # The Z: opposite-sign same-flavour lepton pairs of the ZZ* sample.
    llll = events[LLLL]
    pt, eta, phi, e = (columns(llll, b) for b in ("lep_pt", "lep_eta", "lep_phi", "lep_e"))
    charge, flavour = ak.to_numpy(llll.lep_charge), ak.to_numpy(llll.lep_type)
    pairs = []
    for i, j in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
        ossf = (charge[:, i] != charge[:, j]) & (flavour[:, i] == flavour[:, j])
        px = pt[:, i] * np.cos(phi[:, i]) + pt[:, j] * np.cos(phi[:, j])
        py = pt[:, i] * np.sin(phi[:, i]) + pt[:, j] * np.sin(phi[:, j])
        pz = pt[:, i] * np.sinh(eta[:, i]) + pt[:, j] * np.sinh(eta[:, j])
        mass = np.sqrt(np.maximum((e[:, i] + e[:, j]) ** 2 - px**2 - py**2 - pz**2, 0.0))
        pairs.append(mass[ossf])
    counts, edges = np.histogram(np.concatenate(pairs), np.arange(50.0, 131.0, 2.0))
    assert 88 <= edges[np.argmax(counts)] < 94
    # The Higgs: m4ℓ of the selected ggH events, in the 2025 plot's 2.5 GeV bins.
    mass = m4l(selected(events[GGH]))
    counts, edges = np.histogram(mass, np.arange(80.0, 252.5, 2.5))
    assert 122.5 <= edges[np.argmax(counts)] < 127.5
    assert np.mean(np.abs(mass - 125) < 5) > 0.95


def test_the_same_seed_gives_the_same_files_and_another_seed_others(
    tmp_path: Path, events: dict[str, ak.Array]
) -> None:
    samples = ["data16_periodB", GGH]
    counts = {sample: DEFAULT_EVENTS[sample] for sample in samples}
    again = generate_dataset(tmp_path / "again", events=counts)
    other = generate_dataset(tmp_path / "other", events=counts, seed=2026)
    for sample in samples:
        assert ak.array_equal(read(again[sample]), events[sample]), sample
        assert not ak.array_equal(read(other[sample]).lep_pt, events[sample].lep_pt), sample


def test_data_carry_unit_weights_no_metadata_and_their_runs(events: dict[str, ak.Array]) -> None:
    for sample in release2025.DATA_SAMPLES:
        array = events[sample]
        assert all(ak.all(array[b] == 1.0) for b in WEIGHT_FACTORS), sample
        assert all(ak.all(array[b] == 0) for b in METADATA), sample
        low, high = DATA_RUNS[sample]
        assert ak.all(array.channelNumber == array.runNumber), sample
        assert ak.all((array.runNumber >= low) & (array.runNumber <= high)), sample
    assert set(DATA_RUNS) == set(release2025.DATA_SAMPLES)


def test_mc_carries_constant_metadata_and_negative_factors(events: dict[str, ak.Array]) -> None:
    for sample in ALL_SAMPLES[len(release2025.DATA_SAMPLES) :]:
        array, recipe = events[sample], RECIPES_2025[dsid_of(sample)]
        assert ak.all(array.channelNumber == dsid_of(sample)) and ak.all(array.runNumber == MC_RUN_NUMBER)
        assert np.array_equal(ak.to_numpy(array.eventNumber), np.arange(1, len(array) + 1))
        for branch in METADATA:
            assert len(np.unique(ak.to_numpy(array[branch]))) == 1, (sample, branch)
        assert array.xsec[0] == np.float32(recipe.xsec) and array.kfac[0] == np.float32(recipe.kfac)
        assert array.sum_of_weights[0] > 0 and array.filteff[0] > 0
    # Negative mcWeight: a few percent of the NLO samples' events.
    assert np.mean(ak.to_numpy(events[LLLL].mcWeight) < 0) == pytest.approx(0.05, abs=0.01)
    assert ak.any(events[GGH].mcWeight < 0) and ak.any(events[ZEE].mcWeight < 0)
    # Negative scale factors in a few events, a negative xsec and a negative kfac in one sample each.
    mc = ak.concatenate([events[LLLL], events[GGH]])
    for factor in WEIGHT_FACTORS[1:]:
        assert 0 < np.mean(ak.to_numpy(mc[factor]) < 0) < 0.01, factor
    assert ak.all(events["mc_412043.aMcAtNloPythia8EvtGen_A14NNPDF31_SM4topsNLO"].xsec < 0)
    assert ak.all(events["mc_364242.Sherpa_222_NNPDF30NNLO_WWW_3l3v_EW6"].kfac < 0)
    assert all(ak.all(events[s].xsec > 0) for s in (LLLL, GGH, ZEE))


def test_each_cut_removes_some_events_in_the_notebooks_order(events: dict[str, ak.Array], data: ak.Array) -> None:
    for name, array in (("data", data), ("llll", events[LLLL]), ("ggH", events[GGH]), ("Zee", events[ZEE])):
        kept = [len(array)] + [int(mask.sum()) for mask in cut_masks(array)]
        removed = -np.diff(kept)
        assert all(removed > 0), (name, dict(zip(CUTS, removed, strict=True)))
        assert kept[-1] > 0, name
    # The fakes of Z+jets rarely pass identification and isolation; ZZ* and the signal mostly do.
    for sample, low, high in ((LLLL, 0.75, 0.92), (GGH, 0.75, 0.92), (ZEE, 0.001, 0.02)):
        assert low < np.mean(cut_masks(events[sample])[-1]) < high, sample


def test_the_id_and_isolation_cut_follows_each_flavours_working_point(events: dict[str, ak.Array]) -> None:
    array = events[LLLL]
    electron, muon = ak.flatten(array.lep_type == 11), ak.flatten(array.lep_type == 13)
    loose, medium = ak.flatten(array.lep_isLooseID), ak.flatten(array.lep_isMediumID)
    # Electrons need loose only: some good ones are not medium; muons need medium: some loose ones are not.
    assert ak.any(electron & loose & ~medium) and ak.any(muon & loose & ~medium)
    assert not ak.any(medium & ~loose)  # medium implies loose
    assert ak.any(~ak.flatten(array.lep_isLooseIso))


def test_pt_exactly_at_a_threshold_fails_the_strict_cut(events: dict[str, ak.Array], data: ak.Array) -> None:
    array = ak.concatenate([data, *(events[s] for s in ALL_SAMPLES[len(release2025.DATA_SAMPLES) :])])
    masks = cut_masks(array)
    before_pt, after_pt = masks[1], masks[2]
    pt = columns(array, "lep_pt")
    for rank, threshold in enumerate(PT_THRESHOLDS):
        exact = pt[:, rank] == threshold
        # Otherwise hard enough: only the strictness of this threshold removes them.
        others = np.all([pt[:, k] > t for k, t in enumerate(PT_THRESHOLDS) if k != rank], axis=0)
        candidates = exact & others & before_pt
        assert candidates.sum() >= 5, threshold
        assert not np.any(after_pt[candidates]), threshold
    # Softer leptons than the thresholds, as pT cut failures.
    assert np.any((pt[:, 0] < 20) & before_pt) and np.any((pt[:, 2] < 10) & (pt[:, 0] > 20) & (pt[:, 1] > 15))


def test_yields_at_36_6_per_fb_and_the_data_are_like_the_real_analysis(
    events: dict[str, ak.Array], data: ak.Array
) -> None:
    yields, window = {}, {}
    for label, samples in release2025.MC_SAMPLES.items():
        chosen = [selected(events[sample]) for sample in samples]
        yields[label] = sum(weights(array).sum() for array in chosen)
        window[label] = sum(weights(a)[(m4l(a) > 122.5) & (m4l(a) < 130)].sum() for a in chosen)
    assert yields[ZZ_LABEL] == pytest.approx(1070, rel=0.1)
    assert yields[SIGNAL_LABEL] == pytest.approx(27.5, rel=0.15)
    assert 100 < sum(yields.values()) - yields[ZZ_LABEL] - yields[SIGNAL_LABEL] < 300
    assert 18 < window[SIGNAL_LABEL] < 32  # the notebook's N_sig over 122.5–130 GeV: 28.7
    assert 1100 < len(selected(data)) < 1500  # the notebook: 1279
    assert sum(yields.values()) == pytest.approx(len(selected(data)), rel=0.2)


def test_event_counts_defaults_ints_mappings_and_errors() -> None:
    defaults = event_counts(None, None)
    assert defaults == DEFAULT_EVENTS and list(defaults) == list(ALL_SAMPLES)
    assert sum(defaults.values()) < 300_000
    assert (defaults["data15_periodD"], defaults[LLLL], defaults[GGH], defaults[ZEE]) == (2000, 20000, 10000, 2000)
    assert event_counts([LLLL], 7) == {LLLL: 7}
    assert event_counts(None, {ZEE: 3}) == {ZEE: 3}
    assert event_counts([ZEE, "data16_periodL"], {ZEE: 3}, scale=0.5) == {ZEE: 3, "data16_periodL": 1000}
    for bad in ({"samples": ["data_A"], "events": None}, {"samples": None, "events": -1}):
        with pytest.raises(ConfigError):
            event_counts(**bad)
    with pytest.raises(ConfigError, match="scale"):
        event_counts(None, None, scale=0)


def test_an_empty_file_still_holds_the_tree(tmp_path: Path) -> None:
    path = generate_dataset(tmp_path, samples=[ZEE], events=0)[ZEE]
    with uproot.open(path) as file:
        assert file["analysis"].num_entries == 0
        assert set(file["analysis"].keys()) == set(BRANCH_TYPES)


def test_the_command_line_writes_the_2025_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], events: dict[str, ak.Array]
) -> None:
    args = ["--profile", "2025", "--out", str(tmp_path), "--samples", f"data15_periodD,{LLLL}", "--quiet"]
    assert main([*args, "--events", "25"]) == 0
    assert "50 events in 2 files" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        release2025.file_name(s) for s in ("data15_periodD", LLLL)
    )
    # The default seed is the generator's: the same files as the module's defaults.
    assert main(["--profile", "2025", "--out", str(tmp_path / "d"), "--samples", GGH, "--quiet"]) == 0
    assert ak.array_equal(read(tmp_path / "d" / release2025.file_name(GGH)), events[GGH])
    assert main(["--profile", "2025", "--out", str(tmp_path), "--samples", "data_A", "--quiet"]) == 2
    assert "data_A" in capsys.readouterr().err
    # The 2020 profile stays the default.
    assert main(["--out", str(tmp_path / "old"), "--samples", "data_A", "--events", "5", "--quiet"]) == 0
    assert (tmp_path / "old" / "Data" / "data_A.4lep.root").is_file()
