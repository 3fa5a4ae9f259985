"""Synthetic files of the 2020 ``4lep`` release: the real schema, physically shaped contents.

No MC file of the release is small enough to ship and the pipeline must be exercised on tens of
millions of events, so the project writes its own: TTree ``mini`` with the branches the analysis
reads, in the real files' names and types, plus a few realistic extras, laid out like the server
(``Data/<name>.4lep.root``, ``MC/mc_<DSID>.<name>.4lep.root``). Each event is built from
four-vectors: a boosted 4ℓ system of mass M decays to two lepton pairs, so that m4ℓ has the
sample's shape (a 125 GeV peak for the signal, the Z peak and the ZZ threshold for ``llll``, a
broad spectrum for Z+jets and tt̄, a mixture for data). A per-sample fraction of events gets a
wrong charge or flavour sum, so that the cuts remove about as much as in the real release.
Everything is vectorised and written in batches: memory stays bounded at any size. The pieces
that build and write events (:func:`draw_mass`, :func:`accepted_four_leptons`, :func:`decay`,
:func:`jagged_leptons`, :func:`write_tree`, …) are public: :mod:`hzz.devtools.samplegen.r2025` writes the
2025 ``exactly4lep`` schema with them (``--profile 2025``).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from tqdm import tqdm

from hzz.shared.analysis import use_fastest_zlib
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError
from hzz.shared.infofile import infos
from hzz.shared.releases.r2020 import RELEASE, TREE_NAME, WEIGHT_BRANCHES

__all__ = [
    "BATCH_SIZE",
    "PAGE_DEMO",
    "REAL_ENTRIES",
    "SHIPPED_REAL_FILES",
    "Batch",
    "Shape",
    "accepted_four_leptons",
    "boost",
    "decay",
    "draw_mass",
    "event_counts",
    "flip_charges",
    "flip_flavours",
    "four_leptons",
    "generate_dataset",
    "jagged_leptons",
    "lepton_energy",
    "lepton_mass",
    "lepton_pairs",
    "write_tree",
]

#: Entries per file of the real release (tree ``mini``): the default sizes.
REAL_ENTRIES: dict[str, int] = {
    "data_A": 39, "data_B": 156, "data_C": 237, "data_D": 400,
    "Zee": 898, "Zmumu": 684, "ttbar_lep": 1031, "llll": 554279,
    "ggH125_ZZ4lep": 164716, "VBFH125_ZZ4lep": 191126, "WH125_ZZ4lep": 15379, "ZH125_ZZ4lep": 14485,
}  # fmt: skip

#: The page's demo run (:mod:`hzz.devtools.webdemo`): events per generated file (the signals and
#: the main background bigger, so that the plot has a shape), the default for the others, and the
#: chunk size — small enough to analyse in a second or two, a few chunks per sample.
PAGE_DEMO = ({"llll": 6000, "ggH125_ZZ4lep": 4000, "VBFH125_ZZ4lep": 4000}, 2000, 2000)
#: The release's real files that ship beside the project (the demo uses them instead of generated ones).
SHIPPED_REAL_FILES = ("data_A", "data_B")

#: Events per ``TTree.extend`` (one basket per branch); bounds the memory to ~0.4 GB.
BATCH_SIZE = 250_000

#: MeV per GeV: the files are in MeV, the recipes below in GeV.
GEV = 1000.0

#: Masses [GeV] of the electron, the muon and the Z.
ELECTRON_MASS, MUON_MASS, Z_MASS = 0.000511, 0.105658, 91.1876

#: The skim's lepton acceptance (pT [GeV], |η|): kinematics are drawn again until all four are in.
MIN_PT, MAX_ETA, MAX_TRIES = 7.0, 2.5, 100

#: runNumber of the release's (mc16a) MC samples.
MC_RUN_NUMBER = 284500

#: First and last run of the 2016 periods A–D (data carry the run in channelNumber too).
DATA_RUNS = {"data_A": (297730, 300279), "data_B": (300345, 300908), "data_C": (301912, 302393),
             "data_D": (302737, 303560)}  # fmt: skip

#: An m4ℓ shape: a mixture of (fraction, kind, parameters [GeV]); the kinds are ``gauss`` (mean,
#: sigma), ``gamma`` (start, shape, scale) and ``expo`` (low, high, slope; truncated).
Shape = tuple[tuple[float, str, tuple[float, ...]], ...]

#: The signal: the 125 GeV peak with the detector's ~2 GeV resolution.
HIGGS: Shape = ((1.0, "gauss", (125.0, 2.0)),)
#: ZZ*: the Z→4ℓ peak, the off-shell continuum, the on-shell bump rising from 2 m_Z.
ZZ: Shape = ((0.2, "gauss", (Z_MASS, 2.5)), (0.2, "expo", (60.0, 180.0, 45.0)), (0.6, "gamma", (179.0, 1.8, 22.0)))
#: Two real leptons and two fakes: broad, falling beyond ~100 GeV.
FAKES: Shape = ((1.0, "gamma", (50.0, 2.0, 40.0)),)


@dataclass(frozen=True)
class Recipe:
    """How one process's events look."""

    shape: Shape
    #: Fraction with charge sum 0 and an allowed flavour sum: the real selection's pass rate.
    keep: float
    #: Probability that the first lepton pair is ee rather than μμ (the second's: one half).
    first_pair_ee: float = 0.5
    #: Probability of a fifth lepton, and again of a sixth given a fifth (both softer).
    extra: float = 0.03
    #: Fraction of negative mcWeight, as NLO generators give.
    negative: float = 0.0


