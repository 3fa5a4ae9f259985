"""Tests of shared/physics.py: the two cuts, the four-lepton mass and the MC weights.

Events are made by hand as awkward arrays in the real branches' types (float32 kinematics,
int32 charges, uint32 lepton types, float32 weight factors), so every expected value can be
worked out on paper.
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hzz.devtools import notebook
from hzz.shared.infofile import infos
from hzz.shared.physics import four_lepton_mass, select_four_lepton_events
from hzz.shared.releases.r2020 import DATA_BRANCHES, MC_BRANCHES, TREE_NAME
from hzz.shared.releases.r2020.selection import cross_section_weight, mc_event_weights

ELECTRON, MUON = 11, 13


def charges(*events: list[int]) -> ak.Array:
    """Jagged lep_charge as in the files (int32)."""
    return ak.values_astype(ak.Array(list(events)), np.int32)


def types(*events: list[int]) -> ak.Array:
    """Jagged lep_type as in the files (uint32)."""
    return ak.values_astype(ak.Array(list(events)), np.uint32)


def floats(*events: list[float]) -> ak.Array:
    """Jagged float32 kinematics as in the files."""
    return ak.values_astype(ak.Array(list(events)), np.float32)


def neutral(n: int = 4) -> list[int]:
    """Charges summing to 0 over the first four leptons."""
    return [1, -1, 1, -1, 1, -1][:n]


def electrons(n: int = 4) -> list[int]:
    return [ELECTRON] * n


# --- the charge cut -----------------------------------------------------------------------------


def test_four_leptons_with_zero_total_charge_pass_the_charge_cut() -> None:
    # Given two events of four electrons with charge sum 0, in two orders
    lep_charge = charges([1, -1, 1, -1], [-1, -1, 1, 1])
    lep_type = types(electrons(), electrons())

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then both events pass
    assert passed.tolist() == [True, True]


@pytest.mark.parametrize("first_four", [[1, 1, 1, -1], [1, 1, 1, 1], [-1, -1, -1, 1], [-1, -1, -1, -1]])
def test_four_leptons_with_nonzero_total_charge_fail_the_charge_cut(first_four: list[int]) -> None:
    # Given an event of four electrons whose charges do not sum to 0
    lep_charge = charges(first_four)
    lep_type = types(electrons())

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then the event fails
    assert passed.tolist() == [False]


def test_a_fifth_lepton_does_not_spoil_a_neutral_first_four() -> None:
    # Given four neutral leptons followed by a fifth, charged one (all five sum to +1)
    lep_charge = charges([1, -1, 1, -1, 1])
    lep_type = types(electrons(5))

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then only the first four count, and the event passes
    assert passed.tolist() == [True]


def test_extra_leptons_do_not_rescue_a_charged_first_four() -> None:
    # Given a first four with charge +2 that six leptons would bring back to 0
    lep_charge = charges([1, 1, 1, -1, -1, -1])
    lep_type = types(electrons(6))

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then only the first four count, and the event fails
    assert passed.tolist() == [False]


# --- the flavour cut ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavours", "total"),
    [
        ([ELECTRON, ELECTRON, ELECTRON, ELECTRON], 44),
        ([ELECTRON, MUON, ELECTRON, MUON], 48),
        ([MUON, MUON, ELECTRON, ELECTRON], 48),
        ([MUON, MUON, MUON, MUON], 52),
    ],
)
def test_eeee_eemumu_and_mumumumu_pass_the_flavour_cut(flavours: list[int], total: int) -> None:
    # Given a neutral event whose lepton types sum to 44, 48 or 52
    assert sum(flavours) == total
    lep_charge = charges(neutral())
    lep_type = types(flavours)

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then the event passes
    assert passed.tolist() == [True]


@pytest.mark.parametrize(
    ("flavours", "total"),
    [
        ([ELECTRON, ELECTRON, ELECTRON, MUON], 46),
        ([MUON, ELECTRON, ELECTRON, ELECTRON], 46),
        ([ELECTRON, MUON, MUON, MUON], 50),
        ([MUON, MUON, MUON, ELECTRON], 50),
    ],
)
def test_three_plus_one_flavours_fail_the_flavour_cut(flavours: list[int], total: int) -> None:
    # Given a neutral event whose lepton types sum to 46 (eeeμ) or 50 (eμμμ)
    assert sum(flavours) == total
    lep_charge = charges(neutral())
    lep_type = types(flavours)

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then the event fails
    assert passed.tolist() == [False]


def test_a_fifth_lepton_of_another_flavour_does_not_change_the_flavour_outcome() -> None:
    # Given four electrons (sum 44) plus a muon (five-lepton sum 57), and 3e+1μ (46) plus an electron
    lep_charge = charges([*neutral(4), 1], [*neutral(4), 1])
    lep_type = types([*electrons(), MUON], [ELECTRON, ELECTRON, ELECTRON, MUON, ELECTRON])

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then only the first four count
    assert passed.tolist() == [True, False]


def test_an_event_must_pass_both_cuts() -> None:
    # Given one event passing both cuts, one failing only the charge cut, one failing only the flavour cut
    lep_charge = charges([1, -1, 1, -1], [1, 1, 1, -1], [1, -1, 1, -1])
    lep_type = types(electrons(), electrons(), [ELECTRON, ELECTRON, ELECTRON, MUON])

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then the mask is a numpy boolean array with only the first event kept
    assert isinstance(passed, np.ndarray)
    assert passed.dtype == np.bool_
    assert passed.tolist() == [True, False, False]


def test_an_empty_chunk_selects_nothing() -> None:
    # Given a chunk without events
    lep_charge = ak.values_astype(ak.Array([[1, -1, 1, -1]])[:0], np.int32)
    lep_type = ak.values_astype(ak.Array([[11, 11, 11, 11]])[:0], np.uint32)

    # When the cuts are applied
    passed = select_four_lepton_events(lep_charge, lep_type)

    # Then the mask is empty
    assert passed.shape == (0,)


# --- the four-lepton mass -----------------------------------------------------------------------


def mass_float64(pt: list[float], eta: list[float], phi: list[float], energy: list[float]) -> float:
    """m4ℓ in GeV from the first four leptons, in float64, by the textbook formula."""
    p = np.asarray(pt[:4], dtype=np.float32).astype(np.float64)
    h = np.asarray(eta[:4], dtype=np.float32).astype(np.float64)
    f = np.asarray(phi[:4], dtype=np.float32).astype(np.float64)
    e = np.asarray(energy[:4], dtype=np.float32).astype(np.float64)
    px, py, pz = np.sum(p * np.cos(f)), np.sum(p * np.sin(f)), np.sum(p * np.sinh(h))
    return math.sqrt(np.sum(e) ** 2 - px**2 - py**2 - pz**2) * 0.001


def test_four_leptons_at_rest_have_the_sum_of_their_energies_as_mass_in_gev() -> None:
    # Given four leptons at rest with 25 000 MeV of energy each
    zeros = [0.0, 0.0, 0.0, 0.0]

    # When the mass is computed
    mass = four_lepton_mass(floats(zeros), floats(zeros), floats(zeros), floats([25_000.0] * 4))

    # Then it is 100 GeV (MeV converted to GeV)
    assert mass.tolist() == pytest.approx([100.0], rel=1e-6)


def test_two_back_to_back_massless_pairs_have_the_sum_of_their_energies_as_mass() -> None:
    # Given a massless pair back to back along x (50 GeV each) and one along y (30 GeV each)
    pt = [50_000.0, 50_000.0, 30_000.0, 30_000.0]
    eta = [0.0, 0.0, 0.0, 0.0]
    phi = [0.0, math.pi, math.pi / 2, -math.pi / 2]
    energy = [50_000.0, 50_000.0, 30_000.0, 30_000.0]

    # When the mass is computed
    mass = four_lepton_mass(floats(pt), floats(eta), floats(phi), floats(energy))

    # Then the system is at rest and its mass is 2·50 + 2·30 = 160 GeV
    assert mass[0] == pytest.approx(160.0, rel=1e-5)


def test_back_to_back_pairs_along_the_beam_axis_give_the_same_mass() -> None:
    # Given two massless pairs back to back in η (±1.2 at φ=0.3 and ±0.4 at φ=2.0)
    pt = [40_000.0, 40_000.0, 20_000.0, 20_000.0]
    eta = [1.2, -1.2, 0.4, -0.4]
    phi = [0.3, 0.3 + math.pi, 2.0, 2.0 - math.pi]
    energy = [40_000.0 * math.cosh(1.2)] * 2 + [20_000.0 * math.cosh(0.4)] * 2

    # When the mass is computed
    mass = four_lepton_mass(floats(pt), floats(eta), floats(phi), floats(energy))

    # Then it is the sum of the energies, within float32 precision
    expected = 2 * (40.0 * math.cosh(1.2) + 20.0 * math.cosh(0.4))
    assert mass[0] == pytest.approx(expected, rel=1e-5)
    assert mass[0] == pytest.approx(mass_float64(pt, eta, phi, energy), rel=1e-5)


def test_the_mass_of_generic_events_matches_the_float64_formula() -> None:
    # Given a few hundred random but physical events (massive leptons, any direction)
    rng = np.random.default_rng(2020)
    n = 300
    pt = rng.uniform(7_000.0, 120_000.0, size=(n, 4))
    eta = rng.uniform(-2.5, 2.5, size=(n, 4))
    phi = rng.uniform(-math.pi, math.pi, size=(n, 4))
    lepton_mass = rng.choice([0.511, 105.658], size=(n, 4))
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + lepton_mass**2)
    rows = [[row.tolist() for row in array] for array in (pt, eta, phi, energy)]

    # When the mass is computed
    mass = four_lepton_mass(*(floats(*r) for r in rows))

    # Then each event agrees with the float64 formula to ~1e-5 relative
    expected = [mass_float64(*(r[i] for r in rows)) for i in range(n)]
    np.testing.assert_allclose(mass, expected, rtol=1e-5)


def test_leptons_after_the_fourth_do_not_enter_the_mass() -> None:
    # Given the back-to-back event of 160 GeV, once alone and once with a hard fifth lepton
    four = ([50_000.0, 50_000.0, 30_000.0, 30_000.0], [0.0] * 4, [0.0, math.pi, 1.0, 1.0 + math.pi])
    energy = [50_000.0, 50_000.0, 30_000.0, 30_000.0]
    five = [[*values, 90_000.0] for values in four]

    # When the masses are computed
    mass = four_lepton_mass(
        floats(four[0], five[0]),
        floats(four[1], five[1]),
        floats(four[2], five[2]),
        floats(energy, [*energy, 90_000.0]),
    )

    # Then both events have the same mass
    assert mass[0] == mass[1]
    assert mass[0] == pytest.approx(160.0, rel=1e-5)


def random_jagged_events(n: int, seed: int) -> tuple[ak.Array, ak.Array, ak.Array, ak.Array]:
    """``n`` events of 4 to 6 massless-ish leptons each, float32 jagged, in MeV."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(4, 7, n)
    total = int(counts.sum())
    pt = rng.uniform(7_000.0, 150_000.0, total)
    eta = rng.uniform(-2.5, 2.5, total)
    phi = rng.uniform(-math.pi, math.pi, total)
    energy = pt * np.cosh(eta) * rng.uniform(1.0, 1.001, total)
    return tuple(ak.unflatten(x.astype(np.float32), counts) for x in (pt, eta, phi, energy))  # type: ignore[return-value]


