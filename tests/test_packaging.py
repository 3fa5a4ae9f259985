"""The install puts exactly one top-level import package, ``hzz``, into the user's environment."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_one_top_level_package_hzz_with_every_service(tmp_path: Path) -> None:
    # Given the project built as a wheel, as pip would install it
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("hzz_pipeline-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        packages = archive.read(top_level).decode().split()

    # Then its only top-level package is hzz, holding the shared library, the services and the page's assets
    assert packages == ["hzz"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"hzz"}
    expected = (
        "shared/releases/r2025/selection.py",
        "worker/__main__.py",
        "aggregator/__main__.py",
        "producer/__main__.py",
        "webserver/templates/index.html",
        "devtools/samplegen/r2020.py",
    )
    for module in expected:
        assert f"hzz/{module}" in names, module
