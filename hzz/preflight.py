"""The checks ``hzz run`` makes before it publishes anything: the dataset, the broker and the output folder.

Each problem is one line that names the setting or file, what was found and what is expected;
every check runs before any is reported, so a user fixes them all in one go. The settings
themselves are checked where they are built (:meth:`hzz.shared.data_vars.Settings.problems`).
Nothing here writes anything but a temporary file that proves the output folder writable.

- the dataset: a local folder (or ``file://`` URL) must hold every file the run will read, in the
  release's layout, each opening as ROOT with the release's tree; an ``http(s)://`` dataset's
  host must answer (the files themselves are read, and their faults reported, by the run);
- the broker: :func:`hzz.local.choose_transport` decides, and says why it cannot;
- the output folder: there or creatable, and writable.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from hzz.shared.data_vars import Settings
from hzz.shared.errors import HZZError
from hzz.shared.releases import RELEASES, Release

__all__ = ["Preflight", "Problem", "check_dataset", "check_output_dir", "preflight"]

#: Seconds to wait for a remote dataset's host to accept a connection.
HOST_TIMEOUT_SECONDS = 5.0
#: Files opened at once while checking a local dataset.
PARALLEL_OPENS = 8
#: Longest excerpt of an underlying error quoted in a problem's line.
EXCERPT_CHARS = 200
#: How many names a line lists before "…".
NAMES_LISTED = 4


@dataclass(frozen=True)
class Problem:
    """One reason not to start: ``line`` for everyone, ``error`` (its full detail) for ``hzz run -v``."""

    line: str
    error: BaseException | None = None

    def detail(self) -> str:
        """The underlying error with its traceback, or "" when there is none."""
        if self.error is None:
            return ""
        return "".join(traceback.format_exception(self.error)).rstrip()


@dataclass
class Preflight:
    """What the checks found: the problems (none: go) and the transport the run will use."""

    problems: list[Problem] = field(default_factory=list)
    transport: Literal["rabbitmq", "embedded"] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def preflight(settings: Settings, *, transport: str = "auto", dataset: bool = True) -> Preflight:
    """Check everything a run needs before it starts.

    Args:
        settings: the run's (already valid) settings.
        transport: "auto", "rabbitmq" or "embedded", as for :func:`hzz.local.run_local`.
        dataset: check the dataset (False for a retry, whose files come from the recorded run).

    Returns:
        Preflight: every problem found, and the transport chosen when the broker check passed.
    """
    from hzz.local import choose_transport  # the one home of the auto/rabbitmq/embedded decision

    result = Preflight()
    with ThreadPoolExecutor(2) as pool:  # the dataset's host and the broker may each take seconds
        dataset_problems = pool.submit(check_dataset, settings) if dataset else None
        try:
            result.transport = choose_transport(settings, transport)  # type: ignore[arg-type]
        except HZZError as e:
            result.problems.append(Problem(_one_line(str(e)), e))
        result.problems[:0] = check_output_dir(settings.output_dir)
        if dataset_problems is not None:
            result.problems[:0] = dataset_problems.result()
    return result


# --- the output folder ------------------------------------------------------------------------


def check_output_dir(output_dir: str) -> list[Problem]:
    """The output folder is there and writable, or can be created (nothing is created here)."""
    name = f"output_dir (HZZ_OUTPUT_DIR) {output_dir!r}"
    path = Path(output_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path:
        if not existing.is_dir():
            return [Problem(f"{name} cannot be created: {existing} is a file; expected a folder's path")]
        if not os.access(existing, os.W_OK | os.X_OK):
            return [Problem(f"{name} cannot be created: {existing} is not writable; expected a writable place")]
        return []
    if not path.is_dir():
        return [Problem(f"{name} is a file; expected a folder")]
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        return [Problem(f"{name} is not writable ({e.strerror}); expected a folder this user can write", e)]
    return []


# --- the dataset --------------------------------------------------------------------------------


def check_dataset(settings: Settings) -> list[Problem]:
    """Every file the run will read is there and opens (a local dataset), or the host answers (http(s))."""
    parsed = urlparse(settings.dataset)
    if parsed.scheme in ("http", "https"):
        return _check_host(settings.dataset)
    if parsed.scheme == "file":
        return _check_folder(settings, Path(unquote(parsed.path)))
    if len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive ("C:\\data")
        line = f"dataset (HZZ_DATASET) is {settings.dataset!r}; expected an https:// or file:// URL or a local folder"
        return [Problem(line)]
    return _check_folder(settings, Path(settings.dataset))


def _check_host(url: str) -> list[Problem]:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError as e:
        return [Problem(f"dataset (HZZ_DATASET) is {url!r}; expected a URL with a port in 1–65535 ({e})", e)]
    hint = "offline? try --demo, or --dataset with a local copy"
    if not host:
        return [Problem(f"dataset (HZZ_DATASET) is {url!r}; expected a URL with a host")]
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        return [Problem(f"dataset: cannot reach {host}: name resolution failed — {hint}", e)]
    error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(HOST_TIMEOUT_SECONDS)
                sock.connect(address)
            return []
        except OSError as e:
            error = e
    assert error is not None
    why = f"no answer within {HOST_TIMEOUT_SECONDS:.0f} s" if isinstance(error, TimeoutError) else error.strerror
    return [Problem(f"dataset: cannot reach {host}:{port}: {why or type(error).__name__} — {hint}", error)]


def layout_of(release: Release) -> str:
    """The release's file layout in words: "the server layout: Data/, MC/" or its flat file names."""
    folders = sorted({Path(release.file_name(s)).parent.as_posix() for s in release.samples} - {"."})
    if folders:
        return f"the server layout: {', '.join(f + '/' for f in folders)}"
    return f"the {release.name} release's file names side by side, e.g. {release.file_name(release.samples[0])}"


