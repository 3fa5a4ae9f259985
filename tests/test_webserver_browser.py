"""The results page in a real headless Chromium, against ``python -m hzz.webserver`` on a live port.

The test plays the aggregator: it writes into the output folder while the page is open, with the
aggregator's own writer on a real small run's tally (:mod:`hzz.devtools.webdemo`), and checks that
the page follows without a reload, keeps up (first state at once, elapsed ticking), lists the runs
side by side, and fits 1,280 and 390 px wide for both releases. It needs Debian's ``chromium`` and the ``playwright``
package (no browser download: Playwright drives /usr/bin/chromium); without them it skips, or fails
when ``HZZ_REQUIRE_BROWSER=1``.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import dataclasses
import math
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

from hzz.devtools.webdemo import RUNS_DIR, demo_run, mirror, write_run, write_scaling_logs

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
PLOT_LOADED = "() => { const img = document.querySelector('#plot'); return img.complete && img.naturalWidth > 0; }"
#: Long enough for a few 1 s polls.
WAIT_MS = 15_000
#: The widths the layout must fit: a laptop and a phone.
WIDTHS = (1280, 390)


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
        [sys.executable, "-m", "hzz.webserver", "--port", str(port), "--output-dir", str(output_dir)],
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
def browser(sync_api: Any) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_tab(browser: Any, url: str, errors: list[str], *, width: int = 1280, height: int = 900) -> Any:
    """A page at ``url``, ``width`` px wide; errors it logs (a CSP violation, say) go to ``errors``."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.set_default_timeout(WAIT_MS)
    tab.goto(url)
    return tab


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A Chromium page at the server's URL, 1,280 px wide; fails the test if the page logs an error."""
    errors: list[str] = []
    yield open_tab(browser, server, errors)
    assert errors == [], errors


def feed(folder: Path, state: str, *, profile: str = "2020", progress: float = 0.5, failed: int = 0) -> dict[str, Any]:
    """Write the run's outputs at that moment with the aggregator's writer (results.json, plot, ROOT file)."""
    if state == "complete_with_failures":
        failed = max(failed, 1)
    tally = demo_run(profile).tally(progress=progress if state == "running" else 1.0, failed=failed)
    return write_run(folder, tally)


