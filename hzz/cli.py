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
import textwrap
import traceback
from pathlib import Path
from typing import NoReturn

from hzz.shared.data_vars import PROFILE_NAMES, Settings, env_name, port_number, setting_sources, settings_table
from hzz.shared.errors import HZZError, RunInterrupted
from hzz.shared.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("hzz")

#: Where ``hzz run --demo`` keeps its generated datasets between runs (a folder per profile inside).
DEMO_DATASETS = Path(".cache/demo")


#: The options that set a setting (``hzz run`` and ``hzz settings``), each overriding its HZZ_… variable.
SETTING_OPTIONS = (
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


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad option answered in one line (not the whole usage) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _setting_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILE_NAMES, help=f"the release to analyse: {', '.join(PROFILE_NAMES)}")
    p.add_argument("--dataset", help="https:// or file:// URL, or a local folder laid out like the server")
    p.add_argument("--samples", help="comma-separated samples, e.g. data_A,data_B")
    p.add_argument("--fraction", type=float, help="fraction of each file, in (0, 1]")
    p.add_argument("--chunk-size", type=int, help="entries per chunk")
    p.add_argument("--workers", type=int, help="worker processes")
    p.add_argument("--output-dir", help="folder for the plot and results.json")
    p.add_argument("--broker-url", help="RabbitMQ URL")
    p.add_argument("--queue-prefix", help="prefix of the queue names")


def _verbosity_options(p: argparse.ArgumentParser, *, default: object) -> None:
    # On the main parser and on "run" alike (hzz -v run, hzz run -v): the sub-command's default is
    # SUPPRESS so that it does not overwrite what the main parser found.
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default if default is argparse.SUPPRESS else 0,
        help="more detail: the full error behind each problem, the run's progress in the log (-vv: debug)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress bar, no transport line, only errors"
    )


def _run_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run producer, workers and aggregator on this machine")
    p.add_argument("--demo", action="store_true", help="generate (once) and use a synthetic dataset of the real size")
    _setting_options(p)
    p.add_argument(
        "--transport",
        choices=("auto", "rabbitmq", "embedded"),
        default="auto",
        help="auto: RabbitMQ if one answers, embedded if nothing listens at the broker's address (default)",
    )
    p.add_argument(
        "--serve",
        type=port_number,
        nargs="?",
        const=8080,
        metavar="PORT",
        help="also serve the results page on this port (default 8080) until Ctrl-C",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish the run in the output folder (interrupted, or with failed chunks): its pending and failed chunks",
    )
    p.add_argument("--retry-failed", action="store_true", help="the same as --resume (its older name)")
    _verbosity_options(p, default=argparse.SUPPRESS)
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
    overrides = {key: getattr(args, key) for key in SETTING_OPTIONS}
    settings = Settings.from_env(**overrides)
    if args.demo and not overrides["dataset"]:
        folder = DEMO_DATASETS / settings.profile
        if not (folder / ".complete").exists():
            print(f"generating the {settings.profile} demo dataset in {folder} (once) …", file=sys.stderr)
            _generate_demo(settings.profile, folder, progress=not args.quiet)
            (folder / ".complete").touch()
        settings = Settings.from_env(**{**overrides, "dataset": str(folder)})
    return settings


def _settings_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "settings", help="show each setting's effective value and where it comes from (default, environment, option)"
    )
    _setting_options(p)
    p.add_argument("--table", action="store_true", help="the Markdown table of every setting, its default and meaning")


def _show_settings(args: argparse.Namespace) -> int:
    if args.table:
        print(settings_table())
        return 0
    overrides = {key: getattr(args, key) for key in SETTING_OPTIONS}
    settings = Settings.from_env(**overrides)
    sources = setting_sources(**overrides)
    values = settings.public_dict()
    rows = []
    for name, value in values.items():
        source = sources[name]
        if source == "option":
            source = f"option --{name.replace('_', '-')}"
        elif source == "environment":
            source = f"environment {env_name(name)}"
        elif name in ("dataset", "samples", "lumi"):
            source = "default (the profile's)"
        elif name == "signing_key" and not value:
            value = "(none: hzz run makes one per run)"
        shown = ",".join(value) if isinstance(value, list) else str(value)
        rows.append((name, shown, source))
    width = max(len(name) for name, _, _ in rows)
    print(f"{'setting':{width}}  {'from':28}  value")
    for name, shown, source in rows:
        print(f"{name:{width}}  {source:28}  {shown}")
    return 0