#: Per MC sample; ``keep`` follows the notebook's published before → after counts.
RECIPES: dict[str, Recipe] = {
    "Zee": Recipe(FAKES, keep=0.27, first_pair_ee=1.0, extra=0.1),
    "Zmumu": Recipe(FAKES, keep=0.376, first_pair_ee=0.0, extra=0.1),
    "ttbar_lep": Recipe(((1.0, "gamma", (60.0, 2.5, 45.0)),), keep=0.324, extra=0.15),
    "llll": Recipe(ZZ, keep=0.945, negative=0.05),
    "ggH125_ZZ4lep": Recipe(HIGGS, keep=0.98, extra=0.02, negative=0.02),
    "VBFH125_ZZ4lep": Recipe(HIGGS, keep=0.978),
    "WH125_ZZ4lep": Recipe(HIGGS, keep=0.635, extra=0.25),
    "ZH125_ZZ4lep": Recipe(HIGGS, keep=0.825, extra=0.3),
}

#: Data: mostly ZZ*, a fair share of Z+jets and tt̄, a little signal.
DATA_MIXTURE = {"llll": 0.53, "ggH125_ZZ4lep": 0.02, "Zee": 0.15, "Zmumu": 0.15, "ttbar_lep": 0.15}


def generate_dataset(
    folder: str | Path,
    *,
    samples: Iterable[str] | None = None,
    events: int | Mapping[str, int] | None = None,
    seed: int = 2020,
    scale: float = 1.0,
    progress: bool = False,
) -> dict[str, Path]:
    """Write one synthetic file per sample under ``folder``, in the server's layout.

    Args:
        folder: the dataset folder (the ``dataset`` setting of a run that reads it).
        samples: which samples; all twelve by default (the mapping's keys if ``events`` is one).
        events: entries per file: None for the real counts × ``scale``, an int for every
            sample, or a mapping per sample (samples it lacks get the real counts × ``scale``).
        seed: the same seed gives the same files; each sample draws from (seed, its name).
        scale: multiplies the real counts (at least one event per file).
        progress: show a tqdm bar over all events.

    Returns:
        dict[str, Path]: each sample's file.

    Raises:
        ConfigError: an unknown sample, a negative count or a non-positive scale.
    """
    counts = event_counts(samples, events, scale)
    settings = Settings(dataset=str(folder), samples=tuple(counts))
    paths = {sample: Path(settings.file_location(sample)) for sample in counts}
    # libdeflate, when installed, also compresses ~3× faster (the setting is uproot's, process-wide).
    use_fastest_zlib()
    with tqdm(total=sum(counts.values()), unit="ev", unit_scale=True, disable=not progress) as bar:
        for sample, n in counts.items():
            # crc32, unlike hash(), is the same in every process.
            rng = np.random.default_rng([seed, zlib.crc32(sample.encode())])
            write_tree(paths[sample], TREE_NAME, n, lambda size, first, s=sample, r=rng: _batch(s, size, first, r), bar)
    return paths


