"""The edges of the data: files that break their release's declared types, files with no entries,
and remote servers that never answer.

Every broken file is real: generated in the release's schema by :mod:`hzz.devtools.samplegen`,
then written again with uproot with one branch changed (charges stored as bools, a NaN weight, …).
The silent servers are real sockets on the loopback: one accepts connections and never answers,
one answers a byte at a time. End to end, ``hzz run`` runs as a subprocess on a folder holding
the broken files, and the one-machine run reads from a silent server.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import REAL_DATA_DIR, copy_real_data, manifest_of
from tqdm import tqdm

from benchmarks.httpserver import serve_folder
from hzz.devtools.samplegen.r2020 import generate_dataset, write_tree
from hzz.shared.analysis import analyse_chunk, count_entries
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ConfigError, DecodeError, PermanentChunkError, ReadDeadlineExceeded
from hzz.shared.merging import RunTally
from hzz.shared.messages import ChunkResult, ChunkTask
from hzz.shared.messaging import QueueNames
from hzz.shared.processing import chunk_handler
from hzz.shared.releases import RELEASES
from hzz.shared.releases.base import BranchType
from hzz.shared.report import results_document
from hzz.shared.schema import check_column

NAMES = QueueNames("edges")
NO_BACKOFF = {"backoff": lambda attempt: 0.0}
LLLL = "MC/mc_363490.llll.4lep.root"
GGH = "MC/mc_345060.ggH125_ZZ4lep.4lep.root"
#: Seconds a deadline may be overshot: the timer's wake-up and the error's way back, on a loaded machine.
SLACK = 2.5


def rewrite(path: Path, tree: str, **changes: Callable[[Any], Any]) -> Path:
    """Write ``path`` again with some branches changed, e.g. ``lep_charge=lambda q: q > 0``.

    A change of a ``lep_*`` branch gets and returns the jagged column; one that returns a flat
    numpy array makes the branch flat. The other branches are written as they were.
    """
    with uproot.open(path) as file:
        arrays = file[tree].arrays(library="ak")
    flat = {name: ak.to_numpy(arrays[name]) for name in arrays.fields if not name.startswith("lep_")}
    lep = {name: arrays[name] for name in arrays.fields if name.startswith("lep_") and name != "lep_n"}
    for name, change in changes.items():
        column = change(lep.pop(name) if name in lep else flat[name])
        (flat if isinstance(column, np.ndarray) else lep)[name] = column
    record = ak.zip({name.removeprefix("lep_"): column for name, column in lep.items()})

    def batch(size: int, first: int) -> dict[str, Any]:
        return {**{k: v[first : first + size] for k, v in flat.items()}, "lep": record[first : first + size]}

    write_tree(path, tree, len(arrays), batch, tqdm(disable=True))
    return path


def with_value(index: int, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(column: np.ndarray) -> np.ndarray:
        column = column.copy()
        column[index] = value
        return column

    return change


def mc_task(location: Path | str, start: int = 0, stop: int = 1000, sample: str = "llll") -> ChunkTask:
    return ChunkTask("run-edges", sample, str(location), start, stop, 10.0)


@pytest.fixture
def mc_folder(tmp_path: Path) -> Path:
    """llll and ggH125_ZZ4lep generated (2,000 entries each) in the server's layout."""
    generate_dataset(tmp_path, events={"llll": 2000, "ggH125_ZZ4lep": 2000}, seed=12)
    return tmp_path


# --- the declared types --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["2020", "2025"])
def test_every_branch_a_release_reads_is_declared(profile: str) -> None:
    release = RELEASES[profile]
    assert set(release.mc_branches) | set(release.data_branches) <= set(release.branch_types)


