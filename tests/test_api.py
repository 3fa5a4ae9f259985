"""``hzz`` as a library: ``hzz.run`` and ``hzz.load`` give a Result of hist histograms, yields, data and files.

The run is the real one (producer, worker processes, aggregator) on the real data_A and data_B
files, compared with the notebook's published numbers; the script test runs ``hzz.run`` the
way a user's plain script does, with no ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from pathlib import Path

import hist
import numpy as np
import pytest
import uproot
from matplotlib.figure import Figure
from test_pipeline import PUBLISHED_AB_COUNTS

import hzz
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result(real_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> hzz.Result:
    output = tmp_path_factory.mktemp("api")
    return hzz.run(
        samples=["data_A", "data_B"],
        dataset=real_dataset,
        workers=2,
        profile="2020",
        output_dir=output,
        transport="embedded",
        progress=False,
    )


def test_run_takes_every_setting_as_a_keyword_argument() -> None:
    # Given the settings (hzz settings lists them)
    names = {f.name for f in dataclasses.fields(Settings)}
    # Then hzz.run takes each of them, keyword-only, plus how to run
    parameters = inspect.signature(hzz.run).parameters
    assert names <= set(parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert set(parameters) - names == {"transport", "progress"}


def test_importing_hzz_loads_neither_the_analysis_nor_matplotlib() -> None:
    # Given a fresh interpreter, when it imports hzz (the web server imports hzz.webserver through it)
    code = "import sys, hzz; print(sorted(m for m in ('matplotlib', 'uproot', 'awkward', 'hist') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Then none of the heavy packages is loaded until hzz.run or hzz.load is used
    assert out.strip() == "[]"
    assert callable(hzz.run) and callable(hzz.load)


def test_a_run_gives_the_published_histograms_yields_and_data(result: hzz.Result) -> None:
    # Then the run is complete, with the notebook's numbers for the real files
    assert result.state == "complete" and result.profile == "2020"
    assert result.data.events_selected == 113
    assert result.data.in_range == 75
    assert result.data.counts.tolist() == PUBLISHED_AB_COUNTS
    assert result.data.errors == pytest.approx(np.sqrt(PUBLISHED_AB_COUNTS))
    # the histograms are hist.Hist with Weight storage on the notebook's binning, per sample and group
    data = result.histograms["Data"]
    assert isinstance(data, hist.Hist) and data.storage_type is hist.storage.Weight
    assert data.axes[0].edges.tolist() == pytest.approx(np.arange(80.0, 255.0, 5.0).tolist())
    assert data.values().tolist() == PUBLISHED_AB_COUNTS
    assert (result.histograms["data_A"] + result.histograms["data_B"]).values().tolist() == PUBLISHED_AB_COUNTS
    assert list(result.histograms.samples) == ["data_A", "data_B"] and list(result.histograms.groups) == ["Data"]
    # and a count's yield is N ± √N
    assert result.yields["data_A"].value == 27.0
    assert result.yields["data_A"].uncertainty == pytest.approx(np.sqrt(27))
    assert str(result.yields["Data"]) == "113 ± 11"


def test_unknown_names_are_refused_naming_what_there_is(result: hzz.Result) -> None:
    with pytest.raises(KeyError, match="data_A"):
        result.histograms["llll"]


def test_the_plot_is_a_matplotlib_figure_of_the_run(result: hzz.Result) -> None:
    fig = result.plot()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (points,) = ax.lines
    assert np.asarray(points.get_ydata()).tolist() == PUBLISHED_AB_COUNTS
    assert "ATLAS Open Data" in [t.get_text() for t in ax.texts]
    # and Jupyter can show it as the value of a cell, without pyplot
    assert fig._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_run_folder_has_the_root_file_and_to_root_writes_the_same(result: hzz.Result, tmp_path: Path) -> None:
    # Given the run's own hzz_m4l.root and one written by the Result
    assert result.folder is not None
    path = result.to_root(tmp_path / "mine.root")
    for file in (result.folder / "hzz_m4l.root", path):
        with uproot.open(file) as f:
            # Then both hold the samples, the group and the data as TH1Ds with the run's counts
            assert f["data"].values().tolist() == PUBLISHED_AB_COUNTS
            assert f["groups/Data"].values().tolist() == PUBLISHED_AB_COUNTS
            assert f["samples/data_A"].values().sum() == result.data.counts.sum() - f["samples/data_B"].values().sum()
            assert f.classnames()["samples/data_B;1"] == "TH1D"


def test_load_reads_a_results_json_or_a_folder_back_into_the_same_result(result: hzz.Result, tmp_path: Path) -> None:
    # Given the run's folder and a copy written with to_json
    assert result.folder is not None
    copy = result.to_json(tmp_path / "copy.json")
    for source in (result.folder, result.folder / "results.json", copy):
        # When it is loaded
        again = hzz.load(source)
        # Then it is the same result
        assert again.document == result.document
        assert again.data.counts.tolist() == PUBLISHED_AB_COUNTS
        assert again.histograms["data_B"] == result.histograms["data_B"]
        assert again.yields.groups == result.yields.groups
    assert json.loads(copy.read_text()) == result.document


def test_load_refuses_what_is_not_a_results_file_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=str(tmp_path / "results.json")):
        hzz.load(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ConfigError, match="schema_version 99"):
        hzz.load(tmp_path)
    (tmp_path / "half.json").write_text('{"schema_version": 1, "sta')
    with pytest.raises(ConfigError, match=r"half\.json"):
        hzz.load(tmp_path / "half.json")


def test_a_result_prints_as_a_table_of_yields(result: hzz.Result) -> None:
    text = repr(result)
    assert "complete: 2 of 2 chunks" in text
    assert "data_A" in text and "27 ± 5.2" in text
    assert "<table>" in result._repr_html_()


def test_progress_is_a_notebook_widget_where_one_can_be_shown() -> None:
    # The run's bar comes from tqdm.auto: a widget in Jupyter with ipywidgets, text elsewhere
    import tqdm.auto

    from hzz.shared.runs import bar_class

    assert bar_class(progress=True) is tqdm.auto.tqdm


SCRIPT = """
import sys
import hzz

