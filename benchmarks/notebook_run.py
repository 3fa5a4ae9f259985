"""The notebook's loop as its own process: ``python -m benchmarks.notebook_run --dataset DIR --out F``.

The whole-process race (:mod:`benchmarks.wholeprocess`) times it from start to exit, as a user
running the notebook's code as a script would wait for it. It writes every sample's counts and
binned Σw, Σw² as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook_run", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--samples", help="comma-separated; default: every sample of the release")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from hzz.devtools.notebook import run_notebook
    from hzz.shared.data_vars import Settings

    settings = Settings(dataset=args.dataset, **({"samples": tuple(args.samples.split(","))} if args.samples else {}))
    outcome = run_notebook(settings)
    args.out.write_text(json.dumps({name: s.to_json() for name, s in outcome.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
