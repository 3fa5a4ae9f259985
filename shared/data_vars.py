"""Every setting of the pipeline, with its default and its ``HZZ_…`` environment override.

This is the one place where configuration lives. Each field of :class:`Settings` reads the
environment variable ``HZZ_<FIELD NAME IN CAPITALS>``; :func:`settings_table` renders the
table that the README and ``hzz settings`` show. The analysis profile (``HZZ_PROFILE``) chooses
the release: ``2020`` (the default, 10 fb⁻¹) or ``2025`` (36.6 fb⁻¹); everything about a
release (its samples, groups, luminosity, files and physics) is in :mod:`hzz.shared.releases`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from hzz.shared.errors import ConfigError
from hzz.shared.outputs import RUN_ID_PATTERN
from hzz.shared.releases import RELEASES, Release, get_release

__all__ = [
    "MAX_WORKERS_PER_CORE",
    "PROFILE_NAMES",
    "Settings",
    "broker_url_problem",
    "env_name",
    "mask_password",
    "max_workers",
    "port_number",
    "setting_sources",
    "settings_table",
]

#: The analysis profiles: one per release (:mod:`hzz.shared.releases`).
PROFILE_NAMES = tuple(RELEASES)


#: Bounds of ``HZZ_READ_DEADLINE_SECONDS``: under a second no real server answers a chunk; past an
#: hour a silent server holds a worker longer than any chunk needs.
MIN_READ_DEADLINE, MAX_READ_DEADLINE = 1.0, 3600.0

#: The ``samples`` value that stands for every sample of the profile's release.
ALL_SAMPLES = ("all",)

#: Most worker processes per core that ``hzz run`` starts. A worker holds ~150 MB (README,
#: Performance); more workers than cores only help while they wait on remote reads, and beyond a
#: few per core they only add memory and contention (``--workers 1000`` once started 40 processes
#: in 3 s before anything failed).
MAX_WORKERS_PER_CORE = 4
#: Why the number of workers is bounded, for the refusal.
WORKERS_REASON = (
    f"at most {MAX_WORKERS_PER_CORE} per core: each worker process holds ~150 MB, and more processes "
    "than cores only add contention"
)
#: The query parameters pika accepts in an AMQP URL, and how each is parsed (None: left to pika).
_BROKER_QUERY: dict[str, type | None] = {
    "backpressure_detection": None,
    "blocked_connection_timeout": float,
    "channel_max": int,
    "client_properties": None,
    "connection_attempts": int,
    "frame_max": int,
    "heartbeat": int,
    "locale": None,
    "retry_delay": float,
    "socket_timeout": float,
    "stack_timeout": float,
    "ssl_options": None,
    "tcp_options": None,
}


def max_workers() -> int:
    """The most worker processes a run may ask for on this machine (:data:`MAX_WORKERS_PER_CORE` per core)."""
    return MAX_WORKERS_PER_CORE * max(1, os.cpu_count() or 1)


def mask_password(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    try:
        password = urlparse(url).password
    except ValueError:
        return url
    return url.replace(f":{password}@", ":***@", 1) if password else url


def port_number(text: str) -> int:
    """A TCP port from a command line (``hzz run --serve``, ``python -m hzz.webserver --port``), for argparse.

    Raises:
        argparse.ArgumentTypeError: not a whole number in 1–65535 (argparse says it in one line).
    """
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        msg = f"{text!r} is not a port; expected a whole number in 1–65535"
        raise argparse.ArgumentTypeError(msg)
    return port


def broker_url_problem(url: str) -> str | None:
    """What is wrong with an AMQP URL, as the "expected …" half of a refusal; None when it is well formed.

    Checked without connecting (and without pika, which this module does not import): the scheme,
    a host, a port in 1–65535, and query parameters that pika knows with values of their type.
    """
    shape = "amqp://user:password@host:port/vhost"
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError as e:  # urllib says "Port out of range 0-65535" or "Port could not be cast …"
        return f"a port in 1–65535 ({e})"
    if parsed.scheme not in ("amqp", "amqps"):
        return f"a URL like {shape} (scheme amqp or amqps)"
    if not parsed.hostname:
        return f"a URL like {shape}, with a host"
    if port is not None and not 1 <= port <= 65535:
        return "a port in 1–65535"
    for name, raw in parse_qsl(parsed.query, keep_blank_values=True):
        if name not in _BROKER_QUERY:
            return f"query parameters among {', '.join(sorted(_BROKER_QUERY))}, not {name!r}"
        kind = _BROKER_QUERY[name]
        if kind is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            return f"{name}={raw!r} to be {'a whole number' if kind is int else 'a number'}"
        if not (math.isfinite(value) and value >= 0):
            return f"{name}={raw!r} to be a finite number ≥ 0"
    return None


#: The values of ``read_ahead``.
READ_AHEAD_CHOICES = ("auto", "on", "off")


def _setting(default: Any, doc: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"doc": doc}, **kwargs)


@dataclass(frozen=True)
class Settings:
    """The settings of one run; build with :meth:`from_env` to honour ``HZZ_…`` overrides."""

    profile: str = _setting(
        "2020",
        "Analysis profile: 2020 (the 4lep release, 10 fb⁻¹, the default) or 2025 (the exactly4lep education "
        "release, 36.6 fb⁻¹, with trigger, ID and isolation cuts).",
    )
    dataset: str = _setting(
        "",
        "Where the ROOT files are: an https:// or file:// URL, or a local folder laid out like the server "
        "(2020: Data/…, MC/mc_<DSID>.<name>.4lep.root; 2025: the release's flat file names). "
        "Empty: the profile's public location.",
    )
    samples: tuple[str, ...] = _setting(
        ("all",),
        "Comma-separated samples to process (e.g. data_A,data_B), or all: every sample of the profile's release.",
    )
    lumi: float | None = _setting(
        None, "Integrated luminosity in fb⁻¹ for the MC weights and the plot; unset: the profile's (10 or 36.6)."
    )
    fraction: float = _setting(
        1.0, "Fraction of each file to process, in (0, 1]: the first int(entries × fraction) entries."
    )
    # 250 000, measured in benchmarks/RESULTS.md: a chunk boundary inside a basket makes both chunks
    # decompress it (100 000 on the synthetic files' 250 000-entry baskets: 2× slower workers);
    # larger chunks gain nothing more and cost memory and load balance.
    chunk_size: int = _setting(250_000, "Entries per chunk (one task message each).")
    broker_url: str = _setting("amqp://guest:guest@localhost:5672/%2F", "RabbitMQ URL (AMQP) used by every service.")
    queue_prefix: str = _setting("hzz", "Prefix of the queue names (<prefix>.tasks, .results, .dead).")
    output_dir: str = _setting("output_plots", "Folder for the plot, results.json and the checkpoint.")
    workers: int = _setting(max(1, os.cpu_count() or 1), "Worker processes of the one-machine run (hzz run).")
    max_retries: int = _setting(3, "Attempts after the first for a chunk that fails transiently.")
    refresh_seconds: float = _setting(
        3.0, "How often the aggregator rewrites the partial plot and results.json during a run."
    )
    run_id: str = _setting("", "Identifier of the run; empty: the producer makes a new one.")
    signing_key: str = _setting(
        "",
        "Secret shared by every service that signs each message (HMAC-SHA256); unsigned or wrongly signed "
        "messages are refused. hzz run makes one per run when empty; deploy.sh keeps one in a Secret.",
    )
    stall_seconds: float = _setting(
        600.0,
        "A run whose pending chunks see no progress for this long is reported as stalled instead of waited for.",
    )
    read_deadline_seconds: float = _setting(
        60.0,
        "Seconds a chunk of a remote (http/https) file may spend connecting and reading, all its tries together; "
        "past it the chunk fails naming the server. Also bounds counting a remote file's entries.",
    )
    read_ahead: str = _setting(
        "auto",
        "A worker reads a chunk's other branches on a second thread while the cuts run: on, off, or auto "
        "(on where a core is left for that thread: hzz run with fewer workers than cores, a worker pod "
        "allowed more than one CPU).",
    )

    def __post_init__(self) -> None:
        if self.profile in RELEASES:
            # Empty means "the profile's": filled in here so that every reader sees the real value.
            release = RELEASES[self.profile]
            if not self.dataset:
                object.__setattr__(self, "dataset", release.public_location)
            if self.samples == ALL_SAMPLES:
                object.__setattr__(self, "samples", release.samples)
            if self.lumi is None:
                object.__setattr__(self, "lumi", release.lumi)
        self.validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``HZZ_…`` variables, then ``overrides`` (the command line's).

        Raises:
            ConfigError: a variable cannot be parsed or a value is out of range.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        cause: BaseException | None = None
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name in environ and overrides.get(f.name) is None:
                try:
                    values[f.name] = _parse(f, environ[name], name)
                except ConfigError as e:
                    problems.append(str(e))  # the others are still checked: all problems at once
                    cause = cause or e.__cause__
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("samples"), str):
            values["samples"] = _split_samples(values["samples"])
        try:
            settings = cls(**values)
        except ConfigError as e:
            problems.extend(str(e).splitlines())
            cause = cause or e
            settings = None
        if problems:
            raise ConfigError("\n".join(problems)) from cause
        assert settings is not None
        return settings

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Refuse settings that cannot give a sensible run, saying what to change.

        Every problem is found, not only the first: the error has one line per bad setting.

        Raises:
            ConfigError: names each bad setting, its environment variable and the accepted values.
        """
        problems = self.problems()
        if problems:
            raise ConfigError("\n".join(problems))

    def problems(self) -> list[str]:
        """One line per setting that cannot give a sensible run (empty: the settings are fine)."""
        problems: list[str] = []

        def refuse(field_name: str, value: Any, expected: str) -> None:
            problems.append(_refusal(field_name, value, expected))

        if self.profile not in PROFILE_NAMES:
            refuse("profile", self.profile, f"one of {', '.join(PROFILE_NAMES)}")
        elif not self.samples:
            refuse("samples", "", "at least one sample, or all")
        else:
            known = RELEASES[self.profile].samples
            unknown = [s for s in self.samples if s not in known]
            if unknown:
                refuse("samples", ",".join(unknown), f"names among {', '.join(known)}")
        if not 0.0 < self.fraction <= 1.0:
            refuse("fraction", self.fraction, "a number in (0, 1]")
        if self.chunk_size < 1:
            refuse("chunk_size", self.chunk_size, "a whole number of entries ≥ 1")
        most = max_workers()
        if not 1 <= self.workers <= most:
            refuse("workers", self.workers, f"a whole number in 1–{most} ({WORKERS_REASON})")
        if self.max_retries < 0:
            refuse("max_retries", self.max_retries, "a whole number ≥ 0")
        if self.lumi is None or not (math.isfinite(self.lumi) and self.lumi > 0):
            refuse("lumi", self.lumi, "a finite, positive luminosity in fb⁻¹")
        if not (math.isfinite(self.refresh_seconds) and self.refresh_seconds > 0):
            refuse("refresh_seconds", self.refresh_seconds, "a finite, positive number of seconds")
        if not self.stall_seconds > 0:  # inf is allowed: never report a stall
            refuse("stall_seconds", self.stall_seconds, "a positive number of seconds")
        if self.run_id and not RUN_ID_PATTERN.fullmatch(self.run_id):
            refuse("run_id", self.run_id, "1–64 letters, digits, '.', '_' or '-' (it names a folder)")
        if not self.queue_prefix:
            refuse("queue_prefix", self.queue_prefix, "a non-empty queue name prefix")
        if not self.output_dir.strip():
            refuse("output_dir", self.output_dir, "a folder's path (empty would write into the current folder)")
        broker_problem = broker_url_problem(self.broker_url)
        if broker_problem:
            refuse("broker_url", mask_password(self.broker_url), broker_problem)
        if not MIN_READ_DEADLINE <= self.read_deadline_seconds <= MAX_READ_DEADLINE:  # False for NaN
            refuse(
                "read_deadline_seconds",
                self.read_deadline_seconds,
                f"a number of seconds in [{MIN_READ_DEADLINE:g}, {MAX_READ_DEADLINE:g}]",
            )
        if self.read_ahead not in READ_AHEAD_CHOICES:
            refuse("read_ahead", self.read_ahead, f"one of {', '.join(READ_AHEAD_CHOICES)}")
        return problems

    def with_new_run_id(self) -> Settings:
        """This run's settings with a fresh run id, unless one was given."""
        if self.run_id:
            return self
        return self.replace(run_id=time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3))

    @property
    def release(self) -> Release:
        """The release the profile names."""
        return get_release(self.profile)

    def file_location(self, sample: str) -> str:
        """The URL or local path of one sample's file, following the release's layout."""
        return self.release.file_location(self.dataset, sample)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, the broker password masked."""
        values = dataclasses.asdict(self)
        values["samples"] = list(self.samples)
        if self.signing_key:
            values["signing_key"] = "***"
        values["broker_url"] = mask_password(self.broker_url)
        return values


def setting_sources(environ: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, str]:
    """Where each setting of :meth:`Settings.from_env` with these arguments comes from.

    Returns:
        dict[str, str]: per field, "option" (an override), "environment" (its ``HZZ_…``
        variable) or "default".
    """
    environ = os.environ if environ is None else environ
    sources = {}
    for f in dataclasses.fields(Settings):
        if overrides.get(f.name) is not None:
            sources[f.name] = "option"
        elif env_name(f.name) in environ:
            sources[f.name] = "environment"
        else:
            sources[f.name] = "default"
    return sources


def env_name(field_name: str) -> str:
    """The environment variable that overrides a setting."""
    return f"HZZ_{field_name.upper()}"


def settings_table() -> str:
    """The settings as a Markdown table: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        default = f.default
        if f.name in ("samples", "dataset", "lumi"):
            default = "the profile's"
        elif f.name == "workers":
            default = "number of cores"
        rows.append(f"| `{env_name(f.name)}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)


def _parse(f: dataclasses.Field[Any], raw: str, name: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind in ("float", "float | None"):
            return float(raw)
    except ValueError as e:
        expected = "a whole number" if kind == "int" else "a number"
        msg = f"setting {f.name} ({name}) is {raw!r}, not {expected}; set it to {expected} or unset it"
        raise ConfigError(msg) from e
    if kind.startswith("tuple"):
        return _split_samples(raw)
    return raw


def _split_samples(raw: str) -> tuple[str, ...]:
    if raw.strip().lower() == ALL_SAMPLES[0]:
        return ALL_SAMPLES
    return tuple(s.strip() for s in raw.split(",") if s.strip())


def _refusal(field_name: str, value: Any, expected: str) -> str:
    return f"setting {field_name} ({env_name(field_name)}) is {value!r}; expected {expected}"
