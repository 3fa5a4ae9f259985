"""The run's m4ℓ histograms as a ROOT file (``hzz_m4l.root``), for ROOT, uproot and coffea users.

One ``TH1D`` per sample (``samples/<sample>``), per group (``groups/<key>``, the group's legend
label made a plain name by :func:`group_key`, the label itself as the title) and the data
(``data``: the selected data events per bin). Every ``TH1D`` carries Σw per bin and, as its
``fSumw2``, Σw² per bin, so ``GetBinError`` is √Σw²; underflow and overflow are empty (the
analysis histograms only 80–250 GeV, as the notebook does). Written with uproot.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import hist
import uproot

from hzz.shared.outputs import write_atomic

__all__ = ["DATA_KEY", "group_key", "root_file_bytes", "write_root"]

#: The data histogram's name in the file.
DATA_KEY = "data"
#: The x axis title, in ROOT's TLatex.
X_TITLE = "m_{4l} [GeV]"


def group_key(label: str) -> str:
    """A group's name inside the ROOT file: its legend label without the LaTeX.

    ``Background $Z,t\\bar{t}$`` → ``Background_Z_ttbar``, ``Signal ($m_H$ = 125 GeV)`` →
    ``Signal_m_H_125_GeV``.
    """
    plain = re.sub(r"\\bar\{(\w+)\}", r"\1bar", label)
    plain = re.sub(r"[\\${}^*]", "", plain)
    return re.sub(r"[^A-Za-z0-9]+", "_", plain).strip("_") or "group"


def _titled(h: hist.Hist, title: str) -> hist.Hist:
    # uproot takes a histogram's title from its ``title`` attribute; a copy keeps the caller's clean.
    copy = h.copy()
    copy.title = title
    copy.axes[0].label = X_TITLE
    return copy


class _Buffer(io.BytesIO):
    """An in-memory file that keeps its bytes when uproot closes it."""

    content = b""

    def close(self) -> None:
        self.content = self.getvalue()
        super().close()


def root_file_bytes(
    *, samples: Mapping[str, hist.Hist], groups: Mapping[str, hist.Hist], data: hist.Hist | None
) -> bytes:
    """The ROOT file's content.

    Args:
        samples: merged histogram per sample.
        groups: merged histogram per group, keyed by the group's legend label.
        data: the data histogram (counts, variance = counts), or None without data.

    Returns:
        bytes: a ROOT file with ``samples/…``, ``groups/…`` and ``data``.

    Raises:
        ValueError: two groups have labels that give the same key.
    """
    keys = {label: group_key(label) for label in groups}
    if len(set(keys.values())) != len(keys):
        msg = f"group labels {sorted(keys)} do not give distinct names in the ROOT file ({sorted(keys.values())})"
        raise ValueError(msg)
    buffer = _Buffer()
    with uproot.recreate(buffer) as file:
        for name, h in samples.items():
            file[f"samples/{name}"] = _titled(h, name)
        for label, h in groups.items():
            file[f"groups/{keys[label]}"] = _titled(h, label)
        if data is not None:
            file[DATA_KEY] = _titled(data, "Data")
    return buffer.content


def write_root(path: str | Path, **histograms: object) -> None:
    """Write :func:`root_file_bytes` to ``path`` atomically (same keyword arguments)."""
    write_atomic(Path(path), root_file_bytes(**histograms))  # type: ignore[arg-type]
