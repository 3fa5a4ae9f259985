"""Synthetic files of the 2025 ``exactly4lep`` release: the real schema, physically shaped contents.

The 2025 analysis profile must run offline, so the project writes its own files in the release's
schema: TTree ``analysis``, energies and momenta in GeV, exactly four leptons per event ordered by
decreasing pT, the lepton quality flags the notebook cuts on, the trigger bits, the weight factors
and the per-event sample metadata (``xsec``, ``filteff``, ``kfac``, ``sum_of_weights``). Files sit
flat in one folder under the release's names (:func:`hzz.shared.releases.r2025.file_name`).

The kinematics are those of :mod:`hzz.devtools.samplegen.r2020` (its m4ℓ shapes, Z1 Z2 → 4ℓ decays, boosts,
energies, jagged records and batched atomic writer): only what differs is here. Every cut of the
2025 selection removes some events: per sample, each of trigger, trigger matching, lepton pT,
identification + isolation, flavour and charge fails independently with its own probability, and a
few events carry a pT exactly at a threshold (which fails, the cuts being strict). MC samples carry
negative ``mcWeight`` in a few percent of events, rare negative scale factors, and one sample each
a negative ``xsec`` (4 tops) and a negative ``kfac`` (WWW), so that the profile's absolute values
matter. ``sum_of_weights`` grows with the events written so that the weighted yields at 36.6 fb⁻¹
stay near the real analysis' at any file size; the data's pass rate gives ~1300 selected events
for the default sizes, as the published 1279.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hzz.devtools.samplegen.r2020 import (
    FAKES,
    HIGGS,
    MAX_ETA,
    MAX_TRIES,
    RECIPES,
    ZZ,
    Batch,
    Shape,
    accepted_four_leptons,
    draw_mass,
    flip_charges,
    flip_flavours,
    jagged_leptons,
    lepton_energy,
    lepton_mass,
    lepton_pairs,
    write_tree,
)
from hzz.shared.analysis import use_fastest_zlib
from hzz.shared.errors import ConfigError
from hzz.shared.releases import r2025 as release2025

__all__ = [
    "ALL_SAMPLES",
    "DATA_RUNS",
    "DEFAULT_EVENTS",
    "LUMI",
    "MC_RUN_NUMBER",
    "PAGE_DEMO",
    "PT_THRESHOLDS",
    "REAL_ENTRIES",
    "RECIPES_2025",
    "SCALE_FACTORS",
    "SHIPPED_REAL_FILES",
    "TREE_NAME",
    "Faults",
    "Recipe2025",
    "dsid_of",
    "event_counts",
    "expected_pass_fraction",
    "generate_dataset",
]

#: The release's TTree.
TREE_NAME = "analysis"

#: The page's demo run (:mod:`hzz.devtools.webdemo`): events per generated file by sample, the
#: default for the others, and the chunk size.
PAGE_DEMO: tuple[dict[str, int], int, int] = ({}, 600, 1500)
#: No real file of this release ships beside the project, so none bounds a generated size.
SHIPPED_REAL_FILES: tuple[str, ...] = ()
REAL_ENTRIES: dict[str, int] = {}

#: Integrated luminosity [fb⁻¹] of 2015+2016 the yields are set for.
LUMI = 36.6

#: The selection's pT thresholds [GeV] of the three hardest leptons (strict >).
PT_THRESHOLDS = (20.0, 15.0, 10.0)

#: Acceptance of the events that pass the pT cut: pT [GeV] > these, hardest first.
ACCEPTED_PT = (*PT_THRESHOLDS, 7.0)

#: runNumber of the release's MC (mc20a, the 2015+2016 campaign).
MC_RUN_NUMBER = 284500

#: Probability that a matched lepton is matched to the trigger, hardest first.
TRIGGER_MATCH = (0.85, 0.6, 0.4, 0.3)

#: Probability that a good electron also passes the medium identification (the selection needs loose).
ELECTRON_MEDIUM = 0.85

#: The weight factors of the MC and their spread around 1 (pile-up varies most).
SCALE_FACTORS = {
    "ScaleFactor_PILEUP": 0.1,
    "ScaleFactor_ELE": 0.02,
    "ScaleFactor_MUON": 0.02,
    "ScaleFactor_LepTRIGGER": 0.01,
}

#: Probability that each scale factor of an MC event is negative.
NEGATIVE_SCALE_FACTOR = 0.003

#: First and last run of each data-taking period (data carry the run in channelNumber too).
DATA_RUNS: dict[str, tuple[int, int]] = {
    "data15_periodD": (276073, 276954), "data15_periodE": (278727, 279928),
    "data15_periodF": (279932, 280422), "data15_periodG": (280423, 281075),
    "data15_periodH": (281130, 281411), "data15_periodJ": (282625, 284484),
    "data16_periodA": (296939, 300287), "data16_periodB": (300345, 300908),
    "data16_periodC": (301912, 302393), "data16_periodD": (302737, 303560),
    "data16_periodE": (303638, 303892), "data16_periodF": (303943, 304494),
    "data16_periodG": (305291, 306714), "data16_periodI": (307124, 308084),
    "data16_periodK": (309311, 309759), "data16_periodL": (310015, 311481),
}  # fmt: skip


@dataclass(frozen=True)
class Faults:
    """Per-event probabilities of failing each cut of the 2025 selection, drawn independently."""

    #: Neither ``trigE`` nor ``trigM``.
    trigger: float
    #: No lepton ``lep_isTrigMatched``.
    trigger_match: float
    #: A lepton of the three hardest softer than its threshold (and the softer ones with it).
    pt: float
    #: One lepton failing identification and/or isolation.
    id_iso: float
    #: One lepton's flavour swapped (flavour sum 46 or 50).
    flavour: float
    #: One lepton's charge flipped (charge sum ±2).
    charge: float
    #: A lepton's pT set exactly to its threshold, where the ordering allows: fails the strict cut.
    exact: float = 0.01

    def cut_probabilities(self) -> np.ndarray:
        """The six probabilities in the selection's order."""
        return np.array([self.trigger, self.trigger_match, self.pt, self.id_iso, self.flavour, self.charge])


