"""The WSGI entry point for a production server: ``gunicorn hzz.webserver.wsgi:app``.

The output folder comes from ``HZZ_OUTPUT_DIR`` (see :mod:`shared.data_vars`).
"""

from __future__ import annotations

from hzz.webserver import create_app

__all__ = ["app"]

#: The application gunicorn serves.
app = create_app()
