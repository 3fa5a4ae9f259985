"""The drawing process (hzz/shared/drawing.py): it draws what it is sent, says why when it cannot,
survives its own death, and keeps matplotlib out of the run's process.

No timing is asserted here (the benchmark measures what the early start saves).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hzz.shared.drawing import DrawingFailed, DrawingProcess, PlotJob, draw_plot
from hzz.shared.histograms import M4L_BINNING, BinSums
from hzz.shared.outputs import PLOT_FILES
from hzz.shared.releases import get_release

RELEASE = get_release("2020")


def a_job(*, data: list[float] | None = None, note: str = "") -> PlotJob:
    counts = np.asarray(data if data is not None else [float(i % 5) for i in range(M4L_BINNING.bins)])
    mc = np.linspace(0.1, 2.0, M4L_BINNING.bins)
    return PlotJob(
        histograms={"data_A": BinSums(counts, counts.copy()), "llll": BinSums(mc, mc * 0.01)},
        lumi=10.0,
        fraction=1.0,
        binning=M4L_BINNING,
        release_groups=tuple(RELEASE.groups),
        style=RELEASE.style,
        note=note,
        empty_text="",
    )


@pytest.fixture
def drawer() -> Iterator[DrawingProcess]:
    process = DrawingProcess()
    yield process
    process.close()


def test_the_drawing_process_draws_the_same_plot_as_this_process(drawer: DrawingProcess, tmp_path: Path) -> None:
    # Given a job drawn here (formats one after the other) and by the drawing process (forked per format)
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    draw_plot(here, a_job())

    # When the drawing process draws it, while this process waits
    drawer.draw(there, a_job())()

    # Then both wrote a PNG and an SVG, and the SVGs are the same drawing (the PNG's bytes may
    # differ in metadata only: both decode to the same size)
    for name in PLOT_FILES.values():
        assert (there / name).stat().st_size > 1000
    assert (there / PLOT_FILES["png"]).read_bytes()[:24] == (here / PLOT_FILES["png"]).read_bytes()[:24]
    svg_here, svg_there = ((f / PLOT_FILES["svg"]).read_text() for f in (here, there))
    assert svg_here.count("<path") == svg_there.count("<path") > 50


def test_a_job_it_cannot_draw_fails_with_the_reason_and_the_next_is_drawn(
    drawer: DrawingProcess, tmp_path: Path
) -> None:
    # Given a job whose histogram has the wrong number of bins
    bad = a_job(data=[1.0, 2.0, 3.0])

    # When the drawing process is sent it
    with pytest.raises(DrawingFailed, match="ValueError"):
        drawer.draw(tmp_path, bad)()

    # Then it said why, drew nothing, and draws the next job all the same
    assert not (tmp_path / PLOT_FILES["png"]).exists()
    drawer.draw(tmp_path, a_job())()
    assert (tmp_path / PLOT_FILES["png"]).read_bytes().startswith(b"\x89PNG")


def test_a_drawing_process_that_died_is_replaced(drawer: DrawingProcess, tmp_path: Path) -> None:
    # Given a drawing process killed from outside (out of memory, say)
    old = drawer._process.pid
    os.kill(old, signal.SIGKILL)
    drawer._process.join(10)

    # When the next plot is sent: it fails, saying so
    with pytest.raises(DrawingFailed, match="ended"):
        drawer.draw(tmp_path, a_job())()

    # Then a new process draws the one after
    drawer.draw(tmp_path, a_job(note="again"))()
    assert drawer._process.pid != old
    assert (tmp_path / PLOT_FILES["svg"]).read_text().count("again") >= 1


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "spawned"])
def test_the_drawing_process_ends_by_itself_when_its_parent_is_gone(forked: bool, tmp_path: Path) -> None:
    # Given a drawing process forked (Linux, from a process without other threads: a fresh one
    # here, as hzz run at its start) or spawned, up and drawing
    if forked and sys.platform != "linux":
        pytest.skip("a drawing process is forked only on Linux")
    script = tmp_path / "orphan.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from hzz import processes
            from hzz.shared.drawing import DrawingProcess
            from test_drawing import a_job

            processes.fork_from_here = lambda: {forked}
            drawer = DrawingProcess()
            drawer.draw(Path({str(tmp_path)!r}), a_job())()
            print(drawer._process._popen.method)
            if sys.platform == "linux":  # ps and top show it by its name
                print(open(f"/proc/{{drawer._process.pid}}/comm").read().strip())

            # When its parent's end of the pipe is gone without a word (as when the parent is killed)
            drawer._connection.close()

            # Then it sees the end of the pipe and exits: a forked copy does not hold the parent's end
            drawer._process.join(10)
            print(drawer._process.exitcode)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    name = ["hzz-drawing"] if sys.platform == "linux" else []
    assert done.stdout.split() == ["fork" if forked else "spawn", *name, "0"]


def test_a_small_run_draws_its_plot_without_matplotlib_in_its_own_process(real_dataset: Path, tmp_path: Path) -> None:
    # Given a script that runs the real data_A file (a small run: analysed in the script's process)
    script = tmp_path / "small.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            from hzz.local import run_local
            from hzz.shared.data_vars import Settings

            settings = Settings(dataset={str(real_dataset)!r}, samples=("data_A",), workers=2,
                                output_dir={str(tmp_path / "out")!r})
            results = run_local(settings, transport="embedded", progress=False)
            print(json.dumps({{"state": results["state"], "matplotlib": "matplotlib" in sys.modules}}), flush=True)
            """
        )
    )

    # When it runs
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)

    # Then the plot is there, drawn by the drawing process: the run's own process never loaded matplotlib
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"state": "complete", "matplotlib": False}
    assert (tmp_path / "out" / PLOT_FILES["png"]).read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "out" / PLOT_FILES["svg"]).read_bytes()[:400]
