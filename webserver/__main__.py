"""``python -m hzz.webserver``: serve the results page with gunicorn (never Flask's development server).

Example::

    python -m hzz.webserver --host 127.0.0.1 --port 8080 --output-dir output_plots
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hzz.webserver.server import serve

__all__ = ["main", "parse_args"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line.

    Args:
        argv (Sequence[str] | None): the arguments (default: ``sys.argv[1:]``).

    Returns:
        argparse.Namespace: host, port, workers, threads and output_dir.
    """
    parser = argparse.ArgumentParser(prog="python -m hzz.webserver", description="Serve the H→ZZ*→4ℓ results page.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--output-dir", default=None, help="the output folder (default: HZZ_OUTPUT_DIR)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the page until interrupted."""
    args = parse_args(argv)
    serve(output_dir=args.output_dir, host=args.host, port=args.port, workers=args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
