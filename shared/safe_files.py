"""Reading files from a folder that others may write into: regular files only, no link followed, bounded.

The web page reads the output folder, which on Kubernetes is a folder of the host. Whoever can
write there could plant a symbolic link (``pod_scaling.log -> /etc/passwd``), a FIFO (an ``open``
that never returns, a read that never ends) or a device (``/dev/zero``: a read until memory runs
out) under a name the page serves. So every file is opened here without following a symbolic
link (``O_NOFOLLOW``) and without waiting for a writer (``O_NONBLOCK``), checked with ``fstat`` on
the opened descriptor (what is read is what was checked), refused unless it is a regular file, and
read only up to a stated size. Refusals are :class:`~hzz.shared.errors.RefusedFile`, an
``OSError``: a caller that treats unreadable files as absent keeps doing so.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from hzz.shared.errors import RefusedFile

__all__ = ["MAX_JSON_BYTES", "MAX_LOG_BYTES", "open_regular", "read_regular", "regular_file_stat"]

#: The largest JSON file read whole (results.json): a full 2025 run's is well under 1 MiB.
MAX_JSON_BYTES = 16 * 1024 * 1024
#: The largest scaling log or CSV read whole: a day of 10-s blocks for 30 pods is about 30 MiB.
MAX_LOG_BYTES = 64 * 1024 * 1024

#: No link followed, no wait for a FIFO's writer, not inherited by child processes.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(path: Path, what: str) -> RefusedFile:
    return RefusedFile(f"{path.name} is {what}, not a regular file: refused (only regular files are read)", path)


def open_regular(path: str | os.PathLike[str]) -> tuple[BinaryIO, os.stat_result]:
    """Open a regular file for reading, refusing symbolic links, FIFOs, devices and folders.

    Args:
        path (str | os.PathLike[str]): the file (the folders on the way may be links; the file may not).

    Returns:
        tuple[BinaryIO, os.stat_result]: the open file (the caller closes it) and its ``fstat``.

    Raises:
        FileNotFoundError: there is no such file.
        RefusedFile: it is a symbolic link or not a regular file (the message says which).
        OSError: it cannot be opened for another reason (permissions, …).
    """
    path = Path(path)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        # O_NOFOLLOW refuses a link with ELOOP (Linux, macOS) or EMLINK (BSD): name it as what it is.
        if path.is_symlink():
            raise _not_regular(path, "a symbolic link") from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, _kind(info.st_mode))
        # Back to blocking reads: a regular file ignores O_NONBLOCK, but say what is meant.
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes.

    Args:
        path (str | os.PathLike[str]): the file.
        limit (int): the most bytes read (e.g. :data:`MAX_JSON_BYTES`).

    Returns:
        bytes: the content.

    Raises:
        FileNotFoundError: there is no such file.
        RefusedFile: not a regular file, or larger than ``limit`` (the message gives both sizes).
        OSError: it cannot be read.
    """
    f, info = open_regular(path)
    with f:
        # One byte more than allowed: a file that grew after fstat is caught too.
        content = f.read(limit + 1)
    if info.st_size > limit or len(content) > limit:
        size = max(info.st_size, len(content))
        msg = f"{Path(path).name} is {size:,} bytes, over the {limit:,}-byte cap for reading it whole: refused"
        raise RefusedFile(msg, Path(path), too_large=True)
    return content


def regular_file_stat(path: str | os.PathLike[str]) -> os.stat_result | None:
    """The file's ``lstat`` if it is a regular file (not a link to one), else ``None``; never opens it."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None
