"""``hzz``: the ATLAS Open Data H→ZZ*→4ℓ analysis as a pipeline, and as a library.

From Python (a notebook or a script)::

    import hzz

    result = hzz.run(samples=["data_A", "data_B"], workers=2)   # the pipeline on this machine
    result = hzz.load("output_plots")                            # a finished run, read back

Both give a :class:`~hzz.result.Result`: ``histograms`` (``hist.Hist`` per sample and group),
``yields`` (value ± √Σw²), ``data`` (counts), ``plot()``, ``to_root(path)``, ``to_json(path)``.
The command line is ``hzz`` (:mod:`hzz.cli`); the services are ``hzz.producer``, ``hzz.worker``,
``hzz.aggregator`` and ``hzz.webserver``, the library they share ``hzz.shared``.

The names are loaded on first use: the web server and the other services import packages of
``hzz`` without paying for the analysis and plotting stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hzz.api import run
    from hzz.result import DataCounts, Result, Yield, load

__all__ = ["DataCounts", "Result", "Yield", "load", "run"]

#: Where each public name lives.
_HOMES = {
    "run": "hzz.api",
    "load": "hzz.result",
    "Result": "hzz.result",
    "Yield": "hzz.result",
    "DataCounts": "hzz.result",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    msg = f"module 'hzz' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