def test_the_mass_equals_the_notebooks_bit_for_bit_on_jagged_events() -> None:
    # Given events of 4 to 6 leptons, as jagged float32 arrays
    pt, eta, phi, energy = random_jagged_events(2000, seed=11)

    # When the pipeline and the notebook compute m4ℓ
    ours = four_lepton_mass(pt, eta, phi, energy)
    theirs = ak.to_numpy(notebook.calc_mllll(pt, eta, phi, energy))

    # Then every value is identical, so every event lands in the same bin
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)


def test_the_mass_of_a_filtered_selection_is_that_of_the_same_events_unfiltered() -> None:
    # Given jagged events and a mask keeping every third one (as the cuts leave them)
    pt, eta, phi, energy = random_jagged_events(600, seed=12)
    keep = np.arange(600) % 3 == 0

    # When the masses of the selected events are computed
    selected = four_lepton_mass(pt[keep], eta[keep], phi[keep], energy[keep])

    # Then they are the masses of the whole chunk at those positions
    assert np.array_equal(selected, four_lepton_mass(pt, eta, phi, energy)[keep])


def test_cuts_on_a_filtered_selection_match_the_cuts_on_the_whole_chunk() -> None:
    # Given random charges and types (4 to 5 leptons), and a filtered view of them
    rng = np.random.default_rng(13)
    counts = rng.integers(4, 6, 500)
    lep_charge = ak.unflatten(rng.choice(np.array([-1, 1], dtype=np.int32), counts.sum()), counts)
    lep_type = ak.unflatten(rng.choice(np.array([11, 13], dtype=np.uint32), counts.sum()), counts)
    keep = rng.random(500) < 0.5

    # When the cuts run on the filtered view
    filtered = select_four_lepton_events(lep_charge[keep], lep_type[keep])

    # Then they agree with the whole chunk's mask at those positions and with the notebook's cuts
    assert np.array_equal(filtered, select_four_lepton_events(lep_charge, lep_type)[keep])
    notebook_mask = ~notebook.cut_lep_charge(lep_charge) & ~notebook.cut_lep_type(lep_type)
    assert np.array_equal(select_four_lepton_events(lep_charge, lep_type), ak.to_numpy(notebook_mask))


