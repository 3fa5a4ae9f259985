"""The aggregator's checkpoint: a run's tally in the output folder, so a restart resumes.

One reader for everyone (the aggregator, ``hzz requeue-failed``, ``hzz run --retry-failed``),
with one error policy: a missing checkpoint is ``None``, a damaged one a
:class:`~hzz.shared.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from hzz.shared.errors import CheckpointError
from hzz.shared.merging import RunTally
from hzz.shared.outputs import CHECKPOINT_FILE, write_atomic

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(folder: Path, tally: RunTally) -> None:
    """Write the tally into ``folder`` atomically."""
    write_atomic(Path(folder) / CHECKPOINT_FILE, json.dumps(tally.to_checkpoint()).encode())


def load_checkpoint(folder: str | Path) -> RunTally | None:
    """The tally saved in ``folder``, or None if there is none.

    Raises:
        CheckpointError: the checkpoint is there but cannot be read.
    """
    path = Path(folder) / CHECKPOINT_FILE
    try:
        return RunTally.from_checkpoint(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        msg = f"the run checkpoint {path} is unreadable ({type(e).__name__}: {e})"
        raise CheckpointError(msg, path) from e
