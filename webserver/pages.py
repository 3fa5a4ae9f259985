"""The results page (``/``) and the output files it shows and offers for download (``/files/<name>``).

Only the names in :data:`hzz.webserver.reader.ALLOWED_FILES` are served: a name is looked up in that
table, never joined to the folder as given, so no path can leave the folder and files such as
``.checkpoint.json`` stay private.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from hzz.shared.errors import RefusedFile
from hzz.shared.safe_files import open_regular
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
def output_file(name: str) -> Response | tuple[Response, int]:
    """One allow-listed output file, never cached; ``?download=1`` makes it an attachment, ``?run=<id>``
    takes it from that run's folder.

    Args:
        name (str): the file's name, e.g. ``hzz_m4l.png``.

    Returns:
        Response: the file with its media type, 404 for any other name or a missing file, 403
        (with the reason) for a symbolic link, FIFO, device or folder under an allowed name.
    """
    mimetype = ALLOWED_FILES.get(name)
    if mimetype is None:
        abort(404)
    folder = requested_run()
    if folder is None or name in reader.SCALING_FILES:  # the scaling files are the deployment's, at the top
        folder = Path(current_app.config["OUTPUT_DIR"])
    path = folder / name
    try:
        # No link followed, no FIFO waited for, only a regular file (hzz.shared.safe_files).
        file, info = open_regular(path)
    except RefusedFile as e:
        return _refused(reader.log_refusal(path, str(e)))
    except OSError:
        # Absent, or removed or made unreadable meanwhile.
        abort(404)
    # The server's file wrapper (waitress's) sends the file from its event loop as the client
    # reads: a client that never reads holds no thread. It sends Content-Length bytes, no more.
    file_wrapper = request.environ.get("wsgi.file_wrapper")
    body = file_wrapper(file, _Stream.BLOCK) if file_wrapper is not None else _Stream(file, info.st_size)
    response = current_app.response_class(body, mimetype=mimetype, direct_passthrough=True)
    response.content_length = info.st_size
    response.last_modified = datetime.fromtimestamp(info.st_mtime, tz=UTC)
    response.set_etag(f"{info.st_mtime_ns:x}-{info.st_size:x}-{info.st_ino:x}")
    disposition = "attachment" if request.args.get("download", "").lower() in _YES else "inline"
    response.headers.set("Content-Disposition", disposition, filename=name)
    response = response.make_conditional(request, accept_ranges=True, complete_length=info.st_size)
    # The aggregator rewrites the plot under the same name: the browser must never reuse a copy.
    response.headers["Cache-Control"] = "no-store"
    if mimetype == "image/svg+xml":
        # An SVG opened on its own is a document: let it draw, but never run script.
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


class _Stream:
    """The first ``size`` bytes of an open file, in blocks; the file is closed when the answer ends
    (where the WSGI server has no file wrapper of its own, e.g. Flask's test client).

    Only as many bytes as ``fstat`` reported when the file was opened are sent, so the answer
    matches its Content-Length even when a log grows meanwhile. A range request skips blocks
    (werkzeug's range wrapper): the files are small.
    """

    #: Bytes per block sent.
    BLOCK = 64 * 1024

    def __init__(self, file: BinaryIO, size: int) -> None:
        self._file = file
        self._left = size

    def __iter__(self) -> Iterator[bytes]:
        try:
            while self._left > 0:
                block = self._file.read(min(self.BLOCK, self._left))
                if not block:
                    break
                self._left -= len(block)
                yield block
        finally:
            self.close()

    def close(self) -> None:
        """Called by the WSGI server when the answer ends, also when it was never iterated (HEAD)."""
        self._file.close()


def _refused(reason: str) -> tuple[Response, int]:
    """403 naming why: a link, FIFO, device or folder stands where an output file belongs."""
    return jsonify({"error": "forbidden", "status": 403, "reason": reason}), 403
