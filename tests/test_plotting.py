"""Tests of shared/plotting.py: the m4ℓ figure drawn from per-sample histograms.

The figure is inspected through matplotlib's own objects (axes limits, texts, legend, bar
containers), not by comparing pixels.
"""

from __future__ import annotations

import io

import hist
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from hzz.shared.histograms import M4L_BINNING, fill_histogram
from hzz.shared.plotting import m4l_figure
from hzz.shared.releases import get_release

SAMPLE_GROUPS = get_release("2020").groups

Z_TT, ZZ, SIGNAL = (g.label for g in SAMPLE_GROUPS[1:])
BACKGROUND_SAMPLES = {Z_TT: ("Zee", "Zmumu", "ttbar_lep"), ZZ: ("llll",)}
SIGNAL_SAMPLES = ("ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep")


def every_sample() -> dict[str, hist.Hist]:
    """Histograms of all twelve samples: the data peak is 5 events in the 125–130 GeV bin."""
    rng = np.random.default_rng(42)
    histograms = {
        "data_A": fill_histogram(np.array([125.0, 126.0, 127.0, 91.0])),
        "data_B": fill_histogram(np.array([128.0, 129.0, 200.0])),
        "data_C": fill_histogram(np.array([91.5, 240.0])),
        "data_D": fill_histogram(np.array([300.0])),  # outside the plot
    }
    for sample in get_release("2020").samples[4:]:
        mass = rng.uniform(80.0, 250.0, 200)
        histograms[sample] = fill_histogram(mass, rng.uniform(0.001, 0.02, 200))
    return histograms


def axes_of(figure: Figure) -> Axes:
    assert len(figure.axes) == 1
    return figure.axes[0]


def filled_steps(ax: Axes) -> list[StepPatch]:
    """The stack's groups from the bottom up, then the band: one filled step outline each."""
    return [p for p in ax.patches if isinstance(p, StepPatch)]


def bottoms_and_tops(step: StepPatch) -> tuple[np.ndarray, np.ndarray]:
    tops, _edges, bottoms = step.get_data()
    return np.broadcast_to(bottoms, tops.shape), tops


def sum_values(histograms: dict[str, hist.Hist], samples: tuple[str, ...]) -> np.ndarray:
    return np.sum([histograms[s].values() for s in samples], axis=0)


@pytest.fixture(scope="module")
def histograms() -> dict[str, hist.Hist]:
    return every_sample()


@pytest.fixture(scope="module")
def ax(histograms: dict[str, hist.Hist]) -> Axes:
    return axes_of(m4l_figure(histograms, lumi=10.0, fraction=1.0))


# --- axes ---------------------------------------------------------------------------------------


def test_the_y_axis_reaches_at_least_1_6_times_the_largest_data_bin(ax: Axes) -> None:
    # Given the data's largest bin holds 5 events, under the texts (125–130 GeV)
    # Then the y axis goes from 0 to 8 or higher: as high as the texts need (test_plot_layout.py)
    bottom, top = ax.get_ylim()
    assert bottom == 0.0
    assert top >= 8.0


def test_the_x_axis_spans_80_to_250_gev(ax: Axes) -> None:
    # Then the x range is the histogram's
    assert ax.get_xlim() == pytest.approx((80.0, 250.0))


def test_the_axis_labels_are_the_notebooks(ax: Axes) -> None:
    # Then the labels name the mass and the bin width
    assert ax.get_xlabel() == r"4-lepton invariant mass $\mathrm{m_{4l}}$ [GeV]"
    assert ax.get_ylabel() == "Events / 5.0 GeV"


def test_ticks_point_inwards_on_all_four_sides_with_minor_ticks(ax: Axes) -> None:
    # Then major and minor ticks point in, on top and right too
    for axis, far_side in ((ax.xaxis, "top"), (ax.yaxis, "right")):
        for which in ("major", "minor"):
            params = axis.get_tick_params(which=which)
            assert params["direction"] == "in"
            assert params[far_side] is True
    assert len(ax.xaxis.get_minorticklocs()) > 0
    assert len(ax.yaxis.get_minorticklocs()) > 0


# --- texts and legend ---------------------------------------------------------------------------


