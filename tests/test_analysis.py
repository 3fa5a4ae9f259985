"""Tests of shared/analysis.py: one chunk from ROOT file to result, on real files, and its failures.

The real data_A and data_B files of the 2020 release give known numbers (39 → 27 and
156 → 86 events, and the published bin counts); MC chunks of generated files are compared with
the plain notebook re-implementation (shared/notebook.py). Broken inputs are made for real: a
text file, ROOT files written with uproot, a truncated copy, a closed port and a local HTTP
server.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import http.server
import itertools
import re
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import hzz.shared.columns
from hzz.devtools.notebook import run_notebook
from hzz.shared.analysis import analyse_chunk, count_entries, failed_result, read_chunk
from hzz.shared.columns import ChunkColumns
from hzz.shared.data_vars import Settings
from hzz.shared.errors import ChunkError, PermanentChunkError, TransientChunkError
from hzz.shared.histograms import M4L_BINNING
from hzz.shared.messages import ChunkResult, ChunkTask
from hzz.shared.releases import RELEASES
from hzz.shared.releases.r2020 import DATA_BRANCHES, TREE_NAME

#: The published 5 GeV-bin counts from 80 GeV of data_A and data_B together.
PUBLISHED_A_PLUS_B = [
    2,
    4,
    9,
    0,
    1,
    3,
    3,
    0,
    6,
    1,
    2,
    1,
    2,
    2,
    0,
    0,
    2,
    2,
    3,
    0,
    1,
    3,
    2,
    4,
    3,
    3,
    2,
    3,
    1,
    1,
    0,
    1,
    3,
    5,
]

MC_SAMPLES = ("Zee", "Zmumu", "ttbar_lep", "llll", "ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep")


def a_task(
    location: str | Path, sample: str = "data_A", start: int = 0, stop: int | None = None, **kw: object
) -> ChunkTask:
    return ChunkTask("run-1", sample, str(location), start, stop, 10.0, **kw)  # type: ignore[arg-type]


def real_file(real_dataset: Path, sample: str) -> Path:
    return real_dataset / "Data" / f"{sample}.4lep.root"


def histogram_of(result: ChunkResult) -> np.ndarray:
    return np.asarray(result.sumw)


def write_tree(path: Path, branches: dict[str, ak.Array | np.ndarray], tree: str = "mini") -> Path:
    """A ROOT file holding one TTree (not an RNTuple, uproot's default for awkward arrays)."""
    with uproot.recreate(path) as file:
        types = {name: v.type.content if isinstance(v, ak.Array) else v.dtype for name, v in branches.items()}
        file.mktree(tree, types).extend(branches)
    return path


def real_branches(real_dataset: Path, names: tuple[str, ...] = DATA_BRANCHES) -> dict[str, ak.Array]:
    """data_A's branches, to be rewritten in damaged forms."""
    with uproot.open(real_file(real_dataset, "data_A")) as file:
        arrays = file["mini"].arrays(list(names), library="ak")
    return {name: arrays[name] for name in names}


@pytest.fixture
def collect_uproot_sockets() -> Iterator[None]:
    """Collect, quietly, the socket uproot's HTTP source leaves open after a failed request.

    uproot closes the connection but not the response of an HTTP error, so a ResourceWarning
    would surface at some later garbage collection, in whichever test is running then.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class UnavailableHandler(QuietHandler):
    def do_HEAD(self) -> None:
        self.send_response(503)
        self.end_headers()

    do_GET = do_HEAD


def serve(handler: type[http.server.BaseHTTPRequestHandler], folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port from a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_folder(tmp_path: Path, collect_uproot_sockets: None) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over an empty folder: (base URL, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    for url in serve(QuietHandler, folder):
        yield url, folder


@pytest.fixture
def unavailable_server(tmp_path: Path, collect_uproot_sockets: None) -> Iterator[str]:
    """A local HTTP server answering 503 to everything."""
    yield from serve(UnavailableHandler, tmp_path)


def closed_port() -> int:
    """A loopback port nobody listens on (just released by the OS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the real data ------------------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "read", "selected"), [("data_A", 39, 27), ("data_B", 156, 86)])
