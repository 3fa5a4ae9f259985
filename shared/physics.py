"""The H→ZZ*→4ℓ physics every release shares: the first four leptons, the two cuts, the mass.

Each release's own selection (:mod:`hzz.shared.releases`) builds on these.

Everything here works on whole columns of one chunk, never on single events in Python. The
functions take the jagged ``lep_*`` arrays as the files hold them (awkward) or, on the worker's
fast path, the first four leptons as regular numpy columns (:func:`first_four`). The arithmetic
mirrors the notebook's expressions operation for operation and in the same dtypes (the branches
are float32), so that every event lands in the same bin as in the notebook: the mass replays
``vector``'s own float32 formulas and equals the notebook's bit for bit.

Why regular numpy columns: the notebook's awkward/vector code broadcasts jagged arrays for
every operation; only the first four leptons matter, and pulling them out of the flat content
by the list offsets once turns every later step into plain numpy on contiguous arrays. Measured
on 10⁶ events (benchmarks/RESULTS.md): a chunk's physics 422 → 133 ms, the mass 258 → 32 ms.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import numpy as np
import vector

__all__ = [
    "first_four",
    "first_four_of",
    "four_lepton_mass",
    "select_four_lepton_events",
]

#: MeV → GeV.
MEV = 0.001

#: lep_type sums of the first four leptons that the flavour cut keeps: eeee, eeμμ, μμμμ.
ALLOWED_FLAVOUR_SUMS = (44, 48, 52)

#: Leptons per event that the cuts and the mass use.
N_LEPTONS = 4

#: Per-lepton columns: four 1-d arrays (lepton 0, 1, 2, 3), one value per event each.
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def first_four(values: ak.Array | np.ndarray | Sequence[np.ndarray], rows: np.ndarray | None = None) -> Columns:
    """The first four leptons' values of every event, as four contiguous numpy columns.

    Args:
        values: a jagged awkward array with at least four entries per event (as the 4lep skim
            guarantees), a numpy array of shape (events, ≥4), or four columns already.
        rows: only these events (indices or a boolean mask); all by default.

    Returns:
        Columns: ``(v0, v1, v2, v3)``, each of shape (events,).

    Raises:
        ValueError: an event has fewer than four entries.
    """
    if isinstance(values, tuple | list):
        if len(values) != N_LEPTONS:
            raise ValueError(f"expected {N_LEPTONS} per-lepton columns, got {len(values)}")
        columns = tuple(np.asarray(v) for v in values)
        return columns if rows is None else tuple(c[rows] for c in columns)  # type: ignore[return-value]
    if isinstance(values, np.ndarray):
        if values.ndim != 2 or values.shape[1] < N_LEPTONS:
            raise ValueError(f"expected an array of shape (events, ≥{N_LEPTONS}), got {values.shape}")
        chosen = values if rows is None else values[rows]
        return tuple(np.ascontiguousarray(chosen[:, i]) for i in range(N_LEPTONS))  # type: ignore[return-value]
    return first_four_of([values], rows)[0]


def first_four_of(arrays: Sequence[ak.Array], rows: np.ndarray | None = None) -> list[Columns]:
    """:func:`first_four` of several jagged arrays of the same leptons (the lep_* branches share lep_n).

    The lists' starts are read, checked (≥ 4 per event) and turned into gather indices once;
    each further array only has its offsets compared with the first's.
    """
    layouts = [_list_layout(a) for a in arrays]
    offsets = np.asarray(layouts[0].offsets.data)
    if len(offsets) > 1 and int(np.min(offsets[1:] - offsets[:-1])) < N_LEPTONS:
        raise ValueError(f"an event has fewer than {N_LEPTONS} leptons")
    starts = offsets[:-1] if rows is None else offsets[:-1][rows]
    # The flat position of lepton i of each event: one gather per lepton from the flat buffer.
    positions = [starts + i for i in range(N_LEPTONS)]
    columns = []
    for layout in layouts:
        if layout is not layouts[0] and not np.array_equal(np.asarray(layout.offsets.data), offsets):
            # Not the same leptons after all: treat this array on its own.
            columns.append(first_four_of([ak.Array(layout)], rows)[0])
            continue
        content = np.asarray(layout.content.data)
        columns.append(tuple(np.take(content, p) for p in positions))
    return columns  # type: ignore[return-value]


def _list_layout(values: ak.Array) -> ak.contents.ListOffsetArray:
    """The array as a ListOffsetArray of a flat NumpyArray (uproot's own layout; others are packed)."""
    layout = ak.to_layout(values)
    if not (isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray)):
        layout = ak.to_layout(ak.to_packed(values))
        if isinstance(layout, ak.contents.RegularArray | ak.contents.ListArray):
            layout = layout.to_ListOffsetArray64(True)
    return layout