def test_the_2020_declaration_matches_every_read_branch_of_the_real_files() -> None:
    # Given the real data files of the 2020 release (they hold the weight branches too, as zeros)
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"the real ATLAS files are not at {REAL_DATA_DIR}")
    release = RELEASES["2020"]
    for name in ("data_A", "data_B"):
        with uproot.open(REAL_DATA_DIR / f"{name}.4lep.root") as file:
            tree = file["mini"]
            # Then each declared branch, read as a worker reads it, passes its check
            for branch, declared in release.branch_types.items():
                array = tree[branch].array(library="ak")
                check_column(branch, array, declared, where=name, entry_start=0, release="2020")
            # And the declaration says what the files say: charges signed, flavours unsigned here
            assert tree["lep_charge"].typename == "std::vector<int32_t>"
            assert tree["lep_type"].typename == "std::vector<uint32_t>"
            assert tree["mcWeight"].typename == "float"


def test_generated_files_of_both_releases_pass_their_checks(mc_folder: Path, tmp_path: Path) -> None:
    from hzz.devtools.samplegen import r2025

    # Given generated files of both releases (their lep_n is int32 where the real one is uint32:
    # not read, and any integer kind would do)
    sample_2025 = RELEASES["2025"].groups[1].samples[0]
    [path_2025] = r2025.generate_dataset(tmp_path / "g2025", events={sample_2025: 500}, seed=3).values()

    # When a chunk of each is analysed, then it is read and selected without complaint
    assert analyse_chunk(mc_task(mc_folder / LLLL)).events_read == 1000
    task = ChunkTask("run-edges", sample_2025, str(path_2025), 0, 500, 36.6, profile="2025")
    assert analyse_chunk(task).events_read == 500


def test_a_branch_kind_is_one_of_the_declared_kinds() -> None:
    with pytest.raises(ConfigError, match="'complex'"):
        BranchType("complex")


# --- files that break them ----------------------------------------------------------------------


def test_charges_stored_as_bool_fail_the_chunk_naming_the_branch_file_and_range(mc_folder: Path) -> None:
    # Given an MC file whose lep_charge is a list of bools (the selection would select nothing)
    path = rewrite(mc_folder / LLLL, "mini", lep_charge=lambda q: q > 0)
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When a chunk of it is handled
    outputs = handle(mc_task(path, 500, 1500).encode())

    # Then it fails for good, not retried: a failed result and a dead letter, the error saying
    # which file, which entries, which branch, what it holds and what is expected
    assert [o.queue for o in outputs] == [NAMES.results, NAMES.dead]
    error = ChunkResult.decode(outputs[0].body).error
    assert error is not None
    assert str(path) in error and "entries 500–1500" in error
    assert "'lep_charge' holds var * bool; expected var * signed integer" in error


def test_unsigned_charges_fail_but_signed_flavours_pass(mc_folder: Path) -> None:
    # Given charges stored unsigned (a -1 cannot be stored) and, in another file, flavours signed
    charges = rewrite(mc_folder / LLLL, "mini", lep_charge=lambda q: ak.values_astype(q + 1, np.uint32))
    flavours = rewrite(mc_folder / GGH, "mini", lep_type=lambda t: ak.values_astype(t, np.int32))

    # Then the charges are refused and the flavours read (their values are 11 and 13 either way)
    with pytest.raises(PermanentChunkError, match=r"'lep_charge' holds var \* uint32"):
        analyse_chunk(mc_task(charges))
    assert analyse_chunk(mc_task(flavours, sample="ggH125_ZZ4lep")).events_read == 1000


def test_one_value_per_event_where_a_list_is_declared_fails(mc_folder: Path) -> None:
    # Given a file whose lep_pt is one float per event
    path = rewrite(mc_folder / LLLL, "mini", lep_pt=lambda pt: ak.to_numpy(ak.firsts(pt)))

    # Then the chunk fails naming the branch, what it holds and the list expected
    with pytest.raises(PermanentChunkError, match=r"'lep_pt' holds float32; expected var \* float"):
        analyse_chunk(mc_task(path))


