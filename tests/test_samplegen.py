"""The sample generator writes files that look, to the analysis, like the 2020 release.

Given generated files, then: they sit in the server's layout; their branches have the real data
file's names and types; every event has at least four leptons ordered by pT with consistent
energies; the same seed gives the same files; data carry no weights; the signal peaks at
125 GeV after the cuts, each cut removes some events, and the analysis and the notebook read them;
a million events are written in bounded memory.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hzz.devtools.notebook import run_notebook
from hzz.devtools.samplegen import main
from hzz.devtools.samplegen.r2020 import DATA_RUNS, REAL_ENTRIES, RECIPES, event_counts, generate_dataset
from hzz.shared.analysis import analyse_chunk
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError
from hzz.shared.infofile import infos
from hzz.shared.messages import ChunkTask
from hzz.shared.physics import ALLOWED_FLAVOUR_SUMS, four_lepton_mass, select_four_lepton_events
from hzz.shared.releases.r2020 import RELEASE, TREE_NAME

#: Events per sample of the shared dataset: enough for the fractions below to be ±1%.
EVENTS = 20_000

SEED = 11


def read(path: Path) -> ak.Array:
    with uproot.open(path) as file:
        return file[TREE_NAME].arrays()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_dataset(tmp_path_factory.mktemp("generated"), events=EVENTS, seed=SEED)


@pytest.fixture(scope="module")
def events(dataset: dict[str, Path]) -> dict[str, ak.Array]:
    return {sample: read(path) for sample, path in dataset.items()}


def test_files_follow_the_server_layout(dataset: dict[str, Path]) -> None:
    folder = dataset["data_A"].parent.parent
    assert list(dataset) == list(RELEASE.samples)
    assert dataset["data_A"] == folder / "Data" / "data_A.4lep.root"
    assert dataset["ggH125_ZZ4lep"] == folder / "MC" / "mc_345060.ggH125_ZZ4lep.4lep.root"
    for sample, path in dataset.items():
        assert str(path) == Settings(dataset=str(folder)).file_location(sample)
        assert path.is_file()
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == sorted(p.name for p in dataset.values())


def test_branches_have_the_real_files_names_and_types(real_dataset: Path, events: dict[str, ak.Array]) -> None:
    real = read(real_dataset / "Data" / "data_A.4lep.root")
    for sample in ("data_B", "llll"):
        generated = events[sample]
        assert set(generated.fields) <= set(real.fields)
        for branch in generated.fields:
            if branch == "lep_n":
                # uproot writes every counter as int32 (the real one is uint32); it still counts the leptons.
                assert ak.all(generated.lep_n == ak.num(generated.lep_pt))
                continue
            assert str(generated[branch].type.content) == str(real[branch].type.content), branch
    assert str(events["llll"].lep_pt.type.content) == "var * float32"


def test_events_have_four_or_more_leptons_by_decreasing_pt(events: dict[str, ak.Array]) -> None:
    for sample, array in events.items():
        n = ak.num(array.lep_pt)
        assert ak.min(n) >= 4 and ak.max(n) <= 6, sample
        assert ak.all(array.lep_pt[:, :-1] >= array.lep_pt[:, 1:]), sample
        assert set(np.unique(ak.flatten(array.lep_type))) == {11, 13}
        assert set(np.unique(ak.flatten(array.lep_charge))) == {-1, 1}
        pt, eta = (ak.flatten(array[b]).to_numpy().astype(np.float64) for b in ("lep_pt", "lep_eta"))
        assert np.all(ak.flatten(array.lep_E).to_numpy() >= pt * np.cosh(eta)), sample  # E ≥ |p|
        assert ak.all(array.lep_pt[:, :4] > 7000) and ak.all(abs(array.lep_eta[:, :4]) < 2.5), sample
        assert ak.all(array.trigE | array.trigM), sample
    assert 0 < np.mean(ak.num(events["llll"].lep_pt) > 4) < 0.1


def test_the_same_seed_gives_the_same_files_and_another_seed_others(
    tmp_path: Path, events: dict[str, ak.Array]
) -> None:
    samples = ["data_C", "ZH125_ZZ4lep"]
    again = generate_dataset(tmp_path / "again", samples=samples, events=EVENTS, seed=SEED)
    other = generate_dataset(tmp_path / "other", samples=samples, events=EVENTS, seed=SEED + 1)
    for sample in samples:
        assert ak.array_equal(read(again[sample]), events[sample]), sample
        assert not ak.array_equal(read(other[sample]).lep_pt, events[sample].lep_pt), sample


def test_data_carry_no_weights_and_mc_carries_realistic_ones(events: dict[str, ak.Array]) -> None:
    for sample, array in events.items():
        weights = [array[b] for b in array.fields if b == "mcWeight" or b.startswith("scaleFactor_")]
        if RELEASE.is_data(sample):
            assert all(ak.all(w == 0) for w in weights), sample
            assert ak.all(array.channelNumber == array.runNumber)
            low, high = DATA_RUNS[sample]
            assert ak.all((array.runNumber >= low) & (array.runNumber <= high))
        else:
            assert ak.all(array.channelNumber == infos[sample]["DSID"])
            assert all(ak.all((w > 0.8) & (w < 1.2)) for w in weights[1:]), sample
            mean = infos[sample]["sumw"] / infos[sample]["events"]
            assert ak.mean(array.mcWeight) == pytest.approx(mean, rel=0.02), sample
            assert ak.mean(array.mcWeight < 0) == pytest.approx(RECIPES[sample].negative, abs=0.01), sample
    assert ak.any(events["llll"].mcWeight < 0) and ak.any(events["ggH125_ZZ4lep"].mcWeight < 0)


def selected_mass(array: ak.Array) -> np.ndarray:
    selected = array[select_four_lepton_events(array.lep_charge, array.lep_type)]
    return four_lepton_mass(selected.lep_pt, selected.lep_eta, selected.lep_phi, selected.lep_E)


def test_m4l_has_each_samples_shape_after_the_cuts(events: dict[str, ak.Array]) -> None:
    edges = np.arange(80.0, 255.0, 5.0)
    for sample in ("ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep"):
        mass = selected_mass(events[sample])
        peak = edges[np.argmax(np.histogram(mass, edges)[0])]
        assert 120 <= peak < 130, sample
        assert np.mean(np.abs(mass - 125) < 5) > 0.95, sample
    counts = np.histogram(selected_mass(events["llll"]), edges)[0]
    z_peak, continuum, zz_bump = counts[2], counts[14:18].mean(), counts[22:26].mean()  # 90, 150, 190–210 GeV
    assert z_peak > 2 * zz_bump > 4 * continuum
    fakes = selected_mass(events["Zee"])
    assert np.std(fakes) > 30 and np.mean(fakes > 250) < 0.25


def test_each_cut_removes_a_fraction_like_the_real_selection(events: dict[str, ak.Array]) -> None:
    for sample, array in events.items():
        charge = ak.sum(array.lep_charge[:, :4], axis=1)
        flavour = ak.sum(array.lep_type[:, :4], axis=1)
        assert 0 < ak.mean(charge != 0) < 0.8, sample
        assert 0 < ak.mean(~np.isin(flavour, ALLOWED_FLAVOUR_SUMS)) < 0.8, sample
        kept = np.mean(select_four_lepton_events(array.lep_charge, array.lep_type))
        if sample in RECIPES:
            assert kept == pytest.approx(RECIPES[sample].keep, abs=0.015), sample
        else:
            assert 0.5 < kept < 0.8, sample


def test_the_analysis_and_the_notebook_read_the_files(dataset: dict[str, Path]) -> None:
    settings = Settings(dataset=str(dataset["data_A"].parent.parent))
    notebook = run_notebook(settings, ["data_D", "ttbar_lep", "llll"])
    for sample, expected in notebook.items():
        task = ChunkTask("run", sample, settings.file_location(sample), 0, None, lumi=settings.lumi)
        result = analyse_chunk(task)
        assert result.error is None
        assert (result.events_read, result.events_selected) == (EVENTS, expected.events_selected)
        assert result.sumw_total == pytest.approx(expected.sumw_total, rel=1e-6)
        assert 0 < expected.events_selected < EVENTS


def test_a_million_events_are_written_in_batches_with_bounded_memory(tmp_path: Path) -> None:
    n = 1_000_000
    tracemalloc.start()
    try:
        path = generate_dataset(tmp_path, samples=["ggH125_ZZ4lep"], events=n)["ggH125_ZZ4lep"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500e6  # all at once would take ~1 GB
    with uproot.open(path) as file:
        tree = file[TREE_NAME]
        assert tree.num_entries == n
        assert tree["lep_pt"].num_baskets > 1
        numbers = tree["eventNumber"].array(library="np")
    assert np.array_equal(numbers, np.arange(1, n + 1))


def test_event_counts_follow_the_real_files_scale_ints_and_mappings() -> None:
    assert event_counts(None, None) == REAL_ENTRIES
    assert event_counts(["data_A", "llll"], None, scale=0.01) == {"data_A": 1, "llll": 5543}
    assert event_counts(["Zee"], 7) == {"Zee": 7}
    assert event_counts(None, {"Zee": 3}) == {"Zee": 3}
    assert event_counts(["Zee", "data_B"], {"Zee": 3}, scale=0.5) == {"Zee": 3, "data_B": 78}
    for bad in ({"samples": ["Higgs"], "events": None}, {"samples": None, "events": -1}):
        with pytest.raises(ConfigError):
            event_counts(**bad)
    with pytest.raises(ConfigError, match="scale"):
        event_counts(None, None, scale=0)


def test_an_empty_file_still_holds_the_tree(tmp_path: Path) -> None:
    path = generate_dataset(tmp_path, samples=["Zmumu"], events=0)["Zmumu"]
    with uproot.open(path) as file:
        assert file[TREE_NAME].num_entries == 0
        assert "lep_pt" in file[TREE_NAME]


def test_the_command_line_writes_files_and_refuses_bad_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path), "--samples", "data_A,ZH125_ZZ4lep", "--events", "25", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "50 events in 2 files" in out
    assert (tmp_path / "MC" / "mc_341947.ZH125_ZZ4lep.4lep.root").is_file()
    assert (tmp_path / "Data" / "data_A.4lep.root").is_file()
    assert main(["--out", str(tmp_path), "--samples", "Higgs", "--quiet"]) == 2
    assert "Higgs" in capsys.readouterr().err
