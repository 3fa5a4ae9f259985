"""``hzz run`` as a user runs it: bad input answered before anything starts, and what runs where.

Every case runs the real command in a process of its own (``python -m hzz run …``) and checks
what the user sees: exit status 2, a few lines that name the culprit, no traceback, and no
plot or results written. The broker cases use the real RabbitMQ (a wrong password against it)
and a free local port where nothing listens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import REAL_DATA_DIR, REAL_SAMPLES

#: A few lines at most: one per problem (the cases below have one or two).
MAX_LINES = 4
#: A signing key for the services run directly.
KEY = "cli-run-test-key-0123456789abcdef"


def free_port() -> int:
    """A local TCP port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any HZZ_… variable of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HZZ_")}
    env.update(extra)
    return env


def hzz(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run ``python -m hzz *args`` in ``cwd``; its exit status and its stdout and stderr together."""
    done = subprocess.run(
        [sys.executable, "-m", "hzz", *args],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout + done.stderr


def assert_refused(code: int, output: str, *culprits: str, folder: Path) -> None:
    """Exit 2, a few lines, no traceback, every culprit named, nothing written in ``folder``."""
    lines = output.strip().splitlines()
    assert code == 2, output
    assert 1 <= len(lines) <= MAX_LINES, output
    assert "Traceback" not in output
    for culprit in culprits:
        assert culprit in output, f"{culprit!r} not in:\n{output}"
    written = [p.name for p in folder.rglob("*") if p.name in ("results.json", "hzz_m4l.png", "hzz_m4l.svg")]
    assert not written, written


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The run's output folder (not created: nothing may create it when the run is refused)."""
    return tmp_path / "out"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """The two real data files in the server's layout (Data/)."""
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"the real ATLAS files are not at {REAL_DATA_DIR}")
    folder = tmp_path / "dataset"
    (folder / "Data").mkdir(parents=True)
    for sample in REAL_SAMPLES:
        shutil.copyfile(REAL_DATA_DIR / f"{sample}.4lep.root", folder / "Data" / f"{sample}.4lep.root")
    return folder


def with_password(url: str, password: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(netloc=f"{parsed.username}:{password}@{parsed.hostname}:{parsed.port or 5672}").geturl()


# --- the dataset --------------------------------------------------------------------------------


def test_a_dataset_folder_that_does_not_exist_is_one_line(tmp_path: Path, out: Path) -> None:
    # Given a dataset folder that is not there
    # When hzz run is started on it
    code, output = hzz("run", "--dataset", "/nonexistent", "--output-dir", str(out), cwd=tmp_path)

    # Then one line names it and says what a dataset is, exit 2, nothing written (the folder not even made)
    assert_refused(code, output, "/nonexistent", "no such folder", "Data/, MC/", "--demo", folder=tmp_path)
    assert len(output.strip().splitlines()) == 1
    assert not out.exists()


def test_the_real_files_without_the_server_layout_name_the_expected_path(tmp_path: Path, out: Path) -> None:
    # Given the real files side by side in a folder, without the Data/ and MC/ sub-folders
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"the real ATLAS files are not at {REAL_DATA_DIR}")
    flat = tmp_path / "flat"
    flat.mkdir()
    for sample in REAL_SAMPLES:
        shutil.copyfile(REAL_DATA_DIR / f"{sample}.4lep.root", flat / f"{sample}.4lep.root")

    # When hzz run is started on it with every sample (the default)
    code, output = hzz("run", "--dataset", str(flat), "--output-dir", str(out), cwd=tmp_path)

    # Then it says where the file was found and where the server layout expects it, and which samples
    # have no file at all, in two lines
    expected = f"expected {flat / 'Data' / 'data_A.4lep.root'} (the server layout: Data/, MC/)"
    assert_refused(
        code, output, expected, f"found {flat / 'data_A.4lep.root'}", "no file for 10 of 12", folder=tmp_path
    )
    assert len(output.strip().splitlines()) == 2


def test_the_2025_profile_on_a_2020_folder_says_so_in_one_line(tmp_path: Path, dataset: Path, out: Path) -> None:
    # Given a folder of the 2020 release
    # When the 2025 profile is run on it
    code, output = hzz("run", "--profile", "2025", "--dataset", str(dataset), "--output-dir", str(out), cwd=tmp_path)

    # Then one line says the folder holds the other release, and how to fix it
    assert_refused(code, output, str(dataset), "2020 release", "--profile 2020", folder=tmp_path)
    assert len(output.strip().splitlines()) == 1


