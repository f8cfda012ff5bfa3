"""GAUC (eq. 13) in bounded memory: each slice's rows spill to files by user.

A user's AUC needs all of that user's examples, and which users count
(those with both classes) is known only at the end, so GAUC cannot shrink
its rows into a sketch as the AUC does. Gathered in memory, a slice's rows
grew the Evaluator by about 300 bytes per eval example (BENCHMARKS.md
section 6): 13 bytes a row, times the copies the runner makes of every
shuffled accumulator, times the slices an example falls in, plus the
float64 arrays the exact computation sorts. On Dataflow or Flink one
worker would hold a whole slice.

So ``_UserRows`` keeps at most ``SPILL_ROWS`` rows in memory. Past that, and
before every shuffle, it writes them to one file in ``spill_dir``, split
into ``PARTITIONS`` parts by the user's hash, and keeps only the file's
path: what Beam shuffles is a list of paths and fewer than
``SPILL_BEFORE_SHUFFLE`` rows. At the end each part (all
of a share of the users) is read from every file in turn and its users'
exact AUCs are summed, so the largest array held is about 1/``PARTITIONS`` of
the slice. The figure is the exact GAUC of ``ranking.group_auc`` (the sums
run in another order: equal to about 1e-15).

``spill_dir`` must be a directory every Beam worker can read and write: the
local temporary directory on one machine (the default), a bucket path
(``gs://...``, through ``tf.io.gfile``) on Dataflow. The files of a slice are
deleted once its GAUC is computed.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import uuid
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import tensorflow as tf
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import util as tfma_util

from evaluation import ranking
from evaluation.metrics_base import (
    _KeyArgs,
    _per_key,
    _Repeated,
    _RowsAccumulator,
    _ScoredRows,
    _narrowest,
    _widened,
)
from evaluation.metrics_names import GROUP_AUC_NAME, group_auc_count_name
from evaluation.sketch import AbsorbingCombineFn
from transform import features

# Rows held in memory before they spill: 2^18 rows take about 3.4 MB (13
# bytes each); the spill holds a few copies of that at most.
SPILL_ROWS = 1 << 18
# Before a shuffle (Beam's ``compact``), rows past this many spill too: the
# local runner holds several copies of every shuffled accumulator, and at
# the end of a bundle each slice's accumulator is shuffled at once (with
# up to SPILL_ROWS rows each, that was about 90 MB at 1M eval examples).
# Fewer rows than this cost less to carry than a file.
SPILL_BEFORE_SHUFFLE = 4096
# Parts the users are split into, by hash: the final computation holds one
# part's rows at a time.
PARTITIONS = 64
_COLUMNS = ("score", "label", "weight")  # a gathered row, as ``_ScoredRows``
_GROUPS = "group"


# --- The user of an example -------------------------------------------------
def _group_value(element: metric_types.StandardMetricInputs, group_key: str) -> Any:
    """The example's value of the grouping feature, as a hashable scalar."""
    value = tfma_util.get_by_keys(element.features or {}, [group_key], optional=True)
    flat = None if value is None else np.asarray(value).reshape(-1)
    if flat is None or flat.size == 0:
        raise ValueError(
            f"GroupAUC needs the feature {group_key!r} on every example; it is "
            "missing from one. Check the feature name and that the eval "
            "examples carry it."
        )
    item = flat[0]
    return item.item() if isinstance(item, np.generic) else item


def group_hash(value: Any) -> int:
    """A signed 64-bit hash of a group value (a user ID), the same in every
    process and worker (Python's ``hash`` of str and bytes is salted per
    process). A gather holds 8 bytes per example instead of a Python object
    of about 50; an ID and its text encoding hash alike. Two of a million
    users share a hash with probability about 3e-8 (n^2 / 2^65).
    """
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = str(value).encode("utf-8")
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


# --- The rows, spilled by part ----------------------------------------------
def _spill_root(spill_dir: str) -> str:
    return spill_dir or os.path.join(tempfile.gettempdir(), "esm2-gauc-spill")


def _part_of(groups: np.ndarray) -> np.ndarray:
    """The part each user (its 64-bit hash) belongs to."""
    return (groups.view(np.uint64) % np.uint64(PARTITIONS)).astype(np.int64)


def _write_parts(path: str, columns: List[np.ndarray], groups: np.ndarray) -> None:
    """Writes the rows to ``path`` (.npz), each column of each part in its
    narrowest exact form (a repeated value as one number)."""
    part_of = _part_of(groups)
    order = np.argsort(part_of, kind="stable")
    bounds = np.searchsorted(part_of[order], np.arange(PARTITIONS + 1))
    arrays: Dict[str, np.ndarray] = {}
    for part in range(PARTITIONS):
        rows = order[bounds[part] : bounds[part + 1]]
        arrays[f"{part}.{_GROUPS}"] = groups[rows]
        for name, column in zip(_COLUMNS, columns):
            narrow = _narrowest(column[rows])
            if isinstance(narrow, _Repeated):
                arrays[f"{part}.{name}.repeated"] = np.array([narrow.value])
            else:
                arrays[f"{part}.{name}"] = narrow
    buffer = io.BytesIO()  # a GFile open for writing cannot seek, as zip needs
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _read_part(npz: Any, part: int) -> Tuple[List[np.ndarray], np.ndarray]:
    """The float64 columns and the groups of one part of a spill file."""
    groups = npz[f"{part}.{_GROUPS}"]
    columns = []
    for name in _COLUMNS:
        repeated = f"{part}.{name}.repeated"
        if repeated in npz.files:
            columns.append(_widened(_Repeated(float(npz[repeated][0]), len(groups))))
        else:
            columns.append(_widened(npz[f"{part}.{name}"]))
    return columns, groups


