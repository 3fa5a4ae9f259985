"""A run's durable state: one SQLite database in the run's folder, written once per batch.

``output_plots/runs/<run_id>/state.sqlite`` holds the manifest, a row per finished chunk and a
row per sample with its sums. The aggregator merges a batch of results in memory, then records
the batch in one transaction (the new chunk rows and the touched samples' sums) before it
acknowledges the batch; so what was acknowledged is on disk, and the cost of a durable write
grows with the batch, not with the run. "Each chunk once" is the database's own constraint: a
chunk's row is inserted once (a success may replace a failure, nothing else may change it).

The journal is SQLite's classic rollback journal (``DELETE``), not WAL: WAL needs shared memory
that file sharing into containers (Docker Desktop on macOS and Windows) does not provide, and
only one aggregator writes a run, so WAL's concurrency would buy nothing. ``synchronous=FULL``
makes each commit durable before the batch is acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hzz.shared.errors import CheckpointError
from hzz.shared.merging import RunTally
from hzz.shared.messages import RunManifest
from hzz.shared.outputs import CHECKPOINT_FILE, RUNS_FOLDER, STATE_FILE, run_folder

__all__ = ["RunStore", "find_runs", "load_run_state", "newest_run"]

#: Version of the database layout; a database of another version is refused by name.
STATE_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    sample TEXT NOT NULL,
    failed INTEGER NOT NULL,
    error TEXT,
    attempt INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    sample TEXT PRIMARY KEY,
    events_read INTEGER NOT NULL,
    events_selected INTEGER NOT NULL,
    sumw_total REAL NOT NULL,
    sumw2_total REAL,
    sumw BLOB NOT NULL,
    sumw2 BLOB NOT NULL
);
"""


