"""Custom TFMA metrics for the paper's figures: AUC, GAUC, top-k, calibration.

TFMA's built-in AUC bins predictions into equal-width buckets over [0, 1]
(10,000 by default), and CTCVR scores live far below the first bucket edge
(1e-4): every example of a well-calibrated CTCVR model can land in the same
bucket, where the built-in AUC counts every positive/negative pair as a tie.
Measured on a small trained ESM2 (3,000 eval impressions): binned into those
buckets, CTCVR AUC reads 0.633 against an exact 0.717 and CVR AUC 0.684
against 0.732 (tests/test_evaluation_metrics.py).

Here every single-model figure of an output and slice comes from one
mergeable summary, ``evaluation.sketch.ScoreSketch``: per bin of the score's
*logit* (0.002 wide), the count, class masses and score sum. Its size is
bounded by the number of occupied bins, so the Evaluator's memory per slice
does not grow with the eval set, and Beam may combine it on any number of
workers. The AUC (eq. 12), its skill p-value, the top-fraction precision
and recall (eqs. 14-16), the calibration figures and the class masses all
derive from it; ``evaluation.ranking`` keeps the exact computations as the
tests' oracle. TFMA de-duplicates identical computations, so these metrics
of one output and slice share one sketch.

Two figures still need the examples themselves and gather them per slice
(about 24-32 bytes per example with weight > 0): GAUC (eq. 13), which needs
each user's examples together, and the paired DeLong test of the blessing,
which needs both models' scores of each example.

Every metric handles ``model_names``, ``output_names``, ``sub_keys`` and
example weights the way TFMA's built-ins do (through
``metric_util.to_label_prediction_example_weight``); an example with weight 0
is left out of the population, which is how the CVR metrics are restricted to
clicked impressions (the ``pcvr`` output is weighted by the ``click`` label).

Metric key names (``tfma.metrics.MetricKey.name``), per output:

- ``HistogramAUC``: ``histogram_auc``.
- ``GroupAUC``: ``gauc`` and ``gauc_num_users`` (groups that had both classes).
- ``TopKPrecisionRecall``: ``precision_at_top_0_1pct``, ``recall_at_top_0_1pct``,
  ``f1_at_top_0_1pct`` and likewise ``_0_6pct``, ``_1pct`` (see
  ``top_fraction_key_name``).
- ``ExpectedCalibrationError``: ``ece`` (a float) and ``ece_bin_weight``,
  ``ece_bin_mean_prediction``, ``ece_bin_observed_rate``: numpy arrays of
  ``num_bins`` values, stored by TFMA as ``MetricValue.array_value``
  (``evaluation.results`` reads them back as arrays).
- ``PositiveCount``: ``positive_count``, the weighted sum of labels.
- ``MeanCalibration``: ``mean_label``, ``mean_prediction`` and ``calibration``
  (mean prediction / mean label), named as TFMA's built-ins.
- ``AUCSkillTest``: ``auc_chance_p_value``, the p-value that the output
  ranks no better than chance (what the blessing's skill floor tests).
- ``PairedAUCTest`` (a MetricsSpec naming the candidate and the baseline):
  ``auc_regression_p_value``, the p-value that the candidate's AUC is worse
  than the baseline's, and ``auc_change``, ``auc_change_se``,
  ``auc_change_ci_low``, ``auc_change_ci_high`` (see ``auc_change_names``),
  keyed by the candidate's model name.  Its own combiner gathers both
  models' scores of each example: (candidate, baseline, label, weight),
  about 32 bytes per example.
"""

from __future__ import annotations

import functools
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.utils import model_util
from tensorflow_model_analysis.utils import util as tfma_util

from evaluation import ranking
from evaluation.sketch import (
    POSITIVE,
    SCORE_SUM,
    WEIGHT,
    AbsorbingCombineFn,
    ScoreSketch,
)
from transform import features

