"""Model AUCs against the oracle's, on synthetic logs with known probabilities.

The generator writes the true y1..y4 of every impression (``groundtruth/``).
Scoring the held-out days with those probabilities gives the best AUC any
model could reach (the oracle), and ``purchase_if_clicked``, a counterfactual
purchase drawn for every impression, makes CVR measurable over the entire
impression space, the paper's sample-selection-bias argument. The pipeline
never trains on this data; this module only reads it after training.

Oracle scores (shared/specs/evaluation.md):

    pctr* = y1, pctavr* = y1*y2, pcvr* = y2*y3 + (1-y2)*y4, pctcvr* = y1*pcvr*

Each oracle score is also the true probability of its metric's label, which
gives a second, label-noise-free reading of every AUC (``expected_model``,
``expected_oracle``): the AUC with that probability as a fractional label, so
each impression is a positive of mass p and a negative of mass 1 - p.  It is
what the AUC converges to over many draws of the labels.  A held-out day of
the ``paper`` preset has only about 130 purchases, so its CVR AUC varies by
about +-0.02 from the draw alone, more than the gaps between the models; the
expected AUC does not, and tells whether a gap is the models' or the draw's.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import tensorflow as tf

from evaluation.ranking import exact_auc, group_auc
from models.registry import estimated_tasks
from transform import features, tasks

OVERALL = "overall"
METRICS_FILE = "groundtruth_metrics.json"
# The version of what the report holds.  TFX's cache key covers a component's
# inputs and parameters but not its code, so the pipeline passes this to the
# GroundTruthEvaluator: raising it when the report changes (2: expected AUCs;
# 3: AUCs from the Beam job's sketches) keeps a cached report of older code
# from being reused.
REPORT_VERSION = 3
SCORE_BATCH = 4096


# CVR over every impression, against the counterfactual "would have bought
# if clicked" draw that only the synthetic logs have.
ENTIRE_SPACE_CVR = tasks.Task(
    "entire_space_cvr", features.PURCHASE_IF_CLICKED, features.OUTPUT_PCVR
)


def oracle_column(output: str) -> str:
    """The column of the oracle's probability of a model output
    (``add_oracle_scores``), compared with the model's own column."""
    return f"oracle_{output}"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One metric of the model beside the oracle's: a task's AUC, or its GAUC
    over users (``grouped``), named ``<task>_auc`` or ``<task>_gauc``."""

    task: tasks.Task
    grouped: bool = False

    @property
    def name(self) -> str:
        return f"{self.task.name}_{'gauc' if self.grouped else 'auc'}"

    @property
    def oracle_score(self) -> str:
        return oracle_column(self.task.output)


COMPARISONS: Sequence[Comparison] = (
    *(Comparison(task) for task in tasks.TASKS),
    Comparison(tasks.CTCVR, grouped=True),
    Comparison(ENTIRE_SPACE_CVR),
)
ENTIRE_SPACE_CVR_AUC = COMPARISONS[-1].name


def oracle_scores(truth: Mapping[str, Any]) -> Dict[str, Any]:
    """The oracle's four probabilities (``oracle_column`` names) from the true
    y1..y4 of one example (a row's dict) or of many (a frame's columns)."""
    y1, y2 = truth[features.P_CLICK], truth[features.P_DACTION]
    y3, y4 = truth[features.P_BUY_DACTION], truth[features.P_BUY_OACTION]
    pcvr = y2 * y3 + (1 - y2) * y4
    oracle = {
        features.OUTPUT_PCTR: y1,
        features.OUTPUT_PCTAVR: y1 * y2,
        features.OUTPUT_PCVR: pcvr,
        features.OUTPUT_PCTCVR: y1 * pcvr,
    }
    return {oracle_column(output): p for output, p in oracle.items()}


def add_oracle_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the oracle's four probabilities as columns."""
    return frame.assign(**oracle_scores(frame))


def example_row(serialized: bytes) -> Dict[str, Any]:
    """Ids, labels and slice key of one serialized tf.Example."""
    feature = tf.train.Example.FromString(serialized).features.feature

    def text(name: str) -> str:
        return feature[name].bytes_list.value[0].decode()

    row: Dict[str, Any] = {
        name: text(name)
        for name in (features.IMPRESSION_ID, features.USER_ID, features.SLICE_KEY)
    }
    row.update({label: feature[label].int64_list.value[0] for label in features.LABELS})
    return row


def read_examples(split_dir: str) -> pd.DataFrame:
    """Ids, labels, slice key and the serialized record of every example."""
    paths = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    records = tf.data.TFRecordDataset(paths, compression_type="GZIP")
    rows: List[Dict] = [
        {**example_row(serialized), "serialized": serialized}
        for serialized in (record.numpy() for record in records)
    ]
    if not rows:
        raise ValueError(f"no examples under {split_dir}")
    return pd.DataFrame(rows)


