"""Fixtures shared by the suite: real ROOT files, generated datasets and a real RabbitMQ.

The broker fixture talks to a real RabbitMQ (``HZZ_TEST_BROKER_URL``, by default the local one
on 127.0.0.1:5672). Without one it skips on a developer's machine and fails in CI (``CI`` set),
so a green CI always means the broker tests ran. Each test gets its own queue prefix and its
queues are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hzz.devtools.notebook import NotebookSample
from hzz.shared.messages import RunManifest
from hzz.shared.messaging import QueueNames
from hzz.shared.messaging.rabbitmq import RabbitMQTransport, broker_answers
from hzz.shared.signing import Signer

#: The two real files of the 2020 release shipped with the project's shared folder.
REAL_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "atlas-open-data" / "2020-4lep"
REAL_SAMPLES = ("data_A", "data_B")
#: The key every test transport signs and checks with (the services get it as HZZ_SIGNING_KEY).
TEST_KEY = "test-signing-key-0123456789abcdef"
TEST_SIGNER = Signer(TEST_KEY)
BROKER_URL = os.environ.get("HZZ_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def manifest_of(
    run_id: str,
    files: list[tuple[str, str, int | None, int]],
    *,
    settings: dict[str, Any] | None = None,
    profile: str = "2020",
    created: float = 100.0,
) -> RunManifest:
    """A manifest of these files: (sample, location, entries, chunk size) each, lumi 10, fraction 1."""
    entries = [{"sample": s, "location": loc, "entries": n, "chunk_size": size} for s, loc, n, size in files]
    return RunManifest(
        run_id=run_id,
        profile=profile,
        lumi=10.0,
        fraction=1.0,
        files=entries,
        settings={"lumi": 10.0, "fraction": 1.0} if settings is None else settings,
        created=created,
    )


def copy_real_data(folder: Path) -> Path:
    """Lay the real data files out like the server (``Data/<name>.4lep.root``) in ``folder``."""
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"the real ATLAS files are not at {REAL_DATA_DIR}")
    (folder / "Data").mkdir(parents=True, exist_ok=True)
    for sample in REAL_SAMPLES:
        shutil.copyfile(REAL_DATA_DIR / f"{sample}.4lep.root", folder / "Data" / f"{sample}.4lep.root")
    return folder


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding copies of the real data_A and data_B files in the server's layout."""
    return copy_real_data(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every sample of the release, generated small (a few thousand events each), plus the real data files."""
    from hzz.devtools.samplegen.r2020 import REAL_ENTRIES, generate_dataset

    folder = tmp_path_factory.mktemp("small")
    counts = {sample: min(n, 3000) for sample, n in REAL_ENTRIES.items()}
    generate_dataset(folder, events=counts, seed=7)
    return copy_real_data(folder)


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The URL of a RabbitMQ that answers; skip (locally) or fail (in CI) without one."""
    if broker_answers(BROKER_URL):
        return BROKER_URL
    msg = f"no RabbitMQ answers at {BROKER_URL} (set HZZ_TEST_BROKER_URL, or start one: rabbitmq-server -detached)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def queue_prefix(broker_url: str) -> Iterator[str]:
    """A queue prefix of this test alone; its queues are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    yield prefix
    transport = RabbitMQTransport(broker_url, QueueNames(prefix), signer=TEST_SIGNER)
    transport.delete_queues()
    transport.close()


def _assert_equals_notebook(results: dict[str, Any], expected: dict[str, NotebookSample]) -> None:
    assert results["state"] == "complete", results["failed_chunks"]
    assert set(results["samples"]) == set(expected)
    for sample, nb in expected.items():
        got = results["samples"][sample]
        assert got["events_read"] == nb.events_read, sample
        assert got["events_selected"] == nb.events_selected, sample
        np.testing.assert_allclose(got["sumw"], nb.sumw, rtol=1e-9, atol=0, err_msg=sample)
        np.testing.assert_allclose(got["sumw2"], nb.sumw2, rtol=1e-9, atol=0, err_msg=sample)
        assert got["weighted_yield"] == pytest.approx(nb.sumw_total, rel=1e-9, abs=0)
        assert got["weighted_yield_uncertainty"] == pytest.approx(np.sqrt(nb.sumw2_total), rel=1e-9, abs=0)
        if got["is_data"]:
            assert got["sumw"] == nb.sumw.tolist()  # counts: exactly


@pytest.fixture
def equals_notebook() -> Callable[..., None]:
    """``equals_notebook(results, expected)``: a run's results.json equals a notebook reference run
    (events read and selected exactly, Σw and Σw² per bin to 1e-9 relative, data counts exactly)."""
    return _assert_equals_notebook
