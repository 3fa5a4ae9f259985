"""``hzz check``: compare a run on the real 2020 data with the numbers the notebook publishes.

The published numbers ship with the project, with their source
(``hzz/shared/releases/r2020/published.json``): per file the events read and selected and, for
MC, the weighted yield; the data's selected events and those inside 80–250 GeV; and the binned
data histogram of data_A + data_B. Each file of the run, and each data total and histogram whose
files the run has, is reported as ``match`` or ``mismatch`` with what differs. Only a run that
can be compared is: the 2020 profile at 10 fb⁻¹ over whole files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hzz.shared.errors import ConfigError
from hzz.shared.outputs import RESULTS_FILE

__all__ = ["Check", "check_results", "load_published", "main", "report"]


@dataclass(frozen=True)
class Check:
    """One comparison: a file, a data total or a data histogram."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"  {self.name:<16} {'match' if self.ok else 'MISMATCH':<9} {self.detail}"


def load_published() -> dict[str, Any]:
    """The notebook's published numbers of the 2020 release, and their source."""
    text = resources.files("hzz.shared.releases.r2020").joinpath("published.json").read_text()
    return json.loads(text)


def check_results(document: dict[str, Any], published: dict[str, Any] | None = None) -> list[Check]:
    """Compare a results document with the published numbers.

    Args:
        document: a run's results.json.
        published: the numbers to compare with (default :func:`load_published`).

    Returns:
        list[Check]: one per file of the run, then the data totals and histograms its files allow.

    Raises:
        ConfigError: the run cannot be compared (another release, luminosity or fraction, or still running).
    """
    published = load_published() if published is None else published
    settings = document.get("settings") or {}
    expected = {"profile": published["release"], "lumi": published["lumi"], "fraction": published["fraction"]}
    actual = {
        "profile": document.get("profile", "2020"),
        "lumi": settings.get("lumi"),
        "fraction": settings.get("fraction"),
    }
    differ = [
        f"{key} {actual[key]!r} (published: {value!r})" for key, value in expected.items() if actual[key] != value
    ]
    if differ:
        msg = f"run {document.get('run_id')} cannot be compared with the published numbers: {', '.join(differ)}"
        raise ConfigError(msg)
    if document.get("state") == "running":
        msg = f"run {document.get('run_id')} is still running; check it when it is complete"
        raise ConfigError(msg)

    samples = document["samples"]
    # The notebook prints yields to 8 significant digits, summed in float32.
    rel_tol = published["weighted_yield_rel_tolerance"]
    checks = [_check_file(name, samples[name], published["files"].get(name), rel_tol) for name in samples]
    data = published["data"]
    if all(s in samples for s in data["samples"]):
        got = document["data"]
        want = (data["events_selected"], data["in_range"])
        ok = (got["events_selected"], got["in_range"]) == want
        detail = f"{got['events_selected']} selected, {got['in_range']} in 80–250 GeV"
        checks.append(Check("data (all)", ok, detail if ok else f"{detail}; published {want[0]} and {want[1]}"))
    for histogram in published["data_histograms"]:
        if all(s in samples for s in histogram["samples"]):
            checks.append(_check_histogram(histogram, samples, document["binning"], published["binning"]))
    return checks


def _check_file(name: str, got: dict[str, Any], want: dict[str, Any] | None, rel_tol: float) -> Check:
    if want is None:
        return Check(name, False, "no published numbers for this sample")
    problems = []
    if got.get("chunks_failed"):
        problems.append(f"{got['chunks_failed']} of {got['chunks_total']} chunks failed")
    for key in ("events_read", "events_selected"):
        if got[key] != want[key]:
            problems.append(f"{key.replace('_', ' ')} {got[key]:,}, published {want[key]:,}")
    if "weighted_yield" in want and not math.isclose(got["weighted_yield"], want["weighted_yield"], rel_tol=rel_tol):
        problems.append(f"weighted yield {got['weighted_yield']:.8g}, published {want['weighted_yield']:.8g}")
    if problems:
        return Check(name, False, "; ".join(problems))
    detail = f"{got['events_read']:,} read, {got['events_selected']:,} selected"
    if "weighted_yield" in want:
        detail += f", weighted yield {got['weighted_yield']:.8g}"
    return Check(name, True, detail)


def _check_histogram(
    histogram: dict[str, Any], samples: dict[str, Any], binning: dict[str, Any], published_binning: list[float]
) -> Check:
    name = "+".join(histogram["samples"])
    if [binning["bins"], binning["low"], binning["high"]] != published_binning:
        return Check(name, False, f"binning {binning['bins']} bins {binning['low']}–{binning['high']} GeV differs")
    counts = [round(sum(samples[s]["sumw"][i] for s in histogram["samples"])) for i in range(binning["bins"])]
    wrong = [i for i, (a, b) in enumerate(zip(counts, histogram["counts"], strict=True)) if a != b]
    if not wrong:
        return Check(name, True, f"data histogram, {binning['bins']} bins, {sum(counts)} events in range")
    edges = binning["edges"]
    shown = ", ".join(
        f"{edges[i]:g}–{edges[i + 1]:g} GeV: {counts[i]} (published {histogram['counts'][i]})" for i in wrong[:3]
    )
    more = f" and {len(wrong) - 3} more bins" if len(wrong) > 3 else ""
    return Check(name, False, f"data histogram differs in {shown}{more}")


def report(document: dict[str, Any], checks: list[Check]) -> str:
    """The checks as text, with a closing summary line."""
    published = load_published()
    matched = sum(c.ok for c in checks)
    lines = [
        f"run {document.get('run_id')} against the notebook's published numbers ({published['source']['notebook']}):",
        *map(str, checks),
        f"{matched} of {len(checks)} match" + ("" if matched == len(checks) else f", {len(checks) - matched} do not"),
    ]
    return "\n".join(lines)


def main(path: str | Path) -> int:
    """Check the run at ``path`` (results.json or its folder) and print the report.

    Returns:
        int: 0 when everything matches, 1 on a mismatch.

    Raises:
        ConfigError: no results there, or a run that cannot be compared.
    """
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    try:
        document = json.loads(file.read_bytes())
    except (OSError, ValueError) as e:
        msg = f"no readable results at {file} ({type(e).__name__}); run hzz run first or give the run's folder"
        raise ConfigError(msg) from e
    checks = check_results(document)
    print(report(document, checks))
    return 0 if all(c.ok for c in checks) else 1
