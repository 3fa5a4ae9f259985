"""``hzz``: run the pipeline on this machine, requeue failed chunks, generate sample files, show the settings.

Every option of ``hzz run`` overrides the ``HZZ_…`` variable of the same name (see
``hzz settings``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from hzz.shared.data_vars import PROFILE_NAMES, Settings, settings_table
from hzz.shared.errors import HZZError
from hzz.shared.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("hzz")

#: Where ``hzz run --demo`` keeps its generated datasets between runs (a folder per profile inside).
DEMO_DATASETS = Path(".cache/demo")


def _run_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run producer, workers and aggregator on this machine")
    p.add_argument("--demo", action="store_true", help="generate (once) and use a synthetic dataset of the real size")
    p.add_argument("--profile", choices=PROFILE_NAMES, help=f"the release to analyse: {', '.join(PROFILE_NAMES)}")
    p.add_argument("--dataset", help="https:// or file:// URL, or a local folder laid out like the server")
    p.add_argument("--samples", help="comma-separated samples, e.g. data_A,data_B")
    p.add_argument("--fraction", type=float, help="fraction of each file, in (0, 1]")
    p.add_argument("--chunk-size", type=int, help="entries per chunk")
    p.add_argument("--workers", type=int, help="worker processes")
    p.add_argument("--output-dir", help="folder for the plot and results.json")
    p.add_argument("--broker-url", help="RabbitMQ URL")
    p.add_argument("--queue-prefix", help="prefix of the queue names")
    p.add_argument(
        "--transport",
        choices=("auto", "rabbitmq", "embedded"),
        default="auto",
        help="auto: RabbitMQ if one answers, else embedded (default)",
    )
    p.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=8080,
        metavar="PORT",
        help="also serve the results page on this port (default 8080) until Ctrl-C",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="re-run only the failed chunks of the run in the output folder, then merge them into it",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--check", action="store_true", help="then compare the run with the notebook's published numbers (hzz check)"
    )


def _check_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check", help="compare a run on the real 2020 data with the notebook's published numbers, file by file"
    )
    p.add_argument("path", nargs="?", help="the run's results.json or folder (default: HZZ_OUTPUT_DIR)")


def _check(args: argparse.Namespace) -> int:
    from hzz.check import main as check_main

    return check_main(args.path or Settings.from_env().output_dir)


def _requeue_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "requeue-failed",
        help="publish the failed chunks of the run in the output folder again, for running workers and aggregator",
    )
    p.add_argument("--output-dir", help="the aggregator's output folder (holds the run's checkpoint)")
    p.add_argument("--broker-url", help="RabbitMQ URL")
    p.add_argument("--queue-prefix", help="prefix of the queue names")


def _requeue(args: argparse.Namespace) -> int:
    from hzz.shared.messaging import connect
    from hzz.shared.runs import load_run, requeue_failed

    overrides = {key: getattr(args, key) for key in ("output_dir", "broker_url", "queue_prefix")}
    settings = Settings.from_env(**overrides)
    tally = load_run(settings.output_dir)
    transport = connect(settings)
    tasks = requeue_failed(tally, transport)
    transport.close()
    print(f"run {tally.run_id}: requeued {len(tasks)} failed chunks on {settings.queue_prefix}.tasks")
    for task in tasks:
        print(f"  {task.chunk_id}")
    return 0


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        key: getattr(args, key)
        for key in (
            "profile",
            "dataset",
            "samples",
            "fraction",
            "chunk_size",
            "workers",
            "output_dir",
            "broker_url",
            "queue_prefix",
        )
    }
    settings = Settings.from_env(**overrides)
    if args.demo and not overrides["dataset"]:
        folder = DEMO_DATASETS / settings.profile
        if not (folder / ".complete").exists():
            print(f"generating the {settings.profile} demo dataset in {folder} (once) …", file=sys.stderr)
            _generate_demo(settings.profile, folder, progress=not args.quiet)
            (folder / ".complete").touch()
        settings = Settings.from_env(**{**overrides, "dataset": str(folder)})
    return settings


def _generate_demo(profile: str, folder: Path, *, progress: bool) -> None:
    from hzz.devtools.samplegen import generator_of

    generator_of(profile).generate_dataset(folder, progress=progress)


def _run(args: argparse.Namespace) -> int:
    from hzz import processes

    # Before the run's own imports: the forkserver loads the workers' modules on another core meanwhile.
    processes.warm_up()
    from hzz.local import run_local

    settings = _settings_from(args)
    server = _start_server(settings.output_dir, args.serve) if args.serve else None
    results = run_local(settings, transport=args.transport, progress=not args.quiet, retry_failed=args.retry_failed)
    out = Path(settings.output_dir)
    tally = results["tally"]
    print(
        f"run {results['run_id']}: {results['state']} — {tally['done']} of {tally['total']} chunks done, "
        f"{tally['failed']} failed; {results['events']['read']:,} events read, "
        f"{results['events']['selected']:,} selected, {results['events_per_second']:,.0f} events/s"
    )
    for failure in results["failed_chunks"]:
        print(f"  failed: {failure['error']}")
    print(f"plot:    {out / results['plot']['png']}  (and {results['plot']['svg']})")
    print(f"results: {out / 'results.json'}")
    code = 1 if results["state"] != "complete" else 0
    if args.check:
        from hzz.check import main as check_main

        code = max(code, check_main(out))
    if server is not None:
        print(f"page:    {server.url}  (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()
        server.stop()
    return code


def _start_server(output_dir: str, port: int):  # type: ignore[no-untyped-def]
    # The same configured server as `python -m hzz.webserver` and the container (hzz.webserver.server).
    from hzz.webserver.server import serve_in_background

    try:
        server = serve_in_background(output_dir, port=port)
    except OSError as e:
        print(f"hzz run: --serve {port}: cannot listen on 127.0.0.1:{port}: {e.strerror or e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"follow the run at {server.url}", file=sys.stderr)
    return server


def _exit_at_once(code: int) -> NoReturn:
    """End the process now that the run's outputs are written and its processes have ended.

    The interpreter's own teardown (freeing numpy, matplotlib, uproot, … module by module) takes
    0.3-0.5 s and changes nothing on disk: the results, the plot and the checkpoint were written
    atomically and the worker processes joined before run_local returned. Only the console
    command does this; a caller of main() in Python gets its return value.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hzz", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _run_parser(subparsers)
    _requeue_parser(subparsers)
    _check_parser(subparsers)
    gen = subparsers.add_parser("generate", help="write synthetic files in a release's schema", add_help=False)
    gen.add_argument("rest", nargs=argparse.REMAINDER)
    subparsers.add_parser("settings", help="list the settings and their HZZ_… variables")
    console = argv is None  # the hzz command itself, not a call from Python
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:
        # The generator has its own options; argparse would not pass "--out …" through.
        from hzz.devtools.samplegen import main as generate_main

        return generate_main(argv[1:])
    args = parser.parse_args(argv)
    configure_logging("hzz")
    logging.getLogger().setLevel(logging.WARNING)
    try:
        if args.command == "run":
            code = _run(args)
            if console:
                _exit_at_once(code)
            return code
        if args.command == "requeue-failed":
            return _requeue(args)
        if args.command == "check":
            return _check(args)
        print(settings_table())
        return 0
    except HZZError as e:
        print(f"hzz: error: {e}", file=sys.stderr)
        return 2
