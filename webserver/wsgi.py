"""The WSGI entry point for a production server: ``gunicorn webserver.wsgi:app``.

The output folder comes from ``HZZ_OUTPUT_DIR`` (see :mod:`shared.data_vars`).
"""

from __future__ import annotations

from webserver import create_app

__all__ = ["app"]

#: The application gunicorn serves.
app = create_app()