def test_a_file_that_is_not_root_is_named_with_what_was_expected(tmp_path: Path, dataset: Path, out: Path) -> None:
    # Given a dataset where one file is not a ROOT file
    bad = dataset / "Data" / "data_B.4lep.root"
    bad.write_bytes(b"<html>not found</html>")

    # When it is run
    code, output = hzz(
        "run", "--dataset", str(dataset), "--samples", "data_A,data_B", "--output-dir", str(out), cwd=tmp_path
    )

    # Then one line names that file and what a file must be
    assert_refused(
        code, output, f"file {bad} cannot be read", "expected a ROOT file with the TTree 'mini'", folder=tmp_path
    )
    assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["unresolvable", "closed port"])
def test_an_unreachable_https_dataset_is_one_line_suggesting_the_demo(tmp_path: Path, out: Path, where: str) -> None:
    # Given an https dataset whose host does not resolve, or where nothing listens (no internet here)
    port = free_port()
    url, host = (
        ("https://nonexistent.invalid/4lep/", "cannot reach nonexistent.invalid: name resolution failed")
        if where == "unresolvable"
        else (f"https://127.0.0.1:{port}/4lep/", f"cannot reach 127.0.0.1:{port}")
    )

    # When hzz run is started on it
    code, output = hzz("run", "--dataset", url, "--output-dir", str(out), cwd=tmp_path)

    # Then one line says the host cannot be reached and suggests --demo; no empty plot is written
    assert_refused(code, output, host, "offline? try --demo", folder=tmp_path)
    assert not out.exists()


def test_verbose_shows_the_error_behind_the_line(tmp_path: Path, out: Path) -> None:
    # Given an unresolvable dataset host
    # When hzz run -v is started on it
    code, output = hzz("run", "-v", "--dataset", "https://nonexistent.invalid/", "--output-dir", str(out), cwd=tmp_path)

    # Then the same line comes first, followed by the underlying exception
    assert code == 2
    assert output.splitlines()[0].startswith("hzz: error: dataset: cannot reach nonexistent.invalid")
    assert "gaierror" in output


# --- the broker ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "amqp://user:password@host:port/vhost"),
        ("amqp://guest:s3cret@127.0.0.1:99999/", "a port in 1–65535"),
        ("amqp://guest:s3cret@127.0.0.1:5672/?heartbeat=abc", "heartbeat='abc' to be a whole number"),
        ("amqp://guest:s3cret@127.0.0.1:5672/?hearbeat=5", "not 'hearbeat'"),
    ],
)
def test_a_malformed_broker_url_is_one_line(tmp_path: Path, dataset: Path, out: Path, url: str, says: str) -> None:
    # Given a malformed broker URL
    # When hzz run is started with it
    code, output = hzz("run", "--dataset", str(dataset), "--broker-url", url, "--output-dir", str(out), cwd=tmp_path)

    # Then one line names the setting and what is expected, and never shows the password
    assert_refused(code, output, "broker_url (HZZ_BROKER_URL)", says, folder=tmp_path)
    assert "s3cret" not in output


