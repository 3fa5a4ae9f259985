"""The whole pipeline on one machine equals the notebook, whatever the chunking, workers and transport.

Given files (the real data files and generated MC files of every sample), when the one-machine
run processes them with either transport, several chunk sizes and worker counts, then the
merged histograms equal the plain single-process notebook's: counts exactly, weighted sums to
1e-9 relative.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hzz.devtools.notebook import NotebookSample, run_notebook
from hzz.local import run_local
from hzz.shared.data_vars import Settings

#: The bins of the real data_A + data_B files from 80 GeV in 5 GeV steps (the reference's numbers).
PUBLISHED_AB_COUNTS = [
    2,
    4,
    9,
    0,
    1,
    3,
    3,
    0,
    6,
    1,
    2,
    1,
    2,
    2,
    0,
    0,
    2,
    2,
    3,
    0,
    1,
    3,
    2,
    4,
    3,
    3,
    2,
    3,
    1,
    1,
    0,
    1,
    3,
    5,
]


@pytest.fixture(scope="module")
def small_notebook(small_dataset: Path) -> dict[str, NotebookSample]:
    return run_notebook(Settings(dataset=str(small_dataset)))


def test_the_real_files_give_the_published_selection_and_bins(real_dataset: Path, tmp_path: Path) -> None:
    settings = Settings(dataset=str(real_dataset), samples=("data_A", "data_B"), output_dir=str(tmp_path), workers=2)

    results = run_local(settings, transport="embedded", progress=False)

    assert results["samples"]["data_A"]["events_selected"] == 27
    assert results["samples"]["data_B"]["events_selected"] == 86
    assert results["data"] == {"events_selected": 113, "in_range": 75, "counts": PUBLISHED_AB_COUNTS}


@pytest.mark.parametrize(("chunk_size", "workers"), [(1000, 1), (777, 2), (100_000, 2)])
def test_the_embedded_pipeline_equals_the_notebook(
    small_dataset: Path,
    small_notebook: dict[str, NotebookSample],
    tmp_path: Path,
    chunk_size: int,
    workers: int,
    equals_notebook: Callable[..., None],
) -> None:
    settings = Settings(dataset=str(small_dataset), chunk_size=chunk_size, workers=workers, output_dir=str(tmp_path))

    results = run_local(settings, transport="embedded", progress=False)

    equals_notebook(results, small_notebook)
    assert results["tally"]["done"] == results["tally"]["total"]


@pytest.mark.parametrize(("chunk_size", "workers"), [(500, 2), (100_000, 1)])
def test_the_rabbitmq_pipeline_equals_the_notebook(
    small_dataset: Path,
    small_notebook: dict[str, NotebookSample],
    tmp_path: Path,
    queue_prefix: str,
    broker_url: str,
    chunk_size: int,
    workers: int,
    equals_notebook: Callable[..., None],
) -> None:
    settings = Settings(
        dataset=str(small_dataset),
        chunk_size=chunk_size,
        workers=workers,
        output_dir=str(tmp_path),
        broker_url=broker_url,
        queue_prefix=queue_prefix,
    )

    results = run_local(settings, transport="rabbitmq", progress=False)

    equals_notebook(results, small_notebook)


def test_the_output_folder_holds_the_plot_and_the_documented_results(real_dataset: Path, tmp_path: Path) -> None:
    settings = Settings(dataset=str(real_dataset), samples=("data_A", "data_B"), output_dir=str(tmp_path), workers=1)

    run_local(settings, transport="embedded", progress=False)

    assert (tmp_path / "hzz_m4l.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "hzz_m4l.svg").read_bytes()[:500]
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("run_id", "state", "tally", "failed_chunks", "events", "binning", "samples", "groups", "data"):
        assert key in results
    assert results["settings"]["samples"] == ["data_A", "data_B"]
    assert results["versions"]["uproot"]
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"


def test_a_fraction_processes_the_first_part_of_each_file(real_dataset: Path, tmp_path: Path) -> None:
    settings = Settings(
        dataset=str(real_dataset), samples=("data_B",), fraction=0.5, chunk_size=20, output_dir=str(tmp_path)
    )

    results = run_local(settings, transport="embedded", progress=False)

    assert results["samples"]["data_B"]["events_read"] == 78
    assert results["samples"]["data_B"]["events_selected"] == run_notebook(settings)["data_B"].events_selected


def test_bad_files_fail_their_chunks_by_name_and_the_run_still_completes(real_dataset: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    (dataset / "Data").mkdir(parents=True)
    (dataset / "MC").mkdir()
    (dataset / "Data" / "data_A.4lep.root").write_bytes((real_dataset / "Data" / "data_A.4lep.root").read_bytes())
    (dataset / "Data" / "data_B.4lep.root").write_text("this is not a ROOT file\n")
    settings = Settings(
        dataset=str(dataset), samples=("data_A", "data_B", "data_C"), output_dir=str(tmp_path / "out"), workers=2
    )

    results = run_local(settings, transport="embedded", progress=False)

    assert results["state"] == "complete_with_failures"
    assert results["tally"] == {"total": 3, "done": 1, "failed": 2, "pending": 0}
    errors = {f["sample"]: f["error"] for f in results["failed_chunks"]}
    assert "data_B.4lep.root" in errors["data_B"]
    assert "data_C.4lep.root" in errors["data_C"] and "FileNotFoundError" in errors["data_C"]
    assert results["samples"]["data_A"]["events_selected"] == 27


def test_an_unreachable_url_fails_its_chunks_without_hanging(tmp_path: Path) -> None:
    settings = Settings(
        dataset="http://127.0.0.1:9/atlas/", samples=("data_A",), output_dir=str(tmp_path), max_retries=0
    )

    results = run_local(settings, transport="embedded", progress=False)

    assert results["state"] == "complete_with_failures"
    [failure] = results["failed_chunks"]
    assert "http://127.0.0.1:9/atlas/Data/data_A.4lep.root" in failure["error"]


@pytest.mark.parametrize(("samples", "status"), [("data_A,data_B", 0), ("data_A,data_C", 1)])
def test_the_hzz_command_prints_its_summary_and_exits_with_the_runs_status(
    real_dataset: Path, tmp_path: Path, samples: str, status: int
) -> None:
    # Given the hzz command (which ends its process at once after the results are written), and a
    # data_C whose tree lacks the branches: it passes the preflight (which refuses a missing file,
    # tests/test_cli_run.py) and its chunk fails
    import numpy as np
    import uproot

    hzz = Path(sys.executable).parent / "hzz"
    command = [str(hzz)] if hzz.exists() else [sys.executable, "-m", "hzz"]
    out = tmp_path / "out"
    dataset = tmp_path / "dataset"
    (dataset / "Data").mkdir(parents=True)
    for sample in ("data_A", "data_B"):
        (dataset / "Data" / f"{sample}.4lep.root").write_bytes(
            (real_dataset / "Data" / f"{sample}.4lep.root").read_bytes()
        )
    with uproot.recreate(dataset / "Data" / "data_C.4lep.root") as file:
        file.mktree("mini", {"x": np.int64}).extend({"x": np.arange(10)})

    # When it runs a complete run and one with a failing chunk, its output going to a pipe
    # (block-buffered: PYTHONUNBUFFERED is taken away)
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [*command, "run", "--dataset", str(dataset), "--samples", samples, "--workers", "2",
         "--transport", "embedded", "--quiet", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=300, check=False, env=environment,
    )  # fmt: skip

    # Then the exit status is the run's, every line of the summary reached the pipe, and
    # results.json on disk is the finished run's
    assert done.returncode == status, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == f"results: {out / 'results.json'}"
    results = json.loads((out / "results.json").read_text())
    assert results["state"] == ("complete" if status == 0 else "complete_with_failures")
    assert results["tally"]["pending"] == 0