AUC_NAME = "histogram_auc"
GROUP_AUC_NAME = "gauc"
GROUP_AUC_NUM_GROUPS_SUFFIX = "_num_users"
TOP_FRACTION_NAME = "at_top"
DEFAULT_TOP_FRACTIONS: Tuple[float, ...] = (0.001, 0.006, 0.01)  # 0.1 %, 0.6 %, 1 %
PRECISION, RECALL, F1 = "precision", "recall", "f1"
TOP_FRACTION_KINDS: Tuple[str, ...] = (PRECISION, RECALL, F1)
ECE_NAME = "ece"
DEFAULT_ECE_BINS = 20
ECE_BIN_WEIGHT_SUFFIX = "_bin_weight"
ECE_BIN_MEAN_PREDICTION_SUFFIX = "_bin_mean_prediction"
ECE_BIN_OBSERVED_RATE_SUFFIX = "_bin_observed_rate"
POSITIVE_COUNT_NAME = "positive_count"
# TFMA's names for these figures, kept so that reports read the same.
MEAN_LABEL_NAME = "mean_label"
MEAN_PREDICTION_NAME = "mean_prediction"
CALIBRATION_NAME = "calibration"

AUC_CHANCE_P_VALUE_NAME = "auc_chance_p_value"
AUC_REGRESSION_P_VALUE_NAME = "auc_regression_p_value"
AUC_CHANGE_NAME = "auc_change"
AUC_CHANGE_SE_SUFFIX = "_se"
AUC_CHANGE_CI_LOW_SUFFIX = "_ci_low"
AUC_CHANGE_CI_HIGH_SUFFIX = "_ci_high"

# Private (a leading '_'): TFMA drops them from its output.
_SCORED_EXAMPLES_NAME = "_scored_examples"
_SCORE_SKETCH_NAME = "_score_sketch"
_PAIRED_EXAMPLES_NAME = "_paired_examples"


# --- Names ------------------------------------------------------------------
def percent_label(fraction: float) -> str:
    """0.001 -> '0_1pct', 0.01 -> '1pct': a key-safe spelling of a fraction."""
    return f"{fraction * 100:g}".replace(".", "_") + "pct"


def top_fraction_key_name(
    kind: str, fraction: float, name: str = TOP_FRACTION_NAME
) -> str:
    """Key name of one TopKPrecisionRecall figure, e.g. 'precision_at_top_0_1pct'."""
    if kind not in TOP_FRACTION_KINDS:
        raise ValueError(f"kind must be one of {TOP_FRACTION_KINDS}, got {kind!r}")
    return f"{kind}_{name}_{percent_label(fraction)}"


def group_auc_count_name(name: str = GROUP_AUC_NAME) -> str:
    """Key name of the number of users (groups) that entered the GAUC."""
    return name + GROUP_AUC_NUM_GROUPS_SUFFIX


def auc_change_names(name: str = AUC_CHANGE_NAME) -> Tuple[str, str, str, str]:
    """Key names of the AUC change against the baseline: (change, its standard
    error, the low and high ends of its 95 % interval)."""
    return (
        name,
        name + AUC_CHANGE_SE_SUFFIX,
        name + AUC_CHANGE_CI_LOW_SUFFIX,
        name + AUC_CHANGE_CI_HIGH_SUFFIX,
    )


def ece_bin_names(name: str = ECE_NAME) -> Tuple[str, str, str]:
    """Key names of the per-bin arrays: (weight, mean prediction, observed rate)."""
    return (
        name + ECE_BIN_WEIGHT_SUFFIX,
        name + ECE_BIN_MEAN_PREDICTION_SUFFIX,
        name + ECE_BIN_OBSERVED_RATE_SUFFIX,
    )


# --- Reading one example ----------------------------------------------------
def _scalar(value: Any) -> float:
    return float(np.asarray(value).reshape(-1)[0])


class _ExampleReader:
    """Turns TFMA's StandardMetricInputs into (label, prediction, weight) floats.

    Shared by the combiners so that every metric resolves model, output,
    sub key, class weights and example weights exactly like TFMA's built-ins.
    """

    def __init__(
        self,
        key: metric_types.MetricKey,
        eval_config: Optional[config_pb2.EvalConfig],
        aggregation_type: Optional[metric_types.AggregationType],
        class_weights: Optional[Dict[int, float]],
        example_weighted: bool,
    ):
        self._key = key
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted

    def __call__(
        self, element: metric_types.StandardMetricInputs
    ) -> Iterator[Tuple[float, float, float]]:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._key.model_name,
            output_name=self._key.output_name,
            sub_key=self._key.sub_key,
            aggregation_type=self._aggregation_type,
            class_weights=self._class_weights,
            example_weighted=self._example_weighted,
            flatten=True,
        ):
            yield _scalar(label), _scalar(prediction), _scalar(weight)


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


