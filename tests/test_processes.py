"""How the one-machine run starts its processes (hzz/processes.py): warm, and without re-running the caller.

No timing is asserted: what is checked is *what* a worker process holds when it starts, and
that a script without a ``__main__`` guard is not run again by its children.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import processprobe
import pytest

from hzz import processes


def modules_of_a_new_process(name: str) -> list[str]:
    """The modules a process of the run's context holds when its target starts."""
    context = processes.context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=processprobe.report_modules, args=(sender,), name=name)
    process.start()
    sender.close()
    try:
        assert receiver.poll(60), "the process sent nothing"
        return receiver.recv()
    finally:
        process.join(60)


@pytest.mark.skipif("forkserver" not in processes.multiprocessing.get_all_start_methods(), reason="no fork here")
def test_a_worker_process_starts_with_the_analysis_loaded_and_nothing_of_the_runner() -> None:
    # Given the run's process context (a forkserver preloading the worker's modules)
    # When a process of the run starts
    modules = set(modules_of_a_new_process(f"{processes.PROCESS_PREFIX}probe"))

    # Then the worker loop and the reading stack are there already (forked warm, not imported)
    assert {"hzz.shared.processing", "hzz.shared.analysis", "hzz.shared.releases.r2020.selection"} <= modules
    assert {"uproot", "awkward", "vector"} <= modules
    # and nothing a worker does not use: not the runner, the aggregator, the plot or the broker client
    assert not modules & {"hzz.local", "hzz.cli", "hzz.shared.aggregation", "matplotlib", "tqdm", "pika", "hist"}


def test_a_script_without_a_main_guard_runs_once_and_its_results_equal_the_notebook(
    real_dataset: Path, tmp_path: Path
) -> None:
    # Given a script that calls run_local at its top level, with no `if __name__ == "__main__":`
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json
            print("script started", flush=True)
            from hzz.local import run_local
            from hzz.shared.data_vars import Settings

            settings = Settings(dataset={str(real_dataset)!r}, samples=("data_A", "data_B"), workers=2,
                                chunk_size=50, output_dir={str(tmp_path / "out")!r})
            results = run_local(settings, transport="embedded", progress=False)
            print(json.dumps({{"state": results["state"], "samples": results["samples"]}}), flush=True)
            """
        )
    )

    # When it is run as a script
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)

    # Then it ran once (no child ran it again), completed, and counted what the notebook counts
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines.count("script started") == 1, done.stdout
    results = json.loads(lines[-1])
    assert results["state"] == "complete"
    assert {name: s["events_selected"] for name, s in results["samples"].items()} == {"data_A": 27, "data_B": 86}


@pytest.mark.parametrize(("chunk_size", "in_process"), [(None, True), (20, False)])
def test_a_small_run_is_analysed_in_its_own_process_and_a_larger_one_by_workers(
    real_dataset: Path, tmp_path: Path, chunk_size: int | None, in_process: bool
) -> None:
    # Given the real files (a few KB): in 2 chunks (the default size: no more than the 2 workers)
    # or in 7 (chunks of 20 entries)
    size = "" if chunk_size is None else f", chunk_size={chunk_size}"
    script = tmp_path / "small.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os
            from multiprocessing import forkserver
            from hzz import processes
            from hzz.local import run_local
            from hzz.shared.data_vars import Settings

            settings = Settings(dataset={str(real_dataset)!r}, samples=("data_A", "data_B"), workers=2,
                                output_dir={str(tmp_path / "out")!r}{size})
            forks = processes.fork_from_here()
            results = run_local(settings, transport="embedded", progress=False)
            started = forkserver._forkserver._forkserver_pid is not None
            selected = {{name: s["events_selected"] for name, s in results["samples"].items()}}
            here = [name.endswith(f":{{os.getpid()}}") for name in results["workers"]]
            print(json.dumps({{"state": results["state"], "forkserver": started, "selected": selected,
                              "here": here, "forks": forks}}), flush=True)
            """
        )
    )

    # When a script runs it
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)

    # Then the small run was analysed in the script's process, the larger one by worker processes
    # (on Linux forked from the script, which runs no other thread: no forkserver either), and
    # both counted what the notebook counts
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.splitlines()[-1])
    assert results["state"] == "complete"
    assert results["here"] and set(results["here"]) == {in_process}
    assert results["forkserver"] is (not in_process and not results["forks"])
    if sys.platform == "linux":
        assert results["forks"]
    assert results["selected"] == {"data_A": 27, "data_B": 86}


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked from the run only on Linux")
def test_workers_forked_from_the_run_inherit_the_selection_the_forkserver_would_preload() -> None:
    # Given a fresh process, which has not imported any release's selection (vector, the mass check)
    script = (
        "import sys\n"
        "from hzz import processes\n"
        "selections = [m for m in processes._preloaded() if m.endswith('.selection')]\n"
        "before = [m in sys.modules for m in selections]\n"
        "method = processes.worker_context().get_start_method()\n"
        "print(method, any(before), all(m in sys.modules for m in selections))\n"
    )

    # When it asks where its workers start from
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)

    # Then they are forked from it, after it imported every selection: no worker imports one itself
    assert done.stdout.split() == ["fork", "False", "True"]


def test_workers_are_forked_from_the_run_only_while_it_runs_no_other_thread() -> None:
    # Given this process, first with no other thread, then with one
    import threading

    alone = threading.active_count() == 1
    # When the run asks where its workers start from
    before = processes.worker_context().get_start_method()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        during = processes.worker_context().get_start_method()
    finally:
        release.set()
        other.join()

    # Then a fork of this process only where no other thread runs (and on Linux), else the forkserver
    if sys.platform == "linux" and alone:
        assert before == "fork"
    assert during in ("forkserver", "spawn")
