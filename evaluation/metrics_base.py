"""What every custom TFMA metric shares: reading examples, the sketch, the rows.

Every single-model figure of an output and slice comes from one mergeable
summary, ``evaluation.sketch.ScoreSketch``: per bin of the score's
*logit* (0.002 wide), the count, class masses and score sum. Its size is
bounded by the number of occupied bins, so the Evaluator's memory per slice
does not grow with the eval set, and Beam may combine it on any number of
workers. The AUC (eq. 12), its skill p-value, the top-fraction precision
and recall (eqs. 14-16), the calibration figures and the class masses all
derive from it; ``evaluation.ranking`` keeps the exact computations as the
tests' oracle. TFMA de-duplicates identical computations, so these metrics
of one output and slice share one sketch.

Two figures need the examples themselves: GAUC (eq. 13), each user's
examples together (``evaluation.metrics_group_auc``), and the paired DeLong
test of the blessing, both models' scores of each example
(``evaluation.metrics_paired``). Their rows are held as numpy chunks, at
most a bounded number of them, and the rest spill to files
(``evaluation.spill``).

Every metric handles ``model_names``, ``output_names``, ``sub_keys`` and
example weights the way TFMA's built-ins do (``_ExampleReader``: TFMA's
``metric_util.to_label_prediction_example_weight``, or the same lookups
done directly for scalar outputs); an example with weight 0
is left out of the population, which is how the CVR metrics are restricted to
clicked impressions (the ``pcvr`` output is weighted by the ``click`` label).

A metric is built per metric key (``_per_key``, given the key's ``_KeyArgs``):
the key's shared summary, then a derived step that turns it into the
metric's ``_Figures`` (``_with_figures``); ``_SketchedMetric`` does both
for the single-model metrics. Names with a leading '_' are private to the
``evaluation.metrics*`` modules rather than to this file.
"""

from __future__ import annotations

import functools
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from evaluation.garbage import collect_now_and_then
from evaluation.sketch import AbsorbingCombineFn, ScoreSketch

# Private (a leading '_'): TFMA drops them from its output.
_SCORE_SKETCH_NAME = "_score_sketch"


# --- Reading one example ----------------------------------------------------
def _scalar(value: Any) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def _by_key(value: Any, key: str, required: bool) -> Tuple[Any, bool]:
    """``value[key]`` if ``value`` is a dict holding it; else ``value`` as it
    is, or a miss when ``required`` (TFMA's lookups of model and output)."""
    if isinstance(value, Mapping) and key in value:
        return value[key], True
    return value, not required


class _ExampleReader:
    """Turns TFMA's StandardMetricInputs into (label, prediction, weight) floats.

    Shared by the combiners so that every metric resolves model, output,
    sub key, class weights and example weights exactly like TFMA's built-ins.

    TFMA's general reader (``metric_util.to_label_prediction_example_weight``)
    took 29 of 67 profiled seconds of the Evaluator on 40k eval examples
    (``benchmarks/evaluator_bench.py --profile``): it is called for every
    output, slice and example, and checks types against typing generics on
    each call. For the pipeline's case, one
    scalar label, prediction and weight per output, without sub keys, class
    weights or model-level label and prediction keys, ``_fast`` does the
    same lookups (model name, then output name, as TFMA does) directly;
    anything else goes through TFMA's reader.
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
        self._fast_applies = (
            key.sub_key is None
            and aggregation_type is None
            and not class_weights
            and not _has_model_level_keys(eval_config, key.model_name)
        )

    def _fast(
        self, element: metric_types.StandardMetricInputs
    ) -> Optional[Tuple[float, float, float]]:
        """The example's (label, prediction, weight), or None where the
        element is not the simple case (then TFMA's reader decides)."""
        label, prediction, weight = element.label, element.prediction, None
        if self._example_weighted:
            weight = element.example_weight
        for name in (self._key.model_name, self._key.output_name):
            if not name:
                continue
            prediction, found = _by_key(prediction, name, required=True)
            if not found:
                return None
            label, _ = _by_key(label, name, required=False)
            weight, _ = _by_key(weight, name, required=False)
        values = []
        for value in (label, prediction, 1.0 if weight is None else weight):
            if isinstance(value, Mapping) or value is None:
                return None
            array = np.asarray(value)
            if array.size != 1 or array.dtype.kind not in "biuf":
                return None
            values.append(_scalar(array))
        return values[0], values[1], values[2]

    def __call__(
        self, element: metric_types.StandardMetricInputs
    ) -> Iterator[Tuple[float, float, float]]:
        if self._fast_applies:
            row = self._fast(element)
            if row is not None:
                yield row
                return
        yield from self.general(element)

    def general(
        self, element: metric_types.StandardMetricInputs
    ) -> Iterator[Tuple[float, float, float]]:
        """The rows TFMA's own reader makes of the element."""
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


def _has_model_level_keys(
    eval_config: Optional[config_pb2.EvalConfig], model_name: str
) -> bool:
    """Whether the model's spec names one label or prediction key (TFMA then
    looks those up first, which the fast path does not)."""
    if eval_config is None:
        return False
    specs = list(eval_config.model_specs)
    for spec in specs:
        name = spec.name if len(specs) > 1 else ""
        if name == model_name:
            return bool(spec.label_key or spec.prediction_key)
    return False


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
        collect_now_and_then()  # frees TFMA's per-batch cycles (evaluation.garbage)
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


class _Figures(NamedTuple):
    """What a metric derives from a slice's summary (its sketch, or the
    paired test's comparison).

    ``compute`` returns one value per name in ``names``.
    """

    names: Sequence[str]
    compute: Callable[[Any], Sequence[Any]]


def _with_figures(
    summary: metric_types.MetricComputation, args: _KeyArgs, spec: _Figures
) -> metric_types.MetricComputations:
    """The summary's step, then a derived step mapping ``spec``'s names to values.

    The figures' keys carry the model, output, sub key and weighting of ``args``.
    """
    source = summary.keys[0]
    keys = [args.key(name) for name in spec.names]

    def result(
        metrics: Dict[metric_types.MetricKey, Any],
    ) -> Dict[metric_types.MetricKey, Any]:
        return dict(zip(keys, spec.compute(metrics[source])))

    return [summary, metric_types.DerivedMetricComputation(keys=keys, result=result)]


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


def _sketched_computations(
    figures: Callable[..., _Figures], args: _KeyArgs, **config: Any
) -> metric_types.MetricComputations:
    """The key's shared, mergeable ``ScoreSketch``, then ``figures(**config)``
    from it."""
    return _with_figures(_score_sketch_computation(args), args, figures(**config))


class _SketchedMetric(metric_types.Metric):
    """A metric whose figures ``figures(**config)`` derives from the key's shared
    sketch (``_sketched_computations``)."""

    def __init__(self, figures: Callable[..., _Figures], **config: Any):
        super().__init__(
            _per_key(functools.partial(_sketched_computations, figures)), **config
        )