def screenshot(tab: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    tab.screenshot(path=str(path), full_page=True)
    return path


def wait_for_state(tab: Any, state: str) -> None:
    tab.wait_for_selector(f'#state[data-state="{state}"]')


def chunks_text(document: dict[str, Any]) -> str:
    t = document["tally"]
    text = f"{t['done']} of {t['total']} chunks done"
    if t["failed"]:
        text += f" · {t['failed']} failed"
    if t["pending"]:
        text += f" · {t['pending']} pending"
    return f"{text} · {round(100 * (t['done'] + t['failed']) / t['total'])} %"


def test_the_page_follows_a_run_from_waiting_to_complete(page: Any, output_dir: Path) -> None:
    # Given no run yet: the page waits, with no plot
    wait_for_state(page, "waiting")
    assert page.text_content("#state") == "Waiting for a run"
    assert page.is_hidden("#plot")
    assert page.text_content("#failed-count") == "0"

    # When the aggregator writes a partial result and plot
    running = feed(output_dir, "running", progress=0.4)
    # Then, without a reload, the page shows the run's progress and the plot
    wait_for_state(page, "running")
    page.wait_for_function(PLOT_LOADED)
    assert page.eval_on_selector("#plot", "img => img.naturalWidth") > 0
    assert "?v=" in page.get_attribute("#plot", "src")
    page.wait_for_function(f"() => document.querySelector('#progress-text').textContent === {chunks_text(running)!r}")
    assert "pending" in page.text_content("#progress-text")
    page.wait_for_selector("#yields tr.sample-row")
    first_src = page.get_attribute("#plot", "src")
    # and "elapsed" counts on between polls, from the run's start
    first = int(page.text_content("#elapsed").split()[0])
    page.wait_for_timeout(2100)
    assert int(page.text_content("#elapsed").split()[0]) >= first + 2

    # When the run completes (and deploy.sh has written its scaling logs)
    write_scaling_logs(output_dir)
    complete = feed(output_dir, "complete")
    # Then the progress reads complete, the plot is the new one, and the tables are filled
    wait_for_state(page, "complete")
    total = complete["tally"]["total"]
    done = f"{total} of {total}"
    page.wait_for_function(f"() => document.querySelector('#progress-text').textContent.startsWith({done!r})")
    assert page.text_content("#progress-text") == f"{total} of {total} chunks done · 100 %"
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    assert page.text_content("#elapsed") == f"{complete['elapsed_seconds']:.1f} s"
    page.wait_for_function(f"() => document.querySelector('#plot').getAttribute('src') !== {first_src!r}")
    page.wait_for_function(PLOT_LOADED)
    assert page.text_content("#plot-note") == "final"
    assert page.locator("#yields tr.sample-row").count() == 12
    assert page.locator("#yields tr.group-row").count() == 4
    assert "ZZ" in page.text_content("#group-yields")
    # with each yield ± its uncertainty, as results.json has them
    llll = complete["samples"]["llll"]
    value, error = llll["weighted_yield"], llll["weighted_yield_uncertainty"]
    digits = 1 - math.floor(math.log10(error))  # two significant digits of the uncertainty
    row = page.locator("#yields tr.sample-row", has_text="llll").text_content()
    assert f"{value:,.{digits}f} ± {error:,.{digits}f}" in row
    assert page.text_content("#data-count") == str(complete["data"]["in_range"])
    assert page.text_content("#failed-chunks") == "No failed chunks"
    assert "lumi" in page.text_content("#settings") and "numpy" in page.text_content("#versions")
    assert page.get_attribute("#download-svg", "aria-disabled") == "false"
    assert page.get_attribute("#download-root", "aria-disabled") == "false"
    page.wait_for_selector("#scaling:not([hidden]) #scaling-chart svg path")
    page.wait_for_timeout(800)  # let the progress bar's transition finish before the picture
    shot = screenshot(page, "webpage-complete.png")
    assert shot.stat().st_size > 10_000


def test_the_first_state_is_shown_before_any_poll_answers(browser: Any, server: str, output_dir: Path) -> None:
    # Given a run in progress, and a browser whose polls never reach the server
    running = feed(output_dir, "running", progress=0.5)
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.route("**/api/**", lambda route: route.abort())
    tab.on("pageerror", lambda e: errors.append(str(e)))
    # When the page loads
    tab.goto(server, wait_until="domcontentloaded")
    # Then it shows the run's state and progress at once, from the status it was served with
    assert tab.get_attribute("#state", "data-state") == "running"
    assert tab.text_content("#progress-text") == chunks_text(running)
    assert tab.text_content("#run-id") == running["run_id"]
    assert errors == []


def test_a_failed_chunk_appears_in_the_list_when_it_is_written(page: Any, output_dir: Path) -> None:
    # Given a run in progress without failures
    feed(output_dir, "running", progress=0.3)
    wait_for_state(page, "running")
    assert page.locator("#failed-chunks li.failed-chunk").count() == 0

    # When a chunk fails
    document = feed(output_dir, "running", progress=0.6, failed=1)
    # Then it is listed with its error, and counted in the progress
    page.wait_for_selector("#failed-chunks li.failed-chunk")
    item = page.text_content("#failed-chunks li.failed-chunk")
    (failure,) = document["failed_chunks"]
    assert failure["chunk_id"] in item and "TimeoutError" in item
    assert page.text_content("#failed-count") == "1"
    assert "1 failed" in page.text_content("#progress-text")

    # And when the run ends, it is complete with failures
    ended = feed(output_dir, "complete_with_failures", failed=1)
    wait_for_state(page, "complete_with_failures")
    assert page.text_content("#state") == "Complete · failed chunks"
    page.wait_for_function(f"() => document.querySelector('#progress-text').textContent === {chunks_text(ended)!r}")
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


def test_the_download_links_serve_the_files_through_the_server(server: str, output_dir: Path) -> None:
    # Given a complete run, when the page's download links are followed (no browser needed)
    feed(output_dir, "complete")
    for name, mimetype in (
        ("hzz_m4l.png", "image/png"),
        ("hzz_m4l.svg", "image/svg+xml"),
        ("hzz_m4l.root", "application/octet-stream"),
        ("results.json", "application/json"),
    ):
        response = requests.get(f"{server}/files/{name}?download=1", timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(mimetype)
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
        assert response.headers["Cache-Control"] == "no-store"


def test_the_2025_significance_is_shown_with_the_group_yields(page: Any, output_dir: Path) -> None:
    # Given a complete run of the 2025 profile, whose results carry the notebook's significance
    document = feed(output_dir, "complete", profile="2025")
    # Then the yields table shows the window, both numbers and the significance
    wait_for_state(page, "complete")
    page.wait_for_selector("#significance")
    row = page.text_content("#significance")
    assert "122.5–130 GeV" in row
    assert f"{document['significance']['significance']:.2f}" in row


#: Everything that sticks out of the page or of its card, and group names broken over two lines.
OVERFLOW = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) out.push(`page ${doc.scrollWidth} px wide in ${window.innerWidth}`);
  for (const card of document.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('*')) {
      if (el.closest('.table-scroll') || el.closest('[hidden]')) continue;
      const r = el.getBoundingClientRect();
      if (r.width && r.right > box.right + 1) out.push(`${el.tagName}.${el.className} ends at ${r.right}`);
    }
  }
  // On a phone a group name may take two lines; from a laptop's width on, one.
  for (const cell of window.innerWidth < 1000 ? [] : document.querySelectorAll('#group-yields td.group-name')) {
    const line = parseFloat(getComputedStyle(cell).lineHeight) || 20;
    if (cell.querySelector('.label').getBoundingClientRect().height > 1.6 * line) out.push(`${cell.textContent} wraps`);
  }
  return out;
}"""


@pytest.mark.parametrize("profile", ["2020", "2025"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_layout_fits_the_width_for_both_releases(
    browser: Any, server: str, output_dir: Path, profile: str, width: int
) -> None:
    # Given a complete run of the release with a failed chunk (the longest page)
    feed(output_dir, "complete_with_failures", profile=profile, failed=1)
    errors: list[str] = []
    tab = open_tab(browser, server, errors, width=width)
    wait_for_state(tab, "complete_with_failures")
    tab.wait_for_selector("#yields tr.sample-row")
    tab.wait_for_function(PLOT_LOADED)
    tab.wait_for_timeout(800)
    # Then nothing sticks out sideways: no page scroll, no card overflow (the per-sample table
    # scrolls inside its card), group names on one line
    assert tab.evaluate(OVERFLOW) == []
    # and the plot is shown at a legible size for the width
    shown = tab.eval_on_selector("#plot", "img => img.getBoundingClientRect().width")
    assert shown >= min(700, width - 70)
    screenshot(tab, f"webpage-{profile}-{width}px.png")
    assert errors == []


def test_the_runs_are_listed_and_any_of_them_can_be_shown(page: Any, output_dir: Path) -> None:
    # Given two runs side by side, written in their own folders, the newer mirrored at the top
    run = demo_run("2020")
    older, newer = "20261124-090000-bbbbbb", "20261125-103000-cccccc"
    write_run(output_dir / RUNS_DIR / older, run.tally(run_id=older, failed=2, started=time.time() - 3600))
    write_run(output_dir / RUNS_DIR / newer, run.tally(run_id=newer, progress=0.5))
    mirror(output_dir, newer)
    # Then the page lists both, newest first, and shows the newest
    page.wait_for_selector("#runs li.run-item >> nth=1")
    items = page.locator("#runs li.run-item")
    assert newer in items.nth(0).text_content() and "running" in items.nth(0).text_content()
    assert older in items.nth(1).text_content() and "failed chunks" in items.nth(1).text_content()
    page.wait_for_function(f"() => document.querySelector('#run-id').textContent === {newer!r}")
    # When the older run is chosen
    items.nth(1).locator("a").click()
    # Then the page shows that run: its id, state, failures and plot, and a way back
    wait_for_state(page, "complete_with_failures")
    assert page.text_content("#run-id") == older
    # The status and the results are fetched and drawn apart: the list may come a moment later.
    page.wait_for_selector("#failed-chunks li.failed-chunk >> nth=1")
    assert page.locator("#failed-chunks li.failed-chunk").count() == 2
    page.wait_for_function(PLOT_LOADED)
    assert f"run={older}" in page.get_attribute("#plot", "src")
    assert f"run={older}" in page.get_attribute("#download-root", "href")
    assert page.is_visible("#follow-latest")
    assert page.get_attribute("#runs li.shown a", "aria-current") == "page"
    screenshot(page, "webpage-runs.png")


def test_a_file_without_entries_is_listed_as_a_warning(page: Any, output_dir: Path) -> None:
    # Given a run without warnings on screen, the warnings card is not shown
    feed(output_dir, "complete")
    wait_for_state(page, "complete")
    assert page.locator("#warnings-card").is_hidden()
    # When a run's manifest lists a data file without entries (written by the aggregator's writer)
    demo = demo_run("2020")
    empty = {"sample": "data_D", "location": "/data/Data/data_D.4lep.root", "entries": 0, "chunk_size": 2000}
    manifest = dataclasses.replace(demo.manifest, run_id="20261125-110000-empty1", files=[*demo.manifest.files, empty])
    document = write_run(output_dir, dataclasses.replace(demo, manifest=manifest).tally())
    (warning,) = document["warnings"]
    # Then the page lists it, counted, under its own heading
    page.wait_for_selector("#warnings li.warning")
    assert page.text_content("#warnings li.warning") == warning
    assert "data_D" in warning and page.text_content("#warnings-count") == "1"
    assert page.locator("#warnings-card").is_visible()
