"""The results page in a real headless Chromium, against ``python -m hzz.webserver`` (gunicorn) on a live port.

The test plays the aggregator: it writes into the output folder while the page is open and checks
that the page follows without a reload. It needs Debian's ``chromium`` and the ``playwright``
package (no browser download: Playwright drives /usr/bin/chromium); without them it skips, or fails
when ``HZZ_REQUIRE_BROWSER=1``.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hzz.webserver.demo import demo_results, draw_plot, write_scaling_logs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium flags for a container: no sandbox (no user namespaces), no GPU, and no traffic of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
#: The plot image has loaded and decoded to a picture.
PLOT_LOADED = "(() => { const img = document.querySelector('#plot'); return img.complete && img.naturalWidth > 0; })()"
#: Long enough for a few 2 s polls.
WAIT_MS = 15_000


def _require_browser() -> Any:
    # Skips where the browser is missing; HZZ_REQUIRE_BROWSER=1 (for CI) turns the skip into a
    # failure, so that a green run always means the page was tested in a browser.
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    try:
        from playwright import sync_api
    except ImportError:
        missing = missing or "the playwright package is missing: pip install playwright (no browser download)"
    if missing:
        if os.environ.get("HZZ_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_api


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "output"
    folder.mkdir()
    return folder


@pytest.fixture
def server(output_dir: Path, tmp_path: Path) -> Iterator[str]:
    """``python -m hzz.webserver`` serving ``output_dir`` on a free port; yields its base URL."""
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hzz.webserver", "--port", str(port), "--workers", "1", "--output-dir", str(output_dir)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.fixture
def sync_api() -> Any:
    """Playwright's sync API, or a skip naming what is missing (before any server is started)."""
    return _require_browser()


@pytest.fixture
def page(sync_api: Any, server: str) -> Iterator[Any]:
    """A Chromium page at the server's URL; fails the test if the page logs an error (e.g. CSP)."""
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
            tab = context.new_page()
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.set_default_timeout(WAIT_MS)
            tab.goto(server)
            yield tab
        finally:
            browser.close()
    assert errors == [], errors


def feed(folder: Path, state: str, **kwargs: Any) -> None:
    """Write a plot, then results.json, as the aggregator does."""
    results = demo_results(state, **kwargs)
    draw_plot(folder, results)
    (folder / ".results.json.tmp").write_text(json.dumps(results))
    (folder / ".results.json.tmp").replace(folder / "results.json")


