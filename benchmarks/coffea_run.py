"""The notebook's selection as a coffea processor: the competitor a HEP analyst would reach for.

    python -m benchmarks.coffea_run --dataset DIR [--samples data_A] --executor iterative|futures
        [--workers 2] [--chunk-size 250000] --out result.json

coffea is optional (``pip install -e '.[bench]'``). The processor is the notebook's code
(:mod:`hzz.devtools.notebook`: the two cuts, ``vector`` four-vectors, the MC weight), run per
chunk by coffea's Runner with :class:`~coffea.nanoevents.BaseSchema` (the flat ``mini`` tree as it
is) and chunks aligned to the files' clusters, so no basket is read twice. Its histograms are
``np.histogram`` per chunk, summed in float64: equal to the notebook's to ~1e-15. The output is
one JSON document per run with the same per-sample fields as the benchmark's other rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

__all__ = ["HZZProcessor", "main", "run_coffea"]


def _processor_base() -> type:
    from coffea import processor

    return processor.ProcessorABC


class HZZProcessor(_processor_base()):  # type: ignore[misc]
    """The notebook's selection per chunk; the accumulator is a dict of per-sample numbers and arrays."""

    def __init__(self, lumi: float) -> None:
        self.lumi = lumi

    def process(self, events: Any) -> dict[str, Any]:
        from hzz.devtools.notebook import (
            _bin_edges,
            calc_mllll,
            calc_weight,
            cut_lep_charge,
            cut_lep_type,
            get_xsec_weight,
        )
        from hzz.shared.releases import release_of_sample

        sample = events.metadata["dataset"]
        n_in = len(events)
        events = events[~cut_lep_charge(events.lep_charge)]
        events = events[~cut_lep_type(events.lep_type)]
        mass = ak.to_numpy(calc_mllll(events.lep_pt, events.lep_eta, events.lep_phi, events.lep_E))
        edges = _bin_edges()
        if release_of_sample(sample).is_data(sample):
            counts = np.histogram(mass, bins=edges)[0].astype(np.float64)
            sumw, sumw2, total = counts, counts.copy(), float(len(mass))
        else:
            weights = np.asarray(ak.to_numpy(calc_weight(get_xsec_weight(sample, self.lumi), events)), np.float64)
            sumw = np.histogram(mass, bins=edges, weights=weights)[0]
            sumw2 = np.histogram(mass, bins=edges, weights=weights**2)[0]
            total = float(np.sum(weights))
        return {
            sample: {
                "events_read": n_in,
                "events_selected": len(mass),
                "weighted_yield": total,
                "sumw": sumw,
                "sumw2": sumw2,
            }
        }

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


def run_coffea(
    dataset: str,
    *,
    samples: list[str] | None,
    executor: str,
    workers: int = 2,
    chunk_size: int = 250_000,
) -> dict[str, dict[str, Any]]:
    """Every sample's outcome through coffea's Runner: per-sample counts, Σw and Σw² per bin."""
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    from hzz.shared.data_vars import Settings
    from hzz.shared.releases.r2020 import TREE_NAME

    settings = Settings(dataset=dataset, **({"samples": tuple(samples)} if samples else {}))
    fileset = {sample: {"files": {settings.file_location(sample): TREE_NAME}} for sample in settings.samples}
    if executor == "iterative":
        chosen: Any = processor.IterativeExecutor()
    elif executor == "futures":
        chosen = processor.FuturesExecutor(workers=workers)
    else:
        raise ValueError(f"unknown executor {executor!r}: iterative or futures")
    runner = processor.Runner(executor=chosen, schema=BaseSchema, chunksize=chunk_size, align_clusters=True)
    output = runner(fileset, HZZProcessor(settings.lumi), treename=TREE_NAME)
    return {
        sample: {
            "events_read": int(s["events_read"]),
            "events_selected": int(s["events_selected"]),
            "weighted_yield": float(s["weighted_yield"]),
            "sumw": [float(v) for v in s["sumw"]],
            "sumw2": [float(v) for v in s["sumw2"]],
        }
        for sample, s in output.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coffea_run", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--samples", help="comma-separated; default: every sample of the release")
    parser.add_argument("--executor", choices=("iterative", "futures"), default="iterative")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=250_000)
    parser.add_argument("--out", type=Path, required=True, help="where the per-sample results go (JSON)")
    args = parser.parse_args(argv)
    samples = args.samples.split(",") if args.samples else None
    outcome = run_coffea(
        args.dataset, samples=samples, executor=args.executor, workers=args.workers, chunk_size=args.chunk_size
    )
    args.out.write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
