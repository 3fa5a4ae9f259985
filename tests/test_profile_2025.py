"""The 2025 profile: each of its cuts, its absolute-value weights, its significance, and the whole
pipeline against a plain implementation of the 2025 notebook's loop."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from hzz.devtools.notebook import run_notebook_2025, significance_2025
from hzz.local import run_local
from hzz.shared.data_vars import Settings
from hzz.shared.histograms import Binning
from hzz.shared.releases import get_release
from hzz.shared.releases.r2025.selection import mc_event_weights, select_events, signal_significance

#: A good eeμμ event, passing every cut.
GOOD: dict[str, Any] = {
    "lep_pt": [50.0, 30.0, 20.0, 12.0],
    "lep_eta": [0.1, -0.5, 1.2, -1.9],
    "lep_phi": [0.3, 2.0, -1.5, -2.8],
    "lep_e": [60.0, 40.0, 40.0, 45.0],
    "lep_charge": [1, -1, 1, -1],
    "lep_type": [11, 11, 13, 13],
    "lep_isTrigMatched": [True, False, False, False],
    "lep_isLooseID": [True, True, True, True],
    "lep_isMediumID": [False, False, True, True],
    "lep_isLooseIso": [True, True, True, True],
    "trigE": True,
    "trigM": False,
}


def events(*changes: dict[str, Any]) -> ak.Array:
    """Events built from GOOD, each with some fields changed; typed like the release's branches."""
    rows = [{**GOOD, **change} for change in changes]
    columns = {key: [row[key] for row in rows] for key in GOOD}
    arrays = {}
    for key, values in columns.items():
        if key in ("lep_pt", "lep_eta", "lep_phi", "lep_e"):
            arrays[key] = ak.values_astype(ak.Array(values), np.float32)
        elif key in ("lep_charge", "lep_type"):
            arrays[key] = ak.values_astype(ak.Array(values), np.int32)
        else:
            arrays[key] = ak.Array(values)
    return ak.Array(arrays)


def test_a_good_event_passes_every_cut() -> None:
    assert select_events(events({})).tolist() == [True]


@pytest.mark.parametrize(
    ("change", "cut"),
    [
        ({"trigE": False, "trigM": False}, "trigger"),
        ({"lep_isTrigMatched": [False] * 4}, "trigger match"),
        ({"lep_pt": [20.0, 18.0, 15.0, 12.0]}, "leading pT must exceed 20 GeV strictly"),
        ({"lep_pt": [50.0, 15.0, 14.0, 12.0]}, "sub-leading pT must exceed 15 GeV strictly"),
        ({"lep_pt": [50.0, 30.0, 10.0, 9.0]}, "third pT must exceed 10 GeV strictly"),
        ({"lep_isLooseID": [False, True, True, True]}, "electron ID"),
        ({"lep_isMediumID": [False, False, True, False]}, "muon ID is medium, not loose"),
        ({"lep_isLooseIso": [True, True, True, False]}, "isolation"),
        ({"lep_type": [11, 13, 13, 13], "lep_charge": [1, -1, 1, -1]}, "flavour sum 50"),
        ({"lep_charge": [1, 1, 1, -1]}, "charge sum"),
    ],
)
def test_an_event_failing_one_cut_is_dropped(change: dict[str, Any], cut: str) -> None:
    mask = select_events(events({}, change, {}))
    assert mask.tolist() == [True, False, True], cut


def test_the_fourth_lepton_has_no_pt_threshold_and_triggers_combine_with_or() -> None:
    mask = select_events(events({"lep_pt": [50.0, 30.0, 20.0, 1.0]}, {"trigE": False, "trigM": True}))
    assert mask.tolist() == [True, True]


def test_an_electron_needs_only_loose_id_but_a_muon_needs_medium() -> None:
    loose_muons = {"lep_isMediumID": [True, True, False, False]}
    assert select_events(events(loose_muons)).tolist() == [False]


def weight_events(**overrides: list[float]) -> dict[str, np.ndarray]:
    values = {
        "filteff": [0.5],
        "kfac": [1.1],
        "xsec": [2.0],
        "mcWeight": [3.0],
        "ScaleFactor_PILEUP": [0.9],
        "ScaleFactor_ELE": [1.02],
        "ScaleFactor_MUON": [0.98],
        "ScaleFactor_LepTRIGGER": [1.01],
        "sum_of_weights": [1.0e6],
    }
    values.update(overrides)
    return {
        key: np.asarray(v, dtype=np.float64 if key == "sum_of_weights" else np.float32) for key, v in values.items()
    }


def test_the_weight_is_the_product_of_every_factor_s_absolute_value() -> None:
    expected = 36.6 * 1000 / 1.0e6 * 0.5 * 1.1 * 2.0 * 3.0 * 0.9 * 1.02 * 0.98 * 1.01
    [weight] = mc_event_weights(weight_events(), 36.6)
    assert weight == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "factor", ["filteff", "kfac", "xsec", "mcWeight", "ScaleFactor_PILEUP", "ScaleFactor_ELE", "ScaleFactor_MUON"]
)
def test_a_negative_factor_gives_the_same_positive_weight(factor: str) -> None:
    positive = mc_event_weights(weight_events(), 36.6)
    flipped = weight_events()
    flipped[factor] = -flipped[factor]

    assert mc_event_weights(flipped, 36.6).tolist() == positive.tolist()


