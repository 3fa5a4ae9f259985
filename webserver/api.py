"""The JSON API for scripts and the page (``/api/…``) and the Kubernetes probes (``/healthz``, ``/readyz``).

Every answer is JSON with ``Cache-Control: no-store``; the fields are documented in
``docs/webserver.md`` and stay stable.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from hzz.webserver import reader

__all__ = ["api", "health"]

#: /api/status, /api/results, /api/scaling.
api = Blueprint("api", __name__, url_prefix="/api")
#: /healthz and /readyz, outside /api so that probes need no knowledge of the API.
health = Blueprint("health", __name__)


def _output_dir() -> str:
    return str(current_app.config["OUTPUT_DIR"])


@api.get("/status")
def status() -> Response:
    """The run's state, chunk tally, events, throughput, times and file versions (always 200)."""
    return jsonify(reader.status(_output_dir()))


@api.get("/results")
def results() -> tuple[Response, int]:
    """``results.json`` as written by the aggregator, or 404 ``{"state": "waiting"}`` without a valid one."""
    content = reader.load_results(_output_dir())
    if content is None:
        return jsonify({"state": "waiting"}), 404
    return jsonify(content), 200


@api.get("/scaling")
def scaling() -> Response:
    """Worker pods and HPA CPU over time, from the scaling logs or their CSV (always 200)."""
    return jsonify(reader.scaling(_output_dir()))


@health.get("/healthz")
def healthz() -> Response:
    """Liveness: the process serves requests; it does not look at the output folder."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when the output folder can be read, else 503 with the reason."""
    ready, reason = reader.readiness(_output_dir())
    if ready:
        return jsonify({"status": "ready"}), 200
    return jsonify({"status": "not ready", "reason": reason}), 503
