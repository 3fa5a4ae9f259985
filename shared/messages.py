"""The messages on the wire: a task per chunk, the run manifest, a result per chunk.

Every message is a frozen dataclass that encodes to UTF-8 JSON with a ``kind`` field and
decodes with validation; anything else raises :class:`~shared.errors.DecodeError`. No pickle.
A chunk's id is derived from what it covers (sample, file, entry range), so a chunk published
twice, or redelivered, is recognisably the same chunk.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from hzz.shared.errors import DecodeError

__all__ = [
    "ChunkResult",
    "ChunkTask",
    "Message",
    "RequeueNotice",
    "RunManifest",
    "chunk_id_for",
    "chunk_ranges",
    "decode_message",
]


def chunk_id_for(sample: str, location: str, entry_start: int, entry_stop: int | None) -> str:
    """The deterministic id of a chunk: ``<sample>/<file name>:<start>-<stop or end>``."""
    stop = "end" if entry_stop is None else str(entry_stop)
    return f"{sample}/{posixpath.basename(location)}:{entry_start}-{stop}"


@dataclass(frozen=True)
class Message:
    """Base: JSON encoding with a ``kind`` tag and type-checked decoding."""

    kind: ClassVar[str] = ""

    def encode(self) -> bytes:
        return json.dumps({"kind": self.kind, **dataclasses.asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse a message of this class.

        Raises:
            DecodeError: not JSON, another kind, or fields missing or of the wrong type.
        """
        message = decode_message(data)
        if not isinstance(message, cls):
            msg = f"expected a {cls.kind!r} message, got {message.kind!r}"
            raise DecodeError(msg)
        return message

    @classmethod
    def _from_fields(cls, payload: dict[str, Any]) -> Self:
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in payload:
                values[f.name] = payload[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                msg = f"{cls.kind} message lacks the field {f.name!r}"
                raise DecodeError(msg)
        try:
            message = cls(**values)
        except TypeError as e:
            msg = f"{cls.kind} message has malformed fields: {e}"
            raise DecodeError(msg) from e
        message._check_types()
        return message

    def _check_types(self) -> None:
        for f in dataclasses.fields(self):
            expected = _TYPE_CHECKS.get(str(f.type))
            value = getattr(self, f.name)
            if expected is not None and not expected(value):
                msg = f"{self.kind} message field {f.name!r} is {value!r}; expected {f.type}"
                raise DecodeError(msg)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or isinstance(v, float)


_TYPE_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "int | None": lambda v: v is None or _is_int(v),
    "float": _is_number,
    "float | None": lambda v: v is None or _is_number(v),
    "str | None": lambda v: v is None or isinstance(v, str),
    "list[float]": lambda v: isinstance(v, list) and all(_is_number(x) for x in v),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "list[dict[str, Any]]": lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
    "dict[str, Any]": lambda v: isinstance(v, dict),
}


@dataclass(frozen=True)
class ChunkTask(Message):
    """Process entries ``[entry_start, entry_stop)`` of one file (``None``: to the end)."""

    kind: ClassVar[str] = "task"
    run_id: str
    sample: str
    location: str
    entry_start: int
    entry_stop: int | None
    lumi: float
    #: Applies when ``entry_stop`` is None: process the first int(entries × fraction) entries.
    fraction: float = 1.0
    #: The analysis profile (release) whose selection applies, see :mod:`hzz.shared.releases`.
    profile: str = "2020"
    chunk_id: str = ""
    #: How many times this chunk has been tried already (0 on the first delivery).
    attempt: int = 0
    #: Seconds the earlier tries spent on a remote file: all tries share one read deadline.
    read_seconds: float = 0.0

    def __post_init__(self) -> None:
        seconds = self.read_seconds
        if not (_is_number(seconds) and math.isfinite(seconds) and seconds >= 0):
            msg = f"task message field 'read_seconds' is {seconds!r}; expected a finite number of seconds ≥ 0"
            raise DecodeError(msg)
        if not self.chunk_id:
            object.__setattr__(
                self, "chunk_id", chunk_id_for(self.sample, self.location, self.entry_start, self.entry_stop)
            )

    def describe(self) -> str:
        stop = "end" if self.entry_stop is None else self.entry_stop
        return f"chunk {self.chunk_id} (entries {self.entry_start}–{stop} of {self.location})"


