"""``hzz check``: a run compared with the notebook's published numbers, match or mismatch per file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from test_pipeline import PUBLISHED_AB_COUNTS

from hzz.check import check_results, load_published
from hzz.cli import main
from hzz.shared.errors import ConfigError

PUBLISHED = load_published()


def published_document() -> dict[str, Any]:
    """A complete run's results.json carrying exactly the published numbers (data_A holds the A+B bins)."""
    files = PUBLISHED["files"]
    samples = {}
    for name, numbers in files.items():
        is_data = name.startswith("data_")
        samples[name] = {
            "chunks_total": 1,
            "chunks_failed": 0,
            "events_read": numbers["events_read"],
            "events_selected": numbers["events_selected"],
            "weighted_yield": float(numbers.get("weighted_yield", numbers["events_selected"])),
            "sumw": [float(c) for c in PUBLISHED_AB_COUNTS] if name == "data_A" else [0.0] * 34,
            "is_data": is_data,
        }
    return {
        "run_id": "r1",
        "state": "complete",
        "profile": "2020",
        "settings": {"lumi": 10.0, "fraction": 1.0},
        "samples": samples,
        "data": {"events_selected": 507, "in_range": 371},
        "binning": {"bins": 34, "low": 80.0, "high": 250.0, "edges": [80.0 + 5 * i for i in range(35)]},
    }


def by_name(checks: list) -> dict[str, Any]:  # type: ignore[type-arg]
    return {c.name: c for c in checks}


def test_the_published_numbers_ship_with_their_source() -> None:
    # Then the data file says where each number comes from, and holds the reference's numbers
    assert set(PUBLISHED["source"]) >= {"notebook", "files", "per_file", "data", "data_histograms"}
    assert PUBLISHED["files"]["llll"] == {"events_read": 554279, "events_selected": 523957, "weighted_yield": 264.85263}
    assert PUBLISHED["data_histograms"][0]["counts"] == PUBLISHED_AB_COUNTS
    assert sum(f["events_selected"] for n, f in PUBLISHED["files"].items() if n.startswith("data_")) == 507


def test_a_run_with_the_published_numbers_matches_everywhere() -> None:
    checks = check_results(published_document())
    assert [c.name for c in checks] == [*PUBLISHED["files"], "data (all)", "data_A+data_B"]
    assert all(c.ok for c in checks), [str(c) for c in checks if not c.ok]


@pytest.mark.parametrize(
    ("change", "name", "says"),
    [
        (
            lambda d: d["samples"]["llll"].update(events_selected=523956),
            "llll",
            "events selected 523,956, published 523,957",
        ),
        (lambda d: d["samples"]["Zee"].update(weighted_yield=43.141792 * (1 + 1e-5)), "Zee", "weighted yield"),
        (lambda d: d["samples"]["data_C"].update(events_read=236), "data_C", "events read 236, published 237"),
        (lambda d: d["samples"]["ggH125_ZZ4lep"].update(chunks_failed=1), "ggH125_ZZ4lep", "1 of 1 chunks failed"),
        (lambda d: d["data"].update(in_range=370), "data (all)", "published 507 and 371"),
        (lambda d: d["samples"]["data_A"]["sumw"].__setitem__(2, 8.0), "data_A+data_B", "90–95 GeV: 8 (published 9)"),
    ],
)
def test_a_difference_is_a_mismatch_of_that_file_saying_what_differs(change: Any, name: str, says: str) -> None:
    # Given a run that differs from the published numbers in one place
    document = published_document()
    change(document)
    # Then that one check is a mismatch that says what differs, and every other one matches
    checks = by_name(check_results(document))
    assert not checks[name].ok
    assert says in checks[name].detail
    assert [c.name for c in checks.values() if not c.ok] == [name]


def test_a_yield_within_the_printed_precision_matches() -> None:
    document = published_document()
    document["samples"]["ZH125_ZZ4lep"]["weighted_yield"] *= 1 + 1e-8
    assert by_name(check_results(document))["ZH125_ZZ4lep"].ok


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(profile="2025"), "profile '2025'"),
        (lambda d: d["settings"].update(fraction=0.5), "fraction 0.5"),
        (lambda d: d["settings"].update(lumi=5.0), "lumi 5.0"),
        (lambda d: d.update(state="running"), "still running"),
    ],
)
def test_a_run_that_cannot_be_compared_is_refused_saying_why(change: Any, says: str) -> None:
    document = copy.deepcopy(published_document())
    change(document)
    with pytest.raises(ConfigError, match=says):
        check_results(document)


def test_hzz_run_check_on_the_real_files_says_match_per_file(
    real_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the real data_A and data_B, when hzz run --check processes them
    out = tmp_path / "out"
    argv = ["run", "--dataset", str(real_dataset), "--samples", "data_A,data_B", "--output-dir", str(out)]
    code = main([*argv, "--workers", "1", "--transport", "embedded", "--quiet", "--check"])
    printed = capsys.readouterr().out
    # Then each file and their binned histogram match the published numbers, and the exit is 0
    assert code == 0, printed
    assert "  data_A           match     39 read, 27 selected" in printed
    assert "  data_B           match     156 read, 86 selected" in printed
    assert "  data_A+data_B    match     data histogram, 34 bins, 75 events in range" in printed
    assert printed.rstrip().endswith("3 of 3 match")
    # And hzz check says the same of the folder afterwards
    assert main(["check", str(out)]) == 0
    assert "3 of 3 match" in capsys.readouterr().out


def test_hzz_check_exits_1_on_a_mismatch_and_2_without_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    document = published_document()
    document["samples"]["data_B"]["events_selected"] = 85
    (tmp_path / "results.json").write_text(json.dumps(document))
    assert main(["check", str(tmp_path)]) == 1
    assert "data_B           MISMATCH  events selected 85, published 86" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "nothing")]) == 2
    assert "no readable results at" in capsys.readouterr().err