def _generate_demo(profile: str, folder: Path, *, progress: bool) -> None:
    from hzz.devtools.samplegen import generator_of

    generator_of(profile).generate_dataset(folder, progress=progress)


def _run(args: argparse.Namespace) -> int:
    from hzz import processes
    from hzz.shared import drawing

    settings = _settings_from(args)
    resuming = args.resume or args.retry_failed
    # Before the run's own imports: the forkserver loads the workers' modules on another core
    # meanwhile — unless the workers can be forked from this process (no other thread runs here:
    # the page's server would be one). A small local input is analysed in this process: no
    # forkserver is started for it.
    small = not resuming and processes.small_local_input(settings)
    if not small and (args.serve or not processes.fork_from_here()):
        processes.warm_up()
    # matplotlib imported in a process of its own meanwhile, for the plot at the end (on the
    # second core, which this process's own imports leave free)
    drawing.start_early()
    from hzz.local import run_local
    from hzz.preflight import preflight
    from hzz.shared.messaging import transport_line

    # Nothing is published, started or written before every check has passed (hzz.preflight).
    # A resumed run reads what its manifest names (settings_of_run), not this command's dataset.
    checked = preflight(settings, transport=args.transport, dataset=not resuming)
    if not checked.ok:
        for problem in checked.problems:
            print(f"hzz: error: {problem.line}", file=sys.stderr)
            if args.verbose and problem.detail():
                print(textwrap.indent(problem.detail(), "    "), file=sys.stderr)
        return 2
    assert checked.transport is not None
    if not args.quiet:  # the first line: what runs where (results.json and the page record it too)
        url = settings.public_dict()["broker_url"] if checked.transport == "rabbitmq" else None
        print(f"transport: {transport_line({'kind': checked.transport, 'broker_url': url})}", flush=True)
    server = _start_server(settings.output_dir, args.serve) if args.serve else None
    results = run_local(settings, transport=checked.transport, progress=not args.quiet, resume=resuming)
    out = Path(settings.output_dir)
    tally = results["tally"]
    print(
        f"run {results['run_id']}: {results['state']} — {tally['done']} of {tally['total']} chunks done, "
        f"{tally['failed']} failed; {results['events']['read']:,} events read, "
        f"{results['events']['selected']:,} selected, {results['events_per_second']:,.0f} events/s"
    )
    for failure in results["failed_chunks"]:
        print(f"  failed: {failure['error']}")
    for warning in results.get("warnings", []):
        print(f"  warning: {warning}")
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


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hzz-pipeline")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="hzz", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _verbosity_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _run_parser(subparsers)
    _requeue_parser(subparsers)
    _check_parser(subparsers)
    gen = subparsers.add_parser("generate", help="write synthetic files in a release's schema", add_help=False)
    gen.add_argument("rest", nargs=argparse.REMAINDER)
    _settings_parser(subparsers)
    console = argv is None  # the hzz command itself, not a call from Python
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:
        # The generator has its own options; argparse would not pass "--out …" through.
        from hzz.devtools.samplegen import main as generate_main

        return generate_main(argv[1:])
    args = parser.parse_args(argv)
    configure_logging("hzz")
    # Warnings by default; -v: what the run does (INFO), -vv: debug; -q: errors only.
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO)[min(args.verbose, 1)]
    logging.getLogger().setLevel(logging.DEBUG if args.verbose >= 2 else level)
    try:
        if args.command == "run":
            try:
                code = _run(args)
            except RunInterrupted as e:  # one line: how far the run got and how to finish it
                print(str(e) if str(e) else "hzz: interrupted", file=sys.stderr)
                code = e.exit_code
            except KeyboardInterrupt:  # before the run started (or after it ended): nothing to resume
                print("hzz: interrupted", file=sys.stderr)
                code = 130
            if console:
                _exit_at_once(code)
            return code
        if args.command == "requeue-failed":
            return _requeue(args)
        if args.command == "check":
            return _check(args)
        return _show_settings(args)
    except HZZError as e:
        # One line per problem (settings report all of theirs at once); -v adds the error behind it.
        for line in str(e).splitlines():
            print(f"hzz: error: {line}", file=sys.stderr)
        if args.verbose:
            detail = "".join(traceback.format_exception(e)).rstrip()
            print(textwrap.indent(detail, "    "), file=sys.stderr)
        if console:
            _exit_at_once(2)
        return 2
