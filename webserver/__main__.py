"""``python -m hzz.webserver``: serve the results page (the container's command too).

Example::

    python -m hzz.webserver --host 127.0.0.1 --port 8080 --output-dir output_plots
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hzz.shared.data_vars import port_number

__all__ = ["main", "parse_args"]


def _threads(text: str) -> int:
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if not 1 <= threads <= 256:
        msg = f"expected 1-256 threads, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return threads


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line.

    Args:
        argv (Sequence[str] | None): the arguments (default: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: host, port, threads and output_dir.
    """
    from hzz.webserver.server import DEFAULT_THREADS

    parser = argparse.ArgumentParser(prog="python -m hzz.webserver", description="Serve the H→ZZ*→4ℓ results page.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=port_number, default=8080, help="port to listen on (default 8080)")
    parser.add_argument(
        "--threads",
        type=_threads,
        default=DEFAULT_THREADS,
        help=f"threads answering requests (default {DEFAULT_THREADS})",
    )
    parser.add_argument("--output-dir", default=None, help="the output folder (default: HZZ_OUTPUT_DIR)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the page until SIGTERM or Ctrl-C."""
    args = parse_args(argv)
    from hzz.webserver.server import serve

    try:
        serve(output_dir=args.output_dir, host=args.host, port=args.port, threads=args.threads)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        # The address only: a port in use or an address not of this machine, in one line.
        print(f"python -m hzz.webserver: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
