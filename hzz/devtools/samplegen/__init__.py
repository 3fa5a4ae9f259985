"""Synthetic ROOT files in a release's real schema, for tests, benchmarks and ``hzz run --demo``.

One module per release (:mod:`~hzz.devtools.samplegen.r2020`, :mod:`~hzz.devtools.samplegen.r2025`,
named by each release's ``sample_generator``), each with ``event_counts(samples, events, scale)``
and ``generate_dataset(folder, *, events, seed, progress)``. ``hzz generate`` is :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from hzz.shared.errors import ConfigError
from hzz.shared.releases import RELEASES, get_release

__all__ = ["generator_of", "main"]


def generator_of(profile: str) -> ModuleType:
    """The sample generator of a profile's release."""
    return importlib.import_module(get_release(profile).sample_generator)


def main(argv: list[str] | None = None) -> int:
    """``hzz generate`` / ``python -m hzz.devtools.samplegen``: write a synthetic dataset, say where.

    Returns:
        int: 0 on success, 2 on a bad argument.
    """
    parser = argparse.ArgumentParser(prog="hzz generate", description="Write synthetic files of an analysis profile.")
    parser.add_argument("--out", required=True, help="dataset folder (2020: gets Data/ and MC/; 2025: flat)")
    parser.add_argument(
        "--profile", choices=tuple(RELEASES), default=next(iter(RELEASES)), help="release schema to write"
    )
    parser.add_argument("--samples", help="comma-separated samples (default: all of the profile's)")
    parser.add_argument("--events", type=int, help="entries per file (default: the profile's counts × --scale)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the default counts (default 1)")
    parser.add_argument("--seed", type=int, help="random seed (default: the profile's year)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    samples = [s.strip() for s in args.samples.split(",") if s.strip()] if args.samples else None
    seed = int(args.profile) if args.seed is None else args.seed
    generator = generator_of(args.profile)
    try:
        counts = generator.event_counts(samples, args.events, args.scale)
        paths = generator.generate_dataset(args.out, events=counts, seed=seed, progress=not args.quiet)
    except ConfigError as e:
        print(f"hzz generate: error: {e}", file=sys.stderr)
        return 2
    for sample, path in paths.items():
        print(f"{sample:>15}: {counts[sample]:>11,} events  {path}")
    print(f"{sum(counts.values()):,} events in {len(paths)} files under {args.out}")
    return 0