def screenshot(tab: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    tab.screenshot(path=str(path), full_page=True)
    return path


def wait_for_state(tab: Any, state: str) -> None:
    tab.wait_for_selector(f'#state[data-state="{state}"]')


def test_the_page_follows_a_run_from_waiting_to_complete(page: Any, output_dir: Path) -> None:
    # Given no run yet: the page waits, with no plot
    wait_for_state(page, "waiting")
    assert page.text_content("#state") == "Waiting for a run"
    assert page.is_hidden("#plot")
    assert page.text_content("#failed-count") == "0"

    # When the aggregator writes a partial result and plot
    feed(output_dir, "running", progress=0.4)
    # Then, without a reload, the page shows the run's progress and the plot
    wait_for_state(page, "running")
    page.wait_for_function(PLOT_LOADED)
    assert page.eval_on_selector("#plot", "img => img.naturalWidth") > 0
    assert "?v=" in page.get_attribute("#plot", "src")
    running_text = page.text_content("#progress-text")
    assert "pending" in running_text and "of 19 chunks done" in running_text
    page.wait_for_selector("#yields tr.sample-row")
    first_src = page.get_attribute("#plot", "src")

    # When the run completes (and deploy.sh has written its scaling logs)
    write_scaling_logs(output_dir)
    feed(output_dir, "complete")
    # Then the progress reads complete, the plot is the new one, and the tables are filled
    wait_for_state(page, "complete")
    page.wait_for_function("document.querySelector('#progress-text').textContent.startsWith('19 of 19')")
    assert page.text_content("#progress-text") == "19 of 19 chunks done · 100 %"
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    page.wait_for_function(f"document.querySelector('#plot').getAttribute('src') !== {first_src!r}")
    page.wait_for_function(PLOT_LOADED)
    assert page.text_content("#plot-note") == "final"
    assert page.locator("#yields tr.sample-row").count() == 12
    assert page.locator("#yields tr.group-row").count() == 4
    assert "ZZ" in page.text_content("#group-yields")
    assert page.text_content("#events-read") != "—"
    assert page.text_content("#failed-chunks") == "No failed chunks"
    assert "lumi" in page.text_content("#settings") and "numpy" in page.text_content("#versions")
    assert page.get_attribute("#download-svg", "aria-disabled") == "false"
    page.wait_for_selector("#scaling:not([hidden]) #scaling-chart svg path")
    page.wait_for_timeout(800)  # let the progress bar's transition finish before the picture
    shot = screenshot(page, "webpage-complete.png")
    assert shot.stat().st_size > 10_000


def test_a_failed_chunk_appears_in_the_list_when_it_is_written(page: Any, output_dir: Path) -> None:
    # Given a run in progress without failures
    feed(output_dir, "running", progress=0.3)
    wait_for_state(page, "running")
    assert page.locator("#failed-chunks li.failed-chunk").count() == 0

    # When a chunk fails
    feed(output_dir, "running", progress=0.6, failed=1)
    # Then it is listed with its error, and counted in the progress
    page.wait_for_selector("#failed-chunks li.failed-chunk")
    item = page.text_content("#failed-chunks li.failed-chunk")
    assert "llll/mc_363490.llll.4lep.root:500000-554279" in item and "TimeoutError" in item
    assert page.text_content("#failed-count") == "1"
    assert "1 failed" in page.text_content("#progress-text")

    # And when the run ends, it is complete with failures
    feed(output_dir, "complete_with_failures", failed=1)
    wait_for_state(page, "complete_with_failures")
    assert page.text_content("#state") == "Complete · failed chunks"
    assert page.text_content("#progress-text") == "18 of 19 chunks done · 1 failed · 100 %"
    page.wait_for_timeout(800)
    screenshot(page, "webpage-complete-with-failures.png")


def test_the_page_survives_a_half_written_results_file(page: Any, output_dir: Path) -> None:
    # Given a complete run on screen
    feed(output_dir, "complete")
    wait_for_state(page, "complete")
    # When results.json is replaced by a broken one (a non-atomic writer), the page waits
    (output_dir / "results.json").write_text('{"schema_version": 1, "state": "comp')
    wait_for_state(page, "waiting")
    assert page.text_content("#yields tbody") == "No results yet"
    # And it recovers as soon as the file is whole again
    feed(output_dir, "complete")
    wait_for_state(page, "complete")


def test_the_download_links_serve_the_files_through_gunicorn(server: str, output_dir: Path) -> None:
    # Given a complete run, when the page's download links are followed (no browser needed)
    feed(output_dir, "complete")
    for name, mimetype in (
        ("hzz_m4l.png", "image/png"),
        ("hzz_m4l.svg", "image/svg+xml"),
        ("results.json", "application/json"),
    ):
        response = requests.get(f"{server}/files/{name}?download=1", timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(mimetype)
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_2025_significance_is_shown_with_the_group_yields(page: Any, output_dir: Path) -> None:
    # Given a complete run of the 2025 profile, whose results carry the notebook's significance
    results = demo_results("complete")
    results["profile"] = "2025"
    results["significance"] = {"window": [122.5, 130.0], "n_sig": 28.73, "n_bg": 10.30, "significance": 4.96}
    draw_plot(output_dir, results)
    (output_dir / ".results.json.tmp").write_text(json.dumps(results))
    (output_dir / ".results.json.tmp").replace(output_dir / "results.json")

    # Then the yields table shows the window, both numbers and the significance
    wait_for_state(page, "complete")
    page.wait_for_selector("#significance")
    row = page.text_content("#significance")
    assert "122.5–130 GeV" in row
    assert "4.96" in row