@pytest.mark.parametrize(
    ("branch", "value", "shown"), [("mcWeight", np.nan, "nan"), ("scaleFactor_ELE", np.inf, "inf")]
)
def test_a_weight_that_is_not_finite_fails_the_chunk_naming_the_branch_and_its_entry(
    mc_folder: Path, branch: str, value: float, shown: str
) -> None:
    # Given an MC file with one NaN or infinite weight factor, at entry 1234
    path = rewrite(mc_folder / LLLL, "mini", **{branch: with_value(1234, value)})
    handle = chunk_handler(NAMES, max_retries=3, worker="w", **NO_BACKOFF)

    # When the chunk holding that entry, and the chunk before it, are handled
    failing = handle(mc_task(path, 1000, 2000).encode())
    clean = handle(mc_task(path, 0, 1000).encode())

    # Then the first fails naming the file, its range, the branch, the value and the entry; the
    # other is unaffected
    error = ChunkResult.decode(failing[0].body).error
    assert error is not None
    assert str(path) in error and "entries 1000–2000" in error
    assert f"'{branch}' is {shown} at entry 1234 (1 of 1000 entries not finite)" in error
    assert ChunkResult.decode(clean[0].body).error is None


def test_a_data_file_does_not_need_finite_weights(tmp_path: Path) -> None:
    # Given a data file whose weight branches (not read for data) are NaN
    [path] = generate_dataset(tmp_path, events={"data_C": 1000}, seed=4).values()
    task = ChunkTask("run-edges", "data_C", str(path), 0, 1000, 10.0)
    before = analyse_chunk(task)
    rewrite(path, "mini", mcWeight=lambda w: np.full_like(w, np.nan))

    # Then its chunk gives what it gave before
    after = analyse_chunk(task)
    assert after.error is None and (after.events_read, after.sumw) == (1000, before.sumw)


def test_a_2025_file_with_bool_charges_fails_naming_the_branch(tmp_path: Path) -> None:
    from hzz.devtools.samplegen import r2025

    # Given a 2025 MC file (read as a record array, not column by column) with bool charges
    sample = RELEASES["2025"].groups[1].samples[0]
    [path] = r2025.generate_dataset(tmp_path, events={sample: 300}, seed=5).values()
    rewrite(path, "analysis", lep_charge=lambda q: q > 0)

    # Then its chunk fails naming the branch
    task = ChunkTask("run-edges", sample, str(path), 0, 300, 36.6, profile="2025")
    with pytest.raises(PermanentChunkError, match=r"'lep_charge' holds var \* bool; expected var \* signed integer"):
        analyse_chunk(task)


# --- files without entries ----------------------------------------------------------------------


def test_a_file_without_entries_is_listed_with_zero_events_and_a_warning() -> None:
    # Given a run whose data_B file holds no entries and whose llll file has 3 at a fraction of 0.2
    manifest = manifest_of("run-z", [("data_A", "/d/Data/data_A.4lep.root", 39, 100), ("data_B", "/d/b.root", 0, 100)])
    tally = RunTally(manifest)
    small = RunTally(dataclasses.replace(manifest_of("run-f", [("llll", "/d/llll.root", 3, 100)]), fraction=0.2))

    # When their documents are made
    doc = results_document(tally)
    small_doc = results_document(small)

    # Then the empty samples are listed with no chunk and no event, and named in the warnings
    assert doc["tally"]["total"] == 1
    assert doc["samples"]["data_B"]["chunks_total"] == 0 and doc["samples"]["data_B"]["events_read"] == 0
    assert doc["groups"]["Data"]["samples"] == ["data_A", "data_B"]
    assert doc["warnings"] == ["data_B: /d/b.root holds no entries; the sample counts 0 events"]
    assert small_doc["state"] == "complete" and small_doc["tally"]["total"] == 0
    assert small_doc["samples"]["llll"]["events_read"] == 0
    assert small_doc["warnings"] == [
        "llll: the fraction 0.2 of its 3 entries is none (int(3 × 0.2) = 0); the sample counts 0 events"
    ]