def event_counts(
    samples: Iterable[str] | None, events: int | Mapping[str, int] | None, scale: float = 1.0
) -> dict[str, int]:
    """The entries per sample that :func:`generate_dataset` writes for these arguments.

    Raises:
        ConfigError: an unknown sample, a negative count or a non-positive scale.
    """
    if scale <= 0:
        raise ConfigError(f"scale is {scale!r}; expected a positive number")
    if samples is None:
        samples = events.keys() if isinstance(events, Mapping) else RELEASE.samples
    counts = {}
    for sample in samples:
        RELEASE.group_of(sample)  # refuses unknown names
        if isinstance(events, Mapping) and sample in events:
            counts[sample] = int(events[sample])
        elif isinstance(events, int):
            counts[sample] = events
        else:
            counts[sample] = max(1, round(REAL_ENTRIES[sample] * scale))
        if counts[sample] < 0:
            raise ConfigError(f"{sample}: {counts[sample]} events requested; expected a count ≥ 0")
    return counts


#: A file's branches for a batch of events: flat numpy arrays and one jagged ``lep`` record.
Batch = dict[str, np.ndarray | ak.Array]


def write_tree(path: Path, tree_name: str, n: int, batch: Callable[[int, int], Batch], bar: tqdm) -> None:
    """Write ``n`` events to the TTree ``tree_name`` of a new file ``path``, atomically and in batches.

    ``batch(size, first)`` gives the branches of ``size`` events numbered from ``first``; it is
    called in order, once per :data:`BATCH_SIZE` events (once with size 0 for ``n = 0``, so that
    the tree exists). A jagged record ``lep`` becomes ``lep_<field>`` branches counted by ``lep_n``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed, so that no reader ever sees a half-written file.
    partial = path.with_name(path.name + ".part")
    with uproot.recreate(partial, compression=uproot.ZLIB(1)) as file:  # as the real files
        tree = None
        for start in range(0, max(n, 1), BATCH_SIZE):  # one empty batch for n = 0: the tree is still made
            branches = batch(min(BATCH_SIZE, n - start), start)
            if tree is None:
                tree = file.mktree(
                    tree_name,
                    {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()},
                    counter_name=lambda counted: f"{counted}_n",  # lep_n, shared by every lep_* branch
                    field_name=lambda outer, inner: f"{outer}_{inner}",  # lep_pt, not lep_lep_pt
                    initial_basket_capacity=n // BATCH_SIZE + 2,
                )
            if n:
                tree.extend(branches)
            bar.update(min(BATCH_SIZE, n - start))
    os.replace(partial, path)


def _batch(sample: str, n: int, first: int, rng: np.random.Generator) -> Batch:
    """The branches of ``n`` events, numbered from ``first``."""
    is_data = RELEASE.group_of(sample).is_data
    if is_data:
        sizes = rng.multinomial(n, list(DATA_MIXTURE.values()))
        parts = [_leptons(RECIPES[name], size, rng) for name, size in zip(DATA_MIXTURE, sizes, strict=True)]
        order = rng.permutation(n)
        lep = {k: np.concatenate([part[k] for part in parts])[order] for k in parts[0]}
        run = np.sort(rng.integers(DATA_RUNS[sample][0], DATA_RUNS[sample][1] + 1, n, dtype=np.int32))
        event = rng.integers(1, 2**31 - 1, n, dtype=np.int32)
        branches = {"runNumber": run, "eventNumber": event, "channelNumber": run}
        # The real data files hold 0 in every weight branch.
        branches |= dict.fromkeys(WEIGHT_BRANCHES, np.zeros(n, np.float32))
    else:
        lep = _leptons(RECIPES[sample], n, rng)
        branches = {
            "runNumber": np.full(n, MC_RUN_NUMBER, np.int32),
            "eventNumber": np.arange(first + 1, first + n + 1, dtype=np.int32),
            "channelNumber": np.full(n, infos[sample]["DSID"], np.int32),
            "mcWeight": _mc_weights(sample, n, rng),
        }
    has_e, has_mu = ((lep["type"][:, :4] == flavour).any(axis=1) for flavour in (11, 13))
    if not is_data:
        # Lepton scale factors only where the event has such leptons, else exactly 1.
        for name, applies in zip(WEIGHT_BRANCHES[1:], (True, has_e, has_mu, True), strict=True):
            factor = rng.normal(1.0, 0.02, n).clip(0.9, 1.1)
            branches[name] = np.where(applies, factor, 1.0).astype(np.float32)
    # Every event of the skim fired the electron or the muon trigger, by its own leptons.
    trig_e, trig_m = has_e & (rng.random(n) < 0.9), has_mu & (rng.random(n) < 0.9)
    neither = ~(trig_e | trig_m)
    branches |= {"trigE": trig_e | (neither & has_e), "trigM": trig_m | (neither & ~has_e)}
    return branches | {"lep": jagged_leptons({f: lep[f] for f in LEPTON_FIELDS}, lep["count"])}


def _leptons(recipe: Recipe, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` events' leptons: (n, 6) columns pt, eta, phi, E [MeV], charge, type, and ``count``."""
    # Two opposite-charge pairs, ee or μμ; then a wrong charge and/or flavour for the failing fraction.
    lep_type, charge = lepton_pairs(n, recipe.first_pair_ee, rng)
    fate, bad = rng.random(n), 1.0 - recipe.keep
    flip_charges(charge, np.flatnonzero((fate >= recipe.keep) & (fate < recipe.keep + 0.65 * bad)), rng)
    flip_flavours(lep_type, np.flatnonzero(fate >= recipe.keep + 0.35 * bad), rng)
    p = accepted_four_leptons(draw_mass(recipe.shape, n, rng), lepton_mass(lep_type), rng)
    pt = np.hypot(p[..., 1], p[..., 2])
    four = {"pt": pt, "eta": np.arcsinh(p[..., 3] / pt), "phi": np.arctan2(p[..., 2], p[..., 1])}
    four |= {"charge": charge, "type": lep_type}
    # Up to two extra leptons, softer than the fourth, so the first four (the analysed ones) stay.
    softest = pt.min(axis=1, keepdims=True)
    low = np.minimum(softest, MIN_PT)
    extra = {
        "pt": low + (softest - low) * np.cumprod(rng.random((n, 2)), axis=1),
        "eta": rng.uniform(-MAX_ETA, MAX_ETA, (n, 2)),
        "phi": rng.uniform(-np.pi, np.pi, (n, 2)),
        "charge": rng.choice(np.array([-1, 1]), (n, 2)),
        "type": rng.choice(np.array([11, 13]), (n, 2)),
    }
    order = np.argsort(-pt, axis=1)
    six = {k: np.concatenate([np.take_along_axis(v, order, axis=1), extra[k]], axis=1) for k, v in four.items()}
    count = 4 + (rng.random(n) < recipe.extra)
    count += (count == 5) & (rng.random(n) < recipe.extra)
    pt32, eta32 = (six["pt"] * GEV).astype(np.float32), six["eta"].astype(np.float32)
    return {
        "pt": pt32,
        "eta": eta32,
        "phi": six["phi"].astype(np.float32),
        "E": lepton_energy(pt32, eta32, lepton_mass(six["type"]) * GEV),
        "charge": six["charge"].astype(np.int32),
        "type": six["type"].astype(np.uint32),
        "count": count,
    }


