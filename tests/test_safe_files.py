"""Reading files of a folder others may write into (:mod:`hzz.shared.safe_files`), on real links, FIFOs and devices."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hzz.shared.errors import RefusedFile
from hzz.shared.safe_files import open_regular, read_regular, regular_file_stat


def test_a_regular_file_is_read_whole_within_the_cap(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{}")
    assert read_regular(tmp_path / "a.json", limit=2) == b"{}"
    assert regular_file_stat(tmp_path / "a.json") is not None


def test_a_file_over_the_cap_is_refused_naming_both_sizes(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{} ")
    with pytest.raises(RefusedFile, match=r"a\.json is 3 bytes, over the 2-byte cap") as refused:
        read_regular(tmp_path / "a.json", limit=2)
    assert refused.value.too_large and isinstance(refused.value, OSError)


def test_a_symbolic_link_is_refused_not_followed(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("secret")
    (tmp_path / "pod_scaling.log").symlink_to(tmp_path / "target")
    with pytest.raises(RefusedFile, match=r"^pod_scaling\.log is a symbolic link, not a regular file"):
        open_regular(tmp_path / "pod_scaling.log")
    assert regular_file_stat(tmp_path / "pod_scaling.log") is None


def test_a_fifo_is_refused_at_once_without_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "results.json")
    start = time.monotonic()
    with pytest.raises(RefusedFile, match=r"^results\.json is a FIFO, not a regular file"):
        read_regular(tmp_path / "results.json", limit=100)
    assert time.monotonic() - start < 1
    assert regular_file_stat(tmp_path / "results.json") is None


def test_a_device_and_a_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RefusedFile, match=r"^null is a character device"):
        read_regular("/dev/null", limit=100)
    with pytest.raises(RefusedFile, match=r"is a folder"):
        read_regular(tmp_path, limit=100)


def test_an_absent_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")
    assert regular_file_stat(tmp_path / "missing") is None
