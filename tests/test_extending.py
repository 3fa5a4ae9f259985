"""docs/extending.md works as written: each worked example's patch, applied to a copy of the code, runs end to end.

The copy is importable as ``hzz`` (the folders laid out as the package maps them) ahead of the
installed one; each run is a real ``hzz.run`` (producer, worker processes, aggregator) in a
fresh interpreter, on the real data_A and data_B files and generated MC files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from test_pipeline import PUBLISHED_AB_COUNTS

from hzz.devtools.notebook import run_notebook
from hzz.shared.data_vars import Settings
from hzz.shared.infofile import infos

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "extending.md"
#: The repository's folders and the package each one is (pyproject.toml's package-dir).
PACKAGES = {
    "shared": "shared",
    "producer": "producer",
    "worker": "worker",
    "aggregator": "aggregator",
    "webserver": "webserver",
}


def examples() -> dict[str, str]:
    """The patches of docs/extending.md, by the name in the ``<!-- test: NAME -->`` above each."""
    text = DOC.read_text()
    found = re.findall(r"<!-- test: ([\w-]+) -->\n```diff\n(.*?)\n```", text, flags=re.DOTALL)
    return {name: patch + "\n" for name, patch in found}


def patched_copy(tmp_path: Path, name: str) -> dict[str, str]:
    """A copy of the code with the example's patch applied; returns the environment that imports it."""
    repo = tmp_path / "repo"
    for folder in ("hzz", *PACKAGES):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "pyproject.toml", repo / "pyproject.toml")
    (tmp_path / "example.diff").write_text(examples()[name])
    subprocess.run(
        ["git", "apply", "--verbose", str(tmp_path / "example.diff")], cwd=repo, check=True, capture_output=True
    )
    # hzz/ with the other folders inside it, as the installed package has them
    site = tmp_path / "site" / "hzz"
    shutil.copytree(repo / "hzz", site)
    for folder, package in PACKAGES.items():
        shutil.copytree(repo / folder, site / package)
    return {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "PYTHONDONTWRITEBYTECODE": "1"}


RUN = """
import json, sys
import hzz
result = hzz.run(transport="embedded", progress=False, workers=1, **json.loads(sys.argv[1]))
assert hzz.__file__.startswith({site!r}), hzz.__file__
print(json.dumps(result.document))
"""


def run_patched(env: dict[str, str], tmp_path: Path, **settings: Any) -> dict[str, Any]:
    code = RUN.format(site=env["PYTHONPATH"])
    settings = {"output_dir": str(tmp_path / "out"), **settings}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(settings)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_doc_has_the_three_examples() -> None:
    assert list(examples()) == ["add-sample", "change-cut", "add-release"]


@pytest.fixture(scope="module")
def llll_dataset(tmp_path_factory: pytest.TempPathFactory, real_dataset: Path) -> Path:
    """The real data_A and data_B, and a generated llll file of 3000 events."""
    from hzz.devtools.samplegen.r2020 import generate_dataset

    folder = tmp_path_factory.mktemp("extending")
    generate_dataset(folder, events={"llll": 3000}, seed=11)
    shutil.copytree(real_dataset / "Data", folder / "Data")
    return folder


def test_adding_a_sample_weighs_it_and_draws_it_in_its_group(llll_dataset: Path, tmp_path: Path) -> None:
    # Given the patch, and the new sample's file (a copy of the llll file under its own name)
    env = patched_copy(tmp_path, "add-sample")
    shutil.copyfile(
        llll_dataset / "MC" / "mc_363490.llll.4lep.root", llll_dataset / "MC" / "mc_999001.llll_extra.4lep.root"
    )
    # When both samples are run
    document = run_patched(env, tmp_path, dataset=str(llll_dataset), samples=["llll", "llll_extra"])
    # Then the new sample selects the same events, weighed with its own cross-section weight
    llll, extra = document["samples"]["llll"], document["samples"]["llll_extra"]
    assert document["state"] == "complete"
    assert extra["events_selected"] == llll["events_selected"] > 0
    expected_ratio = (0.6289 / 1_000_000.0) / (infos["llll"]["xsec"] / infos["llll"]["sumw"])
    assert extra["weighted_yield"] / llll["weighted_yield"] == pytest.approx(expected_ratio, rel=1e-6)
    # and it is drawn and counted in the ZZ* group
    group = document["groups"][r"Background $ZZ^*$"]
    assert group["samples"] == ["llll", "llll_extra"]
    assert group["weighted_yield"] == pytest.approx(llll["weighted_yield"] + extra["weighted_yield"], rel=1e-12)
    with uproot.open(tmp_path / "out" / "hzz_m4l.root") as file:
        assert file["samples/llll_extra"].values().sum() == pytest.approx(sum(extra["sumw"]))


def test_changing_a_cut_selects_what_the_cut_says(real_dataset: Path, tmp_path: Path) -> None:
    # Given the patch (lepton pT above 20, 15 and 10 GeV for the first three)
    env = patched_copy(tmp_path, "change-cut")
    # When the real data files are run
    document = run_patched(env, tmp_path, dataset=str(real_dataset), samples=["data_A", "data_B"])
    # Then each selects exactly the events that pass the notebook's cuts and the new one
    for sample, notebook_count in (("data_A", 27), ("data_B", 86)):
        with uproot.open(real_dataset / "Data" / f"{sample}.4lep.root") as file:
            events = file["mini"].arrays(["lep_charge", "lep_type", "lep_pt"])
        charge = ak.sum(events.lep_charge[:, :4], axis=1)
        flavour = ak.sum(events.lep_type[:, :4], axis=1)
        pt = events.lep_pt
        pt_cut = (pt[:, 0] > 20_000) & (pt[:, 1] > 15_000) & (pt[:, 2] > 10_000)
        passing = (charge == 0) & np.isin(flavour, [44, 48, 52]) & pt_cut
        expected = int(ak.sum(passing))
        assert document["samples"][sample]["events_selected"] == expected < notebook_count, sample


def test_adding_a_release_makes_a_profile_with_its_groups_and_binning(llll_dataset: Path, tmp_path: Path) -> None:
    # Given the patch (release zz2020: the 2020 files, data against ZZ* in 2.5 GeV bins)
    env = patched_copy(tmp_path, "add-release")
    # When it is run as a profile
    document = run_patched(
        env, tmp_path, profile="zz2020", dataset=str(llll_dataset), samples=["data_A", "data_B", "llll"]
    )
    # Then the run has the release's name, binning and groups
    assert document["profile"] == "zz2020" and document["state"] == "complete"
    assert document["binning"]["bins"] == 68 and document["binning"]["width"] == 2.5
    assert list(document["groups"]) == ["Data", r"$q\bar{q} \rightarrow ZZ^*$"]
    assert document["groups"][r"$q\bar{q} \rightarrow ZZ^*$"]["color"] == "#2ca25f"
    # and the 2020 selection: two 2.5 GeV bins add up to the notebook's 5 GeV bin
    counts = np.asarray(document["data"]["counts"])
    assert (counts[0::2] + counts[1::2]).tolist() == PUBLISHED_AB_COUNTS
    notebook = run_notebook(Settings(dataset=str(llll_dataset), samples=("llll",)))["llll"]
    assert document["samples"]["llll"]["events_selected"] == notebook.events_selected
    assert document["samples"]["llll"]["weighted_yield"] == pytest.approx(notebook.sumw_total, rel=1e-9)
