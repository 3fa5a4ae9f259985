"""The m4ℓ plot never collides with itself: no text or legend over a bar, a marker or an error bar.

Checked from the bounding boxes of what matplotlib drew (rendered with the figure's own
renderer), on the plots users see: the demo (``hzz run --demo``'s generated dataset), the real
data_A + data_B files, a run whose every chunk failed, the 2025 profile, and a few hundred
random histograms with their peaks under the texts and the legend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hist
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from matplotlib.transforms import Bbox

from hzz.devtools.notebook import run_notebook, run_notebook_2025
from hzz.shared.data_vars import Settings
from hzz.shared.histograms import Binning, histogram_from_json
from hzz.shared.plotting import NO_EVENTS, m4l_figure
from hzz.shared.releases import get_release

R2020, R2025 = get_release("2020"), get_release("2025")


def figure_of(outcome: dict, release=R2020, **kwargs) -> Figure:  # type: ignore[no-untyped-def]
    """The plot of notebook outcomes (sample → NotebookSample) in a release's style."""
    binning = release.binning
    histograms = {
        name: histogram_from_json({"sumw": nb.sumw, "sumw2": nb.sumw2}, binning) for name, nb in outcome.items()
    }
    return m4l_figure(
        histograms,
        lumi=release.lumi,
        fraction=1.0,
        binning=binning,
        groups=release.groups,
        style=release.style,
        **kwargs,
    )


# --- what is drawn, as boxes in display coordinates ----------------------------------------------


def text_boxes(fig: Figure) -> list[tuple[str, Bbox]]:
    """Every text in or on the axes (ATLAS texts, note, legend entries) and the legend as a whole."""
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
    legend = ax.get_legend()
    if legend is not None:
        boxes += [(f"legend: {t.get_text()}", t.get_window_extent(renderer)) for t in legend.get_texts()]
        boxes.append(("the legend", legend.get_window_extent(renderer)))
    return boxes


def drawn_boxes(fig: Figure) -> Iterator[tuple[str, Bbox]]:
    """Bars (stacked, signal, hatched band), data markers and error bars, clipped to the axes."""
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    frame = ax.get_window_extent(renderer)
    for step in ax.patches:
        if isinstance(step, StepPatch):  # a group of the stack, or the band: a box per bin
            tops, edges, bottoms = step.get_data()
            for low, high, bottom, top in zip(
                edges[:-1], edges[1:], np.broadcast_to(bottoms, tops.shape), tops, strict=True
            ):
                if top > bottom:
                    corners = ax.transData.transform([(low, bottom), (high, top)])
                    box = Bbox.intersection(Bbox(corners), frame)
                    if box is not None:
                        yield f"bar {step.get_label()} at {low:.1f}", box
    for line in ax.lines:
        radius = line.get_markersize() / 2 * fig.dpi / 72
        for x, y in ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()])):
            yield f"marker at {x:.0f},{y:.0f}", Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
    for collection in ax.collections:
        if isinstance(collection, LineCollection):
            for segment in collection.get_segments():
                (x0, y0), (x1, y1) = ax.transData.transform(segment)
                box = Bbox.intersection(Bbox.from_extents(x0 - 1, y0, x1 + 1, y1), frame)
                if box is not None:
                    yield f"error bar at {x0:.0f}", box


def collisions(fig: Figure) -> list[str]:
    """Pairs (text, drawn thing) whose boxes overlap, and texts that overlap each other."""
    fig.canvas.draw()
    texts = text_boxes(fig)
    found = [
        f"{name!r} overlaps {what}" for what, box in drawn_boxes(fig) for name, text in texts if _overlap(text, box)
    ]
    atlas = [(n, b) for n, b in texts if not n.startswith(("legend", "the legend"))]
    legend = [(n, b) for n, b in texts if n == "the legend"]
    found += [f"{a!r} overlaps {b!r}" for a, box_a in atlas for b, box_b in legend if _overlap(box_a, box_b)]
    return found


