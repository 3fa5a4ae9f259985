"""A chunk's columns checked against what its release declares they hold.

Each release declares, per branch it reads, a :class:`~hzz.shared.releases.base.BranchType`:
the kind of value (float, integer, signed integer, bool, flag), one value or a list per event,
and whether every value must be finite (the weights). A column that breaks its declaration
makes the chunk fail with one line naming the file, the entry range, the branch, what was
found and what is expected, instead of passing through the selection as nonsense (charges
stored as bools select nothing; a NaN weight turns every sum it enters into NaN).

The checks cost next to nothing: the layout and dtype once per column, and for the branches
declared finite one :func:`numpy.isfinite` pass over the column.
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numpy as np

from hzz.shared.errors import PermanentChunkError
from hzz.shared.releases.base import NUMPY_KINDS, BranchType, Release

__all__ = ["check_column", "column_checker"]


def column_checker(release: Release, *, where: str, entry_start: int) -> Callable[[str, ak.Array], None]:
    """The check of one chunk's columns, as ``check(branch, array)``.

    Args:
        release: declares the branches' types (a branch it does not declare passes unchecked).
        where: the chunk, its entry range and file, as its error messages begin.
        entry_start: the chunk's first entry (a non-finite value is reported by its entry in the file).
    """

    def check(name: str, array: ak.Array) -> None:
        declared = release.branch_types.get(name)
        if declared is not None:
            check_column(name, array, declared, where=where, entry_start=entry_start, release=release.name)

    return check


def check_column(
    name: str, array: ak.Array, declared: BranchType, *, where: str, entry_start: int, release: str
) -> None:
    """Refuse a column that is not what its release declares.

    Raises:
        PermanentChunkError: the column's type or layout differs, or a value that must be finite is not.
    """
    jagged, dtype = _shape(array)
    if dtype is None or jagged != declared.jagged or dtype.kind not in NUMPY_KINDS[declared.kind]:
        found = _found(array)
        msg = f"{where}: branch {name!r} holds {found}; expected {declared.describe()} (the {release} release's type)"
        raise PermanentChunkError(msg)
    if declared.finite and dtype.kind == "f":
        values = ak.to_numpy(ak.flatten(array, axis=None))
        finite = np.isfinite(values)
        if not finite.all():
            per_event = finite if not jagged else ak.to_numpy(ak.all(np.isfinite(array), axis=1))
            first = int(np.argmin(per_event))
            bad = values[np.argmin(finite)]
            msg = (
                f"{where}: branch {name!r} is {bad} at entry {entry_start + first} "
                f"({int((~per_event).sum())} of {len(per_event)} entries not finite); expected finite "
                f"values (the {release} release's weights)"
            )
            raise PermanentChunkError(msg)


def _shape(array: ak.Array) -> tuple[bool, np.dtype | None]:
    """(a list per event, the values' dtype), or dtype None for anything but plain numbers."""
    layout = ak.to_layout(array)
    jagged = isinstance(layout, ak.contents.ListOffsetArray | ak.contents.ListArray)
    if jagged and layout.parameter("__array__") is None:
        layout = layout.content
    plain = (
        isinstance(layout, ak.contents.NumpyArray)
        and layout.parameter("__array__") is None
        and len(layout.inner_shape) == 0
    )
    return jagged, layout.dtype if plain else None


def _found(array: ak.Array) -> str:
    """The column's type without its length, in awkward's notation (``var * bool``, ``float32``)."""
    kind = array.type.content if isinstance(array.type, ak.types.ArrayType) else array.type
    return str(kind)