# --- Gathering examples -----------------------------------------------------
def _columns(rows: np.ndarray) -> np.ndarray:
    """The columns of a gathered (n, width) matrix, each contiguous for sorting."""
    return np.ascontiguousarray(rows.T)


class ScoredExamples:
    """The columns a slice's examples with weight > 0 contributed.

    Attributes: ``scores``, ``labels``, ``weights`` (float64 arrays) and
    ``groups`` (object array, or None when no group key was asked for).
    """

    __slots__ = ("scores", "labels", "weights", "groups")
    WIDTH = 3  # float columns of a gathered row: score, label, weight

    def __init__(
        self,
        scores: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray,
        groups: Optional[np.ndarray],
    ):
        self.scores = scores
        self.labels = labels
        self.weights = weights
        self.groups = groups

    @classmethod
    def from_rows(cls, rows: np.ndarray, groups: Optional[np.ndarray]):
        """From the gathered (n, 3) matrix of (score, label, weight) rows."""
        scores, labels, weights = _columns(rows)
        return cls(scores, labels, weights, groups)

    def __len__(self) -> int:
        return len(self.scores)


class PairedExamples:
    """Both models' scores of a slice's examples with weight > 0, row by row.

    Attributes: ``candidate``, ``baseline`` (the two models' scores of the
    same output), ``labels``, ``weights`` (float64 arrays).
    """

    __slots__ = ("candidate", "baseline", "labels", "weights")
    WIDTH = 4  # candidate score, baseline score, label, weight

    def __init__(
        self,
        candidate: np.ndarray,
        baseline: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray,
    ):
        self.candidate = candidate
        self.baseline = baseline
        self.labels = labels
        self.weights = weights

    @classmethod
    def from_rows(cls, rows: np.ndarray, groups: Optional[np.ndarray] = None):
        """From the gathered (n, 4) matrix; pairs are never grouped."""
        del groups
        return cls(*_columns(rows))

    def __len__(self) -> int:
        return len(self.labels)


_Chunk = Tuple[np.ndarray, Optional[np.ndarray]]  # (rows x width floats, groups)


class _RowsAccumulator:
    """Numpy chunks (compact, cheap to merge) plus the rows being filled.

    One tuple appended per example (and one group value when grouped): the
    cheapest way to collect Python values, converted to numpy in one go.
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

    def add(self, row: Tuple[float, ...], group: Any) -> None:
        self.rows.append(row)
        if self.grouped:
            self.groups.append(group)

    def compact(self) -> "_RowsAccumulator":
        """Moves the Python rows into a numpy chunk (before a shuffle)."""
        if self.rows:
            groups = None
            if self.grouped:
                groups = np.empty(len(self.groups), dtype=object)
                groups[:] = self.groups
            matrix = np.asarray(self.rows, dtype=np.float64).reshape(-1, self.width)
            self.chunks.append((matrix, groups))
            self._reset_tail()
        return self

    def absorb(self, other: "_RowsAccumulator") -> None:
        self.chunks.extend(other.compact().chunks)

    def stacked(self) -> _Chunk:
        """Every gathered row in one (n, width) matrix, and the groups."""
        self.compact()
        matrices = [matrix for matrix, _ in self.chunks]
        rows = np.concatenate(matrices) if matrices else np.zeros((0, self.width))
        groups = None
        if self.grouped:
            parts = [g for _, g in self.chunks]
            groups = np.concatenate(parts) if parts else np.zeros(0, object)
        return rows, groups


# An example's rows: one per value of the output (one, for a scalar output).
_RowReader = Callable[[metric_types.StandardMetricInputs], List[Tuple[float, ...]]]


class _ScoredRows:
    """(score, label, weight) of each of an example's values with weight > 0."""

    def __init__(self, read: _ExampleReader):
        self._read = read

    def __call__(
        self, element: metric_types.StandardMetricInputs
    ) -> List[Tuple[float, ...]]:
        return [(p, label, w) for label, p, w in self._read(element) if w > 0.0]


class _PairedRows:
    """(candidate score, baseline score, label, weight), weight > 0.

    Label and weight are the candidate's: both ModelSpecs of the EvalConfig
    name the same label and example-weight keys.
    """

    def __init__(self, candidate: _ExampleReader, baseline: _ExampleReader):
        self._candidate = candidate
        self._baseline = baseline

    def __call__(
        self, element: metric_types.StandardMetricInputs
    ) -> List[Tuple[float, ...]]:
        return [
            (p, baseline, label, w)
            for (label, p, w), (_, baseline, _) in zip(
                self._candidate(element), self._baseline(element)
            )
            if w > 0.0
        ]