def test_the_atlas_texts_are_written_in_axes_coordinates(ax: Axes) -> None:
    # Then the four texts are at x = 0.05 and the notebook's heights, in axes coordinates
    texts = {t.get_text(): t for t in ax.texts}
    expected = {
        "ATLAS Open Data": 0.93,
        "for education": 0.88,
        r"$\sqrt{s}$=13 TeV,$\int$L dt = 10.0 fb$^{-1}$": 0.82,
        r"$H \rightarrow ZZ^* \rightarrow 4\ell$": 0.76,
    }
    assert set(expected) <= set(texts)
    for content, y in expected.items():
        assert texts[content].get_position() == pytest.approx((0.05, y))
        assert texts[content].get_transform() == ax.transAxes
    assert texts["for education"].get_style() == "italic"


def test_the_luminosity_text_states_lumi_times_fraction(histograms: dict[str, hist.Hist]) -> None:
    # Given a run over half of each file at 10 fb⁻¹
    # When the figure is drawn
    ax = axes_of(m4l_figure(histograms, lumi=10.0, fraction=0.5))

    # Then the luminosity shown is 5.0 fb⁻¹
    assert r"$\sqrt{s}$=13 TeV,$\int$L dt = 5.0 fb$^{-1}$" in [t.get_text() for t in ax.texts]


def test_the_legend_lists_data_both_backgrounds_the_signal_and_the_uncertainty(ax: Axes) -> None:
    # Then the legend has exactly these five entries, without a frame
    legend = ax.get_legend()
    assert legend is not None
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(["Data", Z_TT, ZZ, SIGNAL, "Stat. Unc."])
    assert legend.get_frame_on() is False


def test_a_note_is_written_only_when_given(histograms: dict[str, hist.Hist]) -> None:
    # Given a partial run's note
    # When figures are drawn with and without it
    with_note = axes_of(m4l_figure(histograms, lumi=10.0, fraction=1.0, note="partial: 3 of 12 chunks"))
    without = axes_of(m4l_figure(histograms, lumi=10.0, fraction=1.0))

    # Then only the first carries it
    assert "partial: 3 of 12 chunks" in [t.get_text() for t in with_note.texts]
    assert len(without.texts) == 4


# --- what is drawn ------------------------------------------------------------------------------


