"""A slice's gathered rows in bounded memory: the rest spill to files.

Two of the Evaluator's figures need a slice's examples themselves, not a
sketch of them: GAUC (each user's examples together) and the paired DeLong
test (both models' scores of each example, read twice). Held in memory,
their rows grew the Evaluator by about 300 bytes per eval example
(BENCHMARKS.md section 6): 13 bytes a row, times the copies the local
runner makes of every shuffled accumulator, times the slices an example
falls in, plus the float64 arrays the exact computations sort. On Dataflow
or Flink one worker would hold a whole slice.

``SpilledRows`` keeps at most ``SPILL_ROWS`` rows in memory (numpy chunks,
``_RowsAccumulator``: a GAUC row takes 13 bytes, a float32 score, a 0/1
label and the user's 64-bit hash; weights of 1 are not stored). Past that, and before every shuffle, it
writes them to one ``.npz`` file in its directory and keeps only the path,
so what Beam shuffles is a list of paths and fewer than
``SPILL_BEFORE_SHUFFLE`` rows. Grouped rows (GAUC's, with a user hash) are
written in ``PARTITIONS`` parts by the hash, so that ``by_part`` gives all
rows of a share of the users at a time; ``by_file`` gives the rows one
file at a time. Either way the largest array held is a part or a file.

The directory must be one every Beam worker can read and write: the local
temporary directory on one machine (the default), a bucket path
(``gs://...``, through ``tf.io.gfile``) on Dataflow. ``delete`` removes a
slice's files once its figures are computed, so the rows can be read only
once: TFMA's confidence intervals, which extract the same accumulators
many times (the pipeline does not ask for them), fail with an error that
says so.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from evaluation.sketch import AbsorbingCombineFn


# Rows held in memory before they spill: 2^18 rows of 13 bytes take about
# 3.4 MB; a spill holds a few copies of that at most.
SPILL_ROWS = 1 << 18
# Before a shuffle (Beam's ``compact``) rows past this many spill too: the
# local runner holds several copies of every shuffled accumulator, and at
# the end of a bundle every slice's accumulator is shuffled at once (with
# up to SPILL_ROWS rows each, GAUC took about 90 MB more at 1M eval
# examples). Fewer rows than this cost less to carry than a file.
SPILL_BEFORE_SHUFFLE = 4096
# Parts grouped rows are split into by their group's hash: GAUC holds one
# part's rows at a time.
PARTITIONS = 64
_GROUPS = "group"

Columns = List[np.ndarray]  # float64, one per column of a row


# --- Rows in numpy -------------------------------------------------------------


class _Repeated(NamedTuple):
    """A column whose ``count`` values are all ``value`` (e.g. weights of 1)."""

    value: float
    count: int


def _narrowest(column: np.ndarray) -> Any:
    """``column`` (float64) in the fewest bytes that give back every value
    exactly: one value repeated, 0/1 labels as bytes, float32 (a float32
    model's scores), else as it is."""
    if column.size and np.all(column == column[0]):
        return _Repeated(float(column[0]), len(column))
    if np.all((column == 0.0) | (column == 1.0)):
        return column.astype(np.uint8)
    narrow = column.astype(np.float32)
    return narrow if np.array_equal(narrow, column) else column


def _widened(column: Any) -> np.ndarray:
    """The float64 values of a ``_narrowest`` column."""
    if isinstance(column, _Repeated):
        return np.full(column.count, column.value)
    return column.astype(np.float64)


class _Chunk(NamedTuple):
    """Gathered rows in numpy: each column as ``_narrowest`` keeps it, and the
    rows' group hashes (or None)."""

    columns: Tuple[Any, ...]
    groups: Optional[np.ndarray]

    @property
    def num_rows(self) -> int:
        first = self.columns[0]
        return first.count if isinstance(first, _Repeated) else len(first)


# Rows a gather holds as Python tuples before moving them into a numpy chunk:
# a tuple of three floats costs about 150 bytes, its row in a chunk 24 or
# less. Beam compacts an accumulator only before a shuffle, so without this
# the tuples of a whole bundle (up to the whole eval split on the local
# runner) were held at once.
COMPACT_EVERY = 4096


class _RowsAccumulator:
    """Numpy chunks (compact, cheap to merge) plus the rows being filled.

    One tuple appended per example (and one group value when grouped): the
    cheapest way to collect Python values, converted to numpy in one go. A
    chunk keeps each column in its narrowest exact form: a GAUC row (float32
    score, 0/1 label, weight 1, 64-bit group) takes 13 bytes instead of 32,
    which matters because the local runner holds several copies of every
    shuffled accumulator (BENCHMARKS.md section 6).
    """

    __slots__ = ("width", "grouped", "chunks", "rows", "groups")

    def __init__(self, width: int, grouped: bool):
        self.width = width
        self.grouped = grouped
        self.chunks: List[_Chunk] = []
        self._reset_tail()

    def _reset_tail(self) -> None:
        self.rows: List[Tuple[float, ...]] = []
        self.groups: List[Any] = []

    def add(self, row: Tuple[float, ...], group: Optional[int]) -> None:
        self.rows.append(row)
        if self.grouped:
            self.groups.append(group)
        if len(self.rows) >= COMPACT_EVERY:
            self.compact()

    def compact(self) -> "_RowsAccumulator":
        """Moves the Python rows into a numpy chunk (before a shuffle)."""
        if self.rows:
            groups = None
            if self.grouped:
                groups = np.asarray(self.groups, dtype=np.int64)
            matrix = np.asarray(self.rows, dtype=np.float64).reshape(-1, self.width)
            columns = tuple(_narrowest(column) for column in matrix.T)
            self.chunks.append(_Chunk(columns, groups))
            self._reset_tail()
        return self

    def absorb(self, other: "_RowsAccumulator") -> None:
        self.chunks.extend(other.compact().chunks)

    def stacked(self) -> Tuple[List[np.ndarray], Optional[np.ndarray]]:
        """Every gathered row as float64 columns, and the groups."""
        self.compact()
        columns = [
            np.concatenate([_widened(chunk.columns[j]) for chunk in self.chunks])
            if self.chunks
            else np.zeros(0)
            for j in range(self.width)
        ]
        groups = None
        if self.grouped:
            parts = [chunk.groups for chunk in self.chunks]
            groups = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return columns, groups


def spill_root(spill_dir: str) -> str:
    """The directory files go to: ``spill_dir``, or one in the local temp dir."""
    return spill_dir or os.path.join(tempfile.gettempdir(), "esm2-evaluator-spill")


def _part_of(groups: np.ndarray, parts: int) -> np.ndarray:
    """The part of each row, by its group's 64-bit hash."""
    return (groups.view(np.uint64) % np.uint64(parts)).astype(np.int64)


def _write(path: str, columns: Columns, groups: Optional[np.ndarray]) -> None:
    """Writes the rows to ``path`` (.npz) in ``PARTITIONS`` parts by group
    (one part without groups), each column of each part in its narrowest
    exact form (a repeated value as one number)."""
    if groups is None:  # one part, in the rows' order
        parts, order = 1, np.arange(len(columns[0]))
        bounds = np.array([0, len(order)])
    else:
        parts = PARTITIONS
        part_of = _part_of(groups, parts)
        order = np.argsort(part_of, kind="stable")
        bounds = np.searchsorted(part_of[order], np.arange(parts + 1))
    arrays: Dict[str, np.ndarray] = {}
    for part in range(parts):
        rows = order[bounds[part] : bounds[part + 1]]
        if groups is not None:
            arrays[f"{part}.{_GROUPS}"] = groups[rows]
        arrays[f"{part}.rows"] = np.array([len(rows)])
        for j, column in enumerate(columns):
            narrow = _narrowest(column[rows])
            if isinstance(narrow, _Repeated):
                arrays[f"{part}.{j}.repeated"] = np.array([narrow.value])
            else:
                arrays[f"{part}.{j}"] = narrow
    buffer = io.BytesIO()  # a GFile open for writing cannot seek, as zip needs
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _read(npz: Any, part: int, width: int) -> Tuple[Columns, Optional[np.ndarray]]:
    """The float64 columns and the groups (or None) of one part of a file."""
    count = int(npz[f"{part}.rows"][0])
    columns = []
    for j in range(width):
        repeated = f"{part}.{j}.repeated"
        if repeated in npz.files:
            columns.append(_widened(_Repeated(float(npz[repeated][0]), count)))
        else:
            columns.append(_widened(npz[f"{part}.{j}"]))
    group_name = f"{part}.{_GROUPS}"
    groups = npz[group_name] if group_name in npz.files else None
    return columns, groups


def _opened(path: str) -> Any:
    """The spill file at ``path``, open for reading, or an error saying why
    it is gone."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"spilled rows {path} are gone: a slice's rows are read once and "
            "deleted (evaluation/spill.py). TFMA's confidence intervals read "
            "the same accumulator again, which GAUC and the paired test do "
            "not support; or another process cleaned the spill directory."
        )
    return tf.io.gfile.GFile(path, "rb")


class SpilledRows:
    """A slice's rows of ``width`` floats (and a group hash, when
    ``grouped``): fewer than ``SPILL_ROWS`` in memory, the rest in files."""

    __slots__ = ("width", "grouped", "spill_dir", "memory", "held", "files")

    def __init__(self, width: int, grouped: bool, spill_dir: str):
        self.width = width
        self.grouped = grouped
        self.spill_dir = spill_dir
        self.files: List[str] = []
        self._empty_memory()

    def _empty_memory(self) -> None:
        self.memory = _RowsAccumulator(self.width, self.grouped)
        self.held = 0  # rows in ``memory``

    def add(self, row: Tuple[float, ...], group: Optional[int] = None) -> None:
        self.memory.add(row, group)
        self.held += 1
        if self.held >= SPILL_ROWS:
            self.spill()

    def spill(self) -> None:
        """Moves the rows in memory to a new file."""
        if not self.held:
            return
        root = spill_root(self.spill_dir)
        tf.io.gfile.makedirs(root)
        path = os.path.join(root, f"rows-{uuid.uuid4().hex}.npz")
        _write(path, *self.memory.stacked())
        self.files.append(path)
        self._empty_memory()

    def compact(self) -> "SpilledRows":
        """Before a shuffle: what moves is paths and a few rows."""
        if self.held >= SPILL_BEFORE_SHUFFLE:
            self.spill()
        self.memory.compact()
        return self

    def absorb(self, other: "SpilledRows") -> None:
        self.files.extend(other.files)
        self.memory.absorb(other.memory)
        self.held += other.held
        if self.held >= SPILL_ROWS:
            self.spill()

    def by_file(self) -> Iterator[Columns]:
        """The rows' float64 columns, the rows in memory and then each file's."""
        columns, _ = self.memory.stacked()
        yield columns
        for path in self.files:
            with _opened(path) as handle:
                npz = np.load(handle)
                parts = [_read(npz, part, self.width)[0] for part in self._parts()]
            yield [np.concatenate([p[j] for p in parts]) for j in range(self.width)]

    def by_part(self) -> Iterator[Tuple[Columns, np.ndarray]]:
        """Grouped rows, one part (every row of a share of the groups) at a
        time: its float64 columns and its groups."""
        if not self.grouped:
            raise ValueError("by_part needs grouped rows")
        columns, groups = self.memory.stacked()
        in_memory = _part_of(groups, PARTITIONS)
        handles = [_opened(path) for path in self.files]
        try:
            files = [np.load(handle) for handle in handles]
            for part in range(PARTITIONS):
                mine = in_memory == part
                pieces = [([c[mine] for c in columns], groups[mine])]
                pieces += [_read(npz, part, self.width) for npz in files]
                yield (
                    [
                        np.concatenate([p[0][j] for p in pieces])
                        for j in range(self.width)
                    ],
                    np.concatenate([p[1] for p in pieces]),
                )
        finally:
            for handle in handles:
                handle.close()

    def _parts(self) -> range:
        return range(PARTITIONS if self.grouped else 1)

    def delete(self) -> None:
        """Removes the files (once the slice's figures are computed)."""
        for path in self.files:
            tf.io.gfile.remove(path)
        self.files = []


class SpillingCombineFn(AbsorbingCombineFn):
    """A combiner whose accumulator is a slice's ``SpilledRows`` of ``width``
    floats (and a group hash when ``grouped``), spilled to ``spill_dir``."""

    def __init__(self, width: int, grouped: bool, spill_dir: str):
        self._width = width
        self._grouped = grouped
        self._spill_dir = spill_dir

    def create_accumulator(self) -> SpilledRows:
        return SpilledRows(self._width, self._grouped, self._spill_dir)