class _GatherCombiner(AbsorbingCombineFn):
    """Gathers the rows ``read`` makes of every example (plus its group).

    ``examples_type`` (``ScoredExamples`` or ``PairedExamples``) turns the
    gathered matrix into the columns the figures read.
    """

    def __init__(
        self,
        key: metric_types.MetricKey,
        read: _RowReader,
        examples_type: type,
        group_key: Optional[str] = None,
    ):
        self._key = key
        self._read = read
        self._examples_type = examples_type
        self._group_key = group_key

    def create_accumulator(self) -> _RowsAccumulator:
        return _RowsAccumulator(
            self._examples_type.WIDTH, grouped=self._group_key is not None
        )

    def add_input(
        self,
        accumulator: _RowsAccumulator,
        element: metric_types.StandardMetricInputs,
    ) -> _RowsAccumulator:
        group = _group_value(element, self._group_key) if self._group_key else None
        for row in self._read(element):
            accumulator.add(row, group)
        return accumulator

    def extract_output(self, accumulator: _RowsAccumulator) -> Dict[
        metric_types.MetricKey, Any
    ]:
        return {self._key: self._examples_type.from_rows(*accumulator.stacked())}


class _SketchCombiner(AbsorbingCombineFn):
    """Sums every example ``read`` yields into a ``ScoreSketch``: its size is
    bounded by the number of logit bins, not by the slice's examples."""

    def __init__(self, key: metric_types.MetricKey, read: _RowReader):
        self._key = key
        self._read = read

    def create_accumulator(self) -> ScoreSketch:
        return ScoreSketch()

    def add_input(
        self, sketch: ScoreSketch, element: metric_types.StandardMetricInputs
    ) -> ScoreSketch:
        for score, label, weight in self._read(element):
            sketch.add(score, label, weight)
        return sketch

    def extract_output(self, sketch: ScoreSketch) -> Dict[metric_types.MetricKey, Any]:
        return {self._key: sketch.compact()}


class _KeyArgs(NamedTuple):
    """What TFMA passes per metric key: which model, output, sub key, weighting."""

    eval_config: Optional[config_pb2.EvalConfig]
    model_name: str
    output_name: str
    sub_key: Optional[metric_types.SubKey]
    aggregation_type: Optional[metric_types.AggregationType]
    class_weights: Optional[Dict[int, float]]
    example_weighted: bool

    def key(self, name: str) -> metric_types.MetricKey:
        """The MetricKey of ``name`` for this model, output, sub key, weighting."""
        return metric_types.MetricKey(
            name=name,
            model_name=self.model_name,
            output_name=self.output_name,
            sub_key=self.sub_key,
            aggregation_type=self.aggregation_type,
            example_weighted=self.example_weighted,
        )

    def reader(self, model_name: str) -> _ExampleReader:
        """Reads ``model_name``'s (label, prediction, weight) of this key."""
        return _ExampleReader(
            self._replace(model_name=model_name).key(""),
            self.eval_config,
            self.aggregation_type,
            self.class_weights,
            self.example_weighted,
        )


def _gather_computation(
    args: _KeyArgs,
    read: _RowReader,
    examples_type: type,
    private_name: str,
    group_key: Optional[str] = None,
    **name_arguments: Any,
) -> metric_types.MetricComputation:
    """A private gathering step (its key named from ``private_name`` and the
    arguments that tell it apart); identical ones are run once by TFMA."""
    key = args.key(
        metric_util.generate_private_name_from_arguments(
            private_name,
            group_key=group_key,
            class_weights=args.class_weights,
            **name_arguments,
        )
    )
    preprocessors = (
        [metric_types.FeaturePreprocessor(feature_keys=[group_key])]
        if group_key
        else None
    )
    return metric_types.MetricComputation(
        keys=[key],
        preprocessors=preprocessors,
        combiner=_GatherCombiner(key, read, examples_type, group_key),
    )


def _scored_examples_computation(
    args: _KeyArgs, group_key: Optional[str] = None
) -> metric_types.MetricComputation:
    """The gather every single-model metric of a key shares."""
    read = _ScoredRows(args.reader(args.model_name))
    return _gather_computation(
        args, read, ScoredExamples, _SCORED_EXAMPLES_NAME, group_key
    )


