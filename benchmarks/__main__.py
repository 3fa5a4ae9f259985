"""``python -m benchmarks``: measure the pipeline against the notebook and the read floor.

    python -m benchmarks                      # 1× and 10× datasets, HTTP with 20 ms (~8 min on 2 cores)
    python -m benchmarks --quick              # a small dataset, every code path (< 2 min)
    python -m benchmarks --sizes 1x --latency-ms 50 --http-workers 8 --repeat 3
    python -m benchmarks --whole-only --rounds 5      # only the commands, as a user runs them

Writes ``<out>/latest.json`` and ``<out>/latest.md`` (``quick.*`` with ``--quick``) and prints
the Markdown. See benchmarks/README.md for how to read it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def _sizes(text: str) -> list[float]:
    try:
        return [float(part.strip().lower().removesuffix("x")) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes like 1x,10x") from e


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["scale"]:  # the aggregator at scale: its own options (benchmarks/scale.py)
        from benchmarks.scale import main as scale_main

        return scale_main(argv[1:])
    if argv[:1] == ["model-check"]:  # the scale model against real runs (benchmarks/modelcheck.py)
        from benchmarks.modelcheck import main as model_check_main

        return model_check_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small dataset, one pass: a smoke test (< 2 min)")
    parser.add_argument("--sizes", type=_sizes, default=[1.0, 10.0], help="local datasets, e.g. 1x,10x (default)")
    parser.add_argument(
        "--http-sizes", type=_sizes, default=None, help="datasets served over HTTP (default: the same as --sizes)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added per HTTP request (default 20)")
    parser.add_argument("--http-workers", type=int, default=4, help="pipeline workers over HTTP (default 4)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per measurement, the fastest counts (default 3; 1 with --quick)"
    )
    parser.add_argument("--no-extras", action="store_true", help="skip the chunk-size sweep and other extras")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds of the whole-process race (default 3; 1 with --quick)"
    )
    parser.add_argument("--whole-only", action="store_true", help="only the whole-process race (commands)")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-process race")
    parser.add_argument("--no-coffea", action="store_true", help="leave coffea out of the race")
    parser.add_argument(
        "--broker-url", help="RabbitMQ URL (default: the local one; its runs are skipped if none answers)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the report")
    args = parser.parse_args(argv)
    if any(size <= 0 for size in args.sizes + (args.http_sizes or [])):
        parser.error("sizes are positive multiples of the real sizes, e.g. 1x,10x")

    # Imported here, not at the top: every process the measurements spawn imports this module
    # again (multiprocessing's spawn re-imports __main__), and should pay no more than hzz's CLI.
    from benchmarks.report import render_markdown
    from benchmarks.suite import DEFAULT_BROKER_URL, Options, run_suite

    options = Options(
        sizes=args.sizes,
        http_sizes=args.http_sizes if args.http_sizes is not None else args.sizes,
        latency_ms=args.latency_ms,
        http_workers=args.http_workers,
        repeat=args.repeat if args.repeat is not None else 1 if args.quick else 3,
        quick=args.quick,
        broker_url=args.broker_url or DEFAULT_BROKER_URL,
        extras=not args.no_extras,
        rounds=args.rounds if args.rounds is not None else 1 if args.quick else 3,
        whole=not args.no_whole,
        in_process=not args.whole_only,
        coffea=not args.no_coffea,
        command_line=shlex.join(sys.argv[1:] if argv is None else argv),
    )
    report = run_suite(options)
    markdown = render_markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    (args.out / f"{stem}.json").write_text(json.dumps(_without_histograms(report), indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten: {args.out / f'{stem}.md'} and {args.out / f'{stem}.json'}", file=sys.stderr)
    return 0


def _without_histograms(report: dict) -> dict:
    """The report as saved: each whole-process run's per-sample histograms left out (they were
    compared with the notebook's during the race, and the comparison is kept): ~1 MB less."""
    races = [
        {
            **race,
            "rounds": [{**r, "runs": {n: _summary_of(run) for n, run in r["runs"].items()}} for r in race["rounds"]],
        }
        for race in report.get("whole", [])
    ]
    return {**report, "whole": races} if "whole" in report else report


def _summary_of(run: dict) -> dict:
    return {key: value for key, value in run.items() if key != "samples"}


if __name__ == "__main__":
    raise SystemExit(main())
