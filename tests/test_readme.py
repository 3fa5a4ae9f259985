"""The README's promises stay true: its settings table is the one the code prints."""

from __future__ import annotations

from pathlib import Path

from hzz.shared.data_vars import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_setting_as_the_code_defines_it() -> None:
    assert settings_table() in README.read_text()


def test_the_readme_starts_with_the_run_and_test_commands() -> None:
    first_block = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    assert "hzz run --demo" in first_block.splitlines()[0]
    assert "pytest" in first_block.splitlines()[1]