def lepton_pairs(n: int, first_pair_ee: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Types (11, 13) and charges (±1) of ``n`` events' two opposite-charge same-flavour pairs, (n, 4) each.

    The first pair is ee with probability ``first_pair_ee``, the second with one half; leptons 0, 1
    form the first pair, 2, 3 the second.
    """
    lep_type = np.repeat(np.where(rng.random((n, 2)) < [first_pair_ee, 0.5], 11, 13), 2, axis=1)
    charge = np.repeat(rng.choice(np.array([-1, 1]), (n, 2)), 2, axis=1) * np.array([1, -1, 1, -1])
    return lep_type, charge


def flip_charges(charge: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Flip the charge of one random lepton (of the first four) in each of ``rows``, in place."""
    charge[rows, rng.integers(0, 4, rows.size)] *= -1


def flip_flavours(lep_type: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Swap e ↔ μ for one random lepton (of the first four) in each of ``rows``, in place."""
    column = rng.integers(0, 4, rows.size)
    lep_type[rows, column] = 24 - lep_type[rows, column]  # 11 ↔ 13


def lepton_mass(lep_type: np.ndarray) -> np.ndarray:
    """Each lepton's mass [GeV] from its type (11: electron, else muon)."""
    return np.where(lep_type == 11, ELECTRON_MASS, MUON_MASS)


def draw_mass(shape: Shape, n: int, rng: np.random.Generator) -> np.ndarray:
    """m4ℓ [GeV] of ``n`` events from a mixture shape."""
    which = rng.choice(len(shape), size=n, p=[fraction for fraction, _, _ in shape])
    mass = np.empty(n)
    for i, (_, kind, par) in enumerate(shape):
        k = int(np.count_nonzero(which == i))
        if kind == "gauss":
            mass[which == i] = rng.normal(par[0], par[1], k)
        elif kind == "gamma":
            mass[which == i] = par[0] + rng.gamma(par[1], par[2], k)
        else:  # by inverting the truncated exponential's CDF
            low, high, slope = par
            mass[which == i] = low - slope * np.log1p(rng.random(k) * np.expm1(-(high - low) / slope))
    return mass


def accepted_four_leptons(
    m4l: np.ndarray,
    mass: np.ndarray,
    rng: np.random.Generator,
    min_pt: float | Sequence[float] = MIN_PT,
    max_eta: float = MAX_ETA,
) -> np.ndarray:
    """Four-momenta [GeV] (event, lepton, E px py pz), drawn again until inside the acceptance.

    The acceptance is |η| < ``max_eta`` and pT > ``min_pt`` for every lepton or, for a sequence,
    pT > ``min_pt[i]`` for the i-th hardest. m4ℓ stays as drawn, so its shape is kept; the few
    events still outside after ``MAX_TRIES`` keep their last draw.
    """
    p = np.empty((len(m4l), 4, 4))
    todo = np.arange(len(m4l))
    for _ in range(MAX_TRIES):
        drawn = four_leptons(m4l[todo], mass[todo], rng)
        p[todo] = drawn
        pt = np.hypot(drawn[..., 1], drawn[..., 2])
        if isinstance(min_pt, int | float):
            hard_enough = pt > min_pt
        else:
            hard_enough = -np.sort(-pt, axis=1) > np.asarray(min_pt, dtype=np.float64)
        inside = hard_enough & (np.abs(np.arcsinh(drawn[..., 3] / pt)) < max_eta)
        todo = todo[~inside.all(axis=1)]
        if not todo.size:
            break
    return p


def four_leptons(m4l: np.ndarray, mass: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A boosted 4ℓ system of mass ``m4l`` → Z1 Z2 → ℓℓ ℓℓ, every decay isotropic."""
    n = len(m4l)
    # Z1 near the pole when there is room, Z2 (often off-shell) from what is left.
    m1 = np.minimum(rng.normal(Z_MASS, 2.5, n), m4l * rng.uniform(0.55, 0.9, n))
    m2 = np.minimum(rng.normal(Z_MASS, 2.5, n), (m4l - m1) * rng.uniform(0.6, 0.98, n))
    pt, y, phi = rng.gamma(2.0, 15.0, n), rng.normal(0.0, 1.0, n), rng.uniform(-np.pi, np.pi, n)
    mt = np.hypot(m4l, pt)
    system = np.stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)], axis=1)
    z1, z2 = decay(system, m4l, m1, m2, rng)
    leptons = (*decay(z1, m1, mass[:, 0], mass[:, 1], rng), *decay(z2, m2, mass[:, 2], mass[:, 3], rng))
    return np.stack(leptons, axis=1)


def decay(
    parent: np.ndarray, m: np.ndarray, ma: np.ndarray, mb: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay of ``parent`` (E px py pz) of mass ``m`` to masses ``ma``, ``mb``."""
    p = np.sqrt(np.maximum((m**2 - (ma + mb) ** 2) * (m**2 - (ma - mb) ** 2), 0.0)) / (2 * m)
    cos, phi = rng.uniform(-1.0, 1.0, len(m)), rng.uniform(-np.pi, np.pi, len(m))
    sin = np.sqrt(1.0 - cos**2)
    k = p[:, None] * np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)
    beta = parent[:, 1:] / parent[:, :1]
    return boost(np.hypot(p, ma), k, beta), boost(np.hypot(p, mb), -k, beta)


def boost(e: np.ndarray, k: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The rest-frame four-momentum (e, k) seen from a frame in which the rest frame moves at ``beta``."""
    b2, bk = np.einsum("ij,ij->i", beta, beta), np.einsum("ij,ij->i", beta, k)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    along = gamma**2 / (gamma + 1.0) * bk + gamma * e  # (γ - 1)/β² as γ²/(γ + 1): no 0/0 at rest
    return np.column_stack([gamma * (e + bk), k + along[:, None] * beta])


def lepton_energy(pt: np.ndarray, eta: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """E (float32, in the unit of ``pt`` and ``mass``) from the stored float32 pT and η, rounded up
    so that E ≥ |p| holds in the file."""
    exact = np.hypot(pt.astype(np.float64) * np.cosh(eta.astype(np.float64)), mass)
    energy = exact.astype(np.float32)
    return np.where(energy < exact, np.nextafter(energy, np.float32(np.inf)), energy)


def _mc_weights(sample: str, n: int, rng: np.random.Generator) -> np.ndarray:
    # Around the sample's mean generator weight (sumw / events) rather than 1, so that weighted
    # yields come out near the real release's; NLO samples get negative ones, the mean kept.
    negative = RECIPES[sample].negative
    weight = infos[sample]["sumw"] / infos[sample]["events"] / (1.0 - 2.0 * negative) * np.abs(rng.normal(1, 0.1, n))
    weight[rng.random(n) < negative] *= -1.0
    return weight.astype(np.float32)


#: The 2020 files' lepton branches, ``lep_<field>``, in the files' order.
LEPTON_FIELDS = ("pt", "eta", "phi", "E", "charge", "type")


def jagged_leptons(columns: Mapping[str, np.ndarray], count: np.ndarray) -> ak.Array:
    """(n, k) columns cut to each event's ``count``, as one record: a ``lep_<field>`` branch per column.

    The fields keep the mapping's order and their dtypes; :func:`write_tree` adds the counter ``lep_n``.
    """
    fields = list(columns)
    keep = np.arange(columns[fields[0]].shape[1]) < count[:, None]
    offsets = ak.index.Index64(np.concatenate([[0], np.cumsum(count)]))
    record = ak.contents.RecordArray([ak.contents.NumpyArray(columns[f][keep]) for f in fields], fields)
    return ak.Array(ak.contents.ListOffsetArray(offsets, record))