def select_four_lepton_events(lep_charge: Any, lep_type: Any) -> np.ndarray:
    """Which events pass the notebook's two cuts (on the first four leptons).

    Args:
        lep_charge: charges, at least four per event (jagged, (n, ≥4) or four columns).
        lep_type: |PDG id| (11 electron, 13 muon), likewise.

    Returns:
        numpy.ndarray: a boolean mask, True for events with charge sum 0 and flavour sum 44, 48 or 52.
    """
    q0, q1, q2, q3 = first_four(lep_charge)
    t0, t1, t2, t3 = first_four(lep_type)
    # Summed in the notebook's order and dtypes (int32 charges, uint32 types).
    charge_sum = q0 + q1 + q2 + q3
    flavour_sum = t0 + t1 + t2 + t3
    # Three comparisons beat np.isin (which sorts or builds a table) for three allowed values.
    allowed = flavour_sum == ALLOWED_FLAVOUR_SUMS[0]
    for value in ALLOWED_FLAVOUR_SUMS[1:]:
        allowed |= flavour_sum == value
    return (charge_sum == 0) & allowed


def four_lepton_mass(lep_pt: Any, lep_eta: Any, lep_phi: Any, lep_E: Any, *, unit: float = MEV) -> np.ndarray:
    """Invariant mass of the first four leptons in GeV, as the notebook's ``calc_mllll``.

    ``(p0 + p1 + p2 + p3).M`` with ``vector``'s formulas, in float32 like the notebook, so the
    values are the notebook's to the last bit (an event on a bin edge lands in the same bin).

    Args:
        lep_pt, lep_eta, lep_phi, lep_E: lepton kinematics, at least four per event (jagged,
            (n, ≥4) or four columns each).
        unit: GeV per unit of the kinematics: MeV for the 2020 release, 1.0 for GeV.

    Returns:
        numpy.ndarray: m4ℓ in GeV, one value per event.
    """
    pt, eta, phi, energy = (first_four(x) for x in (lep_pt, lep_eta, lep_phi, lep_E))
    mass = _sum_mass(pt, eta, phi, energy)
    return mass if unit == 1.0 else mass * unit


# --- the mass, bit for bit as vector computes it --------------------------------------------------
#
# The notebook adds four ``vector`` Momentum4D objects of coordinates (pt, φ, η, E) and takes .M.
# vector keeps the sum in (ρ, φ, η, t) after every addition, so each step converts φ, η and back,
# in float32. _vector_sum_mass repeats exactly those operations (vector/_compute: planar.add.
# rhophi_rhophi, spatial.add.rhophi_eta_rhophi_eta, spatial.eta.rhophi_z, lorentz.tau.
# rhophi_eta_t) on plain numpy columns, with two changes that leave every value unchanged:
#   * φ is wrapped into [-π, π) by _wrap_phi instead of np.remainder (17 ns a value, a third of
#     the whole mass): the same float32 result for every φ the sum can take, see there;
#   * the φ of the final sum is not computed: .M does not use it.
# _choose_sum_mass checks the result against vector itself when the module is imported, and
# falls back to vector's public numpy backend should a vector release ever compute differently.

#: Events per block of the mass computation (~20 float32 temporaries of 128 kB: in L2 cache).
BLOCK_EVENTS = 32_768


def _wrap_phi(phi: np.ndarray) -> np.ndarray:
    """vector's ``rectify``: ``(φ + π) % (2π) - π`` in φ's dtype, without np.remainder's cost.

    For a = φ + π and b = 2π in that dtype (as numpy casts vector's Python float), numpy's
    remainder is fmod(a, b), plus b when that is negative. For -b < a < 2b this is: a + b
    (rounded, as numpy's own addition) when a < 0, a - b (exact, Sterbenz) when a ≥ b, and a
    otherwise. φ₁ + atan2(…) always lies there; anything else (NaN, ±inf, |a| beyond) goes
    through np.remainder itself.
    """
    a = phi + math.pi
    two_pi = a.dtype.type(2 * math.pi)
    wrapped = np.where(a < 0, a + two_pi, np.where(a >= two_pi, a - two_pi, a))
    elsewhere = ~((a > -two_pi) & (a < 2 * two_pi))
    if elsewhere.any():
        wrapped[elsewhere] = np.remainder(a[elsewhere], 2 * math.pi)
    return wrapped - math.pi


def _eta_of(rho: np.ndarray, z: np.ndarray) -> np.ndarray:
    """vector's η from (ρ, z): asinh(z/ρ), with its NaN/inf conventions for ρ = 0 or overflow."""
    eta = np.arcsinh(z / rho)
    odd = ~np.isfinite(eta)
    if odd.any():
        zero_or_nan = np.nan_to_num((z[odd] != 0) * math.inf, posinf=math.nan)
        eta[odd] = np.nan_to_num(eta[odd], nan=zero_or_nan, posinf=math.inf, neginf=-math.inf)
    return eta