def test_an_event_with_fewer_than_four_leptons_is_refused() -> None:
    # Given an event with three leptons
    lep_charge = charges([1, -1, 1, -1], [1, -1, 1])
    lep_type = types(electrons(), electrons(3))

    # When the cuts are applied, then it is an error, not a silent guess
    with pytest.raises(ValueError):
        select_four_lepton_events(lep_charge, lep_type)


def test_the_mass_is_one_numpy_value_per_event() -> None:
    # Given three events of two back-to-back pairs, the leptons of event i carrying (i+1)·10 GeV
    pt = floats(*[[10_000.0 * (i + 1)] * 4 for i in range(3)])
    eta = floats(*[[0.0] * 4] * 3)
    phi = floats(*[[0.0, math.pi, 0.5, 0.5 + math.pi]] * 3)

    # When the mass is computed
    mass = four_lepton_mass(pt, eta, phi, pt)

    # Then it is a numpy array with one value per event: 40, 80 and 120 GeV
    assert isinstance(mass, np.ndarray)
    assert mass.shape == (3,)
    np.testing.assert_allclose(mass, [40.0, 80.0, 120.0], rtol=1e-5)


# --- the weights --------------------------------------------------------------------------------


def weight_events(*factors: tuple[float, float, float, float, float]) -> ak.Array:
    """A record array of the five float32 weight factors, one tuple per event."""
    columns = list(zip(*factors, strict=True))
    names = ("mcWeight", "scaleFactor_PILEUP", "scaleFactor_ELE", "scaleFactor_MUON", "scaleFactor_LepTRIGGER")
    return ak.zip({name: np.asarray(col, dtype=np.float32) for name, col in zip(names, columns, strict=True)})