def _score_sketch_computation(args: _KeyArgs) -> metric_types.MetricComputation:
    """The sketch every single-model metric of a key but GAUC shares."""
    key = args.key(
        metric_util.generate_private_name_from_arguments(
            _SCORE_SKETCH_NAME, class_weights=args.class_weights
        )
    )
    read = _ScoredRows(args.reader(args.model_name))
    return metric_types.MetricComputation(
        keys=[key], preprocessors=None, combiner=_SketchCombiner(key, read)
    )


def _paired_examples_computation(
    args: _KeyArgs, baseline_model_name: str
) -> metric_types.MetricComputation:
    """The gather of both models' scores of every example."""
    read = _PairedRows(args.reader(args.model_name), args.reader(baseline_model_name))
    return _gather_computation(
        args, read, PairedExamples, _PAIRED_EXAMPLES_NAME, baseline=baseline_model_name
    )


class _Figures(NamedTuple):
    """What a metric derives from a slice's gathered examples.

    ``compute`` returns one value per name in ``names``; ``group_key`` asks
    the gather for that feature's value per example (GAUC).
    """

    names: Sequence[str]
    compute: Callable[[Any], Sequence[Any]]
    group_key: Optional[str] = None


def _with_figures(
    gather: metric_types.MetricComputation, args: _KeyArgs, spec: _Figures
) -> metric_types.MetricComputations:
    """The gathering step, then a derived step mapping ``spec``'s names to values.

    The figures' keys carry the model, output, sub key and weighting of ``args``.
    """
    source = gather.keys[0]
    keys = [args.key(name) for name in spec.names]

    def result(
        metrics: Dict[metric_types.MetricKey, Any],
    ) -> Dict[metric_types.MetricKey, Any]:
        return dict(zip(keys, spec.compute(metrics[source])))

    return [gather, metric_types.DerivedMetricComputation(keys=keys, result=result)]


def _per_key(
    build: Callable[..., metric_types.MetricComputations],
) -> Callable[..., metric_types.MetricComputations]:
    """TFMA's computations function of a metric built per key by
    ``build(args: _KeyArgs, **config)``.

    TFMA reads the argument names of the function it is given to pass the
    model, output, sub key and weighting of each key; the metric's own config
    (name, bins, fractions, ...) arrives as the remaining keywords.
    """

    def computations(
        eval_config: Optional[config_pb2.EvalConfig] = None,
        model_name: str = "",
        output_name: str = "",
        sub_key: Optional[metric_types.SubKey] = None,
        aggregation_type: Optional[metric_types.AggregationType] = None,
        class_weights: Optional[Dict[int, float]] = None,
        example_weighted: bool = False,
        **config: Any,
    ) -> metric_types.MetricComputations:
        args = _KeyArgs(
            eval_config,
            model_name,
            output_name,
            sub_key,
            aggregation_type,
            class_weights,
            example_weighted,
        )
        return build(args, **config)

    return metric_util.merge_per_key_computations(computations)


def _gathered_computations(
    figures: Callable[..., _Figures], args: _KeyArgs, **config: Any
) -> metric_types.MetricComputations:
    """The (shared) summary of a key, then ``figures(**config)`` from it: the
    mergeable ``ScoreSketch``, or the examples gathered with their group
    for a grouped metric (GAUC)."""
    spec = figures(**config)
    if spec.group_key:
        summary = _scored_examples_computation(args, group_key=spec.group_key)
    else:
        summary = _score_sketch_computation(args)
    return _with_figures(summary, args, spec)


class _GatheredMetric(metric_types.Metric):
    """A metric whose figures ``figures(**config)`` derives from the key's shared
    summary (``_gathered_computations``)."""

    def __init__(self, figures: Callable[..., _Figures], **config: Any):
        super().__init__(
            _per_key(functools.partial(_gathered_computations, figures)), **config
        )


# --- HistogramAUC -----------------------------------------------------------
def _auc_values(sketch: ScoreSketch) -> List[float]:
    return [sketch.auc()]


def _auc_figures(name: str = AUC_NAME) -> _Figures:
    return _Figures([name], _auc_values)


