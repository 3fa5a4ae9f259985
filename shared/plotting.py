"""The notebook's m4ℓ plot, drawn from merged per-sample histograms instead of event lists.

Every element follows the 2020 notebook: stacked filled backgrounds in the groups' order, the
signal stacked on top of the background total, data as black points with √N errors, the
hatched ±1σ MC statistical band (backgrounds only), the axis labels and ranges, inward ticks
on all four sides with minor ticks, and the ATLAS Open Data texts. Stacking a histogram that
has one entry per bin centre, weighted by the bin's Σw, draws exactly the bars that
``plt.hist`` draws from the events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import hist
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import AutoMinorLocator

from hzz.shared.histograms import M4L_BINNING, Binning, sum_histograms
from hzz.shared.releases import PlotStyle, SampleGroup, get_release

__all__ = ["m4l_figure"]


def _group_histogram(group: SampleGroup, histograms: Mapping[str, hist.Hist], binning: Binning) -> hist.Hist | None:
    members = [histograms[s] for s in group.samples if s in histograms]
    return sum_histograms(members, binning) if members else None


def m4l_figure(
    histograms: Mapping[str, hist.Hist],
    *,
    lumi: float,
    fraction: float,
    binning: Binning = M4L_BINNING,
    groups: Sequence[SampleGroup] = get_release("2020").groups,
    style: PlotStyle = PlotStyle(),  # noqa: B008 (frozen, so a shared default is safe)
    note: str = "",
) -> Figure:
    """Draw the m4ℓ plot.

    Args:
        histograms: merged histogram per sample (only the samples of the run).
        lumi: integrated luminosity in fb⁻¹.
        fraction: the fraction of events processed; the plot states ``lumi × fraction``.
        binning: the m4ℓ axis.
        groups: the release's groups, in stacking order.
        style: the release's plot settings (text positions and sizes, y range).
        note: an extra line in the top right corner, e.g. "partial: 3 of 12 chunks".

    Returns:
        Figure: a figure not attached to pyplot (safe to draw in any thread).
    """
    edges, centres, width = binning.edges, binning.centres, binning.width
    fig = Figure(figsize=style.figsize)
    ax = fig.subplots()

    data_x = np.zeros(binning.bins)
    backgrounds: list[tuple[SampleGroup, hist.Hist]] = []
    signals: list[tuple[SampleGroup, hist.Hist]] = []
    for group in groups:
        h = _group_histogram(group, histograms, binning)
        if h is None:
            continue
        if group.is_data:
            data_x = h.values()
        else:
            (signals if group.is_signal else backgrounds).append((group, h))

    if np.any(data_x):
        ax.errorbar(x=centres, y=data_x, yerr=np.sqrt(data_x), fmt="ko", label="Data")

    mc_x_tot = np.zeros(binning.bins)
    if backgrounds:
        heights = ax.hist(
            [centres] * len(backgrounds),
            bins=edges,
            weights=[h.values() for _, h in backgrounds],
            stacked=True,
            color=[g.color for g, _ in backgrounds],
            label=[g.label for g, _ in backgrounds],
        )[0]
        mc_x_tot = np.asarray(heights[-1])
    mc_x_err = np.sqrt(sum((h.variances() for _, h in backgrounds), np.zeros(binning.bins)))

    signal_top = mc_x_tot
    for group, h in signals:
        ax.hist(centres, bins=edges, bottom=mc_x_tot, weights=h.values(), color=group.color, label=group.label)
        signal_top = mc_x_tot + h.values()

    if backgrounds:
        ax.bar(
            centres,
            2 * mc_x_err,
            alpha=0.5,
            bottom=mc_x_tot - mc_x_err,
            color="none",
            hatch="////",
            width=width,
            label="Stat. Unc.",
        )

    ax.set_xlim(left=binning.low, right=binning.high)
    ax.xaxis.set_minor_locator(AutoMinorLocator())
    ax.tick_params(which="both", direction="in", top=True, right=True)
    ax.set_xlabel(r"4-lepton invariant mass $\mathrm{m_{4l}}$ [GeV]", fontsize=13, x=1, horizontalalignment="right")
    ax.set_ylabel(f"Events / {width} GeV", y=1, horizontalalignment="right")
    # The notebook scales to the data; without data (an MC-only run) scale to the simulation.
    peak = np.amax(data_x) if np.any(data_x) else max(float(np.amax(signal_top)), 1.0)
    ax.set_ylim(bottom=0, top=peak * style.y_headroom)
    ax.yaxis.set_minor_locator(AutoMinorLocator())

    x, size = style.text_x, style.text_size
    ax.text(x, 0.93, "ATLAS Open Data", transform=ax.transAxes, fontsize=style.title_size)
    ax.text(x, 0.88, "for education", transform=ax.transAxes, style="italic", fontsize=style.education_size)
    lumi_used = str(lumi * fraction)
    lumi_text = r"$\sqrt{s}$=13 TeV,$\int$L dt = " + lumi_used + r" fb$^{-1}$"
    ax.text(x, 0.82, lumi_text, transform=ax.transAxes, fontsize=size)
    ax.text(x, 0.76, r"$H \rightarrow ZZ^* \rightarrow 4\ell$", transform=ax.transAxes, fontsize=size)
    if note:
        ax.text(0.97, 1.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.4")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=size)
    fig.tight_layout()
    return fig
