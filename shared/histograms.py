"""The m4ℓ binning, the canonical histogram, its JSON form and how histograms merge.

A histogram is a ``hist.Hist`` with one named regular axis and ``Weight`` storage, so the sum of
weights and the sum of squared weights travel together. Filling follows ``numpy.histogram``,
as the notebook does: a value equal to the upper edge falls in the last bin, values outside
the range are dropped. Merging is ``+``; histograms with different axes refuse to merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import hist

__all__ = [
    "M4L_BINNING",
    "BinSums",
    "Binning",
    "Plottable",
    "empty_histogram",
    "fill_histogram",
    "histogram_from_json",
    "histogram_sums",
    "histogram_to_json",
    "sum_histograms",
]


@dataclass(frozen=True)
class Binning:
    """Equal-width bins from ``low`` to ``high`` (GeV)."""

    bins: int
    low: float
    high: float

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.bins

    @property
    def edges(self) -> np.ndarray:
        """The bin edges, built as the notebook builds them (``np.arange``)."""
        return np.arange(start=self.low, stop=self.high + self.width, step=self.width)

    @property
    def centres(self) -> np.ndarray:
        return np.arange(start=self.low + self.width / 2, stop=self.high + self.width / 2, step=self.width)

    def to_json(self) -> list[float]:
        return [self.bins, self.low, self.high]

    @classmethod
    def from_json(cls, value: Sequence[float]) -> Binning:
        bins, low, high = value
        return cls(int(bins), float(low), float(high))


#: m4ℓ from 80 to 250 GeV in 5 GeV bins (the 2020 notebook).
M4L_BINNING = Binning(34, 80.0, 250.0)


class Plottable(Protocol):
    """What drawing needs of a histogram: Σw and Σw² per bin (``hist.Hist`` and :class:`BinSums` have them)."""

    def values(self) -> np.ndarray: ...

    def variances(self) -> np.ndarray | None: ...


@dataclass(frozen=True)
class BinSums:
    """Σw and Σw² per bin as two arrays: a histogram's content without ``hist``, so that whatever
    only draws or adds histograms (a drawing process, a run's results) need not import it."""

    sumw: np.ndarray
    sumw2: np.ndarray

    def values(self) -> np.ndarray:
        return self.sumw

    def variances(self) -> np.ndarray:
        return self.sumw2

    @classmethod
    def total(cls, members: Iterable[Plottable], bins: int) -> BinSums:
        """The sum of histograms of ``bins`` bins (zeros for none)."""
        sumw, sumw2 = np.zeros(bins), np.zeros(bins)
        for h in members:
            sumw = sumw + h.values()
            variances = h.variances()
            sumw2 = sumw2 + (h.values() if variances is None else variances)
        return cls(sumw, sumw2)

    def to_json(self) -> dict[str, list[float]]:
        """The JSON form of :func:`histogram_to_json`."""
        return {"sumw": self.sumw.tolist(), "sumw2": self.sumw2.tolist()}


def empty_histogram(binning: Binning = M4L_BINNING) -> hist.Hist:
    """An empty m4ℓ histogram holding Σw and Σw² per bin."""
    # Imported here: a worker only needs histogram_sums, and hist (boost-histogram) costs ~40 ms
    # of every worker's start-up.
    import hist

    axis = hist.axis.Regular(binning.bins, binning.low, binning.high, name="m4l", label=r"$m_{4\ell}$ [GeV]")
    return hist.Hist(axis, storage=hist.storage.Weight())


def fill_histogram(mass: np.ndarray, weights: np.ndarray | None = None, binning: Binning = M4L_BINNING) -> hist.Hist:
    """Histogram ``mass`` with ``numpy.histogram`` semantics, as the notebook does.

    Args:
        mass: m4ℓ in GeV.
        weights: per-event weights; None for data (every event counts 1).
        binning: the axis.

    Returns:
        hist.Hist: Σw per bin and Σw² per bin.
    """
    edges = binning.edges
    if weights is None:
        counts = np.histogram(mass, bins=edges)[0].astype(np.float64)
        return _with_values(binning, counts, counts.copy())
    # np.histogram sums in the weights' dtype: float32 weights would give float32 sums whose
    # rounding (~1e-7) depends on how events are split into chunks. Summing in float64 makes
    # the result independent of the chunking to ~1e-15.
    weights = np.asarray(weights, dtype=np.float64)
    sumw = np.histogram(mass, bins=edges, weights=weights)[0]
    sumw2 = np.histogram(mass, bins=edges, weights=weights**2)[0]
    return _with_values(binning, sumw, sumw2)


def _with_values(binning: Binning, sumw: np.ndarray, sumw2: np.ndarray) -> hist.Hist:
    h = empty_histogram(binning)
    view = h.view()
    view["value"] = sumw
    view["variance"] = sumw2
    return h


def histogram_sums(
    mass: np.ndarray, weights: np.ndarray | None, binning: Binning = M4L_BINNING
) -> dict[str, list[float]]:
    """Σw and Σw² per m4ℓ bin, as ``histogram_to_json(fill_histogram(mass, weights))`` gives them.

    The same bins as ``numpy.histogram`` over the notebook's edges (edges[i] ≤ m < edges[i+1],
    the last bin closed; values outside or NaN dropped), and the sums in float64, but without
    numpy's method for explicit edges, which sorts every block of values (twice for weights):
    here each value's bin is computed once, by arithmetic checked against the edges themselves,
    and the sums are two ``bincount`` calls. 3× faster; equal to fill_histogram up to float64
    rounding in the order of summation.
    """
    edges = binning.edges
    x = np.asarray(mass, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        guess = np.floor((x - binning.low) / binning.width)
    # NaN and far-away values park just outside the range; the division may be one bin off at an
    # edge, so each value is compared with its bin's true edges (±inf beyond the range).
    nan = np.isnan(guess)
    if nan.any():
        guess[nan] = binning.bins
    index = np.clip(guess, -1, binning.bins, out=guess).astype(np.intp)
    padded = np.concatenate(([-np.inf], edges, [np.inf]))
    index -= x < padded[index + 1]
    index += x >= padded[index + 2]
    index[x == edges[-1]] = binning.bins - 1  # numpy.histogram's last bin includes its upper edge
    # Values outside the range share one extra bin, dropped at the end (cheaper than removing them).
    index[index < 0] = binning.bins
    slots = binning.bins + 1
    if weights is None:
        counts = np.bincount(index, minlength=slots)[: binning.bins].astype(np.float64)
        return {"sumw": counts.tolist(), "sumw2": counts.tolist()}
    w = np.asarray(weights, dtype=np.float64)
    sums = (np.bincount(index, weights=v, minlength=slots)[: binning.bins] for v in (w, w**2))
    sumw, sumw2 = (s.astype(np.float64).tolist() for s in sums)  # float even when there are no events
    return {"sumw": sumw, "sumw2": sumw2}


def histogram_to_json(h: hist.Hist) -> dict[str, list[float]]:
    """Σw and Σw² per bin as plain lists (floats round-trip exactly through JSON)."""
    return {"sumw": h.values().tolist(), "sumw2": h.variances().tolist()}


def histogram_from_json(value: Mapping[str, Any], binning: Binning = M4L_BINNING) -> hist.Hist:
    """The inverse of :func:`histogram_to_json`.

    Raises:
        ValueError: the lists do not have one entry per bin.
    """
    sumw = np.asarray(value["sumw"], dtype=np.float64)
    sumw2 = np.asarray(value["sumw2"], dtype=np.float64)
    if sumw.shape != (binning.bins,) or sumw2.shape != (binning.bins,):
        msg = f"histogram has {sumw.shape} and {sumw2.shape} values; expected {binning.bins} bins each"
        raise ValueError(msg)
    return _with_values(binning, sumw, sumw2)


def sum_histograms(histograms: Iterable[hist.Hist], binning: Binning = M4L_BINNING) -> hist.Hist:
    """The sum of histograms (an empty one for none); mismatched axes raise ``ValueError``."""
    total = empty_histogram(binning)
    for h in histograms:
        total += h
    return total