class HistogramAUC(_GatheredMetric):
    """ROC AUC (eq. 12) from fine histograms of the score's logit.

    Pairs within one of the sketch's bins (0.002 wide in logit) count as
    ties, 1/2; every other pair is ordered exactly, so on the benchmark's
    eval days it is within 1e-4 of the exact rank AUC (``ranking.exact_auc``,
    kept as the test oracle), CTCVR scores of 1e-4 included, where TFMA's
    thresholds over [0, 1] tie nearly every pair. The histograms merge
    across workers in bounded memory (``evaluation.sketch``). NaN when the
    slice lacks one of the classes.
    """

    def __init__(self, name: str = AUC_NAME):
        super().__init__(_auc_figures, name=name)


# --- AUCSkillTest -----------------------------------------------------------
def _auc_skill_values(sketch: ScoreSketch) -> List[float]:
    return [sketch.skill_p_value()]


def _auc_skill_figures(name: str = AUC_CHANCE_P_VALUE_NAME) -> _Figures:
    return _Figures([name], _auc_skill_values)


class AUCSkillTest(_GatheredMetric):
    """One-sided p-value that the output ranks no better than chance.

    The Mann-Whitney test of the ``HistogramAUC`` in its normal approximation
    (``ranking.auc_chance_p_value``), with the class masses as sample sizes:
    a small p says the AUC is above 0.5 by more than one eval draw's noise.
    A floor on the AUC itself cannot say that: a no-skill model's AUC is
    0.5, give or take that noise.  A constant score gets p = 0.5; NaN when
    the slice lacks a class.  Derived from the AUC's sketch.
    """

    def __init__(self, name: str = AUC_CHANCE_P_VALUE_NAME):
        super().__init__(_auc_skill_figures, name=name)


# --- GroupAUC ---------------------------------------------------------------
def _group_auc_values(
    examples: ScoredExamples, weight_by_impressions: bool
) -> List[float]:
    result = ranking.group_auc(
        examples.scores,
        examples.labels,
        examples.groups,
        examples.weights,
        weight_by_impressions=weight_by_impressions,
    )
    return [result.gauc, result.num_groups]


def _group_auc_figures(
    name: str = GROUP_AUC_NAME,
    group_key: str = features.USER_ID,
    weight_by_impressions: bool = False,
) -> _Figures:
    return _Figures(
        [name, group_auc_count_name(name)],
        functools.partial(
            _group_auc_values, weight_by_impressions=weight_by_impressions
        ),
        group_key=group_key,
    )


class GroupAUC(_GatheredMetric):
    """GAUC (eq. 13): the mean per-user AUC over users with both classes.

    Each user's AUC is the exact AUC over that user's examples (example
    weights included); a user with one class only is left out.  Users weigh 1
    each (the paper's offline setting) or, with ``weight_by_impressions``, by
    their weighted number of examples.  Also reports ``<name>_num_users``, the
    number of users that counted.  The group is the raw feature ``group_key``
    (default ``features.USER_ID``), delivered by a FeaturePreprocessor.
    """

    def __init__(
        self,
        name: str = GROUP_AUC_NAME,
        group_key: str = features.USER_ID,
        weight_by_impressions: bool = False,
    ):
        super().__init__(
            _group_auc_figures,
            name=name,
            group_key=group_key,
            weight_by_impressions=weight_by_impressions,
        )


# --- TopKPrecisionRecall ----------------------------------------------------
def _top_fraction_values(
    sketch: ScoreSketch, fractions: Sequence[float]
) -> List[float]:
    return [
        value
        for r in sketch.top_fractions(fractions)
        for value in (r.precision, r.recall, r.f1)
    ]


def _top_fraction_figures(
    name: str = TOP_FRACTION_NAME,
    fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS,
) -> _Figures:
    fractions = tuple(float(f) for f in fractions)
    for fraction in fractions:
        ranking.top_fraction_cutoff(fraction, 0)  # validates the fraction
    names = [
        top_fraction_key_name(kind, fraction, name)
        for fraction in fractions
        for kind in TOP_FRACTION_KINDS
    ]
    return _Figures(names, functools.partial(_top_fraction_values, fractions=fractions))