def test_a_real_data_file_gives_the_notebooks_event_counts(
    real_dataset: Path, sample: str, read: int, selected: int
) -> None:
    # Given a real data file of the release
    task = a_task(real_file(real_dataset, sample), sample)

    # When the whole file is analysed as one chunk
    result = analyse_chunk(task, worker="test")

    # Then it reads and selects the notebook's numbers of events, each counting 1
    assert (result.events_read, result.events_selected) == (read, selected)
    assert result.sumw_total == result.sumw2_total == float(selected)
    assert result.sumw2 == result.sumw
    assert result.error is None


def test_data_a_and_b_together_give_the_published_bin_counts(real_dataset: Path) -> None:
    # Given the real data_A and data_B
    # When both are analysed
    results = [analyse_chunk(a_task(real_file(real_dataset, s), s)) for s in ("data_A", "data_B")]

    # Then their summed bins are the published 5 GeV counts (75 events inside 80–250 GeV)
    counts = histogram_of(results[0]) + histogram_of(results[1])
    assert counts.tolist() == PUBLISHED_A_PLUS_B
    assert counts.sum() == 75


def test_the_result_describes_its_chunk(real_dataset: Path) -> None:
    # Given a chunk on its third attempt
    task = a_task(real_file(real_dataset, "data_B"), "data_B", 10, 60, attempt=2)

    # When it is analysed
    result = analyse_chunk(task, worker="node-1:42")

    # Then the result names the run, chunk, sample, binning, attempt and worker
    assert (result.run_id, result.chunk_id, result.sample) == ("run-1", task.chunk_id, "data_B")
    assert result.binning == M4L_BINNING.to_json()
    assert (result.attempt, result.worker) == (2, "node-1:42")
    assert result.events_read == 50
    assert len(result.sumw) == len(result.sumw2) == 34
    assert result.seconds > 0
    assert ChunkResult.decode(result.encode()) == result


@pytest.mark.parametrize(
    "bounds",
    [
        [0, 156],
        [0, 78, 156],
        [0, 1, 2, 3, 155, 156],
        [0, 50, 100, 150, 156],
        [*range(0, 156, 13), 156],
        [0, 13, 14, 90, 91, 92, 156],
    ],
    ids=["whole", "halves", "edges", "fifties", "thirteens", "uneven"],
)
def test_any_split_of_data_b_into_chunks_sums_to_the_whole_file(real_dataset: Path, bounds: list[int]) -> None:
    # Given data_B split at these entry boundaries
    location = real_file(real_dataset, "data_B")
    tasks = [a_task(location, "data_B", a, b) for a, b in itertools.pairwise(bounds)]

    # When each chunk is analysed
    results = [analyse_chunk(t) for t in tasks]

    # Then the chunks add up to the whole file's 156 → 86 events and its histogram
    whole = analyse_chunk(a_task(location, "data_B"))
    assert sum(r.events_read for r in results) == 156
    assert sum(r.events_selected for r in results) == 86
    assert np.sum([histogram_of(r) for r in results], axis=0).tolist() == whole.sumw


def test_a_fraction_reads_the_first_entries_of_a_whole_file_task(real_dataset: Path) -> None:
    # Given a whole-file task over half of data_B
    task = a_task(real_file(real_dataset, "data_B"), "data_B", fraction=0.5)

    # When it is analysed
    result = analyse_chunk(task)

    # Then it reads int(156 × 0.5) = 78 entries, as the chunk [0, 78) does
    assert result.events_read == 78
    assert result.sumw == analyse_chunk(a_task(real_file(real_dataset, "data_B"), "data_B", 0, 78)).sumw


def test_a_range_past_the_end_stops_at_the_last_entry(real_dataset: Path) -> None:
    # Given a chunk [100, 100000) of the 156-entry data_B
    task = a_task(real_file(real_dataset, "data_B"), "data_B", 100, 100_000)

    # When it is analysed
    result = analyse_chunk(task)

    # Then it reads the 56 entries there are
    assert result.events_read == 56


def test_the_entries_of_the_real_files_are_counted(real_dataset: Path) -> None:
    # Given the real files
    # Then their trees hold 39 and 156 entries
    assert count_entries(str(real_file(real_dataset, "data_A")), TREE_NAME) == 39
    assert count_entries(str(real_file(real_dataset, "data_B")), TREE_NAME) == 156


def test_only_the_needed_branches_are_read(real_dataset: Path) -> None:
    # Given a data chunk
    task = a_task(real_file(real_dataset, "data_A"), "data_A", 0, 5)

    # When it is read
    events = read_chunk(task, DATA_BRANCHES, TREE_NAME)

    # Then exactly those branches and entries come back
    assert set(events.fields) == set(DATA_BRANCHES)
    assert len(events) == 5


