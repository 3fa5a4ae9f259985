"""Tests of shared/histograms.py: the m4ℓ binning, filling, the JSON form and merging."""

from __future__ import annotations

import json

import hist
import numpy as np
import pytest

from hzz.shared.histograms import (
    M4L_BINNING,
    Binning,
    empty_histogram,
    fill_histogram,
    histogram_from_json,
    histogram_to_json,
    sum_histograms,
)

LAST_BIN = M4L_BINNING.bins - 1


# --- the binning --------------------------------------------------------------------------------


def test_the_m4l_binning_is_34_bins_of_5_gev_from_80_to_250() -> None:
    # Given the notebook's binning
    binning = M4L_BINNING

    # When its edges, centres and width are asked for
    edges, centres = binning.edges, binning.centres

    # Then they are 80, 85, …, 250 and 82.5, …, 247.5 in steps of 5 GeV
    assert binning.bins == 34
    assert binning.width == 5.0
    assert edges.tolist() == [80.0 + 5.0 * i for i in range(35)]
    assert centres.tolist() == pytest.approx([82.5 + 5.0 * i for i in range(34)])


def test_a_binning_round_trips_through_its_json_form() -> None:
    # Given a binning other than the default
    binning = Binning(68, 80.0, 250.0)

    # When it is turned into JSON and back
    again = Binning.from_json(json.loads(json.dumps(binning.to_json())))

    # Then it is equal to the original, and different from the default
    assert again == binning
    assert again != M4L_BINNING
    assert again.width == 2.5


def test_the_empty_histogram_has_a_named_m4l_axis_and_weight_storage() -> None:
    # Given / When the canonical empty histogram
    h = empty_histogram()

    # Then it has one regular axis "m4l" of the binning's edges, zero Σw and Σw²
    assert h.axes[0].name == "m4l"
    assert h.axes[0].edges.tolist() == M4L_BINNING.edges.tolist()
    assert isinstance(h.storage_type(), hist.storage.Weight)
    assert h.values().tolist() == [0.0] * 34
    assert h.variances().tolist() == [0.0] * 34


# --- filling ------------------------------------------------------------------------------------


def test_a_value_equal_to_the_upper_edge_falls_in_the_last_bin() -> None:
    # Given an event at exactly 250 GeV
    mass = np.array([250.0])

    # When it is histogrammed
    h = fill_histogram(mass)

    # Then it is counted in the last bin, like numpy.histogram does
    assert h.values()[LAST_BIN] == 1.0
    assert h.values().sum() == 1.0


def test_a_value_equal_to_the_lower_edge_falls_in_the_first_bin() -> None:
    # Given an event at exactly 80 GeV
    h = fill_histogram(np.array([80.0]))

    # Then it is counted in the first bin
    assert h.values()[0] == 1.0
    assert h.values().sum() == 1.0


def test_an_inner_edge_belongs_to_the_bin_above_it() -> None:
    # Given an event at exactly 85 GeV (the edge between bins 0 and 1)
    h = fill_histogram(np.array([85.0]))

    # Then it is counted in bin 1
    assert h.values()[1] == 1.0
    assert h.values().sum() == 1.0


@pytest.mark.parametrize("mass", [0.0, 79.99, 79.999999, 250.0001, 300.0, 1e6, -5.0])
def test_values_outside_80_to_250_are_dropped(mass: float) -> None:
    # Given one event outside the range
    # When it is histogrammed, weighted or not
    unweighted = fill_histogram(np.array([mass]))
    weighted = fill_histogram(np.array([mass]), np.array([2.0]))

    # Then no bin holds it (there is no under- or overflow in the notebook)
    assert unweighted.values().sum() == 0.0
    assert weighted.values().sum() == 0.0
    assert weighted.variances().sum() == 0.0


