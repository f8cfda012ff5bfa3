"""The ground-truth evaluation as a Beam job, in bounded memory per slice.

``evaluation.groundtruth`` reads the eval split and its ground truth into
pandas and scores them on one machine; this computes the same report with
Beam, so it runs wherever the pipeline's Beam jobs run (DirectRunner here,
Dataflow or Flink in production):

1. the split's tf.Examples are scored in batches by the model's serving
   signature (one model load per worker, ``_ScoreBatches``);
2. they are joined to the ground truth's rows by impression ID
   (``CoGroupByKey``); an example without ground truth is counted and
   reported as an error, a ground-truth row without example is ignored;
3. every AUC (model, oracle, and the label-noise-free readings) of every
   slice is a ``ScoreSketch`` combined per key, so no worker holds a
   slice's examples; the GAUC groups each (slice, user)'s examples with a
   ``GroupByKey`` and averages the users' exact AUCs.

The AUCs are the sketch's, within its tie bound (about 1e-5 on an eval day)
of ``groundtruth.compare_with_oracle``'s exact ones, which the tests use as
the oracle.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

from evaluation import groundtruth
from evaluation.ranking import exact_auc
from evaluation.sketch import SketchCombineFn
from pipeline.config import LOCAL_BEAM_ARGS
from transform import features

MODEL, ORACLE = "model", "oracle"
EXPECTED_MODEL, EXPECTED_ORACLE = "expected_model", "expected_oracle"
_EXAMPLE, _TRUTH, _MISSING = "example", "truth", "missing"
_EXAMPLES_KEY, _MISSING_KEY = "examples", "missing"
Row = Dict[str, Any]
FigureKey = Tuple[str, str, str]  # (slice, comparison name, reading)


class _ScoreBatches(beam.DoFn):
    """(impression ID, row with the model's four outputs) of each example."""

    def __init__(self, saved_model_dir: str):
        self._saved_model_dir = saved_model_dir

    def setup(self) -> None:
        self._signature = groundtruth.serving_signature(self._saved_model_dir)

    def process(self, batch: List[bytes]) -> Iterator[Tuple[str, Row]]:
        outputs = groundtruth.score_with(self._signature, batch)
        for i, serialized in enumerate(batch):
            row = groundtruth.example_row(serialized)
            row.update({name: float(outputs[name][i]) for name in outputs})
            yield row[features.IMPRESSION_ID], row


def _join(element: Tuple[str, Mapping[str, List[Row]]]) -> Iterator[Any]:
    """The example with its true probabilities and the oracle's scores."""
    impression_id, grouped = element
    examples, truths = list(grouped[_EXAMPLE]), list(grouped[_TRUTH])
    if not examples:
        return  # ground truth of an impression outside the split
    if len(examples) > 1 or len(truths) > 1:
        raise ValueError(
            f"impression {impression_id!r} appears {len(examples)} times in the "
            f"split and {len(truths)} times in the ground truth; IDs must be unique"
        )
    if not truths:
        yield beam.pvalue.TaggedOutput(_MISSING, impression_id)
        return
    row = {**examples[0], **truths[0]}
    row.update(groundtruth.oracle_scores(row))
    yield row


def slices_of(row: Row) -> Tuple[str, str]:
    """The report's slices an example counts in: overall and its bucket."""
    return groundtruth.OVERALL, groundtruth.bucket_slice_name(row[features.SLICE_KEY])


def _in_population(row: Row, comparison: groundtruth.Comparison) -> bool:
    population = comparison.task.population
    return population is None or row[population] == 1


def _auc_inputs(
    row: Row, comparisons: Sequence[groundtruth.Comparison]
) -> Iterator[Tuple[FigureKey, Tuple[float, float, float]]]:
    """(figure key, (score, label, weight)) for every ungrouped AUC reading.

    The label-noise-free readings take the true probability as a fractional
    label: a positive of mass p and a negative of mass 1 - p.
    """
    for comparison in comparisons:
        if comparison.grouped or not _in_population(row, comparison):
            continue
        score = row[comparison.task.output]
        truth = row[comparison.oracle_score]
        label = float(row[comparison.task.label])
        for slice_name in slices_of(row):
            yield (slice_name, comparison.name, MODEL), (score, label, 1.0)
            yield (slice_name, comparison.name, ORACLE), (truth, label, 1.0)
            yield (slice_name, comparison.name, EXPECTED_MODEL), (score, truth, 1.0)
            yield (slice_name, comparison.name, EXPECTED_ORACLE), (truth, truth, 1.0)


def _user_inputs(
    row: Row, comparisons: Sequence[groundtruth.Comparison]
) -> Iterator[Tuple[Tuple[FigureKey, str], Tuple[float, float]]]:
    """((figure key, user), (score, label)) for every grouped (GAUC) reading."""
    for comparison in comparisons:
        if not comparison.grouped or not _in_population(row, comparison):
            continue
        label = float(row[comparison.task.label])
        readings = {
            MODEL: row[comparison.task.output],
            ORACLE: row[comparison.oracle_score],
        }
        for slice_name in slices_of(row):
            for reading, score in readings.items():
                key = (slice_name, comparison.name, reading)
                yield (key, row[features.USER_ID]), (score, label)


def _user_auc(
    element: Tuple[Tuple[FigureKey, str], Iterable[Tuple[float, float]]],
) -> Iterator[Tuple[FigureKey, float]]:
    """One user's exact AUC, if the user has both classes (eq. 13)."""
    (key, _), scored = element
    scores, labels = np.asarray(list(scored), dtype=np.float64).T
    auc = exact_auc(scores, labels)
    if not np.isnan(auc):
        yield key, auc


class _Counted(beam.PTransform):
    """(``name``, count) of a PCollection, 0 when it is empty."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    def expand(self, pcoll):
        name = self._name
        return pcoll | beam.combiners.Count.Globally() | beam.Map(lambda n: (name, n))


def _write_json(items: List[Tuple[Any, Any]], path: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump([[list(k) if isinstance(k, tuple) else k, v] for k, v in items], f)


def compute(
    pipeline: beam.Pipeline,
    examples_split_dir: str,
    saved_model_dir: str,
    truth_paths: Sequence[str],
    comparisons: Sequence[groundtruth.Comparison],
    output_path: str,
) -> None:
    """Adds the evaluation to ``pipeline``; it writes its figures to ``output_path``."""
    pattern = os.path.join(examples_split_dir, "*")
    scored = (
        pipeline
        | "ReadExamples"
        >> beam.io.ReadFromTFRecord(pattern, coder=beam.coders.BytesCoder())
        | "Batch" >> beam.BatchElements(max_batch_size=groundtruth.SCORE_BATCH)
        | "Score" >> beam.ParDo(_ScoreBatches(saved_model_dir))
    )
    columns = [name for name, _ in features.GROUNDTRUTH_COLUMNS]
    truth = (
        pipeline
        | "TruthPaths" >> beam.Create(list(truth_paths))
        | "ReadTruth" >> beam.io.ReadAllFromParquet(columns=columns)
        | "KeyTruth" >> beam.Map(lambda r: (r[features.IMPRESSION_ID], r))
    )
    joined = (
        {_EXAMPLE: scored, _TRUTH: truth}
        | "Join" >> beam.CoGroupByKey()
        | "Oracle" >> beam.FlatMap(_join).with_outputs(_MISSING, main="rows")
    )
    rows = joined.rows
    aucs = (
        rows
        | "AUCInputs" >> beam.FlatMap(_auc_inputs, comparisons)
        | "AUC" >> beam.CombinePerKey(SketchCombineFn())
        | "AUCValue" >> beam.MapTuple(lambda key, sketch: (key, sketch.auc()))
    )
    gaucs = (
        rows
        | "UserInputs" >> beam.FlatMap(_user_inputs, comparisons)
        | "ByUser" >> beam.GroupByKey()
        | "UserAUC" >> beam.FlatMap(_user_auc)
        | "GAUC" >> beam.combiners.Mean.PerKey()
    )
    counts = (
        rows | "CountExamples" >> _Counted(_EXAMPLES_KEY),
        joined[_MISSING] | "CountMissing" >> _Counted(_MISSING_KEY),
    )
    _ = (
        (aucs, gaucs, *counts)
        | "Figures" >> beam.Flatten()
        | "Collect" >> beam.combiners.ToList()
        | "Write" >> beam.Map(_write_json, output_path)
    )


def _fraction_figures(readings: Mapping[str, float]) -> Dict[str, float]:
    """The report's figures of one comparison from its readings."""
    figures = {
        MODEL: readings[MODEL],
        ORACLE: readings[ORACLE],
        "fraction": groundtruth.fraction(readings[MODEL], readings[ORACLE]),
    }
    if EXPECTED_MODEL in readings:
        figures.update(
            expected_model=readings[EXPECTED_MODEL],
            expected_oracle=readings[EXPECTED_ORACLE],
            expected_fraction=groundtruth.fraction(
                readings[EXPECTED_MODEL], readings[EXPECTED_ORACLE]
            ),
        )
    return figures


def assemble(
    items: Sequence[Tuple[Any, Any]], comparisons: Sequence[groundtruth.Comparison]
) -> Tuple[int, int, Dict[str, Dict]]:
    """(examples, missing, slices) from the job's written figures."""
    counts: Dict[str, int] = {}
    readings: Dict[str, Dict[str, Dict[str, float]]] = {}
    for key, value in items:
        if isinstance(key, str):
            counts[key] = int(value)
            continue
        slice_name, name, reading = key
        readings.setdefault(slice_name, {}).setdefault(name, {})[reading] = value
    order = [c.name for c in comparisons]
    slice_order = [groundtruth.OVERALL] + [
        groundtruth.bucket_slice_name(b) for b in features.PURCHASE_FREQ_BUCKET_NAMES
    ]
    slices = {
        slice_name: {
            name: _fraction_figures(readings[slice_name][name])
            for name in order
            if {MODEL, ORACLE} <= set(readings[slice_name].get(name, {}))
        }
        for slice_name in slice_order
        if slice_name in readings
    }
    return counts.get(_EXAMPLES_KEY, 0), counts.get(_MISSING_KEY, 0), slices


def evaluate(
    examples_split_dir: str,
    saved_model_dir: str,
    input_base: str,
    days: Sequence[str],
    model_name: str,
    pipeline: Optional[beam.Pipeline] = None,
) -> Dict:
    """The ground-truth report of one model on one split, as
    ``groundtruth.evaluate`` returns it, computed by a Beam job: on
    ``pipeline`` (the TFX component's, made from the pipeline's Beam
    arguments) or, without one, in this process
    (``pipeline.config.LOCAL_BEAM_ARGS``)."""
    comparisons = groundtruth.comparisons_for(model_name)
    truth_paths = groundtruth.groundtruth_paths(input_base, days)
    output_path = os.path.join(tempfile.mkdtemp(prefix="groundtruth_"), "figures.json")
    if pipeline is None:
        pipeline = beam.Pipeline(options=PipelineOptions(list(LOCAL_BEAM_ARGS)))
    with pipeline:
        compute(
            pipeline,
            examples_split_dir,
            saved_model_dir,
            truth_paths,
            comparisons,
            output_path,
        )
    with tf.io.gfile.GFile(output_path) as f:
        items = [(tuple(k) if isinstance(k, list) else k, v) for k, v in json.load(f)]
    examples, missing, slices = assemble(items, comparisons)
    if not examples and not missing:
        raise ValueError(f"no examples under {examples_split_dir}")
    if missing:
        raise groundtruth.missing_truth_error(
            missing, examples + missing, input_base, days
        )
    return {
        "version": groundtruth.REPORT_VERSION,
        "model": model_name,
        "examples": examples,
        "days": list(days),
        "slices": slices,
    }