main = sys.modules["__main__"]
before = (getattr(main, "__file__", None), getattr(main, "__spec__", None))
result = hzz.run(samples="data_A,data_B", dataset={dataset!r}, workers=2, chunk_size=20, output_dir={output!r},
                 transport="embedded", progress=False)
print("selected", result.data.events_selected, result.state)
assert (getattr(main, "__file__", None), getattr(main, "__spec__", None)) == before, "the main module is restored"
"""


@pytest.mark.parametrize("how", ["script", "-m", "-c"])
def test_a_plain_script_without_a_main_guard_runs_once(real_dataset: Path, tmp_path: Path, how: str) -> None:
    # Given a user's script that calls hzz.run at top level (no __main__ guard), as a file, as a
    # module (python -m), or as code without a file (which is how Jupyter runs a cell)
    code = SCRIPT.format(dataset=str(real_dataset), output=str(tmp_path / "out"))
    script = tmp_path / "analysis.py"
    script.write_text(code)
    command = {
        "script": [sys.executable, str(script)],
        "-m": [sys.executable, "-m", "analysis"],
        "-c": [sys.executable, "-c", code],
    }[how]
    # When it runs
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    # Then it finishes once, with the published selection, and no worker died re-running it
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["selected 113 complete"]
    assert "died" not in done.stderr


def test_a_2025_run_reads_back_with_its_binning_style_and_significance(tmp_path: Path) -> None:
    # Given the outputs of a 2025 run, written by the aggregator's writer
    from hzz.devtools.webdemo import demo_run, write_run

    document = write_run(tmp_path, demo_run("2025").tally())
    # When they are loaded
    result = hzz.load(tmp_path)
    # Then the histograms have the 2025 binning, the plot its style, and the significance is there
    assert result.profile == "2025" and result.binning.bins == 68
    assert result.histograms["Data"].axes[0].edges[1] - result.histograms["Data"].axes[0].edges[0] == pytest.approx(2.5)
    assert tuple(result.plot().get_size_inches()) == (12.0, 8.0)
    assert result.significance == document["significance"] and result.significance["window"] == [122.5, 130.0]
    signal = r"Signal ($m_H$ = 125 GeV)"
    assert result.yields[signal].value == pytest.approx(document["groups"][signal]["weighted_yield"])
    with uproot.open(result.to_root(tmp_path / "again.root")) as file:
        assert file.classnames()["groups/Background_Z_ttbar_ttbar_V_VVV;1"] == "TH1D"
        assert file["data"].values().tolist() == document["data"]["counts"]


def test_in_a_jupyter_kernel_a_run_returns_and_shows_its_result(
    real_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a notebook that runs the pipeline, shows the plot and the result (in a real ipykernel)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own paths, without its deprecation notice
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import hzz\n"
            f"result = hzz.run(samples=['data_A', 'data_B'], dataset={str(real_dataset)!r}, workers=2,\n"
            f"                 output_dir={str(tmp_path / 'out')!r}, transport='embedded')\n"
            "result.data.events_selected"
        ),
        nbformat.v4.new_code_cell("result.plot()"),
        nbformat.v4.new_code_cell("result"),
    ]
    # When it is executed
    where = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=where).execute()
    # Then the run finished once with the published selection, the plot shows as a picture and
    # the result as a table
    run, plot, shown = ([o for o in cell.outputs if o["output_type"] == "execute_result"] for cell in notebook.cells)
    assert run[0]["data"]["text/plain"] == "113"
    assert "image/png" in plot[0]["data"]
    assert "<table>" in shown[0]["data"]["text/html"] and "data_A" in shown[0]["data"]["text/html"]
    outputs = [o for cell in notebook.cells for o in cell.outputs]
    streams = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "died" not in streams and "Error" not in streams


def test_run_refuses_what_the_preflight_refuses_naming_each_problem(tmp_path: Path) -> None:
    # Given a dataset folder that is not there and an output "folder" that is a file
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    # When hzz.run is called, then ConfigError lists both, one line each, and nothing ran
    with pytest.raises(ConfigError) as caught:
        hzz.run(dataset=tmp_path / "nowhere", output_dir=blocker, transport="embedded", progress=False)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "nowhere" in lines[0] and "no such folder" in lines[0]
    assert "a-file" in lines[1] and "is a file" in lines[1]