@pytest.mark.parametrize("sample", sorted(infos))
def test_the_cross_section_weight_is_lumi_times_1000_times_xsec_over_sumw_and_red_eff(sample: str) -> None:
    # Given a sample's constants
    info = infos[sample]

    # When its cross-section weight is computed for 10 fb⁻¹
    weight = cross_section_weight(sample, 10.0)

    # Then it is lumi·1000·xsec / (sumw·red_eff)
    assert weight == pytest.approx(10.0 * 1000 * info["xsec"] / (info["sumw"] * info["red_eff"]), rel=1e-15)
    assert weight > 0


def test_the_cross_section_weight_is_proportional_to_the_luminosity() -> None:
    # Given one sample
    # When its weight is computed for 1 and for 36.6 fb⁻¹
    one, many = cross_section_weight("llll", 1.0), cross_section_weight("llll", 36.6)

    # Then the second is 36.6 times the first
    assert many == pytest.approx(36.6 * one, rel=1e-14)
    assert one == pytest.approx(1000 * 1.2578 / 7538705.8077, rel=1e-14)


def test_an_event_weight_is_the_cross_section_weight_times_the_five_factors() -> None:
    # Given two events with known factors
    events = weight_events((1.5, 0.9, 1.1, 0.95, 0.99), (0.5, 1.0, 1.0, 1.0, 1.0))

    # When their weights are computed with a cross-section weight of 2
    weights = mc_event_weights(events, 2.0)

    # Then each is 2 × the product of its factors
    assert weights.tolist() == pytest.approx([2 * 1.5 * 0.9 * 1.1 * 0.95 * 0.99, 1.0], rel=1e-6)