#: Four prompt leptons from Z bosons (ZZ*, H → ZZ*): the selection keeps most.
PROMPT = Faults(trigger=0.02, trigger_match=0.02, pt=0.05, id_iso=0.06, flavour=0.01, charge=0.01)
#: Prompt leptons from W and Z bosons (tt̄+V, VVV, VH with H inclusive): flavours and charges mix.
MULTI = Faults(trigger=0.03, trigger_match=0.03, pt=0.1, id_iso=0.25, flavour=0.3, charge=0.3)
#: Two prompt leptons and two fakes (Z+jets, tt̄): identification and isolation remove nearly all.
FAKE = Faults(trigger=0.05, trigger_match=0.05, pt=0.45, id_iso=0.97, flavour=0.35, charge=0.45)

#: tt̄ (two prompt leptons, two fakes): the 2020 tt̄ shape, broad from 60 GeV.
TOP: Shape = RECIPES["ttbar_lep"].shape
#: Several bosons (tt̄+V, VVV): a broad spectrum from ~150 GeV.
MULTIBOSON: Shape = ((1.0, "gamma", (120.0, 2.0, 60.0)),)
#: VH with the Higgs decaying inclusively: a 125 GeV peak for H → ZZ*, a continuum for the rest.
VH_INCLUSIVE: Shape = ((0.5, "gauss", (125.0, 2.0)), (0.5, "gamma", (80.0, 2.0, 50.0)))


@dataclass(frozen=True)
class Recipe2025:
    """How one MC sample's events look, and the metadata its file carries."""

    shape: Shape
    faults: Faults
    #: Cross-section [pb], filter efficiency and k-factor, as the file stores them (signs included).
    xsec: float
    filteff: float
    kfac: float
    #: Weighted events after all cuts at :data:`LUMI`: sets ``sum_of_weights``.
    expected_yield: float
    #: Probability that the first lepton pair is ee rather than μμ (the second's: one half).
    first_pair_ee: float = 0.5
    #: Fraction of negative mcWeight, as NLO generators give.
    negative: float = 0.0
    #: Mean |mcWeight|.
    mean_weight: float = 1.0