def score_with(signature: Callable, serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
    """The four outputs of one of a loaded model's signatures, in batches."""
    batches = [
        signature(
            **{features.SERVING_INPUT: tf.constant(serialized[i : i + SCORE_BATCH])}
        )
        for i in range(0, len(serialized), SCORE_BATCH)
    ]
    return {
        name: np.concatenate([b[name].numpy().reshape(-1) for b in batches])
        for name in features.MODEL_OUTPUTS
    }


def serving_signature(saved_model_dir: str) -> Callable:
    """The exported model's serving signature (serialized tf.Examples in)."""
    return tf.saved_model.load(saved_model_dir).signatures[features.SERVING_SIGNATURE]


def score(saved_model_dir: str, serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
    """The model's four outputs through its serving signature."""
    return score_with(serving_signature(saved_model_dir), serialized)


def groundtruth_paths(input_base: str, days: Sequence[str]) -> List[str]:
    """The ground-truth files of the given days; an error when there are none."""
    root = os.path.join(input_base, features.GROUNDTRUTH_DIR)
    paths = [
        path
        for day in days
        for path in sorted(
            glob.glob(
                os.path.join(root, f"{features.DAY_PARTITION_PREFIX}{day}", "*.parquet")
            )
        )
    ]
    if not paths:
        raise FileNotFoundError(
            f"no ground truth for days {list(days)} under {root}: it exists for "
            "synthetic logs only"
        )
    return paths


def read_groundtruth(input_base: str, days: Sequence[str]) -> pd.DataFrame:
    """The true probabilities of the given days' impressions."""
    columns = [name for name, _ in features.GROUNDTRUTH_COLUMNS]
    return pd.concat(
        [
            pq.read_table(p, columns=columns).to_pandas()
            for p in groundtruth_paths(input_base, days)
        ]
    )


def _compare(frame: pd.DataFrame, comparison: Comparison) -> Dict[str, float]:
    task = comparison.task
    if task.population is not None:
        frame = frame[frame[task.population] == 1]
    labels = frame[task.label].to_numpy()

    def auc(column: str) -> float:
        scores = frame[column].to_numpy()
        if comparison.grouped:
            return group_auc(scores, labels, frame[features.USER_ID].to_numpy()).gauc
        return exact_auc(scores, labels)

    model, oracle = auc(task.output), auc(comparison.oracle_score)
    result = {"model": model, "oracle": oracle, "fraction": fraction(model, oracle)}
    if not comparison.grouped:
        truth = frame[comparison.oracle_score].to_numpy()
        expected_model = exact_auc(frame[task.output].to_numpy(), truth)
        expected_oracle = exact_auc(truth, truth)
        result.update(
            expected_model=expected_model,
            expected_oracle=expected_oracle,
            expected_fraction=fraction(expected_model, expected_oracle),
        )
    return result


def fraction(model: float, oracle: float) -> float:
    """model / oracle, NaN where the oracle's figure is missing."""
    return model / oracle if oracle and np.isfinite(oracle) else float("nan")


def bucket_slice_name(bucket: str) -> str:
    """The report's name of one purchase-frequency bucket's slice."""
    return f"{features.SLICE_KEY}={bucket}"


def comparisons_for(model_name: str) -> List[Comparison]:
    """The comparisons of a model: an output it does not estimate is
    exported as 0 and not compared."""
    estimated = {t.output for t in estimated_tasks(model_name)}
    return [c for c in COMPARISONS if c.task.output in estimated]


def missing_truth_error(
    missing: int, examples: int, input_base: str, days: Sequence[str]
) -> ValueError:
    """The error for examples the ground truth lacks (it never skips them)."""
    return ValueError(
        f"{missing} of {examples} examples have no ground truth "
        f"in {input_base} for days {list(days)}"
    )


def compare_with_oracle(frame: pd.DataFrame, model_name: str) -> Dict[str, Dict]:
    """Per slice (overall and per bucket), each metric's model/oracle/fraction."""
    comparisons = comparisons_for(model_name)
    slices = {OVERALL: frame}
    for bucket in features.PURCHASE_FREQ_BUCKET_NAMES:
        slices[bucket_slice_name(bucket)] = frame[
            frame[features.SLICE_KEY] == bucket
        ]
    return {
        name: {c.name: _compare(part, c) for c in comparisons}
        for name, part in slices.items()
        if len(part)
    }


def join_truth(
    examples: pd.DataFrame, input_base: str, days: Sequence[str]
) -> pd.DataFrame:
    """The examples with their true probabilities and the oracle's scores, in
    the examples' order; an example without ground truth is an error."""
    truth = read_groundtruth(input_base, days)
    joined = examples.merge(
        truth, on=features.IMPRESSION_ID, how="left", validate="1:1"
    )
    missing = int(joined[features.P_CLICK].isna().sum())
    if missing:
        raise missing_truth_error(missing, len(examples), input_base, days)
    return add_oracle_scores(joined)


def evaluate(
    examples_split_dir: str,
    saved_model_dir: str,
    input_base: str,
    days: Sequence[str],
    model_name: str,
) -> Dict:
    """The ground-truth report of one model on one split (a JSON-able dict),
    computed in memory with exact AUCs: the oracle the Beam job
    (``groundtruth_beam.evaluate``, what the pipeline runs) is tested against,
    and what the benchmarks call on their own splits."""
    examples = read_examples(examples_split_dir)
    outputs = score(saved_model_dir, examples.pop("serialized").tolist())
    joined = join_truth(examples.assign(**outputs), input_base, days)
    return {
        "version": REPORT_VERSION,
        "model": model_name,
        "examples": len(joined),
        "days": list(days),
        "slices": compare_with_oracle(joined, model_name),
    }


def format_report(report: Mapping, slice_name: str = OVERALL) -> str:
    """A readable table of one slice: metric, model, oracle, model/oracle."""
    lines = [f"{'metric':<22}{'model':>9}{'oracle':>9}{'fraction':>10}"]
    for metric, values in report["slices"][slice_name].items():
        lines.append(
            f"{metric:<22}{values['model']:>9.4f}{values['oracle']:>9.4f}{values['fraction']:>10.3f}"
        )
    return "\n".join(lines)
