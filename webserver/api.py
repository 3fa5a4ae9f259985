"""The JSON API for scripts and the page (``/api/…``) and the Kubernetes probes (``/healthz``, ``/readyz``).

Every answer is JSON with ``Cache-Control: no-store``; the fields are documented in
``docs/webserver.md`` and stay stable.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request

from hzz.webserver import reader

__all__ = ["api", "health", "requested_run"]

#: /api/status, /api/results, /api/runs, /api/scaling.
api = Blueprint("api", __name__, url_prefix="/api")
#: /healthz and /readyz, outside /api so that probes need no knowledge of the API.
health = Blueprint("health", __name__)


def _output_dir() -> str:
    return str(current_app.config["OUTPUT_DIR"])


def requested_run() -> Path | None:
    """The folder of the run named by ``?run=<id>``, or None without the parameter (the newest run).

    Aborts with 400 for a malformed id and 404 for a run that is not there: the id comes from the
    network, so it is checked and looked up among the runs, never used as a path.
    """
    run_id = request.args.get("run")
    if run_id is None:
        return None
    if not reader.valid_run_id(run_id):
        abort(400)
    folder = reader.run_folder(_output_dir(), run_id)
    if folder is None:
        abort(404)
    return folder


@api.get("/status")
def status() -> Response:
    """The run's state, chunk tally, events, throughput, times and file versions (always 200 for the
    newest run; ``?run=<id>`` for another, 404 if there is no such run)."""
    return jsonify(reader.status(_output_dir(), requested_run()))


@api.get("/results")
def results() -> tuple[Response, int]:
    """``results.json`` as written by the aggregator (``?run=<id>``: that run's), or 404
    ``{"state": "waiting"}`` without a valid one (with a ``reason`` when the file is refused: a
    link, a FIFO, a device, or over the size cap)."""
    folder = requested_run()
    target = folder if folder is not None else _output_dir()
    content = reader.load_results(target)
    if content is None:
        refusal = reader.results_refusal(target)
        return jsonify({"state": "waiting"} if refusal is None else {"state": "waiting", "reason": refusal}), 404
    return jsonify(content), 200


@api.get("/runs")
def runs() -> Response:
    """The runs in the output folder, newest first: id, state, chunks, times (always 200)."""
    return jsonify({"runs": reader.list_runs(_output_dir()), "version": reader.runs_version(_output_dir())})


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
