"""GAUC (eq. 13) in bounded memory: each slice's rows spill to files by user.

A user's AUC needs all of that user's examples, and which users count
(those with both classes) is known only at the end, so GAUC cannot shrink
its rows into a sketch as the AUC does. Its rows (score, label, weight and
the user's 64-bit hash) go to ``evaluation.spill.SpilledRows``, which keeps
at most ``spill.SPILL_ROWS`` of them in memory and writes the rest to files
in parts by user hash. At the end each part (every row of a 1/64 share of
the users) is read from every file in turn and its users' exact AUCs are
summed: the figure is ``ranking.group_auc``'s, the sums run in another
order (equal to about 1e-15), and the largest array held is about 1/64 of
the slice.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Tuple

import numpy as np
from tensorflow_model_analysis.metrics import metric_types
from tensorflow_model_analysis.utils import util as tfma_util

from evaluation import ranking
from evaluation.metrics_base import _KeyArgs, _per_key, _ScoredRows
from evaluation.metrics_names import GROUP_AUC_NAME, group_auc_count_name
from evaluation.spill import SpilledRows, SpillingCombineFn
from transform import features

_ROW_WIDTH = 3  # score, label, weight: a row of ``_ScoredRows``


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


class _GroupAUCCombiner(SpillingCombineFn):
    """GAUC and its user count from each slice's rows, spilled by user."""

    def __init__(
        self,
        keys: Tuple[metric_types.MetricKey, metric_types.MetricKey],
        read: _ScoredRows,
        group_key: str,
        weight_by_impressions: bool,
        spill_dir: str,
    ):
        super().__init__(_ROW_WIDTH, grouped=True, spill_dir=spill_dir)
        self._keys = keys
        self._read = read
        self._group_key = group_key
        self._weight_by_impressions = weight_by_impressions

    def add_input(
        self, rows: SpilledRows, element: metric_types.StandardMetricInputs
    ) -> SpilledRows:
        group = group_hash(_group_value(element, self._group_key))
        for row in self._read(element):
            rows.add(row, group)
        return rows

    def extract_output(self, rows: SpilledRows) -> Dict[metric_types.MetricKey, Any]:
        auc_sum, weight_sum, users = 0.0, 0.0, 0
        for (scores, labels, weights), groups in rows.by_part():
            auc, size = ranking.per_group_auc(scores, labels, groups, weights)
            weight = size if self._weight_by_impressions else np.ones_like(auc)
            auc_sum += float(np.sum(weight * auc))
            weight_sum += float(np.sum(weight))
            users += len(auc)
        rows.delete()
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
    ``spill_dir``: where a slice's rows spill (``evaluation.spill``); empty
    for the local temporary directory.
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