#: Per MC DSID. The yields add up to ~1070 ZZ*, ~190 other backgrounds and ~28 signal events
#: (24 of them in 122.5–130 GeV; the published notebook: 28.7) for ~1300 data events.
RECIPES_2025: dict[int, Recipe2025] = {
    # Z+jets, tt̄, tt̄+V, VVV
    410470: Recipe2025(TOP, FAKE, 729.77, 0.5438, 1.1398, 30.0, negative=0.005),
    410155: Recipe2025(MULTIBOSON, MULTI, 0.5483, 1.0, 1.10, 3.0, negative=0.1),
    410218: Recipe2025(MULTIBOSON, MULTI, 0.03688, 1.0, 1.12, 6.0, first_pair_ee=1.0, negative=0.1),
    410219: Recipe2025(MULTIBOSON, MULTI, 0.03688, 1.0, 1.12, 7.0, first_pair_ee=0.0, negative=0.1),
    412043: Recipe2025(MULTIBOSON, MULTI, -0.01197, 1.0, 1.0, 0.3, negative=0.1),  # a negative xsec
    364243: Recipe2025(MULTIBOSON, MULTI, 0.0017966, 1.0, 1.0, 5.0, negative=0.04),
    364242: Recipe2025(MULTIBOSON, MULTI, 0.0072, 1.0, -1.0, 0.5, negative=0.04),  # a negative kfac
    364246: Recipe2025(MULTIBOSON, MULTI, 0.00018851, 1.0, 1.0, 0.8, negative=0.04),
    364248: Recipe2025(MULTIBOSON, MULTI, 0.000044556, 1.0, 1.0, 0.3, negative=0.04),
    700320: Recipe2025(FAKES, FAKE, 2221.2, 0.0283, 1.0, 8.0, first_pair_ee=1.0, negative=0.05),
    700321: Recipe2025(FAKES, FAKE, 2221.2, 0.1360, 1.0, 12.0, first_pair_ee=1.0, negative=0.05),
    700322: Recipe2025(FAKES, FAKE, 2221.2, 0.8359, 1.0, 40.0, first_pair_ee=1.0, negative=0.05),
    700323: Recipe2025(FAKES, FAKE, 2221.5, 0.0283, 1.0, 9.0, first_pair_ee=0.0, negative=0.05),
    700324: Recipe2025(FAKES, FAKE, 2221.5, 0.1360, 1.0, 14.0, first_pair_ee=0.0, negative=0.05),
    700325: Recipe2025(FAKES, FAKE, 2221.5, 0.8359, 1.0, 48.0, first_pair_ee=0.0, negative=0.05),
    # ZZ*
    700600: Recipe2025(ZZ, PROMPT, 1.2526, 1.0, 1.0, 1070.0, negative=0.05),
    # Signal: the Higgs-decay filters carry BR(H → ZZ* → 4ℓ) ≈ 1.25e-4
    345060: Recipe2025(HIGGS, PROMPT, 28.3, 0.000124, 1.72, 24.0, negative=0.02),
    346228: Recipe2025(HIGGS, PROMPT, 3.77, 0.000125, 1.0, 2.2, negative=0.005),
    346310: Recipe2025(VH_INCLUSIVE, MULTI, 0.8696, 1.0, 1.0, 0.6, negative=0.005),
    346311: Recipe2025(VH_INCLUSIVE, MULTI, 0.8399, 1.0, 1.0, 0.35, negative=0.005),
    346312: Recipe2025(VH_INCLUSIVE, MULTI, 0.5328, 1.0, 1.0, 0.25, negative=0.005),
    346340: Recipe2025(HIGGS, PROMPT, 0.5071, 0.0000571, 1.0, 0.05),
    346341: Recipe2025(HIGGS, PROMPT, 0.5071, 0.0000544, 1.0, 0.05),
    346342: Recipe2025(HIGGS, PROMPT, 0.5071, 0.0000131, 1.0, 0.015),
}

#: Data: the components' shares of the events before the cuts (by DSID of the recipe). Fakes
#: dominate before the cuts; ~4% of the events pass, ~83% of those ZZ*.
DATA_MIXTURE: dict[int, float] = {700600: 0.040, 345060: 0.001, 410218: 0.003, 410470: 0.056,
                                  700322: 0.45, 700325: 0.45}  # fmt: skip

#: Every sample: the data periods, then the MC samples group by group.
ALL_SAMPLES: tuple[str, ...] = (
    *release2025.DATA_SAMPLES,
    *(sample for samples in release2025.MC_SAMPLES.values() for sample in samples),
)


def dsid_of(sample: str) -> int:
    """The DSID of an MC sample name ``mc_<DSID>.<short name>``."""
    return int(sample.split(".", 1)[0].removeprefix("mc_"))


def _default_events(sample: str) -> int:
    if sample in DATA_RUNS:
        return 2_000
    return {700600: 20_000, 345060: 10_000}.get(dsid_of(sample), 2_000)