def test_a_negative_mc_weight_gives_a_negative_event_weight() -> None:
    # Given events with negative generator weights (NLO samples have them)
    events = weight_events((-1.0, 1.0, 1.0, 1.0, 1.0), (-2.5, 0.8, 1.0, 1.0, 1.0), (3.0, 1.0, 1.0, 1.0, 1.0))

    # When their weights are computed
    weights = mc_event_weights(events, cross_section_weight("ttbar_lep", 10.0))

    # Then the signs are kept (no absolute value is taken)
    assert (weights[:2] < 0).all()
    assert weights[2] > 0
    assert weights[1] == pytest.approx(-2.5 * 0.8 * cross_section_weight("ttbar_lep", 10.0), rel=1e-6)


@pytest.mark.parametrize("negative", range(5))
def test_the_sign_of_every_factor_is_kept(negative: int) -> None:
    # Given an event whose factors are 2, 1, 1, 1, 1 except one of them negated
    factors = [2.0, 1.0, 1.0, 1.0, 1.0]
    factors[negative] = -factors[negative]
    events = weight_events(tuple(factors))  # type: ignore[arg-type]

    # When its weight is computed with a cross-section weight of 3
    weights = mc_event_weights(events, 3.0)

    # Then it is −6: no factor loses its sign
    assert weights.tolist() == [-6.0]


def test_a_zero_scale_factor_zeroes_the_event_weight() -> None:
    # Given an event whose trigger scale factor is 0
    events = weight_events((1.0, 1.0, 1.0, 1.0, 0.0))

    # When its weight is computed
    weights = mc_event_weights(events, 5.0)

    # Then it is 0
    assert weights.tolist() == [0.0]


def test_event_weights_equal_the_notebooks_bit_for_bit_in_float32() -> None:
    # Given a few thousand events with float32 factors as in the files
    rng = np.random.default_rng(7)
    n = 5000
    factors = np.column_stack(
        [
            rng.normal(1.0, 1.5, n),  # mcWeight, of both signs
            rng.uniform(0.5, 1.5, n),
            rng.uniform(0.8, 1.2, n),
            rng.uniform(0.8, 1.2, n),
            rng.uniform(0.9, 1.0, n),
        ]
    )
    events = weight_events(*map(tuple, factors))
    xsec_weight = cross_section_weight("Zee", 10.0)

    # When the pipeline and the notebook compute the weights
    ours = mc_event_weights(events, xsec_weight)
    theirs = ak.to_numpy(notebook.calc_weight(notebook.get_xsec_weight("Zee", 10.0), events))

    # Then both are float32 and identical to the last bit
    assert ours.dtype == np.float32
    assert theirs.dtype == np.float32
    assert np.array_equal(ours.view(np.uint32), theirs.view(np.uint32))
    # and they agree with the formula in float64 to float32 precision
    np.testing.assert_allclose(
        ours, xsec_weight * factors.astype(np.float32).astype(np.float64).prod(axis=1), rtol=1e-5
    )


# --- the constants ------------------------------------------------------------------------------


def test_the_branches_are_the_notebooks() -> None:
    # Given / When the module's constants
    # Then data read the six lepton branches and MC add the five weight branches, from tree "mini"
    assert TREE_NAME == "mini"
    assert DATA_BRANCHES == ("lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type")
    assert MC_BRANCHES[:6] == DATA_BRANCHES
    assert set(MC_BRANCHES[6:]) == {
        "mcWeight",
        "scaleFactor_PILEUP",
        "scaleFactor_ELE",
        "scaleFactor_MUON",
        "scaleFactor_LepTRIGGER",
    }