class TopKPrecisionRecall(_GatheredMetric):
    """Precision, recall and F1 when the top fraction q of scores is called positive.

    Population: the slice's examples with weight > 0 (so CVR, weighted by
    click, ranks clicked impressions only).  With n examples, the top
    ``ceil(q * n)`` by score are predicted positive (at least one; q * n is
    rounded to 1e-9 first so float noise cannot add an example).  Examples
    in the sketch's bin of the last one called positive share the remaining
    slots equally, as tied scores do in the exact computation
    (``ranking.top_fraction_precision_recall``, the test oracle): each
    counts for (slots left) / (examples in the bin).  Deterministic whatever
    order the runner delivers examples in.  See ``ScoreSketch.top_fractions``.
    """

    def __init__(
        self,
        name: str = TOP_FRACTION_NAME,
        fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS,
    ):
        super().__init__(
            _top_fraction_figures,
            name=name,
            fractions=[float(f) for f in fractions],
        )


# --- ExpectedCalibrationError -----------------------------------------------
def _ece_values(sketch: ScoreSketch, num_bins: int) -> List[Any]:
    bins = sketch.calibration(num_bins)
    return [
        bins.expected_calibration_error(),
        bins.weight,
        bins.mean_prediction,
        bins.observed_rate,
    ]


def _ece_figures(name: str = ECE_NAME, num_bins: int = DEFAULT_ECE_BINS) -> _Figures:
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    return _Figures(
        [name, *ece_bin_names(name)], functools.partial(_ece_values, num_bins=num_bins)
    )


class ExpectedCalibrationError(_GatheredMetric):
    """ECE over ``num_bins`` equal-width bins of the prediction in [0, 1].

    ECE = sum_b (n_b / N) * |mean_pred_b - mean_label_b|, with n_b the
    (weighted) number of examples whose prediction falls in bin b =
    [b/B, (b+1)/B) (the last bin includes 1.0) and N = sum_b n_b.  Also emits
    the reliability diagram as three arrays of ``num_bins`` values:
    ``<name>_bin_weight`` (n_b), ``<name>_bin_mean_prediction`` and
    ``<name>_bin_observed_rate`` (NaN for empty bins).  Predictions outside
    [0, 1] join the end bins, as in TFMA's calibration histogram.  Derived
    from the AUC's sketch (``ScoreSketch.calibration``; the exact
    ``ranking.binned_calibration`` is the test oracle).
    """

    def __init__(self, name: str = ECE_NAME, num_bins: int = DEFAULT_ECE_BINS):
        super().__init__(
            _ece_figures,
            name=name,
            num_bins=num_bins,
        )


# --- PositiveCount ----------------------------------------------------------
def _positive_count_values(sketch: ScoreSketch) -> List[float]:
    """Sum of weight * label; examples of weight 0 add nothing either way."""
    return [sketch.total(POSITIVE)]


# Derived from the sketch that the AUC and top-k already build: a combiner of
# its own re-read every example's label, score and weight through TFMA, 15 %
# of the Evaluator's time in a profile.
def _positive_count_figures(name: str = POSITIVE_COUNT_NAME) -> _Figures:
    return _Figures([name], _positive_count_values)


class PositiveCount(_GatheredMetric):
    """The (weighted) number of positive labels: purchases, clicks, DActions.

    Next to TFMA's ``ExampleCount`` it gives the class balance of each slice,
    which the report needs to judge how noisy a slice's AUC is.
    """

    def __init__(self, name: str = POSITIVE_COUNT_NAME):
        super().__init__(_positive_count_figures, name=name)