class _UserRows:
    """A slice's (score, label, weight, user hash) rows: fewer than
    ``spill_rows`` in memory, the rest in spill files, by part."""

    __slots__ = ("spill_dir", "spill_rows", "memory", "held", "spills")

    def __init__(self, spill_dir: str, spill_rows: int = SPILL_ROWS):
        self.spill_dir = spill_dir
        self.spill_rows = spill_rows
        self.memory = _RowsAccumulator(len(_COLUMNS), grouped=True)
        self.held = 0  # rows in ``memory``
        self.spills: List[str] = []

    def add(self, row: Tuple[float, ...], group: int) -> None:
        self.memory.add(row, group)
        self.held += 1
        if self.held >= self.spill_rows:
            self.spill()

    def spill(self) -> None:
        """Moves the rows in memory to a new file in ``spill_dir``."""
        if not self.held:
            return
        root = _spill_root(self.spill_dir)
        tf.io.gfile.makedirs(root)
        path = os.path.join(root, f"gauc-{uuid.uuid4().hex}.npz")
        columns, groups = self.memory.stacked()
        _write_parts(path, columns, groups)
        self.spills.append(path)
        self.memory = _RowsAccumulator(len(_COLUMNS), grouped=True)
        self.held = 0

    def compact(self) -> "_UserRows":
        """Before a shuffle: what moves is paths and a few rows."""
        if self.held >= SPILL_BEFORE_SHUFFLE:
            self.spill()
        self.memory.compact()
        return self

    def absorb(self, other: "_UserRows") -> None:
        self.spills.extend(other.spills)
        self.memory.absorb(other.memory)
        self.held += other.held
        if self.held >= self.spill_rows:
            self.spill()

    def parts(self) -> Iterator[Tuple[List[np.ndarray], np.ndarray]]:
        """Each part's float64 columns and groups, from every file and memory."""
        columns, groups = self.memory.stacked()
        in_memory = _part_of(groups)
        handles = [tf.io.gfile.GFile(path, "rb") for path in self.spills]
        try:
            files = [np.load(handle) for handle in handles]
            for part in range(PARTITIONS):
                mine = in_memory == part
                pieces = [([c[mine] for c in columns], groups[mine])]
                pieces += [_read_part(npz, part) for npz in files]
                yield (
                    [np.concatenate([p[0][j] for p in pieces]) for j in range(3)],
                    np.concatenate([p[1] for p in pieces]),
                )
        finally:
            for handle in handles:
                handle.close()

    def delete_spills(self) -> None:
        for path in self.spills:
            tf.io.gfile.remove(path)
        self.spills = []


class _GroupAUCCombiner(AbsorbingCombineFn):
    """GAUC and its user count from each slice's rows, spilled by user."""

    def __init__(
        self,
        keys: Tuple[metric_types.MetricKey, metric_types.MetricKey],
        read: _ScoredRows,
        group_key: str,
        weight_by_impressions: bool,
        spill_dir: str,
    ):
        self._keys = keys
        self._read = read
        self._group_key = group_key
        self._weight_by_impressions = weight_by_impressions
        self._spill_dir = spill_dir

    def create_accumulator(self) -> _UserRows:
        return _UserRows(self._spill_dir, SPILL_ROWS)

    def add_input(
        self, rows: _UserRows, element: metric_types.StandardMetricInputs
    ) -> _UserRows:
        group = group_hash(_group_value(element, self._group_key))
        for row in self._read(element):
            rows.add(row, group)
        return rows

    def extract_output(self, rows: _UserRows) -> Dict[metric_types.MetricKey, Any]:
        auc_sum, weight_sum, users = 0.0, 0.0, 0
        for (scores, labels, weights), groups in rows.parts():
            auc, size = ranking.per_group_auc(scores, labels, groups, weights)
            weight = size if self._weight_by_impressions else np.ones_like(auc)
            auc_sum += float(np.sum(weight * auc))
            weight_sum += float(np.sum(weight))
            users += len(auc)
        rows.delete_spills()
        result = ranking.mean_group_auc(auc_sum, weight_sum, users)
        gauc_key, count_key = self._keys
        return {gauc_key: result.gauc, count_key: result.num_groups}


def _group_auc_computations(
    args: _KeyArgs,
    name: str = GROUP_AUC_NAME,
    group_key: str = features.USER_ID,
    weight_by_impressions: bool = False,
    spill_dir: str = "",
) -> metric_types.MetricComputations:
    keys = (args.key(name), args.key(group_auc_count_name(name)))
    return [
        metric_types.MetricComputation(
            keys=list(keys),
            preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[group_key])],
            combiner=_GroupAUCCombiner(
                keys,
                _ScoredRows(args.reader(args.model_name)),
                group_key,
                weight_by_impressions,
                spill_dir,
            ),
        )
    ]


class GroupAUC(metric_types.Metric):
    """GAUC (eq. 13): the mean per-user AUC over users with both classes.

    Each user's AUC is the exact AUC over that user's examples (example
    weights included); a user with one class only is left out.  Users weigh 1
    each (the paper's offline setting) or, with ``weight_by_impressions``, by
    their weighted number of examples.  Also reports ``<name>_num_users``, the
    number of users that counted.  The group is the raw feature ``group_key``
    (default ``features.USER_ID``), delivered by a FeaturePreprocessor.
    ``spill_dir``: where a slice's rows spill (module docstring); empty for
    the local temporary directory.
    """

    def __init__(
        self,
        name: str = GROUP_AUC_NAME,
        group_key: str = features.USER_ID,
        weight_by_impressions: bool = False,
        spill_dir: str = "",
    ):
        super().__init__(
            _per_key(_group_auc_computations),
            name=name,
            group_key=group_key,
            weight_by_impressions=weight_by_impressions,
            spill_dir=spill_dir,
        )