def _files_under(folder: Path, depth: int = 2) -> dict[str, list[Path]]:
    """Every file in ``folder`` and its sub-folders down to ``depth``, by name (a bounded look, not a crawl)."""
    found: dict[str, list[Path]] = {}
    level = [folder]
    for _ in range(depth + 1):
        below = []
        for current in level:
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir():
                    below.append(Path(entry.path))
                elif entry.is_file():
                    found.setdefault(entry.name, []).append(Path(entry.path))
        level = below
    return found


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_LISTED])
    return shown + (f", … ({len(items)} in all)" if len(items) > NAMES_LISTED else "")


def _check_folder(settings: Settings, folder: Path) -> list[Problem]:
    release = settings.release
    name = f"dataset (HZZ_DATASET) {str(folder)!r}"
    layout = layout_of(release)
    if not folder.exists():
        expected = f"a folder of ROOT files ({layout}), an https:// URL, or --demo"
        return [Problem(f"{name}: no such folder; expected {expected}")]
    if not folder.is_dir():
        return [Problem(f"{name} is a file; expected a folder of ROOT files ({layout})")]
    expected = {sample: Path(settings.file_location(sample)) for sample in settings.samples}
    missing = {sample: path for sample, path in expected.items() if not path.is_file()}
    present = [path for sample, path in expected.items() if sample not in missing]
    problems: list[Problem] = []
    if missing:
        on_disk = _files_under(folder)
        other = _other_release(folder, release, on_disk) if len(missing) == len(expected) else None
        if other is not None:
            line = (
                f"{name} holds files of the {other.name} release, not of the {release.name} profile; "
                f"use --profile {other.name}, or a folder of the {release.name} release ({layout})"
            )
            return [Problem(line)]
        misplaced = {s: on_disk[p.name][0] for s, p in missing.items() if p.name in on_disk}
        absent = [s for s in missing if s not in misplaced]
        if misplaced:
            sample, found = next(iter(misplaced.items()))
            more = f"; {len(misplaced) - 1} more file(s) likewise" if len(misplaced) > 1 else ""
            problems.append(Problem(f"{name}: found {found}; expected {missing[sample]} ({layout}){more}"))
        if absent:
            usable = [s for s in settings.samples if s not in missing]
            choose = f", or choose the samples there: --samples {','.join(usable)}" if usable else ""
            problems.append(
                Problem(
                    f"{name}: no file for {len(absent)} of {len(expected)} samples ({_names(absent)}); "
                    f"expected e.g. {missing[absent[0]]} ({layout}){choose}"
                )
            )
    problems.extend(_unreadable(present, release.tree))
    return problems


def _other_release(folder: Path, release: Release, on_disk: dict[str, list[Path]]) -> Release | None:
    """Another release whose files the folder holds (a 2020 folder given to the 2025 profile), if any."""
    for other in RELEASES.values():
        if other.name != release.name and any(Path(other.file_name(s)).name in on_disk for s in other.samples):
            return other
    return None


def _unreadable(paths: list[Path], tree: str) -> list[Problem]:
    # Only the file's header and directory are read: reading the TTree itself (its streamers)
    # costs 0.2-0.5 s a file, which the run's planning pays once anyway.
    import uproot  # only where local files are checked

    def check(path: Path) -> Problem | None:
        expected = f"expected a ROOT file with the TTree {tree!r}"
        try:
            with uproot.open(path) as file:
                kind = file.classname_of(tree)
        except Exception as e:  # uproot raises OSError, ValueError, KeyInFileError … for a bad file
            return Problem(f"file {path} cannot be read: {_excerpt(str(e), path)}; {expected}", e)
        if kind != "TTree":
            return Problem(f"file {path}: {tree!r} is a {kind}; {expected}")
        return None

    with ThreadPoolExecutor(PARALLEL_OPENS) as pool:
        return [p for p in pool.map(check, paths) if p is not None]


def _excerpt(text: str, path: Path) -> str:
    """The error on one line, without the file's name that the problem already gives."""
    text = re.sub(r"\s+", " ", text.replace(str(path), "")).strip(" :")
    text = re.sub(r"\s*(for file path|in file)$", "", text)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
