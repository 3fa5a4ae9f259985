"""A process target for tests/test_processes.py that imports nothing itself.

It reports which modules its process holds, so a test can tell what a worker process starts with.
"""

from __future__ import annotations

import sys
from typing import Any


def report_modules(connection: Any) -> None:
    connection.send(sorted(sys.modules))
    connection.close()