@dataclass(frozen=True)
class RunManifest(Message):
    """What makes a run complete, and all a re-run needs: the release, the files and how they are cut.

    The manifest lists files, not chunks: each file's sample, location, entry count (None when
    it could not be counted: the whole file is then one chunk, which fails visibly) and chunk
    size. The chunks follow from those and ``fraction`` (:meth:`tasks`), so the manifest of a run
    of a million chunks stays small.
    """

    kind: ClassVar[str] = "manifest"
    run_id: str
    #: The analysis profile (release), see :mod:`hzz.shared.releases`.
    profile: str
    lumi: float
    fraction: float
    #: One entry per file: ``{"sample": str, "location": str, "entries": int | None, "chunk_size": int}``.
    files: list[dict[str, Any]]
    #: The run's settings as recorded for the reader of results.json (password masked).
    settings: dict[str, Any]
    created: float

    def __post_init__(self) -> None:
        for entry in self.files if isinstance(self.files, list) else []:
            ok = (
                isinstance(entry, dict)
                and isinstance(entry.get("sample"), str)
                and isinstance(entry.get("location"), str)
                and (entry.get("entries") is None or (_is_int(entry["entries"]) and entry["entries"] >= 0))
                and _is_int(entry.get("chunk_size"))
                and entry["chunk_size"] >= 1
            )
            if not ok:
                msg = f"manifest message field 'files' has a malformed entry {str(entry)[:120]}; expected {_FILE_ENTRY}"
                raise DecodeError(msg)

    def tasks(self) -> list[ChunkTask]:
        """Every chunk of the run as its task (attempt 0), in the files' order."""
        tasks = []
        for entry in self.files:
            ranges: list[tuple[int, int | None]] = (
                [(0, None)]
                if entry["entries"] is None
                else list(chunk_ranges(entry["entries"], fraction=self.fraction, chunk_size=entry["chunk_size"]))
            )
            tasks.extend(
                ChunkTask(
                    self.run_id,
                    entry["sample"],
                    entry["location"],
                    start,
                    stop,
                    self.lumi,
                    fraction=self.fraction,
                    profile=self.profile,
                )
                for start, stop in ranges
            )
        return tasks

    @property
    def chunk_ids(self) -> list[str]:
        return [task.chunk_id for task in self.tasks()]


_FILE_ENTRY = '{"sample": str, "location": str, "entries": int ≥ 0 or null, "chunk_size": int ≥ 1}'


def chunk_ranges(num_entries: int, *, fraction: float, chunk_size: int) -> list[tuple[int, int]]:
    """Entry ranges ``[start, stop)`` covering the first ``int(num_entries × fraction)`` entries."""
    stop = int(num_entries * fraction)
    return [(start, min(start + chunk_size, stop)) for start in range(0, stop, chunk_size)]


@dataclass(frozen=True)
class ChunkResult(Message):
    """What a worker learned from one chunk: histograms and counts, or the error that stopped it."""

    kind: ClassVar[str] = "result"
    run_id: str
    chunk_id: str
    sample: str
    events_read: int = 0
    events_selected: int = 0
    #: Σw of the selected events over the whole mass range (the event count for data).
    sumw_total: float = 0.0
    #: Σw² of the same events: the yield's uncertainty is its square root (None from older workers).
    sumw2_total: float | None = None
    sumw: list[float] = field(default_factory=list)
    sumw2: list[float] = field(default_factory=list)
    binning: list[float] = field(default_factory=list)
    #: None when the chunk succeeded; otherwise why it failed, naming the file and the range.
    error: str | None = None
    attempt: int = 0
    worker: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class RequeueNotice(Message):
    """Failed chunks of a run are being processed again: they are pending until their new results come."""

    kind: ClassVar[str] = "requeue"
    run_id: str
    chunk_ids: list[str]


_KINDS: dict[str, type[Message]] = {cls.kind: cls for cls in (ChunkTask, RunManifest, ChunkResult, RequeueNotice)}


def decode_message(data: bytes) -> Message:
    """Decode any message by its ``kind``.

    Raises:
        DecodeError: the body is not a JSON object of a known kind and schema.
    """
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        msg = f"message is not JSON: {bytes(data[:60])!r}"
        raise DecodeError(msg) from e
    if not isinstance(payload, dict):
        msg = f"message is JSON but not an object: {bytes(data[:60])!r}"
        raise DecodeError(msg)
    kind = payload.pop("kind", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        msg = f"message has unknown kind {kind!r}; expected one of {sorted(_KINDS)}"
        raise DecodeError(msg)
    return cls._from_fields(payload)
