"""Every setting of the pipeline, with its default and its ``HZZ_…`` environment override.

This is the one place where configuration lives. Each field of :class:`Settings` reads the
environment variable ``HZZ_<FIELD NAME IN CAPITALS>``; :func:`settings_table` renders the
table that the README and ``hzz settings`` show. The analysis profile (``HZZ_PROFILE``) chooses
the release: ``2020`` (the default, 10 fb⁻¹) or ``2025`` (36.6 fb⁻¹). The sample groups of each
release (legend labels, colours and members) are defined here too, next to where the dataset
is chosen; how each release is analysed is in :mod:`shared.profiles`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from hzz.shared import release2025
from hzz.shared.errors import ConfigError
from hzz.shared.infofile import infos

__all__ = [
    "DATA_GROUP",
    "PROFILE_NAMES",
    "SAMPLE_GROUPS",
    "SAMPLE_GROUPS_2025",
    "SampleGroup",
    "Settings",
    "all_sample_names",
    "group_of",
    "sample_groups",
    "settings_table",
]

#: The public HTTPS location of the 2020 4lep skim.
DEFAULT_DATASET = "https://atlas-opendata.web.cern.ch/atlas-opendata/samples/2020/4lep/"


@dataclass(frozen=True)
class SampleGroup:
    """A legend entry of the plot: a label, a colour and the samples drawn under it."""

    label: str
    color: str
    samples: tuple[str, ...]
    is_data: bool = False
    is_signal: bool = False


#: Legend label of the data group.
DATA_GROUP = "Data"

#: The plot's groups, in the notebook's stacking order (backgrounds first, then the signal).
SAMPLE_GROUPS: tuple[SampleGroup, ...] = (
    SampleGroup(DATA_GROUP, "black", ("data_A", "data_B", "data_C", "data_D"), is_data=True),
    SampleGroup(r"Background $Z,t\bar{t}$", "#6b59d3", ("Zee", "Zmumu", "ttbar_lep")),
    SampleGroup(r"Background $ZZ^*$", "#ff0000", ("llll",)),
    SampleGroup(
        r"Signal ($m_H$ = 125 GeV)",
        "#00cdff",
        ("ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep"),
        is_signal=True,
    ),
)


#: The 2025 release's groups (its notebook's labels and colours), in the same order.
SAMPLE_GROUPS_2025: tuple[SampleGroup, ...] = (
    SampleGroup(DATA_GROUP, "black", release2025.DATA_SAMPLES, is_data=True),
    *(
        SampleGroup(label, color, release2025.MC_SAMPLES[label], is_signal=label.startswith("Signal"))
        for label, color in zip(release2025.MC_SAMPLES, ("#6b59d3", "#ff0000", "#00cdff"), strict=True)
    ),
)

#: The analysis profiles: which release, with its groups, luminosity and public location.
PROFILE_NAMES = ("2020", "2025")
_GROUPS = {"2020": SAMPLE_GROUPS, "2025": SAMPLE_GROUPS_2025}
_LUMI = {"2020": 10.0, "2025": 36.6}
_DATASET = {"2020": DEFAULT_DATASET, "2025": release2025.BASE_URL}


def sample_groups(profile: str = "2020") -> tuple[SampleGroup, ...]:
    """The plot's groups of a profile's release, in stacking order."""
    return _GROUPS[profile]


def all_sample_names(profile: str = "2020") -> tuple[str, ...]:
    """Every sample of a profile's release, in the groups' order."""
    return tuple(name for group in sample_groups(profile) for name in group.samples)


def group_of(sample: str) -> SampleGroup:
    """The group a sample is drawn in (sample names differ between releases).

    Raises:
        ConfigError: the sample belongs to no release.
    """
    for groups in _GROUPS.values():
        for group in groups:
            if sample in group.samples:
                return group
    msg = f"unknown sample {sample!r}; known samples: {', '.join(all_sample_names())} (2020), or the 2025 release's"
    raise ConfigError(msg)


#: The ``samples`` value that stands for every sample of the profile's release.
ALL_SAMPLES = ("all",)


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

    def __post_init__(self) -> None:
        if self.profile in PROFILE_NAMES:
            # Empty means "the profile's": filled in here so that every reader sees the real value.
            if not self.dataset:
                object.__setattr__(self, "dataset", _DATASET[self.profile])
            if self.samples == ALL_SAMPLES:
                object.__setattr__(self, "samples", all_sample_names(self.profile))
            if self.lumi is None:
                object.__setattr__(self, "lumi", _LUMI[self.profile])
        self.validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``HZZ_…`` variables, then ``overrides`` (the command line's).

        Raises:
            ConfigError: a variable cannot be parsed or a value is out of range.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name in environ:
                values[f.name] = _parse(f, environ[name], name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("samples"), str):
            values["samples"] = _split_samples(values["samples"])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Refuse settings that cannot give a sensible run, saying what to change.

        Raises:
            ConfigError: names the setting, its environment variable and the accepted values.
        """
        if self.profile not in PROFILE_NAMES:
            _refuse("profile", self.profile, f"one of {', '.join(PROFILE_NAMES)}")
        if not self.samples:
            _refuse("samples", "", "at least one sample, or all")
        known = all_sample_names(self.profile)
        unknown = [s for s in self.samples if s not in known]
        if unknown:
            _refuse("samples", ",".join(unknown), f"names among {', '.join(known)}")
        if not 0.0 < self.fraction <= 1.0:
            _refuse("fraction", self.fraction, "a number in (0, 1]")
        if self.chunk_size < 1:
            _refuse("chunk_size", self.chunk_size, "a whole number of entries ≥ 1")
        if self.workers < 1:
            _refuse("workers", self.workers, "a whole number ≥ 1")
        if self.max_retries < 0:
            _refuse("max_retries", self.max_retries, "a whole number ≥ 0")
        if self.lumi is None or self.lumi <= 0:
            _refuse("lumi", self.lumi, "a positive luminosity in fb⁻¹")
        if self.refresh_seconds <= 0:
            _refuse("refresh_seconds", self.refresh_seconds, "a positive number of seconds")
        if not self.queue_prefix:
            _refuse("queue_prefix", self.queue_prefix, "a non-empty queue name prefix")

    def with_new_run_id(self) -> Settings:
        """This run's settings with a fresh run id, unless one was given."""
        if self.run_id:
            return self
        return self.replace(run_id=time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3))

    def file_location(self, sample: str) -> str:
        """The URL or local path of one sample's file, following the server's layout."""
        if self.profile == "2025":
            return _join(self.dataset, release2025.file_name(sample))
        group = group_of(sample)
        relative = f"Data/{sample}.4lep.root" if group.is_data else f"MC/mc_{infos[sample]['DSID']}.{sample}.4lep.root"
        return _join(self.dataset, relative)

    def public_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, the broker password masked."""
        values = dataclasses.asdict(self)
        values["samples"] = list(self.samples)
        parsed = urlparse(self.broker_url)
        if parsed.password:
            values["broker_url"] = self.broker_url.replace(f":{parsed.password}@", ":***@")
        return values


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


def _refuse(field_name: str, value: Any, expected: str) -> None:
    msg = f"setting {field_name} ({env_name(field_name)}) is {value!r}; expected {expected}"
    raise ConfigError(msg)


def _join(base: str, relative: str) -> str:
    scheme = urlparse(base).scheme
    if scheme in ("http", "https"):
        return base.rstrip("/") + "/" + relative
    if scheme == "file":
        base = unquote(urlparse(base).path)
    return str(Path(base) / relative)
