"""Tests of shared/data_vars.py: defaults, HZZ_… overrides, refusals, file locations, the table."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from hzz.shared.data_vars import (
    MAX_WORKERS_PER_CORE,
    Settings,
    broker_url_problem,
    env_name,
    max_workers,
    setting_sources,
    settings_table,
)
from hzz.shared.errors import ConfigError
from hzz.shared.releases import DATA_GROUP, get_release, release_of_sample

R2020 = get_release("2020")
DEFAULT_DATASET = R2020.public_location
SAMPLE_GROUPS = R2020.groups

TWELVE = (
    "data_A",
    "data_B",
    "data_C",
    "data_D",
    "Zee",
    "Zmumu",
    "ttbar_lep",
    "llll",
    "ggH125_ZZ4lep",
    "VBFH125_ZZ4lep",
    "WH125_ZZ4lep",
    "ZH125_ZZ4lep",
)


# --- defaults -----------------------------------------------------------------------------------


def test_the_defaults_are_the_2020_notebooks() -> None:
    # Given no environment at all
    # When the settings are read
    settings = Settings.from_env({})

    # Then they are the notebook's: the public 4lep skim, all twelve samples, 10 fb⁻¹, all events
    assert settings.dataset == DEFAULT_DATASET
    assert settings.dataset.startswith("https://") and settings.dataset.endswith("/2020/4lep/")
    assert settings.samples == TWELVE
    assert settings.lumi == 10.0
    assert settings.fraction == 1.0
    assert settings.chunk_size == 250_000
    assert settings.queue_prefix == "hzz"
    assert settings.output_dir == "output_plots"
    assert settings.max_retries == 3
    assert settings.refresh_seconds == 3.0
    assert settings.run_id == ""
    assert settings.workers >= 1
    assert settings.broker_url.startswith("amqp://")


def test_settings_from_an_empty_environment_equal_the_dataclass_defaults() -> None:
    # Given / When the defaults built two ways
    # Then they are equal
    assert Settings.from_env({}) == Settings()


def test_unrelated_environment_variables_are_ignored() -> None:
    # Given variables that are not settings (one even looks like one)
    environ = {"PATH": "/bin", "HZZ_NOT_A_SETTING": "x", "LUMI": "3"}

    # When the settings are read, then they are the defaults
    assert Settings.from_env(environ) == Settings()


# --- overrides ----------------------------------------------------------------------------------

#: (variable, raw value, field, parsed value): one row per setting.
OVERRIDES: list[tuple[str, str, str, Any]] = [
    ("HZZ_PROFILE", "2025", "profile", "2025"),
    ("HZZ_DATASET", "/data/atlas/4lep", "dataset", "/data/atlas/4lep"),
    ("HZZ_SAMPLES", "data_A, data_B,llll", "samples", ("data_A", "data_B", "llll")),
    ("HZZ_LUMI", "36.6", "lumi", 36.6),
    ("HZZ_FRACTION", "0.25", "fraction", 0.25),
    ("HZZ_CHUNK_SIZE", "5000", "chunk_size", 5000),
    ("HZZ_BROKER_URL", "amqp://u:p@rabbit:5672/%2F", "broker_url", "amqp://u:p@rabbit:5672/%2F"),
    ("HZZ_QUEUE_PREFIX", "test-7", "queue_prefix", "test-7"),
    ("HZZ_OUTPUT_DIR", "/tmp/out", "output_dir", "/tmp/out"),
    ("HZZ_WORKERS", "3", "workers", 3),  # ≤ MAX_WORKERS_PER_CORE × cores on any machine
    ("HZZ_MAX_RETRIES", "0", "max_retries", 0),
    ("HZZ_REFRESH_SECONDS", "0.5", "refresh_seconds", 0.5),
    ("HZZ_RUN_ID", "20261125-103000-a1b2c3", "run_id", "20261125-103000-a1b2c3"),
    ("HZZ_SIGNING_KEY", "a-secret-of-enough-length", "signing_key", "a-secret-of-enough-length"),
    ("HZZ_STALL_SECONDS", "30", "stall_seconds", 30.0),
    ("HZZ_READ_DEADLINE_SECONDS", "15", "read_deadline_seconds", 15.0),
    ("HZZ_READ_AHEAD", "off", "read_ahead", "off"),
]


def test_every_setting_has_an_override_case_below() -> None:
    # Given the settings' fields
    fields = {f.name for f in dataclasses.fields(Settings)}

    # Then the override table covers each of them, under its HZZ_ name
    assert {row[2] for row in OVERRIDES} == fields
    assert all(row[0] == env_name(row[2]) for row in OVERRIDES)


@pytest.mark.parametrize(("variable", "raw", "field", "expected"), OVERRIDES, ids=[r[0] for r in OVERRIDES])
def test_an_hzz_environment_variable_overrides_its_setting(variable: str, raw: str, field: str, expected: Any) -> None:
    # Given one HZZ_ variable
    environ = {variable: raw}

    # When the settings are read
    settings = Settings.from_env(environ)

    # Then that setting has the parsed value, of the field's type, and every other is the default
    # (the profile's own: the profile decides the dataset, samples and luminosity it defaults to)
    value = getattr(settings, field)
    assert value == expected
    assert type(value) is type(expected)
    profile_defaults = {"dataset", "samples", "lumi"} if field == "profile" else set()
    others = {f.name for f in dataclasses.fields(Settings)} - {field} - profile_defaults
    assert all(getattr(settings, name) == getattr(Settings(), name) for name in others)


def test_the_process_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given HZZ_ variables in the process environment
    monkeypatch.setenv("HZZ_LUMI", "2.5")
    monkeypatch.setenv("HZZ_SAMPLES", "data_C")

    # When the settings are read without an explicit environment
    settings = Settings.from_env()

    # Then the variables apply
    assert settings.lumi == 2.5
    assert settings.samples == ("data_C",)


def test_command_line_overrides_beat_the_environment_and_none_means_not_given() -> None:
    # Given an environment and command-line values, one of them not given (None)
    environ = {"HZZ_LUMI": "5", "HZZ_FRACTION": "0.5"}

    # When the settings are read
    settings = Settings.from_env(environ, lumi=7.0, fraction=None, samples="data_A,data_D")

    # Then the command line wins where given, the environment elsewhere
    assert settings.lumi == 7.0
    assert settings.fraction == 0.5
    assert settings.samples == ("data_A", "data_D")


def test_replace_changes_a_copy_and_validates_it() -> None:
    # Given default settings
    settings = Settings()

    # When a copy gets another chunk size, or a bad one
    smaller = settings.replace(chunk_size=10)

    # Then the copy changes, the original does not, and a bad value is refused
    assert smaller.chunk_size == 10
    assert settings.chunk_size == 250_000
    with pytest.raises(ConfigError, match="chunk_size"):
        settings.replace(chunk_size=0)


def test_a_new_run_id_is_made_only_when_none_is_given() -> None:
    # Given settings without and with a run id
    fresh = Settings().with_new_run_id()
    given = Settings(run_id="mine").with_new_run_id()

    # Then an id of the form date-time-hex is made for the first, the second keeps its own
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", fresh.run_id)
    assert given.run_id == "mine"


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "field"),
    [
        ("HZZ_SAMPLES", "data_A,data_Z", "samples"),
        ("HZZ_SAMPLES", "", "samples"),
        ("HZZ_SAMPLES", " , ", "samples"),
        ("HZZ_FRACTION", "0", "fraction"),
        ("HZZ_FRACTION", "1.5", "fraction"),
        ("HZZ_FRACTION", "-0.1", "fraction"),
        ("HZZ_FRACTION", "nan", "fraction"),
        ("HZZ_CHUNK_SIZE", "0", "chunk_size"),
        ("HZZ_CHUNK_SIZE", "-5", "chunk_size"),
        ("HZZ_WORKERS", "0", "workers"),
        ("HZZ_MAX_RETRIES", "-1", "max_retries"),
        ("HZZ_LUMI", "0", "lumi"),
        ("HZZ_REFRESH_SECONDS", "0", "refresh_seconds"),
        ("HZZ_QUEUE_PREFIX", "", "queue_prefix"),
        ("HZZ_LUMI", "nan", "lumi"),
        ("HZZ_LUMI", "inf", "lumi"),
        ("HZZ_LUMI", "-10", "lumi"),
        ("HZZ_REFRESH_SECONDS", "nan", "refresh_seconds"),
        ("HZZ_REFRESH_SECONDS", "inf", "refresh_seconds"),
        ("HZZ_REFRESH_SECONDS", "-1", "refresh_seconds"),
        ("HZZ_STALL_SECONDS", "nan", "stall_seconds"),
        ("HZZ_WORKERS", "1000", "workers"),
        ("HZZ_OUTPUT_DIR", "", "output_dir"),
        ("HZZ_OUTPUT_DIR", "  ", "output_dir"),
        ("HZZ_BROKER_URL", "not a url", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:99999/", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:0/", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:port/", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/?heartbeat=abc", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/?heartbeat=-5", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/?socket_timeout=nan", "broker_url"),
        ("HZZ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/?hearbeat=30", "broker_url"),
        ("HZZ_BROKER_URL", "http://rabbitmq:5672/", "broker_url"),
        ("HZZ_BROKER_URL", "amqp:///%2F", "broker_url"),
        ("HZZ_READ_DEADLINE_SECONDS", "0.5", "read_deadline_seconds"),
        ("HZZ_READ_DEADLINE_SECONDS", "3601", "read_deadline_seconds"),
        ("HZZ_READ_DEADLINE_SECONDS", "nan", "read_deadline_seconds"),
        ("HZZ_READ_DEADLINE_SECONDS", "inf", "read_deadline_seconds"),
        ("HZZ_READ_AHEAD", "yes", "read_ahead"),
    ],
)
def test_an_out_of_range_value_is_refused_naming_the_setting_and_its_variable(
    variable: str, raw: str, field: str
) -> None:
    # Given a value the pipeline cannot use
    environ = {variable: raw}

    # When the settings are read, then ConfigError names the setting and its variable
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    message = str(caught.value)
    assert field in message
    assert variable in message


@pytest.mark.parametrize(
    ("variable", "raw", "field"),
    [
        ("HZZ_LUMI", "ten", "lumi"),
        ("HZZ_FRACTION", "half", "fraction"),
        ("HZZ_CHUNK_SIZE", "many", "chunk_size"),
        ("HZZ_CHUNK_SIZE", "1.5", "chunk_size"),
        ("HZZ_WORKERS", "", "workers"),
        ("HZZ_MAX_RETRIES", "3x", "max_retries"),
        ("HZZ_REFRESH_SECONDS", "3s", "refresh_seconds"),
    ],
)
def test_a_value_that_is_not_a_number_is_refused_naming_the_setting_and_its_variable(
    variable: str, raw: str, field: str
) -> None:
    # Given a number setting set to text
    environ = {variable: raw}

    # When the settings are read, then ConfigError names the setting, the variable and the value
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    message = str(caught.value)
    assert re.search(rf"\b{field}\b", message)
    assert variable in message
    assert repr(raw) in message
    assert isinstance(caught.value.__cause__, ValueError)


def test_too_many_workers_are_refused_with_the_bound_and_its_reason() -> None:
    # Given more workers than MAX_WORKERS_PER_CORE per core
    most = max_workers()
    assert most == MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)

    # When the settings are built with the bound and one more
    # Then the bound is accepted, one more is refused with the bound and why there is one
    assert Settings(workers=most).workers == most
    with pytest.raises(ConfigError) as caught:
        Settings(workers=most + 1)
    message = str(caught.value)
    assert f"is {most + 1}; expected a whole number in 1–{most}" in message
    assert "per core" in message and "~150 MB" in message and "contention" in message


def test_every_bad_setting_is_reported_at_once_one_line_each() -> None:
    # Given four bad settings, one of them not a number
    environ = {"HZZ_LUMI": "inf", "HZZ_REFRESH_SECONDS": "nan", "HZZ_CHUNK_SIZE": "many", "HZZ_OUTPUT_DIR": ""}

    # When the settings are read
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)

    # Then the error has one line per bad setting, each naming its variable; the parse error is the cause
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    for variable, line in zip(
        ["HZZ_CHUNK_SIZE", "HZZ_LUMI", "HZZ_REFRESH_SECONDS", "HZZ_OUTPUT_DIR"], lines, strict=True
    ):
        assert variable in line
    assert isinstance(caught.value.__cause__, ValueError)


def test_an_option_replaces_a_bad_environment_value_without_reading_it() -> None:
    # Given a bad HZZ_LUMI and a luminosity given on the command line
    # When the settings are read, then the option wins and the variable is not even parsed
    assert Settings.from_env({"HZZ_LUMI": "ten"}, lumi=3.0).lumi == 3.0


def test_a_refused_broker_url_never_shows_its_password() -> None:
    # Given a malformed URL with a password
    with pytest.raises(ConfigError) as caught:
        Settings(broker_url="amqp://hzz:s3cr3t-pw@rabbitmq:99999/")

    # Then the password is masked in the refusal
    assert "s3cr3t-pw" not in str(caught.value)
    assert "amqp://hzz:***@rabbitmq:99999/" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@localhost:5672/%2F",
        "amqps://u:p@broker.example:5671/vhost?heartbeat=30&connection_attempts=3",
        "amqp://rabbitmq",
        "amqp://u:p@[::1]:5672/?socket_timeout=2.5&ssl_options=%7B%7D",
    ],
)
def test_well_formed_broker_urls_are_accepted(url: str) -> None:
    assert broker_url_problem(url) is None
    assert Settings(broker_url=url).broker_url == url


def test_setting_sources_say_default_environment_or_option() -> None:
    # Given one setting in the environment, one on the command line, one in both
    environ = {"HZZ_LUMI": "5", "HZZ_FRACTION": "0.5"}

    # When their sources are asked
    sources = setting_sources(environ, fraction=0.25, workers=2, dataset=None)

    # Then the option beats the environment, which beats the default; None is no option
    assert sources["lumi"] == "environment"
    assert sources["fraction"] == "option"
    assert sources["workers"] == "option"
    assert sources["dataset"] == "default"
    assert set(sources) == {f.name for f in dataclasses.fields(Settings)}


def test_the_unknown_sample_is_named_with_the_known_ones() -> None:
    # Given a misspelt sample
    # When the settings are built, then the error names the culprit and lists the known samples
    with pytest.raises(ConfigError) as caught:
        Settings(samples=("data_A", "ggH125_ZZ4l"))
    message = str(caught.value)
    assert "'ggH125_ZZ4l'" in message
    assert "ggH125_ZZ4lep" in message
    assert "HZZ_SAMPLES" in message


def test_a_config_error_is_a_value_error() -> None:
    # Given a bad fraction
    # Then the refusal can be caught as a ValueError too
    with pytest.raises(ValueError, match="HZZ_FRACTION"):
        Settings(fraction=1.5)


def test_a_fraction_of_exactly_one_and_a_tiny_fraction_are_accepted() -> None:
    # Given the edges of the accepted range
    # Then both build
    assert Settings(fraction=1.0).fraction == 1.0
    assert Settings(fraction=1e-6).fraction == 1e-6


# --- file locations -----------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://host.example/atlas/4lep/", "https://host.example/atlas/4lep"])
def test_an_https_dataset_gives_the_servers_urls(base: str) -> None:
    # Given a dataset on an HTTPS server (with or without a trailing slash)
    settings = Settings(dataset=base)

    # When the files of a data and an MC sample are located
    data, mc = settings.file_location("data_A"), settings.file_location("ggH125_ZZ4lep")

    # Then they follow the server's layout
    assert data == "https://host.example/atlas/4lep/Data/data_A.4lep.root"
    assert mc == "https://host.example/atlas/4lep/MC/mc_345060.ggH125_ZZ4lep.4lep.root"


def test_the_default_dataset_gives_the_public_release_urls() -> None:
    # Given the default dataset
    settings = Settings()

    # Then the llll file is on the public server under MC/
    assert settings.file_location("llll") == DEFAULT_DATASET + "MC/mc_363490.llll.4lep.root"


def test_a_file_url_dataset_gives_local_paths(tmp_path: Path) -> None:
    # Given a file:// URL of a folder whose name needs escaping
    folder = tmp_path / "open data"
    settings = Settings(dataset=folder.as_uri())

    # When the files are located
    data, mc = settings.file_location("data_B"), settings.file_location("Zmumu")

    # Then they are plain paths inside that folder
    assert data == str(folder / "Data" / "data_B.4lep.root")
    assert mc == str(folder / "MC" / "mc_361107.Zmumu.4lep.root")


def test_a_local_folder_dataset_gives_paths_in_the_servers_layout(tmp_path: Path) -> None:
    # Given a plain local folder
    settings = Settings(dataset=str(tmp_path))

    # When every sample is located
    locations = {sample: settings.file_location(sample) for sample in R2020.samples}

    # Then data files are under Data/ and MC files under MC/mc_<DSID>.<name>.4lep.root
    assert locations["data_D"] == str(tmp_path / "Data" / "data_D.4lep.root")
    assert locations["ttbar_lep"] == str(tmp_path / "MC" / "mc_410000.ttbar_lep.4lep.root")
    assert locations["ZH125_ZZ4lep"] == str(tmp_path / "MC" / "mc_341947.ZH125_ZZ4lep.4lep.root")
    assert len(set(locations.values())) == 12


def test_locating_an_unknown_sample_is_refused() -> None:
    # Given settings
    # When an unknown sample is located, then ConfigError names it
    with pytest.raises(ConfigError, match="'data_E'"):
        Settings().file_location("data_E")


# --- groups -------------------------------------------------------------------------------------


def test_the_groups_are_the_notebooks_in_stacking_order() -> None:
    # Given / When the groups
    labels = [g.label for g in SAMPLE_GROUPS]

    # Then they are data, the two backgrounds and the signal, with the notebook's colours
    assert labels == [DATA_GROUP, r"Background $Z,t\bar{t}$", r"Background $ZZ^*$", r"Signal ($m_H$ = 125 GeV)"]
    assert [g.color for g in SAMPLE_GROUPS[1:]] == ["#6b59d3", "#ff0000", "#00cdff"]
    assert [g.is_data for g in SAMPLE_GROUPS] == [True, False, False, False]
    assert [g.is_signal for g in SAMPLE_GROUPS] == [False, False, False, True]
    assert R2020.samples == TWELVE


@pytest.mark.parametrize(
    ("sample", "label"),
    [
        ("data_C", "Data"),
        ("Zee", r"Background $Z,t\bar{t}$"),
        ("llll", r"Background $ZZ^*$"),
        ("WH125_ZZ4lep", r"Signal ($m_H$ = 125 GeV)"),
    ],
)
def test_each_sample_belongs_to_its_group(sample: str, label: str) -> None:
    # Given / When a sample's group
    # Then it is the notebook's
    assert release_of_sample(sample).group_of(sample).label == label


# --- the public form and the table --------------------------------------------------------------


def test_the_broker_password_is_masked_in_the_public_settings() -> None:
    # Given a broker URL with a password
    settings = Settings(broker_url="amqp://hzz:s3cr3t-pw@rabbitmq:5672/%2F")

    # When the settings are made public
    public = settings.public_dict()

    # Then the password is masked and appears nowhere, the rest of the URL is kept
    assert public["broker_url"] == "amqp://hzz:***@rabbitmq:5672/%2F"
    assert "s3cr3t-pw" not in json.dumps(public)


def test_a_broker_url_without_a_password_is_left_alone() -> None:
    # Given a broker URL without credentials
    settings = Settings(broker_url="amqp://rabbitmq:5672/%2F")

    # Then it is public as it is
    assert settings.public_dict()["broker_url"] == "amqp://rabbitmq:5672/%2F"


def test_the_public_settings_are_json_ready_and_complete() -> None:
    # Given settings with a few samples
    settings = Settings(samples=("data_A", "llll"), lumi=5.0)

    # When they are made public and through JSON
    public = json.loads(json.dumps(settings.public_dict()))

    # Then every field is there, samples as a list
    assert set(public) == {f.name for f in dataclasses.fields(Settings)}
    assert public["samples"] == ["data_A", "llll"]
    assert public["lumi"] == 5.0


def test_the_settings_table_lists_every_setting_with_its_variable_and_meaning() -> None:
    # Given / When the Markdown table
    table = settings_table()
    lines = table.splitlines()

    # Then it has a header, a separator and one row per setting, each naming its variable
    assert lines[0] == "| variable | default | meaning |"
    assert lines[1] == "|---|---|---|"
    fields = dataclasses.fields(Settings)
    assert len(lines) == 2 + len(fields)
    for f, line in zip(fields, lines[2:], strict=True):
        assert line.startswith(f"| `HZZ_{f.name.upper()}` |")
        assert f.metadata["doc"] in line
    assert "| `HZZ_LUMI` | `the profile's` |" in table
    assert "| `HZZ_SAMPLES` | `the profile's` |" in table
    assert "| `HZZ_PROFILE` | `2020` |" in table


def test_the_2025_profile_brings_its_luminosity_samples_and_public_location() -> None:
    # Given the 2025 profile and nothing else
    settings = Settings(profile="2025")

    # Then the release's own defaults apply, and its files have the release's flat names
    assert settings.lumi == 36.6
    assert len(settings.samples) == 40 and "data16_periodL" in settings.samples
    assert settings.dataset == "https://opendata.cern.ch/eos/opendata/atlas/rucio/opendata/"
    assert settings.file_location("mc_700600.Sh_2212_llll").endswith(
        "/ODEO_FEB2025_v0_exactly4lep_mc_700600.Sh_2212_llll.exactly4lep.root"
    )


def test_an_unknown_profile_or_a_sample_of_the_other_release_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"HZZ_PROFILE.*2020, 2025"):
        Settings(profile="2030")
    with pytest.raises(ConfigError, match="HZZ_SAMPLES"):
        Settings(profile="2025", samples=("data_A",))


def test_all_stands_for_every_sample_of_the_profile() -> None:
    assert Settings.from_env({"HZZ_SAMPLES": "all"}).samples == Settings().samples