def test_a_whole_file_chunk_that_read_no_entries_is_warned_of() -> None:
    # Given a file that could not be counted when the run was planned (one whole-file chunk)
    tally = RunTally(manifest_of("run-w", [("data_C", "/d/Data/data_C.4lep.root", None, 100)]))
    assert tally.warnings == []

    # When its chunk comes back having read no entry (the file was empty when it was read)
    [chunk_id] = tally.chunks
    tally.add(ChunkResult("run-w", chunk_id, "data_C", binning=tally.binning.to_json(), **_empty_sums(tally)))

    # Then the run is complete, and says the sample counts nothing
    assert tally.complete
    assert tally.warnings == ["data_C: /d/Data/data_C.4lep.root gave no entries to read; the sample counts 0 events"]


def _empty_sums(tally: RunTally) -> dict[str, list[float]]:
    return {"sumw": [0.0] * tally.binning.bins, "sumw2": [0.0] * tally.binning.bins}


def test_a_fraction_that_leaves_a_file_no_entries_still_reports_its_sample(real_dataset: Path, tmp_path: Path) -> None:
    from hzz.local import run_local

    # Given the real data_A (39 entries) and data_B (156) at a fraction of 0.02: int(39 × 0.02) = 0
    settings = Settings(
        dataset=str(real_dataset), samples=("data_A", "data_B"), fraction=0.02, output_dir=str(tmp_path), workers=1
    )

    # When the run is made on this machine
    results = run_local(settings, transport="embedded", progress=False)

    # Then data_A is there with 0 events and a warning, data_B's 3 entries are read
    assert results["state"] == "complete"
    assert results["samples"]["data_A"]["events_read"] == 0
    assert results["samples"]["data_B"]["events_read"] == 3
    assert [w.split(":")[0] for w in results["warnings"]] == ["data_A"]


# --- the whole run, as a user runs it -----------------------------------------------------------


