"""The application as a module-level WSGI callable, for a WSGI server of someone's own choosing.

The project serves the page one way only: ``python -m hzz.webserver`` (the container's command,
and what ``hzz run --serve`` runs on a thread), configured in :mod:`hzz.webserver.server`. The
output folder comes from ``HZZ_OUTPUT_DIR`` (see :mod:`hzz.shared.data_vars`).
"""

from __future__ import annotations

from hzz.webserver import create_app

__all__ = ["app"]

#: The application.
app = create_app()