#: Entries per file by default: 2,000 per data period, 20,000 ZZ*, 10,000 ggH, 2,000 for the
#: other MC samples (106,000 in all).
DEFAULT_EVENTS: dict[str, int] = {sample: _default_events(sample) for sample in ALL_SAMPLES}


def generate_dataset(
    folder: str | Path,
    *,
    samples: Iterable[str] | None = None,
    events: int | Mapping[str, int] | None = None,
    seed: int = 2025,
    progress: bool = False,
) -> dict[str, Path]:
    """Write one synthetic file per sample, flat in ``folder``, under the release's file names.

    Args:
        folder: the dataset folder.
        samples: which samples (:data:`ALL_SAMPLES`' names); all by default (the mapping's keys
            if ``events`` is one).
        events: entries per file: None for :data:`DEFAULT_EVENTS`, an int for every sample, or
            a mapping per sample (samples it lacks get the default).
        seed: the same seed gives the same files; each sample draws from (seed, its name).
        progress: show a tqdm bar over all events.

    Returns:
        dict[str, Path]: each sample's file, ``folder / release2025.file_name(sample)``.

    Raises:
        ConfigError: an unknown sample or a negative count.
    """
    counts = event_counts(samples, events)
    paths = {sample: Path(folder) / release2025.file_name(sample) for sample in counts}
    use_fastest_zlib()
    with tqdm(total=sum(counts.values()), unit="ev", unit_scale=True, disable=not progress) as bar:
        for sample, n in counts.items():
            # crc32, unlike hash(), is the same in every process.
            rng = np.random.default_rng([seed, zlib.crc32(sample.encode())])
            write_tree(
                paths[sample],
                TREE_NAME,
                n,
                lambda size, first, s=sample, total=n, r=rng: _batch(s, size, first, total, r),
                bar,
            )
    return paths


def event_counts(
    samples: Iterable[str] | None, events: int | Mapping[str, int] | None, scale: float = 1.0
) -> dict[str, int]:
    """The entries per sample that :func:`generate_dataset` writes for these arguments.

    ``scale`` multiplies the defaults (at least one event per file).

    Raises:
        ConfigError: an unknown sample, a negative count or a non-positive scale.
    """
    if scale <= 0:
        raise ConfigError(f"scale is {scale!r}; expected a positive number")
    if samples is None:
        samples = events.keys() if isinstance(events, Mapping) else ALL_SAMPLES
    counts = {}
    for sample in samples:
        if sample not in DEFAULT_EVENTS:
            raise ConfigError(f"unknown 2025 sample {sample!r}; expected one of {', '.join(ALL_SAMPLES)}")
        if isinstance(events, Mapping) and sample in events:
            counts[sample] = int(events[sample])
        elif isinstance(events, int):
            counts[sample] = events
        else:
            counts[sample] = max(1, round(DEFAULT_EVENTS[sample] * scale))
        if counts[sample] < 0:
            raise ConfigError(f"{sample}: {counts[sample]} events requested; expected a count ≥ 0")
    return counts


def expected_pass_fraction(faults: Faults) -> float:
    """The fraction of a recipe's events expected to pass all six cuts."""
    # An exact-threshold lepton is set in about half of the events drawn for it (where the next
    # lepton is not harder than the threshold).
    return float(np.prod(1.0 - faults.cut_probabilities()) * (1.0 - 0.5 * faults.exact))