def test_the_significance_is_the_notebook_s_formula_over_the_three_bins_of_the_window() -> None:
    binning = Binning(68, 80.0, 250.0)
    rng = np.random.default_rng(1)
    signal, background = rng.uniform(0, 5, 68), rng.uniform(0, 5, 68)

    n_sig, n_bg, z = signal_significance(signal, background, binning, (122.5, 130.0))

    assert (n_sig, n_bg, z) == pytest.approx(significance_2025(signal, background), rel=1e-12)
    assert n_bg == pytest.approx(background[17:20].sum())


@pytest.fixture(scope="module")
def dataset_2025(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hzz.devtools.samplegen.r2025 import generate_dataset

    folder = tmp_path_factory.mktemp("release2025")
    generate_dataset(folder, events=1500, seed=11)
    return folder


@pytest.fixture(scope="module")
def notebook_2025(dataset_2025: Path) -> dict[str, Any]:
    settings = Settings(profile="2025", dataset=str(dataset_2025))
    return run_notebook_2025({s: settings.file_location(s) for s in settings.samples}, lumi=settings.lumi)


@pytest.mark.parametrize(("chunk_size", "workers"), [(1500, 1), (400, 2), (333, 2)])
def test_the_2025_pipeline_equals_the_2025_notebook(
    dataset_2025: Path,
    notebook_2025: dict[str, Any],
    tmp_path: Path,
    chunk_size: int,
    workers: int,
    equals_notebook: Callable[..., None],
) -> None:
    settings = Settings(
        profile="2025", dataset=str(dataset_2025), chunk_size=chunk_size, workers=workers, output_dir=str(tmp_path)
    )

    results = run_local(settings, transport="embedded", progress=False)

    equals_notebook(results, notebook_2025)
    assert results["profile"] == "2025"
    assert results["binning"]["bins"] == 68
    assert results["settings"]["lumi"] == 36.6


def test_the_2025_results_carry_the_notebook_s_significance(
    dataset_2025: Path, notebook_2025: dict[str, Any], tmp_path: Path
) -> None:
    settings = Settings(profile="2025", dataset=str(dataset_2025), output_dir=str(tmp_path))

    results = run_local(settings, transport="embedded", progress=False)

    groups = results["groups"]
    signal = sum(np.asarray(notebook_2025[s].sumw) for s in groups["Signal ($m_H$ = 125 GeV)"]["samples"])
    background = sum(
        np.asarray(notebook_2025[s].sumw)
        for label, g in groups.items()
        if not g["is_data"] and not g["is_signal"]
        for s in g["samples"]
    )
    n_sig, n_bg, z = significance_2025(signal, background)
    assert results["significance"]["window"] == [122.5, 130.0]
    assert results["significance"]["n_sig"] == pytest.approx(n_sig, rel=1e-9)
    assert results["significance"]["n_bg"] == pytest.approx(n_bg, rel=1e-9)
    assert results["significance"]["significance"] == pytest.approx(z, rel=1e-9)


def test_the_2020_profile_has_no_significance_and_its_own_binning() -> None:
    profile = get_release("2020")
    assert profile.significance_window is None
    assert profile.binning.bins == 34
    assert get_release("2025").tree == "analysis"


def test_a_2025_run_with_a_broken_file_is_finished_by_the_documented_retry(dataset_2025: Path, tmp_path: Path) -> None:
    # Given a 2025 dataset whose ZZ* file opens but cannot be read (its baskets garbled: a missing
    # file would be refused before the run), run as a user would (the command line)
    import uproot

    samples = "data15_periodD,mc_700600.Sh_2212_llll"
    llll = Path(Settings(profile="2025", dataset=str(dataset_2025)).file_location("mc_700600.Sh_2212_llll"))
    kept = tmp_path / "kept.root"
    llll.rename(kept)
    with uproot.open(kept) as file:
        spans = [
            (int(seek) + int(size) // 2, 16)
            for branch in file["analysis"].branches
            for seek, size in zip(
                branch.member("fBasketSeek")[: branch.num_baskets],
                branch.member("fBasketBytes")[: branch.num_baskets],
                strict=True,
            )
        ]
    garbled = bytearray(kept.read_bytes())
    for middle, length in spans:
        garbled[middle : middle + length] = b"\xa5" * length
    llll.write_bytes(bytes(garbled))
    common = ["--profile", "2025", "--dataset", str(dataset_2025), "--samples", samples, "--transport", "embedded"]
    command = [sys.executable, "-m", "hzz", "run", *common, "--workers", "1", "--quiet"]
    try:
        first = subprocess.run([*command, "--output-dir", str(tmp_path / "out")], capture_output=True, text=True)
    finally:
        kept.rename(llll)
    assert first.returncode == 1, first.stderr
    assert json.loads((tmp_path / "out" / "results.json").read_text())["tally"]["failed"] == 1

    # When the file is back and the documented retry runs
    again = subprocess.run(
        [*command, "--output-dir", str(tmp_path / "out"), "--retry-failed"], capture_output=True, text=True
    )

    # Then it completes, and its results equal a clean run's on the same files
    assert again.returncode == 0, again.stderr
    clean = subprocess.run([*command, "--output-dir", str(tmp_path / "clean")], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    retried, reference = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("out", "clean"))
    assert retried["state"] == "complete"
    assert retried["profile"] == "2025"
    assert retried["events"] == reference["events"]
    for sample, values in reference["samples"].items():
        assert retried["samples"][sample]["events_selected"] == values["events_selected"]
        assert retried["samples"][sample]["sumw"] == pytest.approx(values["sumw"], rel=1e-12)
