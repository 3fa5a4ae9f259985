"""``hzz.run``: the whole pipeline on this machine from Python (a notebook, a script), as a :class:`~hzz.result.Result`.

Example (in Jupyter, or a plain script: no ``if __name__ == "__main__":`` guard is needed)::

    import hzz

    result = hzz.run(samples=["data_A", "data_B"], workers=2, output_dir="out")
    result.yields["data_A"]          # Yield(value=27.0, uncertainty=5.196…)
    result.histograms["Data"]        # a hist.Hist with Weight storage
    result.plot()                    # the m4ℓ figure
    result.to_root("hzz_m4l.root")

The keyword arguments are the settings of :class:`hzz.shared.data_vars.Settings` (``hzz
settings`` lists them); what is not given comes from the ``HZZ_…`` variables, then the defaults,
as for ``hzz run``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hzz.result import Result

__all__ = ["run"]


def run(
    *,
    samples: Iterable[str] | str | None = None,
    dataset: str | Path | None = None,
    profile: str | None = None,
    workers: int | None = None,
    output_dir: str | Path | None = None,
    lumi: float | None = None,
    fraction: float | None = None,
    chunk_size: int | None = None,
    broker_url: str | None = None,
    queue_prefix: str | None = None,
    max_retries: int | None = None,
    refresh_seconds: float | None = None,
    run_id: str | None = None,
    signing_key: str | None = None,
    stall_seconds: float | None = None,
    read_deadline_seconds: float | None = None,
    read_ahead: str | None = None,
    transport: str = "auto",
    progress: bool = True,
) -> Result:
    """Run producer, workers and aggregator on this machine and return the run's results.

    Args:
        samples: the samples to process (a list, or comma-separated), or "all"; default the
            profile's every sample.
        dataset: where the files are (URL or folder); default the release's public location.
        profile: the release to analyse, a name of ``hzz.shared.releases.RELEASES`` (default the first, 2020).
        workers: worker processes; default one per core.
        output_dir: where the plot, results.json and hzz_m4l.root go; default ``output_plots``.
        lumi: luminosity in fb⁻¹; default the profile's.
        fraction: the fraction of each file to process, in (0, 1].
        chunk_size: entries per chunk.
        broker_url: RabbitMQ URL (used when a broker answers there, or with ``transport="rabbitmq"``).
        queue_prefix: prefix of the queue names.
        max_retries: tries after the first for a chunk that fails transiently.
        refresh_seconds: how often the partial plot and results.json are rewritten.
        run_id: the run's identifier; default a new one.
        signing_key: the secret that signs the run's messages; default one made for this run.
        stall_seconds: give up waiting for pending chunks after this long without progress.
        read_deadline_seconds: the time a chunk of a remote file may take to answer, all its tries together.
        read_ahead: "on", "off" or "auto" (default): a worker reads a chunk's other branches on a
            second thread while the cuts run, on "auto" only where a core is left for it.
        transport: "auto" (RabbitMQ if one answers, else embedded), "rabbitmq" or "embedded".
        progress: show a progress bar (a widget in Jupyter where ipywidgets is installed).

    Returns:
        Result: the histograms, yields, data counts, plot and files of the run.

    Raises:
        ConfigError: a setting is out of range, the dataset or the output folder is unusable, or the
            broker refuses (one line per problem, each naming the setting or file and what it accepts).
        HZZError: the run could not be carried out (unwritable folder, no broker, a dead worker).
    """
    from hzz.local import run_local
    from hzz.preflight import preflight
    from hzz.shared.data_vars import Settings
    from hzz.shared.errors import ConfigError

    if samples is not None and not isinstance(samples, str):
        samples = tuple(samples)
    overrides: dict[str, Any] = {
        "samples": samples,
        "dataset": None if dataset is None else str(dataset),
        "profile": profile,
        "workers": workers,
        "output_dir": None if output_dir is None else str(output_dir),
        "lumi": lumi,
        "fraction": fraction,
        "chunk_size": chunk_size,
        "broker_url": broker_url,
        "queue_prefix": queue_prefix,
        "max_retries": max_retries,
        "refresh_seconds": refresh_seconds,
        "run_id": run_id,
        "signing_key": signing_key,
        "stall_seconds": stall_seconds,
        "read_deadline_seconds": read_deadline_seconds,
        "read_ahead": read_ahead,
    }
    settings = Settings.from_env(**overrides)
    # The same checks as hzz run's, before anything starts: every problem at once, one line each.
    checked = preflight(settings, transport=transport)
    if not checked.ok:
        raise ConfigError("\n".join(problem.line for problem in checked.problems))
    with _main_script_hidden():
        document = run_local(settings, transport=checked.transport or "embedded", progress=progress)
    return Result(document, settings.output_dir)


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Keep the caller's script out of the processes the run spawns.

    A spawned process re-runs the parent's main script (``python script.py`` or ``python -m
    module``) before its target; a script that calls ``hzz.run`` at top level, without an ``if
    __name__ == "__main__":`` guard, would start a run in every worker. The run's processes need
    nothing from the script (their targets live in ``hzz``), so multiprocessing is not told
    about it while the run lasts: the main module's ``__file__`` and ``__spec__`` are what it
    looks at. A notebook's main module has neither, and is left as it is.
    """
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if getattr(main, name, None) is not None}
    if main is None or not saved:
        yield
        return
    main.__spec__ = None
    if "__file__" in saved:
        del main.__file__
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)
