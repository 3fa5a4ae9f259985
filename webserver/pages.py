"""The results page (``/``) and the output files it shows and offers for download (``/files/<name>``).

Only the names in :data:`hzz.webserver.reader.ALLOWED_FILES` are served: a name is looked up in that
table, never joined to the folder as given, so no path can leave the folder and files such as
``.checkpoint.json`` stay private.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file

from hzz.webserver import reader
from hzz.webserver.api import requested_run
from hzz.webserver.reader import ALLOWED_FILES

__all__ = ["pages"]

#: / and /files/<name>.
pages = Blueprint("pages", __name__)

#: Values of ``?download=`` that ask for an attachment.
_YES = frozenset({"1", "true", "yes"})


@pages.get("/")
def index() -> str:
    """The page (``?run=<id>``: showing that run); it fills itself from /api/status, /api/results,
    /api/runs and /api/scaling, starting from the status it is served with."""
    folder = requested_run()
    initial = reader.status(current_app.config["OUTPUT_DIR"], folder)
    return render_template(
        "index.html",
        poll_ms=int(current_app.config["POLL_SECONDS"] * 1000),
        initial_status=initial,
        run=request.args.get("run", "") if folder is not None else "",
    )


@pages.get("/files/<name>")
def output_file(name: str) -> Response:
    """One allow-listed output file, never cached; ``?download=1`` makes it an attachment, ``?run=<id>``
    takes it from that run's folder.

    Args:
        name (str): the file's name, e.g. ``hzz_m4l.png``.

    Returns:
        Response: the file with its media type, or 404 for any other name or a missing file.
    """
    mimetype = ALLOWED_FILES.get(name)
    if mimetype is None:
        abort(404)
    folder = requested_run()
    if folder is None or name in reader.SCALING_FILES:  # the scaling files are the deployment's, at the top
        folder = Path(current_app.config["OUTPUT_DIR"])
    path = folder / name
    if not path.is_file():
        abort(404)
    try:
        response = send_file(
            path,
            mimetype=mimetype,
            as_attachment=request.args.get("download", "").lower() in _YES,
            download_name=name,
            conditional=True,
            etag=True,
        )
    except OSError:
        # Removed or made unreadable between the check and the open: as good as absent.
        abort(404)
    # The aggregator rewrites the plot under the same name: the browser must never reuse a copy.
    response.headers["Cache-Control"] = "no-store"
    if mimetype == "image/svg+xml":
        # An SVG opened on its own is a document: let it draw, but never run script.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