def _batch(sample: str, n: int, first: int, total: int, rng: np.random.Generator) -> Batch:
    """The branches of ``n`` events of a file of ``total``, numbered from ``first``."""
    if sample in DATA_RUNS:
        sizes = rng.multinomial(n, list(DATA_MIXTURE.values()))
        parts = [_events(RECIPES_2025[dsid], size, rng) for dsid, size in zip(DATA_MIXTURE, sizes, strict=True)]
        order = rng.permutation(n)
        ev = {k: np.concatenate([part[k] for part in parts])[order] for k in parts[0]}
        run = np.sort(rng.integers(DATA_RUNS[sample][0], DATA_RUNS[sample][1] + 1, n, dtype=np.int32))
        branches: Batch = {
            "runNumber": run,
            "eventNumber": rng.integers(1, 2**33, n, dtype=np.int64),
            "channelNumber": run,
            # The data carry 1 in every weight factor and 0 in the metadata: never used for data.
            "mcWeight": np.ones(n, np.float32),
            "xsec": np.zeros(n, np.float32),
            "filteff": np.zeros(n, np.float32),
            "kfac": np.zeros(n, np.float32),
            "sum_of_weights": np.zeros(n, np.float64),
        }
        branches |= dict.fromkeys(SCALE_FACTORS, np.ones(n, np.float32))
    else:
        dsid = dsid_of(sample)
        recipe = RECIPES_2025[dsid]
        ev = _events(recipe, n, rng)
        branches = {
            "runNumber": np.full(n, MC_RUN_NUMBER, np.int32),
            "eventNumber": np.arange(first + 1, first + n + 1, dtype=np.int64),
            "channelNumber": np.full(n, dsid, np.int32),
            "mcWeight": _mc_weights(recipe, n, rng),
            "xsec": np.full(n, recipe.xsec, np.float32),
            "filteff": np.full(n, recipe.filteff, np.float32),
            "kfac": np.full(n, recipe.kfac, np.float32),
            "sum_of_weights": np.full(n, _sum_of_weights(recipe, total), np.float64),
        }
        has_e, has_mu = ((ev["type"] == flavour).any(axis=1) for flavour in (11, 13))
        # Lepton scale factors only where the event has such leptons, else exactly 1.
        for (name, sigma), applies in zip(SCALE_FACTORS.items(), (True, has_e, has_mu, True), strict=True):
            factor = rng.normal(1.0, sigma, n).clip(0.5, 1.5)
            factor[rng.random(n) < NEGATIVE_SCALE_FACTOR] *= -1.0
            branches[name] = np.where(applies, factor, 1.0).astype(np.float32)
    branches |= {"trigE": ev.pop("trigE"), "trigM": ev.pop("trigM")}
    return branches | {"lep": jagged_leptons(ev, np.full(n, 4))}