class RunStore:
    """The database of one run (created with the run's folder on first use).

    Args:
        output_dir: the output folder (the run's folder is ``runs/<run_id>/`` inside it).
        run_id: the run.

    Raises:
        CheckpointError: the database exists but cannot be opened or is of another version.
    """

    def __init__(self, output_dir: str | Path, run_id: str) -> None:
        self.folder = run_folder(output_dir, run_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / STATE_FILE
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            msg = f"the run state {self.path} cannot be opened ({e})"
            raise CheckpointError(msg, self.path) from e

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def start(self, tally: RunTally) -> None:
        """Record a new run's manifest and start time (nothing merged yet)."""
        manifest = tally.manifest
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [
                    ("version", str(STATE_VERSION)),
                    ("manifest", manifest.encode().decode()),
                    ("started", repr(tally.started)),
                    ("finished", ""),
                ],
            )

    def save(self, tally: RunTally, chunk_ids: list[str], samples: set[str]) -> None:
        """Record what a batch changed: these chunks' rows and these samples' sums, in one transaction.

        Raises:
            sqlite3.Error, OSError: the write failed; nothing of the batch was recorded.
        """
        rows = []
        for chunk_id in chunk_ids:
            sample = tally.chunks[chunk_id].sample
            if chunk_id in tally.done:
                rows.append((chunk_id, sample, 0, None, 0))
            elif chunk_id in tally.failed:
                failure = tally.failed[chunk_id]
                rows.append((chunk_id, sample, 1, failure["error"], failure["attempt"]))
            # else: a failure reopened by a requeue later in the same batch: pending, no row
        with self._transaction() as db:
            # A chunk is inserted once; only a success may replace a failure (or a reopened one go).
            db.executemany(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?) ON CONFLICT(chunk_id) DO UPDATE SET "
                "failed = excluded.failed, error = excluded.error, attempt = excluded.attempt "
                "WHERE chunks.failed = 1",
                rows,
            )
            db.executemany(
                "INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        name,
                        s.events_read,
                        s.events_selected,
                        s.sumw_total,
                        s.sumw2_total,
                        s.sumw.astype("<f8").tobytes(),
                        s.sumw2.astype("<f8").tobytes(),
                    )
                    for name, s in ((name, tally.samples[name]) for name in samples)
                ],
            )
            finished = "" if tally.finished is None else repr(tally.finished)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('finished', ?)", (finished,))
            # Who did the work (results.json's "workers"), small: one row for the whole run.
            db.execute("INSERT OR REPLACE INTO meta VALUES ('workers', ?)", (json.dumps(tally.workers),))

    def reopen(self, chunk_ids: list[str]) -> None:
        """Forget the failures of chunks that were requeued: they are pending again."""
        with self._transaction() as db:
            db.executemany("DELETE FROM chunks WHERE chunk_id = ? AND failed = 1", [(c,) for c in chunk_ids])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('finished', '')")

    def load(self) -> RunTally:
        """The run as recorded.

        Raises:
            CheckpointError: no run recorded here, or a database of another version or shape.
        """
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
            if "manifest" not in meta:
                msg = f"the run state {self.path} records no run"
                raise CheckpointError(msg, self.path)
            if meta.get("version") != str(STATE_VERSION):
                msg = (
                    f"the run state {self.path} is of version {meta.get('version')}; this program reads {STATE_VERSION}"
                )
                raise CheckpointError(msg, self.path)
            tally = RunTally(RunManifest.decode(meta["manifest"].encode()), started=float(meta["started"]))
            tally.finished = float(meta["finished"]) if meta.get("finished") else None
            # No progress is known since the last write; counting the stall from the run's start
            # would call a run resumed long after it began stalled at once.
            tally.last_progress = time.time()
            tally.workers = json.loads(meta.get("workers") or "{}")  # absent before the batch that added it
            for chunk_id, sample, failed, error, attempt in self._db.execute("SELECT * FROM chunks"):
                if failed:
                    tally.failed[chunk_id] = {
                        "chunk_id": chunk_id,
                        "sample": sample,
                        "error": error,
                        "attempt": attempt,
                    }
                    tally.samples[sample].chunks_failed += 1
                else:
                    tally.done.add(chunk_id)
                    tally.samples[sample].chunks_done += 1
            for name, read, selected, total, total2, sumw, sumw2 in self._db.execute("SELECT * FROM samples"):
                s = tally.samples[name]
                s.events_read, s.events_selected, s.sumw_total, s.sumw2_total = read, selected, total, total2
                s.sumw, s.sumw2 = np.frombuffer(sumw, "<f8").copy(), np.frombuffer(sumw2, "<f8").copy()
        except CheckpointError:
            raise
        except (sqlite3.Error, ValueError, KeyError, TypeError) as e:
            msg = f"the run state {self.path} is unreadable ({type(e).__name__}: {e})"
            raise CheckpointError(msg, self.path) from e
        return tally


def find_runs(output_dir: str | Path) -> list[str]:
    """The ids of the runs recorded in the output folder, oldest first (by their folders' times)."""
    runs = Path(output_dir) / RUNS_FOLDER
    if not runs.is_dir():
        return []
    found = [p for p in runs.iterdir() if (p / STATE_FILE).is_file()]
    return [p.name for p in sorted(found, key=lambda p: ((p / STATE_FILE).stat().st_ctime, p.name))]


def newest_run(output_dir: str | Path) -> str | None:
    """The run last started in the output folder, or None."""
    runs = find_runs(output_dir)
    return runs[-1] if runs else None


def load_run_state(output_dir: str | Path, run_id: str | None = None) -> RunTally | None:
    """A run recorded in the output folder (default: the newest), or None if there is none.

    Raises:
        CheckpointError: its state cannot be read, or the folder holds only a checkpoint of the
            previous format (a single ``.checkpoint.json``), which this version does not resume.
    """
    run_id = run_id or newest_run(output_dir)
    if run_id is None:
        old = Path(output_dir) / CHECKPOINT_FILE
        if old.exists():
            msg = (
                f"{old} is a checkpoint of the previous format, which this version does not resume; "
                "finish that run with the version that wrote it, or move the file away to start afresh"
            )
            raise CheckpointError(msg, old)
        return None
    store = RunStore(output_dir, run_id)
    try:
        return store.load()
    finally:
        store.close()