def test_hzz_run_on_broken_and_empty_files_fails_their_chunks_and_ends_with_exit_1(
    mc_folder: Path, tmp_path: Path
) -> None:
    # Given a folder with the real data_A, an llll file with bool charges, a ggH file with a NaN
    # weight at entry 7 and a data_B file without entries
    copy_real_data(mc_folder)
    generate_dataset(mc_folder, events={"data_B": 0}, seed=1)
    rewrite(mc_folder / LLLL, "mini", lep_charge=lambda q: q > 0)
    rewrite(mc_folder / GGH, "mini", mcWeight=with_value(7, np.nan))
    hzz = Path(sys.executable).parent / "hzz"
    command = [str(hzz)] if hzz.exists() else [sys.executable, "-m", "hzz"]
    out = tmp_path / "out"

    # When hzz run analyses it
    done = subprocess.run(
        [*command, "run", "--dataset", str(mc_folder), "--samples", "data_A,data_B,llll,ggH125_ZZ4lep",
         "--workers", "2", "--transport", "embedded", "--quiet", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    # Then it exits 1 with the two failures and the warning in its summary, no traceback, and
    # results.json is strict JSON of the finished run: the broken chunks failed naming their
    # branch, data_A counted, data_B listed with 0 events
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert "'lep_charge' holds var * bool" in done.stdout
    assert "'mcWeight' is nan at entry 7" in done.stdout
    assert "warning: data_B:" in done.stdout
    results = json.loads((out / "results.json").read_text(), parse_constant=_refuse_constant)
    assert results["state"] == "complete_with_failures"
    assert results["tally"] == {"total": 3, "done": 1, "failed": 2, "pending": 0}
    errors = {f["sample"]: f["error"] for f in results["failed_chunks"]}
    assert "lep_charge" in errors["llll"] and str(mc_folder / LLLL) in errors["llll"]
    assert "mcWeight" in errors["ggH125_ZZ4lep"] and "entries 0–2000" in errors["ggH125_ZZ4lep"]
    assert results["samples"]["data_A"]["events_selected"] == 27
    assert results["samples"]["data_B"]["events_read"] == 0
    assert len(results["warnings"]) == 1


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"results.json holds {name}: not strict JSON")


# --- remote reads within a deadline -------------------------------------------------------------


class SilentServer:
    """A loopback TCP server that accepts every connection and then sends nothing, or one byte at a
    time every ``drip`` seconds (an HTTP status line that never ends)."""

    def __init__(self, *, drip: float | None = None) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._drip = drip
        self._stop = threading.Event()
        self.connections: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()
        self.address = f"127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)
            if self._drip is not None:
                thread = threading.Thread(target=self._trickle, args=(connection,), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _trickle(self, connection: socket.socket) -> None:
        line = b"HTTP/1.1 206 Partial Content" * 100
        for byte in line:
            if self._stop.wait(self._drip or 0.0):
                return
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self._socket.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()
    _collect_sockets()


@pytest.fixture
def dripping_server() -> Iterator[SilentServer]:
    server = SilentServer(drip=0.2)
    yield server
    server.close()
    _collect_sockets()


def _collect_sockets() -> None:
    # A response uproot did not close would warn at some later collection, in another test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_server_that_never_answers_fails_the_chunk_at_the_deadline_naming_it(
    silent_server: SilentServer, scheme: str
) -> None:
    # Given a server that accepts connections and never answers (over HTTPS the TLS handshake
    # never completes), and a read deadline of 2 s with 3 retries allowed
    url = f"{scheme}://{silent_server.address}/Data/data_A.4lep.root"
    handle = chunk_handler(NAMES, max_retries=3, worker="w", read_deadline=2.0, **NO_BACKOFF)

    # When a chunk of it is handled
    started = time.monotonic()
    outputs = handle(ChunkTask("run-edges", "data_A", url, 0, 20, 10.0).encode())
    elapsed = time.monotonic() - started

    # Then it fails within the deadline, for good (the deadline covers every try), naming the
    # URL, the deadline and the retries it leaves unused
    assert silent_server.connections, "the client never connected"
    assert 2.0 <= elapsed < 2.0 + SLACK
    assert [o.queue for o in outputs] == [NAMES.results, NAMES.dead]
    error = ChunkResult.decode(outputs[0].body).error
    assert error is not None
    assert url in error and f"no complete answer from {silent_server.address} in 2.0 s" in error
    assert "read deadline of 2 s (HZZ_READ_DEADLINE_SECONDS)" in error
    assert "over 1 try; 3 of 3 retries (HZZ_MAX_RETRIES) left unused" in error


def test_a_server_that_answers_a_byte_at_a_time_is_cut_off_at_the_deadline(dripping_server: SilentServer) -> None:
    # Given a server that sends a byte every 0.2 s: every socket read succeeds, none is ever slow
    task = ChunkTask("run-edges", "data_A", f"http://{dripping_server.address}/d.root", 0, 20, 10.0)

    # When a chunk of it is analysed with a deadline of 2 s
    started = time.monotonic()
    with pytest.raises(ReadDeadlineExceeded, match=f"no complete answer from {dripping_server.address}"):
        analyse_chunk(task, read_deadline=2.0)

    # Then the deadline bounds the whole read, not each socket operation
    assert time.monotonic() - started < 2.0 + SLACK


def test_counting_a_silent_files_entries_stops_at_the_deadline(silent_server: SilentServer) -> None:
    started = time.monotonic()
    with pytest.raises(ReadDeadlineExceeded, match="cannot count the entries of http://"):
        count_entries(f"http://{silent_server.address}/d.root", "mini", deadline_seconds=1.0)
    assert time.monotonic() - started < 1.0 + SLACK


def test_a_retry_carries_the_time_its_tries_spent() -> None:
    # Given a server that refuses connections (a transient failure)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task = ChunkTask("run-edges", "data_A", f"http://127.0.0.1:{port}/d.root", 0, 20, 10.0, read_seconds=5.0)
    handle = chunk_handler(NAMES, max_retries=3, worker="w", read_deadline=60.0, **NO_BACKOFF)

    # When it is handled
    [out] = handle(task.encode())

    # Then it is tried again, with the time of this try added to the earlier ones'
    retry = ChunkTask.decode(out.body)
    assert out.queue == NAMES.tasks and retry.attempt == 1
    assert 5.0 < retry.read_seconds < 5.0 + SLACK


@pytest.mark.parametrize("seconds", ["NaN", "Infinity", "-1", '"5"'])
def test_a_task_with_an_impossible_time_spent_is_refused(seconds: str) -> None:
    body = ChunkTask("run-edges", "data_A", "http://h/d.root", 0, 20, 10.0).encode()
    forged = body.replace(b'"read_seconds":0.0', b'"read_seconds":' + seconds.encode())
    assert forged != body
    with pytest.raises(DecodeError, match="read_seconds"):
        ChunkTask.decode(forged)


def test_a_task_whose_deadline_is_spent_fails_without_connecting(silent_server: SilentServer) -> None:
    # Given a chunk whose earlier tries spent 59.5 s of a 60 s deadline
    url = f"http://{silent_server.address}/d.root"
    task = ChunkTask("run-edges", "data_A", url, 0, 20, 10.0, attempt=2, read_seconds=59.5)
    handle = chunk_handler(NAMES, max_retries=3, worker="w", read_deadline=60.0, **NO_BACKOFF)

    # When it is handled, then it fails at once, saying the deadline is spent, without a connection
    outputs = handle(task.encode())
    error = ChunkResult.decode(outputs[0].body).error
    assert error is not None and "no time left" in error and "59.5 s over 2 tries" in error
    assert not silent_server.connections


def test_a_real_file_over_http_reads_the_same_within_a_deadline(real_dataset: Path) -> None:
    # Given the real data_A served over HTTP (ranges, multipart)
    with serve_folder(real_dataset) as server:
        task = ChunkTask("run-edges", "data_A", f"{server.url.rstrip('/')}/Data/data_A.4lep.root", 0, 39, 10.0)
        threads = threading.active_count()

        # When it is analysed within a deadline
        result = analyse_chunk(task, read_deadline=30.0)

    # Then it gives the notebook's numbers, and the deadline's timer is gone
    assert (result.events_read, result.events_selected) == (39, 27)
    assert threading.active_count() <= threads
    assert count_entries(str(real_dataset / "Data" / "data_A.4lep.root"), "mini", deadline_seconds=1.0) == 39


def test_a_run_against_a_silent_server_fails_its_chunk_within_one_deadline(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    from hzz.local import run_local

    # Given a dataset on a server that never answers and a read deadline of 3 s
    settings = Settings(
        dataset=f"http://{silent_server.address}/atlas/",
        samples=("data_A",),
        output_dir=str(tmp_path),
        workers=1,
        read_deadline_seconds=3.0,
    )

    # When the run is made (the producer counts the file's entries, then a worker reads it)
    started = time.monotonic()
    results = run_local(settings, transport="embedded", progress=False)
    elapsed = time.monotonic() - started

    # Then its one chunk fails naming the URL and the spent deadline: the time the producer
    # waited counts against it, so the run is not kept waiting a second deadline
    [failure] = results["failed_chunks"]
    assert f"http://{silent_server.address}/atlas/Data/data_A.4lep.root" in failure["error"]
    assert "its file gave no complete answer to the producer" in failure["error"]
    assert "read deadline of 3 s (HZZ_READ_DEADLINE_SECONDS)" in failure["error"]
    assert results["state"] == "complete_with_failures"
    assert elapsed < 3.0 + 20.0, elapsed  # one deadline, plus starting and ending the run's processes
    json.dumps(results, allow_nan=False)


def test_the_deadline_setting_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"HZZ_READ_DEADLINE_SECONDS": "12.5"})
    assert settings.read_deadline_seconds == 12.5
    with pytest.raises(ConfigError, match=r"HZZ_READ_DEADLINE_SECONDS.*\[1, 3600\]"):
        Settings.from_env({"HZZ_READ_DEADLINE_SECONDS": "0"})