def _add(
    p1: tuple[np.ndarray, ...], p2: tuple[np.ndarray, ...], *, need_phi: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """(ρ, φ, η, t) of p1 + p2, as vector's Lorentz add of two (ρ, φ, η, t) vectors."""
    rho1, phi1, eta1, t1 = p1
    rho2, phi2, eta2, t2 = p2
    diff = phi2 - phi1
    u = rho2 * np.cos(diff)
    v = rho2 * np.sin(diff)
    rho = np.sqrt((rho1 + u) ** 2 + v**2)
    phi = _wrap_phi(phi1 + np.arctan2(v, rho1 + u)) if need_phi else None
    z = rho1 * np.sinh(eta1) + rho2 * np.sinh(eta2)
    return rho, phi, _eta_of(rho, z), t1 + t2


def _tau(rho: np.ndarray, eta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """vector's mass (τ) of a (ρ, φ, η, t) vector: signed √|t² - |p|²|."""
    expmeta = np.exp(-eta)
    invsintheta = 0.5 * (1 + expmeta**2) / expmeta
    squared = t**2 - rho**2 * invsintheta**2
    return np.copysign(np.sqrt(np.absolute(squared)), squared)


def _vector_sum_mass(pt: Columns, eta: Columns, phi: Columns, energy: Columns) -> np.ndarray:
    """``((p0 + p1) + p2) + p3).M`` exactly as vector computes it, on numpy columns.

    Worked through in blocks of :data:`BLOCK_EVENTS`, so that the twenty-odd temporaries of a
    block stay in the CPU cache: 1.6× faster than whole columns, and each value the same.
    """
    mass = np.empty(len(pt[0]), dtype=np.result_type(*pt, *eta, *phi, *energy))
    for start in range(0, len(mass), BLOCK_EVENTS):
        block = slice(start, start + BLOCK_EVENTS)
        mass[block] = _block_sum_mass(*(tuple(c[block] for c in columns) for columns in (pt, eta, phi, energy)))
    return mass


def _block_sum_mass(pt: Columns, eta: Columns, phi: Columns, energy: Columns) -> np.ndarray:
    # vector silences floating-point warnings around its formulas too (results are unchanged).
    with np.errstate(all="ignore"):
        total = (pt[0], phi[0], eta[0], energy[0])
        for i in range(1, N_LEPTONS):
            rho, phi_sum, eta_sum, t = _add(total, (pt[i], phi[i], eta[i], energy[i]), need_phi=i < N_LEPTONS - 1)
            total = (rho, phi_sum, eta_sum, t)  # type: ignore[assignment]
        return _tau(total[0], total[2], total[3])


def _public_sum_mass(pt: Columns, eta: Columns, phi: Columns, energy: Columns) -> np.ndarray:
    """``(p0 + p1 + p2 + p3).M`` through vector's public numpy backend: the slower fallback."""
    p = [vector.array({"pt": pt[i], "eta": eta[i], "phi": phi[i], "E": energy[i]}) for i in range(N_LEPTONS)]
    return np.asarray((p[0] + p[1] + p[2] + p[3]).M)


def _check_events() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events for the import-time check (float32): random ones plus the hard corners."""
    rng = np.random.default_rng(2020)
    n = 4000
    pt = rng.uniform(5e3, 3e5, (n, N_LEPTONS))
    eta = rng.uniform(-2.7, 2.7, (n, N_LEPTONS))
    phi = rng.uniform(-math.pi, math.pi, (n, N_LEPTONS))
    energy = pt * np.cosh(eta) * rng.uniform(1.0, 1.001, (n, N_LEPTONS))
    # φ at ±π (the wrap), back-to-back pairs (ρ of a sum → 0), zero pT, very forward leptons.
    phi[:200] = rng.choice([-math.pi, math.pi, 0.0], (200, N_LEPTONS))
    pt[200:400, 1], phi[200:400, 1], eta[200:400, 1] = pt[200:400, 0], phi[200:400, 0] - math.pi, eta[200:400, 0]
    pt[400:420, :2] = 0.0
    eta[420:440] = rng.choice([-9.0, 9.0], (20, N_LEPTONS))
    return tuple(a.astype(np.float32) for a in (pt, eta, phi, energy))  # type: ignore[return-value]


def _choose_sum_mass() -> Callable[[Columns, Columns, Columns, Columns], np.ndarray]:
    """_vector_sum_mass if it gives vector's own values bit for bit, else the public backend."""
    events = _check_events()
    # The files are float32; float64 is checked too, on the first 1000 events (the corners among them).
    for dtype, n in ((np.float32, None), (np.float64, 1000)):
        pt, eta, phi, energy = (a[:n].astype(dtype) for a in events)
        # The reference is the notebook's route: vector's awkward behaviour.
        p4 = vector.zip({"pt": ak.Array(pt), "eta": ak.Array(eta), "phi": ak.Array(phi), "E": ak.Array(energy)})
        reference = ak.to_numpy((p4[:, 0] + p4[:, 1] + p4[:, 2] + p4[:, 3]).M)
        ours = _vector_sum_mass(*(first_four(a) for a in (pt, eta, phi, energy)))
        if ours.dtype != reference.dtype or not np.array_equal(ours, reference, equal_nan=True):
            break
    else:
        return _vector_sum_mass
    warnings.warn(
        f"vector {vector.__version__} computes the four-lepton mass differently from shared.physics; "
        "falling back to vector's numpy backend (correct, ~3× slower)",
        RuntimeWarning,
        stacklevel=2,
    )
    return _public_sum_mass


_sum_mass = _choose_sum_mass()