@pytest.mark.parametrize("service", ["producer", "worker", "aggregator"])
@pytest.mark.parametrize("url", ["not a url", "amqp://guest:guest@127.0.0.1:99999/", "amqp://h:5672/?heartbeat=abc"])
def test_a_service_with_a_malformed_broker_url_says_so_in_one_line(tmp_path: Path, service: str, url: str) -> None:
    # Given a service started with a malformed broker URL
    env = clean_env(HZZ_BROKER_URL=url, HZZ_SIGNING_KEY=KEY, HZZ_OUTPUT_DIR=str(tmp_path / "out"))

    # When it starts
    done = subprocess.run(
        [sys.executable, "-m", f"hzz.{service}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    # Then it exits 2 with one line naming the setting, no traceback
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output
    assert "HZZ_BROKER_URL" in output


@pytest.mark.parametrize("transport", ["auto", "rabbitmq"])
def test_wrong_credentials_are_an_error_with_the_brokers_reason(
    tmp_path: Path, dataset: Path, out: Path, broker_url: str, transport: str
) -> None:
    # Given the real broker and a wrong password
    url = with_password(broker_url, "wrong-password")

    # When hzz run is started with auto (which must not fall back) or rabbitmq
    code, output = hzz(
        "run", "--dataset", str(dataset), "--broker-url", url, "--transport", transport, "--output-dir", str(out),
        cwd=tmp_path,
    )  # fmt: skip

    # Then one line gives the broker's own reason and what to fix, without the password
    assert_refused(code, output, "ACCESS_REFUSED", "fix the user, password or vhost", folder=tmp_path)
    assert "wrong-password" not in output
    assert "transport: embedded" not in output


def test_a_missing_vhost_is_an_error_with_the_brokers_reason(
    tmp_path: Path, dataset: Path, out: Path, broker_url: str
) -> None:
    # Given the real broker and a vhost it does not have
    url = with_password(broker_url, urlparse(broker_url).password or "guest").rsplit("/", 1)[0] + "/no-such-vhost"

    # When hzz run is started (auto)
    code, output = hzz("run", "--dataset", str(dataset), "--broker-url", url, "--output-dir", str(out), cwd=tmp_path)

    # Then the broker's reason is given
    assert_refused(code, output, "NOT_ALLOWED", "no-such-vhost", folder=tmp_path)


def test_rabbitmq_asked_for_where_nothing_listens_says_nothing_listens(
    tmp_path: Path, dataset: Path, out: Path
) -> None:
    # Given a broker URL on a port where nothing listens
    port = free_port()

    # When RabbitMQ is asked for
    code, output = hzz(
        "run", "--dataset", str(dataset), "--broker-url", f"amqp://guest:guest@127.0.0.1:{port}/",
        "--transport", "rabbitmq", "--output-dir", str(out), cwd=tmp_path,
    )  # fmt: skip

    # Then one line says that nothing listens there
    assert_refused(code, output, f"nothing listens at 127.0.0.1:{port}", folder=tmp_path)


def test_all_problems_are_listed_together(tmp_path: Path, out: Path) -> None:
    # Given a missing dataset and a broker URL where nothing listens, RabbitMQ asked for
    port = free_port()

    # When hzz run is started
    code, output = hzz(
        "run", "--dataset", "/nonexistent", "--broker-url", f"amqp://guest:guest@127.0.0.1:{port}/",
        "--transport", "rabbitmq", "--output-dir", str(out), cwd=tmp_path,
    )  # fmt: skip

    # Then both are reported, one line each
    assert_refused(code, output, "/nonexistent", f"nothing listens at 127.0.0.1:{port}", folder=tmp_path)
    assert len(output.strip().splitlines()) == 2


# --- what runs where ----------------------------------------------------------------------------


def test_auto_falls_back_to_embedded_only_where_nothing_listens_and_says_so(
    tmp_path: Path, dataset: Path, out: Path
) -> None:
    # Given a broker URL where nothing listens
    port = free_port()

    # When hzz run is started with auto
    code, output = hzz(
        "run", "--dataset", str(dataset), "--samples", "data_A", "--workers", "1", "--quiet",
        "--broker-url", f"amqp://guest:guest@127.0.0.1:{port}/", "--output-dir", str(out), cwd=tmp_path,
    )  # fmt: skip

    # Then it runs on the embedded transport; --quiet drops the transport line, results.json records it
    assert code == 0, output
    assert "transport:" not in output
    results = json.loads((out / "results.json").read_text())
    assert results["transport"] == {"kind": "embedded", "broker_url": None}


def test_the_first_line_names_the_broker_with_the_password_masked(
    tmp_path: Path, dataset: Path, out: Path, broker_url: str
) -> None:
    # Given the real broker
    prefix = f"test-{uuid.uuid4().hex[:10]}"

    # When hzz run is started (auto)
    code, output = hzz(
        "run", "--dataset", str(dataset), "--samples", "data_A", "--workers", "1", "--queue-prefix", prefix,
        "--broker-url", broker_url, "--output-dir", str(out), cwd=tmp_path,
    )  # fmt: skip

    # Then the first line names RabbitMQ and the URL without its password, and results.json records it
    masked = re.sub(r":[^:@/]+@", ":***@", broker_url)
    assert code == 0, output
    assert output.splitlines()[0] == f"transport: rabbitmq at {masked}"
    password = urlparse(broker_url).password
    assert password and f":{password}@" not in output
    results = json.loads((out / "results.json").read_text())
    assert results["transport"] == {"kind": "rabbitmq", "broker_url": masked}
    assert "transport" not in results["settings"]


# --- settings with bounds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "args", "culprits"),
    [
        ({"HZZ_LUMI": "nan"}, [], ["lumi (HZZ_LUMI) is nan", "finite, positive"]),
        ({"HZZ_LUMI": "inf"}, [], ["lumi (HZZ_LUMI) is inf", "finite, positive"]),
        ({"HZZ_REFRESH_SECONDS": "nan"}, [], ["refresh_seconds (HZZ_REFRESH_SECONDS) is nan", "finite, positive"]),
        ({}, ["--workers", "1000"], ["workers (HZZ_WORKERS) is 1000", "per core", "~150 MB", "contention"]),
        ({}, ["--output-dir", ""], ["output_dir (HZZ_OUTPUT_DIR) is ''", "current folder"]),
        ({}, ["--serve", "70000"], ["--serve", "'70000' is not a port", "1–65535"]),
        ({}, ["--fraction", "0"], ["fraction (HZZ_FRACTION) is 0.0", "(0, 1]"]),
        ({}, ["--chunk-size", "0"], ["chunk_size (HZZ_CHUNK_SIZE) is 0", "≥ 1"]),
    ],
    ids=[
        "lumi-nan",
        "lumi-inf",
        "refresh-nan",
        "workers-1000",
        "output-dir-empty",
        "serve-70000",
        "fraction-0",
        "chunk-0",
    ],
)
def test_a_setting_out_of_bounds_is_one_line(
    tmp_path: Path, dataset: Path, env: dict[str, str], args: list[str], culprits: list[str]
) -> None:
    # Given a setting out of its bounds
    # When hzz run is started with it (in tmp_path: an empty output folder would write there)
    code, output = hzz("run", "--dataset", str(dataset), *args, cwd=tmp_path, env=clean_env(**env))

    # Then one line names it, what it is and what is expected; nothing is written anywhere
    assert_refused(code, output, *culprits, folder=tmp_path)
    assert len(output.strip().splitlines()) == 1


def test_several_bad_settings_are_listed_together(tmp_path: Path, dataset: Path) -> None:
    # Given three bad settings, one of them not even a number
    env = clean_env(HZZ_LUMI="inf", HZZ_REFRESH_SECONDS="nan", HZZ_CHUNK_SIZE="many")

    # When hzz run is started
    code, output = hzz("run", "--dataset", str(dataset), cwd=tmp_path, env=env)

    # Then each has its line
    assert_refused(code, output, "HZZ_LUMI", "HZZ_REFRESH_SECONDS", "HZZ_CHUNK_SIZE", folder=tmp_path)
    assert len(output.strip().splitlines()) == 3


# --- the command line's conventions -------------------------------------------------------------


def test_version_prints_the_projects_version(tmp_path: Path) -> None:
    from importlib import metadata

    code, output = hzz("--version", cwd=tmp_path)
    assert code == 0
    assert output.strip() == f"hzz {metadata.version('hzz-pipeline')}"


def test_settings_shows_each_value_and_where_it_comes_from(tmp_path: Path) -> None:
    # Given one setting from the environment and one from an option, a password in the broker URL
    env = clean_env(HZZ_LUMI="5.5", HZZ_BROKER_URL="amqp://me:hunter22@rabbit:5672/%2F")

    # When hzz settings is asked
    code, output = hzz("settings", "--workers", "3", cwd=tmp_path, env=env)

    # Then each setting shows its effective value and its source; the password is masked
    rows = {line.split()[0]: line for line in output.splitlines()[1:]}
    assert code == 0, output
    assert re.search(r"^lumi\s+environment HZZ_LUMI\s+5\.5$", rows["lumi"])
    assert re.search(r"^workers\s+option --workers\s+3$", rows["workers"])
    assert re.search(r"^chunk_size\s+default\s+250000$", rows["chunk_size"])
    assert re.search(r"^dataset\s+default \(the profile's\)\s+https://", rows["dataset"])
    assert "amqp://me:***@rabbit:5672/%2F" in rows["broker_url"]
    assert "hunter22" not in output


def test_settings_table_is_the_readmes(tmp_path: Path) -> None:
    from hzz.shared.data_vars import settings_table

    code, output = hzz("settings", "--table", cwd=tmp_path)
    assert code == 0
    assert output.strip() == settings_table()


def test_a_bad_option_is_one_line_with_exit_2(tmp_path: Path) -> None:
    code, output = hzz("run", "--workers", "many", cwd=tmp_path)
    assert code == 2
    assert output.strip().splitlines() == [
        "hzz run: error: argument --workers: invalid int value: 'many' (see hzz run --help)"
    ]