def _events(recipe: Recipe2025, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``n`` events' four leptons as (n, 4) columns, hardest first, plus ``trigE`` and ``trigM``."""
    fails = rng.random((n, 6)) < recipe.faults.cut_probabilities()
    fail_trigger, fail_match, fail_pt, fail_id_iso, fail_flavour, fail_charge = fails.T
    # Two opposite-charge pairs, ee or μμ, then a wrong flavour and/or charge; then the kinematics.
    lep_type, charge = lepton_pairs(n, recipe.first_pair_ee, rng)
    flip_flavours(lep_type, np.flatnonzero(fail_flavour), rng)
    flip_charges(charge, np.flatnonzero(fail_charge), rng)
    p = _four_momenta(recipe.shape, lepton_mass(lep_type), rng)
    pt = np.hypot(p[..., 1], p[..., 2])
    order = np.argsort(-pt, axis=1)
    pt, px, py, pz = (np.take_along_axis(a, order, axis=1) for a in (pt, p[..., 1], p[..., 2], p[..., 3]))
    lep_type, charge = np.take_along_axis(lep_type, order, axis=1), np.take_along_axis(charge, order, axis=1)
    _soften(pt, np.flatnonzero(fail_pt), rng)
    _set_exact_thresholds(pt, np.flatnonzero(rng.random(n) < recipe.faults.exact), rng)
    pt32 = pt.astype(np.float32)
    eta32 = np.arcsinh(pz / np.hypot(px, py)).astype(np.float32)  # η and φ of the momentum as drawn
    flags = _quality_flags(lep_type, fail_id_iso, rng)
    matched = rng.random((n, 4)) < TRIGGER_MATCH
    matched[~matched.any(axis=1), 0] = True
    matched[fail_match] = False
    has_e, has_mu = (lep_type == 11).any(axis=1), (lep_type == 13).any(axis=1)
    trig_e, trig_m = has_e & (rng.random(n) < 0.9), has_mu & (rng.random(n) < 0.9)
    neither = ~(trig_e | trig_m)
    trig_e, trig_m = trig_e | (neither & has_e), trig_m | (neither & ~has_e)
    return {
        "pt": pt32,
        "eta": eta32,
        "phi": np.arctan2(py, px).astype(np.float32),
        "e": lepton_energy(pt32, eta32, lepton_mass(lep_type)),
        "charge": charge.astype(np.int32),
        "type": lep_type.astype(np.int32),
        "isTrigMatched": matched,
        **flags,
        "trigE": trig_e & ~fail_trigger,
        "trigM": trig_m & ~fail_trigger,
    }


def _four_momenta(shape: Shape, mass: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Four-momenta [GeV] (event, lepton, E px py pz) of m4ℓ from ``shape``, all inside :data:`ACCEPTED_PT`.

    The rare events that :func:`accepted_four_leptons` leaves outside (m4ℓ too low for the
    thresholds, ~0.1% of the fakes') get a new m4ℓ.
    """
    p = accepted_four_leptons(draw_mass(shape, len(mass), rng), mass, rng, min_pt=ACCEPTED_PT)
    for _ in range(MAX_TRIES):
        pt = np.hypot(p[..., 1], p[..., 2])
        inside = (-np.sort(-pt, axis=1) > ACCEPTED_PT) & (np.abs(np.arcsinh(p[..., 3] / pt)) < MAX_ETA)
        outside = np.flatnonzero(~inside.all(axis=1))
        if not outside.size:
            break
        p[outside] = accepted_four_leptons(draw_mass(shape, outside.size, rng), mass[outside], rng, min_pt=ACCEPTED_PT)
    return p


def _soften(pt: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Bring one of the three hardest leptons of each of ``rows`` below its threshold, in place.

    The softer leptons follow it down, so the order by pT stays.
    """
    rank = rng.choice(3, rows.size, p=[0.2, 0.3, 0.5])
    target = np.asarray(PT_THRESHOLDS)[rank] * rng.uniform(0.6, 1.0, rows.size)
    shrink = rng.uniform(0.85, 1.0, (rows.size, 3))
    new = pt[rows]
    every = np.arange(rows.size)
    new[every, rank] = np.minimum(new[every, rank], target)
    for k in range(1, 4):
        new[:, k] = np.where(k > rank, np.minimum(new[:, k], new[:, k - 1] * shrink[:, k - 1]), new[:, k])
    pt[rows] = new


def _set_exact_thresholds(pt: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Set the pT of one of the three hardest leptons of each of ``rows`` exactly to its threshold.

    Only where that lepton is harder than the threshold and the next one no harder, so the pT
    only goes down, the order by pT stays and, when the event passed the pT cut, only the
    strictness of that cut removes it.
    """
    rank = rng.integers(0, 3, rows.size)
    threshold = np.asarray(PT_THRESHOLDS)[rank]
    ok = (pt[rows, rank] > threshold) & (pt[rows, rank + 1] <= threshold)
    pt[rows[ok], rank[ok]] = threshold[ok]


def _quality_flags(lep_type: np.ndarray, fail: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The identification and isolation flags: every lepton good but one in each ``fail`` event.

    A good electron is loose (and medium in most cases: the selection must not ask for it), a good
    muon medium and loose; all are isolated. The failing lepton misses its identification, its
    isolation or both; a failing muon may still be loose (the selection asks for medium).
    """
    n = len(lep_type)
    is_e = lep_type == 11
    loose_id = np.ones((n, 4), bool)
    medium_id = ~is_e | (rng.random((n, 4)) < ELECTRON_MEDIUM)
    loose_iso = np.ones((n, 4), bool)
    rows = np.flatnonzero(fail)
    column = rng.integers(0, 4, rows.size)
    how = rng.integers(0, 3, rows.size)  # 0: identification, 1: isolation, 2: both
    bad_id, bad_iso = how != 1, how != 0
    electron = is_e[rows, column]
    medium_id[rows[bad_id], column[bad_id]] = False
    still_loose = ~electron & (rng.random(rows.size) < 0.5)
    loose_id[rows[bad_id], column[bad_id]] = still_loose[bad_id]
    loose_iso[rows[bad_iso], column[bad_iso]] = False
    return {"isLooseID": loose_id, "isMediumID": medium_id, "isLooseIso": loose_iso}


def _mc_weights(recipe: Recipe2025, n: int, rng: np.random.Generator) -> np.ndarray:
    weight = recipe.mean_weight * np.abs(rng.normal(1.0, 0.1, n))
    weight[rng.random(n) < recipe.negative] *= -1.0
    return weight.astype(np.float32)


def _sum_of_weights(recipe: Recipe2025, total: int) -> float:
    """The sum of weights that gives the recipe's yield at :data:`LUMI` for a file of ``total`` events.

    It stands for the sum over the whole sample the file is a skim of, which grows with the file.
    """
    per_event = LUMI * 1000.0 * abs(recipe.xsec * recipe.filteff * recipe.kfac) * recipe.mean_weight
    return per_event * max(total, 1) * expected_pass_fraction(recipe.faults) / recipe.expected_yield
