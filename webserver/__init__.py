"""The results web server: one live page, a JSON API and the probes, over the aggregator's output folder.

:func:`create_app` builds the Flask application; :mod:`hzz.webserver.server` serves it, the one
way for ``python -m hzz.webserver``, the container and ``hzz run --serve``. The server only reads
the output folder (``HZZ_OUTPUT_DIR``), regular files only; see ``docs/webserver.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = ["create_app"]

#: The page loads only its own script, style and images, and talks only to its own API.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application.

    Args:
        config (Mapping[str, Any] | None): overrides of the defaults: ``OUTPUT_DIR`` (the folder to
            read; default the ``HZZ_OUTPUT_DIR`` setting), ``POLL_SECONDS`` (how often the page
            polls; default 1), and any Flask setting (``TESTING`` for tests).

    Returns:
        Flask: the application, never in debug mode.
    """
    app = Flask(__name__)
    # MAX_CONTENT_LENGTH 0: no route reads a request body, so none is accepted.
    app.config.update(POLL_SECONDS=1.0, MAX_CONTENT_LENGTH=0)
    app.config.update(config or {})
    if not app.config.get("OUTPUT_DIR"):
        # Imported here: a caller that passes OUTPUT_DIR does not depend on the other settings.
        from hzz.shared.data_vars import Settings

        app.config["OUTPUT_DIR"] = Settings.from_env().output_dir
    # Whatever the caller or the environment says: the debugger would run code for any visitor.
    app.config["DEBUG"] = False
    app.debug = False
    # Keep the results' field order (the schema's) in /api/results.
    app.json.sort_keys = False  # type: ignore[attr-defined]

    from hzz.webserver.api import api, health
    from hzz.webserver.pages import pages

    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    app.after_request(_headers)
    return app


def _http_error(error: HTTPException) -> tuple[Response, int]:
    # JSON for every error, also for the page's paths: scripts and probes read it, and it never
    # echoes the request back.
    code = error.code or 500
    return jsonify({"error": error.name.lower(), "status": code}), code


def _internal_error(error: Exception) -> tuple[Response, int]:
    # Reached only by a bug: answer without a traceback (it is logged by Flask).
    if isinstance(error, HTTPException):
        return _http_error(error)
    return jsonify({"error": "internal server error", "status": 500}), 500


def _headers(response: Response) -> Response:
    """Security headers on every answer, and no caching of anything that changes during a run."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    # Static files (script, style) keep Flask's revalidation (no-cache + ETag); the page, the API
    # and the output files are never stored.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