# --- MeanCalibration --------------------------------------------------------
def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is (close to) 0 as in TFMA."""
    return float("nan") if np.isclose(denominator, 0.0) else numerator / denominator


def _mean_calibration_values(sketch: ScoreSketch) -> List[float]:
    total = sketch.total(WEIGHT)
    label_sum = sketch.total(POSITIVE)
    prediction_sum = sketch.total(SCORE_SUM)
    return [
        _ratio(label_sum, total),
        _ratio(prediction_sum, total),
        _ratio(prediction_sum, label_sum),
    ]


def _mean_calibration_figures(
    mean_label_name: str = MEAN_LABEL_NAME,
    mean_prediction_name: str = MEAN_PREDICTION_NAME,
    calibration_name: str = CALIBRATION_NAME,
) -> _Figures:
    return _Figures(
        [mean_label_name, mean_prediction_name, calibration_name],
        _mean_calibration_values,
    )


class MeanCalibration(_GatheredMetric):
    """Mean label, mean prediction and their ratio, as TFMA defines them.

    ``mean_label`` = sum(w * label) / sum(w), ``mean_prediction`` =
    sum(w * prediction) / sum(w) and ``calibration`` = sum(w * prediction) /
    sum(w * label) (1 is calibrated on average), NaN where the denominator is
    0.  The same figures as TFMA's ``MeanLabel``, ``MeanPrediction`` and
    ``Calibration``, derived from the AUC's sketch (exact sums) instead of a
    combiner that reads every example again.
    """

    def __init__(
        self,
        mean_label_name: str = MEAN_LABEL_NAME,
        mean_prediction_name: str = MEAN_PREDICTION_NAME,
        calibration_name: str = CALIBRATION_NAME,
    ):
        super().__init__(
            _mean_calibration_figures,
            mean_label_name=mean_label_name,
            mean_prediction_name=mean_prediction_name,
            calibration_name=calibration_name,
        )


# --- PairedAUCTest ----------------------------------------------------------
def _paired_auc_values(examples: PairedExamples, margin: float) -> List[float]:
    difference = ranking.paired_auc_difference(
        examples.candidate, examples.baseline, examples.labels, examples.weights
    )
    return [
        difference.regression_p_value(margin),
        difference.delta,
        difference.standard_error,
        *difference.interval(),
    ]


def _paired_auc_figures(
    name: str = AUC_REGRESSION_P_VALUE_NAME,
    change_name: str = AUC_CHANGE_NAME,
    margin: float = 0.0,
) -> _Figures:
    if margin < 0.0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return _Figures(
        [name, *auc_change_names(change_name)],
        functools.partial(_paired_auc_values, margin=float(margin)),
    )


# The p-value stored when the EvalConfig has no baseline: nothing to fall behind.
NO_BASELINE_P_VALUE = 1.0


def _no_baseline_computation(
    key: metric_types.MetricKey,
) -> metric_types.MetricComputations:
    """The p-value alone, 1: TFX's Evaluator drops the baseline ModelSpec on a
    first run, yet a threshold on a metric that is not computed fails the
    validation ("Metric not found")."""

    def result(
        metrics: Dict[metric_types.MetricKey, Any],
    ) -> Dict[metric_types.MetricKey, Any]:
        del metrics  # no inputs: the same value for every slice
        return {key: NO_BASELINE_P_VALUE}

    return [metric_types.DerivedMetricComputation(keys=[key], result=result)]


def _paired_auc_computations(
    args: _KeyArgs, **config: Any
) -> metric_types.MetricComputations:
    """Per candidate model of the spec: the paired gather and its figures.

    Nothing for the baseline itself (its keys would compare it with itself);
    the p-value alone when the EvalConfig has no baseline.
    """
    spec = _paired_auc_figures(**config)
    eval_config = args.eval_config
    baseline = model_util.get_baseline_model_spec(eval_config) if eval_config else None
    if baseline is None:
        return _no_baseline_computation(args.key(spec.names[0]))
    if args.model_name == baseline.name:
        return []
    return _with_figures(_paired_examples_computation(args, baseline.name), args, spec)


class PairedAUCTest(metric_types.Metric):
    """Is the candidate's AUC worse than the baseline's, on the same examples?

    For each candidate model of the MetricsSpec (name the candidate and the
    baseline in ``model_names``), one combiner reads both models' scores of
    the output for every example with weight > 0, as TFMA's
    ``ModelCosineSimilarity`` does, and DeLong's paired test
    (``ranking.paired_auc_difference``) compares the two exact AUCs.  The
    figures, keyed by the candidate's model name (not as a diff, so that a
    value threshold applies to them):

    - ``name`` (``auc_regression_p_value``): the one-sided p-value that the
      candidate is worse than the baseline by more than ``margin``
      (non-inferiority: p = Phi((change + margin) / SE)); small means
      significantly worse, a tie gets 0.5 with margin 0.
    - ``change_name`` (``auc_change``) and ``_se``, ``_ci_low``,
      ``_ci_high``: the AUC change (candidate - baseline), its standard
      error and 95 % interval.

    Pairing is what makes the test sharp: the two models' AUCs share the eval
    draw, whose noise (about +-0.02 on a day) mostly cancels in their
    difference.  Without a baseline ModelSpec (a first run) only the p-value
    is stored, as ``NO_BASELINE_P_VALUE``.
    """

    def __init__(
        self,
        name: str = AUC_REGRESSION_P_VALUE_NAME,
        change_name: str = AUC_CHANGE_NAME,
        margin: float = 0.0,
    ):
        super().__init__(
            _per_key(_paired_auc_computations),
            name=name,
            change_name=change_name,
            margin=margin,
        )