def test_data_counts_have_equal_sum_and_sum_of_squares() -> None:
    # Given three data events in the 125–130 GeV bin and one in the first bin
    mass = np.array([125.0, 126.0, 129.9, 81.0])

    # When they are histogrammed without weights
    h = fill_histogram(mass)

    # Then every event counts 1, and the variances equal the counts
    assert h.values()[9] == 3.0
    assert h.values()[0] == 1.0
    assert h.values().sum() == 4.0
    assert h.variances().tolist() == h.values().tolist()


def test_weights_add_up_per_bin_and_so_do_their_squares() -> None:
    # Given two weighted events in one bin (one negative) and one in another
    mass = np.array([121.0, 124.0, 200.0])
    weights = np.array([2.0, -1.5, 0.25])

    # When they are histogrammed
    h = fill_histogram(mass, weights)

    # Then Σw and Σw² per bin are the sums of the weights and of their squares
    assert h.values()[8] == pytest.approx(0.5)
    assert h.variances()[8] == pytest.approx(4.0 + 2.25)
    assert h.values()[24] == pytest.approx(0.25)
    assert h.variances()[24] == pytest.approx(0.0625)
    assert h.values().sum() == pytest.approx(0.75)


def test_filling_matches_numpy_histogram_on_many_values() -> None:
    # Given many float32 weights and masses over a wider range than the axis
    rng = np.random.default_rng(1)
    mass = rng.uniform(50.0, 300.0, 10_000)
    weights = rng.normal(0.01, 0.02, 10_000).astype(np.float32)

    # When they are histogrammed
    h = fill_histogram(mass, weights)

    # Then the bins are exactly numpy.histogram's over the notebook's edges, summed in float64
    edges = np.arange(80.0, 255.0, 5.0)
    wide = weights.astype(np.float64)
    assert np.array_equal(h.values(), np.histogram(mass, bins=edges, weights=wide)[0])
    assert np.array_equal(h.variances(), np.histogram(mass, bins=edges, weights=wide**2)[0])
    # and agree with the notebook's float32 sums (a float32 cumulative sum, good to ~1e-4)
    np.testing.assert_allclose(h.values(), np.histogram(mass, bins=edges, weights=weights)[0], atol=1e-4)


def test_weighted_sums_do_not_depend_on_how_events_are_split() -> None:
    # Given float32 weights histogrammed at once and in chunks of 77 events
    rng = np.random.default_rng(11)
    mass = rng.uniform(80.0, 250.0, 3000)
    weights = rng.uniform(0.0, 1.0, 3000).astype(np.float32)

    # When the chunks' histograms are summed
    whole = fill_histogram(mass, weights)
    parts = sum_histograms(fill_histogram(mass[i : i + 77], weights[i : i + 77]) for i in range(0, 3000, 77))

    # Then the bins agree far below float32 rounding
    np.testing.assert_allclose(parts.values(), whole.values(), rtol=1e-12)
    np.testing.assert_allclose(parts.variances(), whole.variances(), rtol=1e-12)


def test_an_empty_chunk_gives_an_empty_histogram() -> None:
    # Given no events
    h = fill_histogram(np.zeros(0), np.zeros(0, dtype=np.float32))

    # Then every bin is 0
    assert h.values().tolist() == [0.0] * 34


# --- JSON ---------------------------------------------------------------------------------------


def test_a_histogram_round_trips_exactly_through_json() -> None:
    # Given a histogram with awkward binary fractions in its bins
    rng = np.random.default_rng(3)
    h = fill_histogram(rng.uniform(80.0, 250.0, 500), rng.normal(0.1, 0.3, 500))

    # When it goes to JSON text and back
    again = histogram_from_json(json.loads(json.dumps(histogram_to_json(h))))

    # Then every Σw and Σw² is bit-for-bit the same
    assert np.array_equal(again.values(), h.values())
    assert np.array_equal(again.variances(), h.variances())
    assert again.axes == h.axes