def test_data_are_black_points_at_bin_centres_with_root_n_errors(ax: Axes, histograms: dict[str, hist.Hist]) -> None:
    # Given the four data samples
    counts = sum_values(histograms, ("data_A", "data_B", "data_C", "data_D"))

    # Then one black point series sits at the bin centres with the summed counts
    (points,) = ax.lines
    assert points.get_marker() == "o"
    assert to_rgba(points.get_color()) == to_rgba("black")
    assert np.asarray(points.get_xdata()) == pytest.approx(M4L_BINNING.centres)
    assert np.asarray(points.get_ydata()) == pytest.approx(counts)
    assert counts.sum() == 9  # the event at 300 GeV is not drawn
    # and its error bars are ±√N
    (errorbars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    (segments,) = errorbars.lines[2]
    lengths = np.array([seg[1][1] - seg[0][1] for seg in segments.get_segments()])
    assert lengths == pytest.approx(2 * np.sqrt(counts))


def test_the_backgrounds_are_stacked_in_order_and_their_heights_are_the_sums(
    ax: Axes, histograms: dict[str, hist.Hist]
) -> None:
    # Given the two background groups' summed histograms
    z_tt = sum_values(histograms, BACKGROUND_SAMPLES[Z_TT])
    zz = sum_values(histograms, BACKGROUND_SAMPLES[ZZ])

    # Then the first group goes from 0 to Z+tt̄, the second from there to Z+tt̄+ZZ*, bin by bin
    first, second = filled_steps(ax)[:2]
    bottom, top = bottoms_and_tops(first)
    assert bottom == pytest.approx(np.zeros(34))
    assert top == pytest.approx(z_tt)
    bottom, top = bottoms_and_tops(second)
    assert bottom == pytest.approx(z_tt)
    assert top == pytest.approx(z_tt + zz)
    # with the groups' colours
    assert first.get_facecolor() == pytest.approx(to_rgba("#6b59d3"))
    assert second.get_facecolor() == pytest.approx(to_rgba("#ff0000"))
    assert first.get_fill() and second.get_fill()


def test_the_signal_is_stacked_on_the_background_total(ax: Axes, histograms: dict[str, hist.Hist]) -> None:
    # Given the background total and the four signal samples
    background = sum_values(histograms, BACKGROUND_SAMPLES[Z_TT] + BACKGROUND_SAMPLES[ZZ])
    signal = sum_values(histograms, SIGNAL_SAMPLES)

    # Then the signal starts at the background total and adds the signal
    signal_step = filled_steps(ax)[2]
    bottom, top = bottoms_and_tops(signal_step)
    assert bottom == pytest.approx(background)
    assert top == pytest.approx(background + signal)
    assert signal_step.get_facecolor() == pytest.approx(to_rgba("#00cdff"))


def test_the_hatched_band_is_plus_minus_the_background_statistical_uncertainty(
    ax: Axes, histograms: dict[str, hist.Hist]
) -> None:
    # Given the background total and its √Σw² (backgrounds only, not the signal)
    samples = BACKGROUND_SAMPLES[Z_TT] + BACKGROUND_SAMPLES[ZZ]
    total = sum_values(histograms, samples)
    error = np.sqrt(np.sum([histograms[s].variances() for s in samples], axis=0))

    # Then the hatched band spans total ± error in each of the 34 bins, each a bin wide
    (band,) = [p for p in filled_steps(ax) if p.get_label() == "Stat. Unc."]
    assert band.get_hatch() == "////"
    bottom, top = bottoms_and_tops(band)
    assert bottom == pytest.approx(total - error)
    assert top == pytest.approx(total + error)
    assert np.diff(band.get_data().edges) == pytest.approx([5.0] * 34)


def test_the_figure_renders_to_png_and_svg(histograms: dict[str, hist.Hist]) -> None:
    # Given a figure
    figure = m4l_figure(histograms, lumi=10.0, fraction=1.0)

    # When it is saved in both formats
    png, svg = io.BytesIO(), io.BytesIO()
    figure.savefig(png, format="png", dpi=50)
    figure.savefig(svg, format="svg")

    # Then both files are what they claim to be
    assert png.getvalue().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg.getvalue()


# --- partial runs -------------------------------------------------------------------------------


def test_a_run_without_data_draws_the_simulation_and_scales_to_it(histograms: dict[str, hist.Hist]) -> None:
    # Given only the MC samples
    mc_only = {name: h for name, h in histograms.items() if not name.startswith("data_")}

    # When the figure is drawn
    ax = axes_of(m4l_figure(mc_only, lumi=10.0, fraction=1.0))

    # Then there are no data points, and the y axis still shows the whole stack
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Data" not in labels
    assert SIGNAL in labels
    assert not ax.lines
    _, top = bottoms_and_tops(filled_steps(ax)[2])
    assert ax.get_ylim()[1] >= top.max()


def test_a_run_of_one_background_sample_draws_without_a_signal(histograms: dict[str, hist.Hist]) -> None:
    # Given the llll histogram alone
    # When the figure is drawn
    ax = axes_of(m4l_figure({"llll": histograms["llll"]}, lumi=10.0, fraction=1.0))

    # Then the legend has the ZZ* background and its uncertainty only
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted([ZZ, "Stat. Unc."])
    assert ax.get_ylim()[1] > 0
    # and the band is centred on that background's bars, bin by bin
    (band,) = [p for p in filled_steps(ax) if p.get_label() == "Stat. Unc."]
    bottom, top = bottoms_and_tops(band)
    assert (bottom + top) / 2 == pytest.approx(histograms["llll"].values())


def test_a_run_of_data_only_draws_points_and_no_band(histograms: dict[str, hist.Hist]) -> None:
    # Given data only
    # When the figure is drawn
    ax = axes_of(m4l_figure({"data_A": histograms["data_A"]}, lumi=10.0, fraction=1.0))

    # Then there are points, no filled steps, and the y axis is at least 1.6 × the data peak (3 events)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Data"]
    assert filled_steps(ax) == []
    assert ax.get_ylim()[1] >= 4.8


def test_a_run_with_nothing_yet_draws_empty_axes_that_say_so() -> None:
    # Given no histograms at all (the first refresh of a run)
    # When the figure is drawn
    ax = axes_of(m4l_figure({}, lumi=10.0, fraction=1.0, empty_text="0 of 12 chunks done"))

    # Then it has the texts and axes, no legend, and says why it is empty
    assert ax.get_legend() is None
    texts = [t.get_text() for t in ax.texts]
    assert "ATLAS Open Data" in texts
    assert texts[-2:] == ["No events selected", "0 of 12 chunks done"]
    assert ax.get_ylim()[1] > 0