# --- MC against the notebook --------------------------------------------------------------------


@pytest.mark.parametrize("sample", MC_SAMPLES)
def test_an_mc_sample_in_chunks_equals_the_notebook(small_dataset: Path, sample: str) -> None:
    # Given a generated MC file of the release's schema
    settings = Settings(dataset=str(small_dataset), samples=(sample,))
    location = settings.file_location(sample)
    entries = count_entries(location, TREE_NAME)

    # When it is analysed in chunks of 700 entries, and by the notebook's loop
    results = [analyse_chunk(a_task(location, sample, a, min(a + 700, entries))) for a in range(0, entries, 700)]
    notebook = run_notebook(settings, [sample])[sample]

    # Then the counts are equal and the weights agree to 1e-9
    assert sum(r.events_read for r in results) == notebook.events_read == entries
    assert sum(r.events_selected for r in results) == notebook.events_selected
    assert sum(r.sumw_total for r in results) == pytest.approx(notebook.sumw_total, rel=1e-9)
    assert sum(r.sumw2_total for r in results) == pytest.approx(notebook.sumw2_total, rel=1e-9)
    np.testing.assert_allclose(np.sum([r.sumw for r in results], axis=0), notebook.sumw, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(np.sum([r.sumw2 for r in results], axis=0), notebook.sumw2, rtol=1e-9, atol=1e-300)
    assert notebook.events_selected > 0


@pytest.mark.parametrize("chunk", [97, 700, 5000])
@pytest.mark.parametrize("sample", ["ggH125_ZZ4lep", "Zee", "data_A"])
def test_reading_on_the_reader_thread_gives_the_results_of_reading_first_bit_for_bit(
    small_dataset: Path, sample: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sample in chunks of several sizes
    settings = Settings(dataset=str(small_dataset), samples=(sample,))
    location = settings.file_location(sample)
    entries = count_entries(location, TREE_NAME)
    tasks = [a_task(location, sample, a, min(a + chunk, entries)) for a in range(0, entries, chunk)]

    # When each chunk is analysed with the cuts' branches read first and the rest on the reader
    # thread (the 2020 release), and again with every branch read before the physics starts
    overlapped = [analyse_chunk(t) for t in tasks]
    serial_release = dataclasses.replace(RELEASES["2020"], first_branches=())
    monkeypatch.setitem(RELEASES, "2020", serial_release)
    serial = [analyse_chunk(t) for t in tasks]

    # Then every chunk's counts, Σw and Σw² are the same to the last bit
    assert RELEASES["2020"].first_branches == ()
    for a, b in zip(overlapped, serial, strict=True):
        assert (a.events_read, a.events_selected, a.sumw_total) == (b.events_read, b.events_selected, b.sumw_total)
        assert a.sumw == b.sumw and a.sumw2 == b.sumw2
    assert sum(r.events_read for r in overlapped) == entries


@pytest.mark.parametrize("sample", ["ggH125_ZZ4lep", "data_A"])
def test_without_read_ahead_every_branch_is_read_on_the_workers_thread_with_the_same_results(
    small_dataset: Path, sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sample in chunks, and a reader thread that must not be used
    settings = Settings(dataset=str(small_dataset), samples=(sample,))
    location = settings.file_location(sample)
    entries = count_entries(location, TREE_NAME)
    tasks = [a_task(location, sample, a, min(a + 700, entries)) for a in range(0, entries, 700)]
    ahead = [analyse_chunk(t, read_ahead=True) for t in tasks]

    def no_reader() -> None:
        raise AssertionError("the reader thread was used")

    monkeypatch.setattr(hzz.shared.columns, "reader_pool", no_reader)

    # When each chunk is analysed without reading ahead
    here = [analyse_chunk(t, read_ahead=False) for t in tasks]

    # Then nothing went to the reader thread, and every chunk's sums are the same to the last bit
    for a, b in zip(ahead, here, strict=True):
        assert (a.events_read, a.events_selected, a.sumw, a.sumw2) == (
            b.events_read,
            b.events_selected,
            b.sumw,
            b.sumw2,
        )


def test_a_column_that_fails_on_the_reader_thread_raises_the_chunks_error(real_dataset: Path) -> None:
    # Given the columns of a chunk whose second column cannot be read (no such branch)
    def on_error(error: BaseException) -> ChunkError:
        return PermanentChunkError(f"chunk X: reading failed: {error}")

    with uproot.open(real_file(real_dataset, "data_B")) as file:
        tree = file["mini"]
        with ChunkColumns(tree, ["lep_charge"], ["lep_pt", "no_such_branch"], entry_start=0, entry_stop=10,
                          on_error=on_error) as columns:  # fmt: skip
            # When the columns are used
            first, read_meanwhile = columns["lep_charge"], columns["lep_pt"]

            # Then the good ones are the chunk's, and the bad one raises the chunk's error naming it
            assert len(first) == len(read_meanwhile) == 10
            with pytest.raises(PermanentChunkError, match=r"chunk X: reading failed: .*no_such_branch"):
                columns["no_such_branch"]


def test_an_mc_chunk_carries_weights_not_counts(small_dataset: Path) -> None:
    # Given a generated ggH file
    settings = Settings(dataset=str(small_dataset))
    task = a_task(settings.file_location("ggH125_ZZ4lep"), "ggH125_ZZ4lep", 0, 1000)

    # When a chunk is analysed
    result = analyse_chunk(task)

    # Then Σw is far below the event count (ggH weights are ~1e-5) and Σw² is not Σw
    assert 0 < result.sumw_total < result.events_selected * 1e-2
    assert result.sumw2 != result.sumw


def test_a_data_sample_of_generated_files_equals_the_notebook(small_dataset: Path) -> None:
    # Given a generated data_D file
    settings = Settings(dataset=str(small_dataset), samples=("data_D",))

    # When it is analysed whole and by the notebook
    result = analyse_chunk(a_task(settings.file_location("data_D"), "data_D"))
    notebook = run_notebook(settings)["data_D"]

    # Then everything is equal
    assert (result.events_read, result.events_selected) == (notebook.events_read, notebook.events_selected)
    assert result.sumw == notebook.sumw.tolist()


# --- broken inputs ------------------------------------------------------------------------------


def test_a_missing_file_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    # Given a path where no file is
    missing = tmp_path / "Data" / "data_A.4lep.root"

    # When it is analysed, then the error is permanent and names the file
    with pytest.raises(PermanentChunkError, match=re.escape(str(missing))):
        analyse_chunk(a_task(missing))
    with pytest.raises(PermanentChunkError, match=re.escape(str(missing))):
        count_entries(str(missing), TREE_NAME)


def test_a_text_file_named_root_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    # Given a text file with a .root name
    path = tmp_path / "data_A.4lep.root"
    path.write_text("this is not a ROOT file\n" * 50)

    # When it is analysed, then the error is permanent and names the file
    with pytest.raises(PermanentChunkError, match=re.escape(str(path))):
        analyse_chunk(a_task(path))


def test_a_root_file_without_the_mini_tree_is_a_permanent_error_naming_file_and_tree(
    tmp_path: Path, real_dataset: Path
) -> None:
    # Given a ROOT file whose tree is called "events"
    path = write_tree(tmp_path / "data_A.4lep.root", real_branches(real_dataset), tree="events")

    # When it is analysed, then the error is permanent and names the file and the tree
    with pytest.raises(PermanentChunkError, match="'mini'") as caught:
        analyse_chunk(a_task(path))
    assert str(path) in str(caught.value)


def test_a_mini_that_is_not_a_tree_is_a_permanent_error(tmp_path: Path) -> None:
    # Given a ROOT file where "mini" is a histogram
    path = tmp_path / "data_A.4lep.root"
    with uproot.recreate(path) as file:
        file["mini"] = np.histogram(np.arange(10.0), bins=5)

    # When it is analysed, then the error is permanent and names the file
    with pytest.raises(PermanentChunkError, match="not a TTree") as caught:
        analyse_chunk(a_task(path))
    assert str(path) in str(caught.value)


def test_a_tree_missing_a_branch_is_a_permanent_error_naming_the_branch(tmp_path: Path, real_dataset: Path) -> None:
    # Given a mini tree without lep_type
    branches = real_branches(real_dataset)
    del branches["lep_type"]
    path = write_tree(tmp_path / "data_A.4lep.root", branches)

    # When it is analysed, then the error is permanent and names the file and the branch
    with pytest.raises(PermanentChunkError, match="lep_type") as caught:
        analyse_chunk(a_task(path))
    assert str(path) in str(caught.value)


def test_an_mc_chunk_of_a_file_without_weights_is_a_permanent_error(tmp_path: Path, real_dataset: Path) -> None:
    # Given a file with the lepton branches only, read as an MC sample
    path = write_tree(tmp_path / "mc_363490.llll.4lep.root", real_branches(real_dataset))

    # When it is analysed as llll, then the missing weight branches are named
    with pytest.raises(PermanentChunkError, match="mcWeight") as caught:
        analyse_chunk(a_task(path, "llll"))
    assert str(path) in str(caught.value)


def test_an_event_with_fewer_than_four_leptons_is_a_permanent_error(tmp_path: Path, real_dataset: Path) -> None:
    # Given data_A rewritten with only three leptons per event
    branches = {name: values[:, :3] for name, values in real_branches(real_dataset).items()}
    path = write_tree(tmp_path / "data_A.4lep.root", branches)

    # When it is analysed, then the file is refused as not a 4lep skim
    with pytest.raises(PermanentChunkError, match="fewer than four leptons") as caught:
        analyse_chunk(a_task(path))
    assert str(path) in str(caught.value)


def test_a_truncated_copy_of_a_real_file_is_a_permanent_error_naming_it(tmp_path: Path, real_dataset: Path) -> None:
    # Given the first half of the bytes of data_B
    content = real_file(real_dataset, "data_B").read_bytes()
    path = tmp_path / "data_B.4lep.root"
    path.write_bytes(content[: len(content) // 2])

    # When it is analysed, then the error is permanent and names the file
    with pytest.raises(PermanentChunkError, match=re.escape(str(path))):
        analyse_chunk(a_task(path, "data_B"))


def test_an_unreachable_server_is_a_transient_error_naming_the_url() -> None:
    # Given a URL on a loopback port where nothing listens
    url = f"http://127.0.0.1:{closed_port()}/x.root"

    # When it is analysed, then the error is transient (worth a retry) and names the URL
    with pytest.raises(TransientChunkError, match=re.escape(url)):
        analyse_chunk(a_task(url))


def test_an_http_404_is_a_permanent_error_naming_the_url(http_folder: tuple[str, Path]) -> None:
    # Given a local HTTP server that has no such file
    base, _ = http_folder
    url = f"{base}/Data/data_A.4lep.root"

    # When it is analysed, then the error is permanent and names the URL
    with pytest.raises(PermanentChunkError, match=re.escape(url)) as caught:
        analyse_chunk(a_task(url))
    assert "404" in str(caught.value)


def test_an_http_503_is_a_transient_error_naming_the_url(unavailable_server: str) -> None:
    # Given a local HTTP server that answers 503 Service Unavailable
    url = f"{unavailable_server}/Data/data_A.4lep.root"

    # When it is analysed, then the error is transient and names the URL
    with pytest.raises(TransientChunkError, match=re.escape(url)) as caught:
        analyse_chunk(a_task(url))
    assert "503" in str(caught.value)


def test_chunk_errors_share_one_base_class() -> None:
    # Given / When the two kinds of chunk error
    # Then both are ChunkErrors, and distinct
    assert issubclass(PermanentChunkError, ChunkError)
    assert issubclass(TransientChunkError, ChunkError)
    assert not issubclass(PermanentChunkError, TransientChunkError)


# --- failed results -----------------------------------------------------------------------------


def test_a_failed_result_keeps_a_chunk_errors_message(tmp_path: Path) -> None:
    # Given the error of a missing file
    task = a_task(tmp_path / "gone.root", attempt=1)
    with pytest.raises(ChunkError) as caught:
        analyse_chunk(task)

    # When it becomes a result
    result = failed_result(task, caught.value, worker="w")

    # Then the result is failed, for this chunk, with the error's text
    assert result.failed
    assert (result.chunk_id, result.sample, result.attempt, result.worker) == (task.chunk_id, "data_A", 1, "w")
    assert result.error == str(caught.value)
    assert result.events_read == 0


def test_a_failed_result_of_an_unexpected_error_names_the_chunk_and_the_error_type(tmp_path: Path) -> None:
    # Given an error that is not a ChunkError
    task = a_task(tmp_path / "x.root")

    # When it becomes a result
    result = failed_result(task, MemoryError("out of memory"))

    # Then its text names the chunk, the error's type and message
    assert result.error is not None
    assert task.chunk_id in result.error
    assert "MemoryError: out of memory" in result.error
    assert result.worker  # a default worker name is filled in