def test_the_json_form_is_two_plain_lists_of_floats() -> None:
    # Given a data histogram
    value = histogram_to_json(fill_histogram(np.array([100.0])))

    # Then it has a list of 34 floats for Σw and for Σw²
    assert set(value) == {"sumw", "sumw2"}
    assert len(value["sumw"]) == len(value["sumw2"]) == 34
    assert all(type(v) is float for v in value["sumw"] + value["sumw2"])


@pytest.mark.parametrize("length", [0, 33, 35])
def test_json_with_the_wrong_number_of_bins_is_refused(length: int) -> None:
    # Given lists of the wrong length
    value = {"sumw": [1.0] * length, "sumw2": [1.0] * length}

    # When they are read back, then a ValueError names the expected number of bins
    with pytest.raises(ValueError, match="34 bins"):
        histogram_from_json(value)


def test_json_with_mismatched_sumw2_is_refused() -> None:
    # Given a correct Σw but a Σw² one bin short
    value = {"sumw": [0.0] * 34, "sumw2": [0.0] * 33}

    # Then it is refused
    with pytest.raises(ValueError, match="expected 34 bins"):
        histogram_from_json(value)


# --- merging ------------------------------------------------------------------------------------


def test_adding_histograms_of_another_binning_raises_value_error() -> None:
    # Given the default histogram and one with 2.5 GeV bins
    ours, theirs = empty_histogram(), empty_histogram(Binning(68, 80.0, 250.0))

    # When they are added, then the axes mismatch is an error
    with pytest.raises(ValueError):
        ours + theirs
    with pytest.raises(ValueError):
        sum_histograms([fill_histogram(np.array([100.0])), theirs])


def test_summing_histograms_adds_values_and_variances_bin_by_bin() -> None:
    # Given three weighted histograms
    rng = np.random.default_rng(5)
    parts = [fill_histogram(rng.uniform(80.0, 250.0, 100), rng.uniform(0.0, 1.0, 100)) for _ in range(3)]

    # When they are summed
    total = sum_histograms(parts)

    # Then each bin is the sum of the parts' bins
    np.testing.assert_allclose(total.values(), sum(p.values() for p in parts), rtol=1e-12)
    np.testing.assert_allclose(total.variances(), sum(p.variances() for p in parts), rtol=1e-12)


def test_summing_chunks_gives_the_histogram_of_all_events() -> None:
    # Given 1000 data events split into chunks of 300
    rng = np.random.default_rng(9)
    mass = rng.uniform(60.0, 270.0, 1000)
    chunks = [fill_histogram(mass[i : i + 300]) for i in range(0, 1000, 300)]

    # When the chunks' histograms are summed
    total = sum_histograms(chunks)

    # Then the counts equal the histogram of all events at once
    assert np.array_equal(total.values(), fill_histogram(mass).values())


def test_the_sum_of_no_histograms_is_empty() -> None:
    # Given nothing
    total = sum_histograms([])

    # Then the sum is the canonical empty histogram
    assert total.values().tolist() == [0.0] * 34
    assert total.axes == empty_histogram().axes


def test_summing_does_not_change_the_inputs() -> None:
    # Given two histograms
    a, b = fill_histogram(np.array([100.0])), fill_histogram(np.array([100.0, 200.0]))

    # When they are summed
    sum_histograms([a, b])

    # Then they still hold their own counts
    assert a.values().sum() == 1.0
    assert b.values().sum() == 2.0


def test_summing_with_an_explicit_binning_uses_it() -> None:
    # Given two histograms of 2.5 GeV bins
    binning = Binning(68, 80.0, 250.0)
    parts = [fill_histogram(np.array([81.0, 83.0]), binning=binning)] * 2

    # When they are summed in that binning
    total = sum_histograms(parts, binning)

    # Then the 68-bin sum counts them in bins 0 and 1
    assert total.values()[:2].tolist() == [2.0, 2.0]
    assert len(total.values()) == 68