def _overlap(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def assert_no_collision(fig: Figure, name: str) -> None:
    found = collisions(fig)
    assert found == [], f"{name}: {found[:5]}"


def axes_of(fig: Figure) -> Axes:
    (ax,) = fig.axes
    return ax


# --- the plots users see ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_outcome(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The notebook's outcome on ``hzz run --demo``'s dataset (the same generator and seed)."""
    from hzz.devtools.samplegen import generator_of

    folder = tmp_path_factory.mktemp("demo2020")
    generator_of("2020").generate_dataset(folder, seed=2020)
    return run_notebook(Settings(dataset=str(folder)))


def test_the_demo_plot_has_no_text_over_a_bar_or_a_point(demo_outcome: dict) -> None:
    # Given the demo's histograms, whose Z-peak bar used to run through "H → ZZ* → 4ℓ"
    fig = figure_of(demo_outcome)
    # Then nothing drawn touches a text or the legend, and the Z peak is fully inside the axes
    assert_no_collision(fig, "demo")
    ax = axes_of(fig)
    steps = [p for p in ax.patches if isinstance(p, StepPatch)]
    assert ax.get_ylim()[1] > max(float(np.max(p.get_data().values)) for p in steps)


def test_the_check_finds_the_collisions_of_the_notebooks_y_range(
    demo_outcome: dict, real_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the notebook's y range alone (1.6 × the largest data bin, no headroom for the texts)
    import hzz.shared.plotting

    monkeypatch.setattr(hzz.shared.plotting, "_fit_headroom", lambda *args, **kwargs: None)
    # Then the check sees what users saw: the demo's Z peak in "H → ZZ* → 4ℓ", and the real
    # data's 92.5 GeV error bar in it too
    assert any("ZZ^*" in c and "bar" in c for c in collisions(figure_of(demo_outcome)))
    real = run_notebook(Settings(dataset=str(real_dataset), samples=("data_A", "data_B")))
    assert any("ZZ^*" in c and "error bar" in c for c in collisions(figure_of(real)))


def test_the_real_data_a_and_b_plot_has_no_text_over_an_error_bar(real_dataset: Path) -> None:
    # Given the real data_A + data_B (the 92.5 GeV error bar used to run through "H →")
    outcome = run_notebook(Settings(dataset=str(real_dataset), samples=("data_A", "data_B")))
    fig = figure_of(outcome)
    # Then it is clear of the texts, and the y axis still starts at the notebook's 1.6 × 9 or above
    assert_no_collision(fig, "real data_A+B")
    assert axes_of(fig).get_ylim()[1] >= 1.6 * 9


def test_a_run_whose_chunks_all_failed_says_no_events_and_draws_no_legend() -> None:
    # Given every sample of the release with an empty histogram (every chunk failed)
    binning = R2020.binning
    empty = {s: histogram_from_json({"sumw": [0.0] * 34, "sumw2": [0.0] * 34}, binning) for s in R2020.samples}
    fig = m4l_figure(empty, lumi=10.0, fraction=1.0, empty_text="all 14 chunks failed")
    ax = axes_of(fig)
    # Then the figure says so, has no legend, no bars and no points, and nothing overlaps
    assert [t.get_text() for t in ax.texts][-2:] == [NO_EVENTS, "all 14 chunks failed"]
    assert ax.get_legend() is None
    assert not ax.containers and not ax.lines
    assert_no_collision(fig, "all failed")
    found = [b for _, b in text_boxes(fig)]
    assert not any(_overlap(a, b) for i, a in enumerate(found) for b in found[i + 1 :]), "texts overlap each other"


@pytest.fixture(scope="module")
def outcome_2025(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The 2025 notebook's outcome on the 2025 demo dataset."""
    from hzz.devtools.samplegen import generator_of

    folder = tmp_path_factory.mktemp("demo2025")
    paths = generator_of("2025").generate_dataset(folder, seed=2025)
    return run_notebook_2025({sample: str(path) for sample, path in paths.items()})


def test_the_2025_plot_has_no_collision_and_labels_legible_at_the_page_size(outcome_2025: dict) -> None:
    # Given the 2025 profile's plot (12 × 8 in, shown about 800 px wide on the page)
    fig = figure_of(outcome_2025, R2025)
    assert_no_collision(fig, "2025")
    # Then its axis titles and tick labels are at least 13 px tall at that width
    ax = axes_of(fig)
    fig.canvas.draw()
    scale = 800 / fig.get_window_extent().width
    renderer = fig.canvas.get_renderer()
    for text in [ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]:
        if text.get_text():
            height = text.get_window_extent(renderer).height * scale
            axis_title = text in (ax.xaxis.label, ax.yaxis.label)
            # the y title is rotated: its height on the page is its length; compare its font instead
            size_px = text.get_fontsize() * fig.dpi / 72 * scale
            assert size_px >= 13, f"{text.get_text()!r} is {size_px:.1f} px at the page's size"
            assert axis_title or height >= 13


def test_on_the_full_release_the_y_range_stays_the_notebooks() -> None:
    # Given data whose tallest bin is not under the texts or the legend (as the real 2020 plot:
    # its peaks at 90 and 125 GeV stay below 1/1.6 of the range)
    binning = R2020.binning
    counts = np.full(34, 5.0)
    counts[20] = 20.0  # 180–185 GeV, between the texts and the legend
    data = histogram_from_json({"sumw": counts, "sumw2": counts}, binning)
    fig = m4l_figure({"data_A": data}, lumi=10.0, fraction=1.0)
    # Then the range is the notebook's 1.6 × the largest data bin
    assert axes_of(fig).get_ylim() == pytest.approx((0.0, 32.0))
    assert_no_collision(fig, "middle peak")


# --- any histogram ------------------------------------------------------------------------------


def random_histograms(rng: np.random.Generator, binning: Binning, release) -> dict[str, hist.Hist]:  # type: ignore[no-untyped-def]
    """A data sample and one sample per MC group, with peaks anywhere, often under the texts."""
    n = binning.bins
    x = np.arange(n)
    out = {}
    for group in release.groups:
        sample = group.samples[0]
        shape = rng.uniform(0, 1, n) * rng.uniform(0.1, 3)
        for _ in range(rng.integers(1, 3)):
            centre = rng.choice([rng.uniform(0, n * 0.35), rng.uniform(n * 0.6, n), rng.uniform(0, n)])
            shape += rng.uniform(2, 60) * np.exp(-0.5 * ((x - centre) / rng.uniform(0.5, 3)) ** 2)
        if group.is_data:
            counts = rng.poisson(shape).astype(float)
            out[sample] = histogram_from_json({"sumw": counts, "sumw2": counts}, binning)
        else:
            sumw = shape * rng.uniform(0.05, 1.0)
            out[sample] = histogram_from_json({"sumw": sumw, "sumw2": sumw * rng.uniform(0.01, 0.5)}, binning)
    return out


@pytest.mark.parametrize("profile", ["2020", "2025"])
def test_random_histograms_never_collide_with_the_texts(profile: str) -> None:
    # Given many random histograms of either release, with tall peaks under the texts or the legend
    release = get_release(profile)
    rng = np.random.default_rng(int(profile))
    for trial in range(20 if profile == "2020" else 8):
        histograms = random_histograms(rng, release.binning, release)
        # When each is drawn, then no text overlaps anything drawn
        fig = m4l_figure(
            histograms,
            lumi=release.lumi,
            fraction=1.0,
            binning=release.binning,
            groups=release.groups,
            style=release.style,
            note="partial: 3 of 12 chunks",
        )
        assert_no_collision(fig, f"{profile} trial {trial}")
