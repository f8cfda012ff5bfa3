"""DeepCTR's ESMM beside ours, trained and scored on exactly the same examples.

    .venv/bin/python benchmarks/peer_esmm.py --impressions 200000 --seeds 0 \\
        --output peer_esmm.md

A user choosing this pipeline compares it with the ESMM they would otherwise
install: DeepCTR's (``deepctr`` 0.9.4, the ``dev`` extra). This trains that
ESMM and our ESM2 and ESMM (``--models``; ``dnn`` optional) in one process, on
one pipeline run's Transform output read as the Trainer reads it
(``models.trainer.trainer_fn_args`` and ``input_dataset``: same split, batch
size, feature list and vocabularies), one pass each, per seed. Ours train at
the paper's towers (``--tower-units``) and at the peer's, so neither the speed
nor the quality gap is only a matter of tower width.

Every model scores the eval split's raw examples through the run's Transform
graph, read twice:

- position unknown, as served: ours drop the position (``serving_inputs``:
  their trained "position unknown" offset); the peer gets the index that
  Transform gives a request without a position (an OOV bucket, whose
  embedding no example trained: DeepCTR initialises it near 0);
- position as logged: ours at the logged position (``at_logged_position``);
  the peer with its logged position feature.

The peer sees ``position`` as a DeepCTR user would give it: one more
``SparseFeat``, an embedding in the towers' input. Ours never put position in
the towers (``models/layers.py``, ``PositionBias``).

Figures come from the GroundTruthEvaluator's own code
(``evaluation.groundtruth.compare_with_oracle``): CTR, CVR (clicked
impressions) and CTCVR AUC on the logged labels and without label noise, the
entire-space CVR AUC, each also as a fraction of the oracle's. Training
speed is the median of timed windows of one pass after warm-up
(``trainer_bench.examples_per_second``), for every model in this process.

Without ``--workdir`` holding a run, it generates ``--impressions`` of the
``paper`` preset and runs the pipeline first (a 1-step Trainer: only its
Transform output is used). Point ``--workdir`` and ``--pipeline-name`` at
another run (e.g. ``esm2-paper-claims``) to use its examples; the logs'
ground truth is found through its ExampleGen's data-quality report.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pipeline  # noqa: E402,F401  (sets the TensorFlow environment first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from deepctr.feature_column import DenseFeat, SparseFeat  # noqa: E402
from deepctr.models import ESMM as DeepCTRESMM  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.components.trainer import fn_args_utils  # noqa: E402

try:  # imported as benchmarks.peer_esmm (the tests)
    from benchmarks import paper_claims, trainer_bench  # noqa: E402
except ImportError:  # run as benchmarks/peer_esmm.py: its folder is on sys.path
    import paper_claims  # noqa: E402
    import trainer_bench  # noqa: E402
from components.impression_example_gen import config as example_gen_config  # noqa: E402
from components.impression_example_gen import quality  # noqa: E402
from evaluation import groundtruth  # noqa: E402
from models.base import serving_inputs  # noqa: E402
from models.config import ModelConfig  # noqa: E402
from models.registry import build_model  # noqa: E402
from models.trainer import (  # noqa: E402
    input_dataset,
    serving_feature_spec,
    trainer_fn_args,
)
from pipeline import run_summary  # noqa: E402
from pipeline.config import PipelineConfig, TrainingConfig  # noqa: E402
from pipeline.dataclass_cli import (  # noqa: E402
    add_dataclass_arguments,
    apply_overrides,
)
from synthetic.generator import generate  # noqa: E402
from transform import features  # noqa: E402
from transform.features import TRAINING_FEATURE_NAMES  # noqa: E402
from transform.preprocessing import vocabulary_sizes  # noqa: E402

PEER = "deepctr_esmm"
# DeepCTR's ESMM names its two outputs after its tasks: P(click) and
# P(click, purchase); its P(purchase | click) is the Multiply's second input.
PEER_TASKS = ("ctr", "ctcvr")
POSITION_UNKNOWN = "position unknown (as served)"
POSITION_LOGGED = "position as logged"
READINGS = (POSITION_UNKNOWN, POSITION_LOGGED)
METRICS = paper_claims.ORACLE_METRICS  # CTR, CVR (clicked), CTCVR, entire-space CVR
METRIC_NAMES = {
    "ctr_auc": "CTR AUC",
    "cvr_auc": "CVR AUC (clicked)",
    "ctcvr_auc": "CTCVR AUC",
    groundtruth.ENTIRE_SPACE_CVR_AUC: "entire-space CVR AUC",
}
Outputs = Dict[str, np.ndarray]
Scorer = Callable[[Mapping[str, tf.Tensor]], Mapping[str, tf.Tensor]]


@dataclasses.dataclass
class PeerConfig:
    """DeepCTR's ESMM as its docs and issue 21 set it up; each field a flag.

    Dropout 0, L2 1e-5 on the embeddings and Adam at Keras' default rate are
    what ``ESMM(...)`` and ``compile("adam", ...)`` give a DeepCTR user.
    """

    peer_embedding_dim: int = 16
    peer_tower_units: Tuple[int, ...] = (256, 128, 64)
    peer_dropout: float = 0.0
    peer_learning_rate: float = 0.001
    peer_l2_reg_embedding: float = 1e-5


@dataclasses.dataclass(frozen=True)
class Variant:
    """One model the benchmark trains: ours (a registry name) or the peer."""

    model: str  # esm2 | esmm | dnn | PEER
    tower_units: Tuple[int, ...]

    @property
    def label(self) -> str:
        towers = "-".join(map(str, self.tower_units))
        name = "DeepCTR ESMM" if self.model == PEER else f"our {self.model.upper()}"
        return f"{name}, towers {towers}"


@dataclasses.dataclass(frozen=True)
class Settings:
    """How every model of one benchmark trains (the seed aside)."""

    ours: ModelConfig  # model, tower_units and seed are set per run
    peer: PeerConfig
    warmup: int  # untimed steps at the start of each pass


@dataclasses.dataclass
class RunData:
    """What every model trains and is scored on, read once from a pipeline run."""

    fn_args: fn_args_utils.FnArgs
    tft_output: tft.TFTransformOutput
    vocab: Dict[str, int]
    train_examples: int  # the ExampleGen's count of the train split
    eval_features: Dict[str, np.ndarray]  # transformed, in eval_frame's order
    eval_frame: pd.DataFrame  # ids, labels, slice key, oracle scores
    eval_days: List[str]


@dataclasses.dataclass
class Trained:
    """A trained model: how it scores each reading, and how fast it trained."""

    variant: Variant
    seed: int
    readings: Dict[str, Scorer]
    examples_per_second: float
    trained_examples: Optional[int]  # counted in the peer's train steps
    seconds: float


# --- The examples ------------------------------------------------------------
def transform_serialized(
    tft_output: tft.TFTransformOutput, serialized: Sequence[bytes]
) -> Dict[str, np.ndarray]:
    """Model features of raw tf.Examples through the run's Transform graph, as
    the exported model computes them (``serving_feature_spec``: a missing
    feature gets the default a request without it gets)."""
    spec = serving_feature_spec(tft_output)
    layer = tft_output.transform_features_layer()
    parts = []
    for start in range(0, len(serialized), groundtruth.SCORE_BATCH):
        chunk = tf.constant(list(serialized[start : start + groundtruth.SCORE_BATCH]))
        transformed = layer(tf.io.parse_example(chunk, spec))
        parts.append({n: transformed[n].numpy().reshape(-1) for n in TRAINING_FEATURE_NAMES})
    return {n: np.concatenate([p[n] for p in parts]) for n in TRAINING_FEATURE_NAMES}


def load_run(outputs: Mapping[str, metadata_store_pb2.Artifact]) -> RunData:
    """A pipeline run's train split as the Trainer reads it and its eval split
    with ground truth (``RunSummary.artifacts``)."""
    fn_args = trainer_fn_args(outputs)
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    examples_uri = outputs[run_summary.EXAMPLES].uri
    report = quality.load_report(examples_uri)
    eval_days = list(report.days_per_split[example_gen_config.EVAL_SPLIT])
    examples = groundtruth.read_examples(
        os.path.join(examples_uri, f"Split-{example_gen_config.EVAL_SPLIT}")
    )
    serialized = examples.pop("serialized").tolist()
    return RunData(
        fn_args=fn_args,
        tft_output=tft_output,
        vocab=vocabulary_sizes(tft_output),
        train_examples=report.examples_per_split[example_gen_config.TRAIN_SPLIT],
        eval_features=transform_serialized(tft_output, serialized),
        eval_frame=groundtruth.join_truth(examples, report.input_base, eval_days),
        eval_days=eval_days,
    )


def train_dataset(data: RunData, batch_size: int) -> tf.data.Dataset:
    """One shuffled pass over the train split: the Trainer's default."""
    return input_dataset(
        data.fn_args.train_files,
        data.fn_args.data_accessor,
        data.tft_output,
        batch_size,
        shuffle=True,
        num_epochs=1,
    )


# --- The peer ----------------------------------------------------------------
class ExampleCount(tf_keras.metrics.Metric):
    """Examples the train steps consumed: proves the peer's pass is the Trainer's."""

    def __init__(self, name: str = "examples", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_weight(name="count", initializer="zeros", dtype=tf.int64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.count.assign_add(tf.shape(y_true, out_type=tf.int64)[0])

    def result(self):
        return self.count


def peer_feature_columns(vocab: Mapping[str, int], dim: int) -> List:
    """Every ID feature and the position as DeepCTR ``SparseFeat``s of one
    width (its docs' setup), every dense feature as a ``DenseFeat``."""
    sparse = features.ID_FEATURES + features.BIAS_FEATURES
    return [
        SparseFeat(c.name, vocab[c.name], embedding_dim=dim, dtype="int64")
        for c in sparse
    ] + [DenseFeat(c.name, 1) for c in features.DENSE_FEATURES]


def build_peer(vocab: Mapping[str, int], config: PeerConfig, seed: int):
    """DeepCTR's ESMM, compiled as its docs do (two binary cross-entropies)."""
    model = DeepCTRESMM(
        peer_feature_columns(vocab, config.peer_embedding_dim),
        tower_dnn_hidden_units=config.peer_tower_units,
        l2_reg_embedding=config.peer_l2_reg_embedding,
        dnn_dropout=config.peer_dropout,
        seed=seed,
        task_names=PEER_TASKS,
    )
    model.compile(
        tf_keras.optimizers.Adam(config.peer_learning_rate),
        loss=["binary_crossentropy"] * len(PEER_TASKS),
        metrics={PEER_TASKS[0]: [ExampleCount()]},
    )
    return model


def peer_inputs(inputs: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Our model features in DeepCTR's input shape: one (batch, 1) column each."""
    return {name: tf.reshape(inputs[name], [-1, 1]) for name in TRAINING_FEATURE_NAMES}


def peer_batch(inputs, labels):
    """A Trainer batch as DeepCTR's ESMM trains on it: CTR and CTCVR labels."""
    targets = (labels[features.LABEL_CLICK], labels[features.LABEL_PURCHASE])
    return peer_inputs(inputs), {
        task: tf.reshape(tf.cast(label, tf.float32), [-1, 1])
        for task, label in zip(PEER_TASKS, targets)
    }


def peer_scorer(model: tf_keras.Model) -> Scorer:
    """pCTR, pCVR and pCTCVR of the peer (pCTAVR: 0, as our ESMM exports)."""
    pcvr = model.get_layer(PEER_TASKS[1]).input[1]
    three = tf_keras.Model(model.inputs, [*model.outputs, pcvr])

    def score(inputs: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        pctr, pctcvr, pcvr_ = three(peer_inputs(inputs), training=False)
        return {
            features.OUTPUT_PCTR: pctr,
            features.OUTPUT_PCTAVR: tf.zeros_like(pctr),
            features.OUTPUT_PCVR: pcvr_,
            features.OUTPUT_PCTCVR: pctcvr,
        }

    return score


def unknown_position_index(tft_output: tft.TFTransformOutput) -> int:
    """The position index Transform gives a request that has no position."""
    empty = tf.train.Example().SerializeToString()
    return int(transform_serialized(tft_output, [empty])[features.POSITION][0])


def peer_readings(model: tf_keras.Model, data: RunData) -> Dict[str, Scorer]:
    """The peer scored as logged and with the position a request lacks."""
    score = peer_scorer(model)
    unknown = tf.constant(unknown_position_index(data.tft_output), tf.int64)

    def without_position(inputs: Mapping[str, tf.Tensor]):
        index = tf.fill(tf.shape(inputs[features.POSITION]), unknown)
        return score({**inputs, features.POSITION: index})

    return {POSITION_UNKNOWN: without_position, POSITION_LOGGED: score}


def our_readings(model: tf_keras.Model) -> Dict[str, Scorer]:
    """Ours as served (position dropped) and at the logged position."""
    return {
        POSITION_UNKNOWN: lambda x: model(serving_inputs(x), training=False),
        POSITION_LOGGED: lambda x: model(x, training=False),
    }


# --- Training and scoring ----------------------------------------------------
def build(
    data: RunData, variant: Variant, seed: int, settings: Settings
) -> Tuple[tf_keras.Model, tf.data.Dataset]:
    """The variant's compiled model and one pass of Trainer batches in its format."""
    dataset = train_dataset(data, settings.ours.batch_size)
    if variant.model == PEER:
        peer = build_peer(data.vocab, settings.peer, seed)
        return peer, dataset.map(peer_batch, num_parallel_calls=tf.data.AUTOTUNE)
    config = dataclasses.replace(
        settings.ours, model=variant.model, tower_units=variant.tower_units, seed=seed
    )
    return build_model(data.vocab, config), dataset


def train(data: RunData, variant: Variant, seed: int, settings: Settings) -> Trained:
    """One pass over the train split, timed like the Trainer benchmark.

    The seed is set as the Trainer's ``run_fn`` sets it (initialisation,
    dropout and the shuffle); every model gets ours' batch size.
    """
    tf_keras.utils.set_random_seed(seed)
    model, dataset = build(data, variant, seed, settings)
    batch, warmup = settings.ours.batch_size, settings.warmup
    steps = -(-data.train_examples // batch)  # the pass's batches, the last partial
    start = time.perf_counter()
    rate = trainer_bench.examples_per_second(
        model, dataset, steps - warmup, warmup, batch
    )
    seconds = time.perf_counter() - start
    if variant.model != PEER:
        return Trained(variant, seed, our_readings(model), rate, None, seconds)
    counter = next(m for m in model.metrics if isinstance(m, ExampleCount))
    readings = peer_readings(model, data)
    return Trained(variant, seed, readings, rate, int(counter.result()), seconds)


def predict(score: Scorer, inputs: Mapping[str, np.ndarray]) -> Outputs:
    """A scorer's four outputs over every eval example, in batches."""
    size = len(next(iter(inputs.values())))
    parts: List[Mapping[str, tf.Tensor]] = []
    for start in range(0, size, groundtruth.SCORE_BATCH):
        end = start + groundtruth.SCORE_BATCH
        parts.append(score({n: tf.constant(v[start:end]) for n, v in inputs.items()}))
    return {
        name: np.concatenate([p[name].numpy().reshape(-1) for p in parts])
        for name in features.MODEL_OUTPUTS
    }


def evaluate(trained: Trained, data: RunData) -> Dict[str, Dict]:
    """Per reading, the GroundTruthEvaluator's figures for every slice.

    The peer is compared as an ESMM (no CTAVR); ours under their own name.
    """
    kind = "esmm" if trained.variant.model == PEER else trained.variant.model
    return {
        reading: groundtruth.compare_with_oracle(
            data.eval_frame.assign(**predict(score, data.eval_features)), kind
        )
        for reading, score in trained.readings.items()
    }


def run_one(data: RunData, variant: Variant, seed: int, settings: Settings) -> Dict:
    """One model and seed: its speed and figures, JSON-able."""
    trained = train(data, variant, seed, settings)
    return {
        "label": variant.label,
        "model": variant.model,
        "tower_units": list(variant.tower_units),
        "seed": seed,
        "examples_per_second": trained.examples_per_second,
        "trained_examples": trained.trained_examples,
        "train_seconds": trained.seconds,
        "settings": dataclasses.asdict(settings),
        "readings": evaluate(trained, data),
    }


# --- The report --------------------------------------------------------------
def figure(reading: str, metric: str, field: str) -> paper_claims.Path:
    """One figure of a saved run, overall slice (``compare_with_oracle``'s)."""
    return lambda run: run["readings"][reading][groundtruth.OVERALL][metric].get(field)


def spread_of(runs: List[Dict], path: paper_claims.Path, precision: str = ".4f"):
    """Mean ± standard deviation over seeds (NaN where no run has the figure)."""
    mean, spread = paper_claims.mean_and_spread(runs, path)
    return f"{mean:{precision}} ± {spread:{precision}}"


def summary_table(by_label: Dict[str, List[Dict]]) -> List[str]:
    """Every model on the headline reading: no label noise, position unknown,
    as a fraction of the oracle, with the training speed."""
    header = ("model", *(f"{METRIC_NAMES[m]} / oracle" for m in METRICS), "examples/s")
    rows = [
        (
            label,
            *(
                spread_of(runs, figure(POSITION_UNKNOWN, m, "expected_fraction"))
                for m in METRICS
            ),
            spread_of(runs, lambda r: r["examples_per_second"], ",.0f"),
        )
        for label, runs in by_label.items()
    ]
    return paper_claims.markdown_table(header, rows)


def model_table(runs: List[Dict]) -> List[str]:
    """One model's AUCs, both readings, on labels and without label noise."""
    header = ("metric", "reading", "AUC", "/ oracle", "no label noise", "/ oracle")
    fields = ("model", "fraction", "expected_model", "expected_fraction")
    rows = [
        (METRIC_NAMES[m], reading)
        + tuple(spread_of(runs, figure(reading, m, f)) for f in fields)
        for m in METRICS
        for reading in READINGS
    ]
    speed = spread_of(runs, lambda r: r["examples_per_second"], ",.0f")
    return paper_claims.markdown_table(header, rows) + [
        "",
        f"Training: {speed} examples/s (median of timed windows of one pass).",
    ]


def oracle_line(run: Dict) -> str:
    """The oracle's AUCs: the same eval examples for every model."""
    overall = run["readings"][POSITION_UNKNOWN][groundtruth.OVERALL]
    return "; ".join(
        f"{METRIC_NAMES[m]} {overall[m]['oracle']:.4f} "
        f"({overall[m]['expected_oracle']:.4f} without label noise)"
        for m in METRICS
    )


def report(all_runs: List[Dict], header: Sequence[str]) -> str:
    """The markdown report: a summary, then one table per model."""
    by_label: Dict[str, List[Dict]] = {}
    for run in all_runs:
        by_label.setdefault(run["label"], []).append(run)
    lines = [*header, "", f"Oracle: {oracle_line(all_runs[0])}.", ""]
    lines += ["## Without label noise, position unknown (as served)", ""]
    lines += summary_table(by_label)
    for label, runs in by_label.items():
        lines += ["", f"## {label}", "", *model_table(runs)]
    return "\n".join(lines) + "\n"


def header_lines(args, data: RunData, settings: Settings) -> List[str]:
    """What was run on what, for the top of the report."""
    ours = dataclasses.asdict(settings.ours)
    return [
        "# DeepCTR's ESMM beside ours, on the same examples",
        "",
        f"Command: `{args.command}`; {os.cpu_count()} CPU cores; seeds {args.seeds}.",
        "",
        f"Run: `{args.workdir}`, pipeline `{args.pipeline_name}`; "
        f"{data.train_examples:,} train examples (one pass, batch "
        f"{settings.ours.batch_size}), {len(data.eval_frame):,} eval examples "
        f"(days {', '.join(data.eval_days)}).",
        "",
        f"Peer (deepctr 0.9.4): {dataclasses.asdict(settings.peer)}; position as "
        "a SparseFeat.",
        f"Ours: {({k: v for k, v in ours.items() if k not in ('model', 'seed')})}; "
        "position as a training-only bias.",
        "",
        "Mean ± standard deviation over seeds.",
    ]


# --- Command line ------------------------------------------------------------
def ensure_run(args) -> run_summary.RunSummary:
    """The run in ``--workdir``, or a new one on generated ``paper`` logs."""
    config = PipelineConfig(
        pipeline_name=args.pipeline_name,
        workdir=args.workdir,
        training=TrainingConfig(train_steps=1, eval_steps=1),
    )
    logs = os.path.join(config.data_dir, features.IMPRESSIONS_DIR)
    if not os.path.exists(config.metadata_path) and not os.path.isdir(logs):
        summary = generate(
            config.data_dir,
            preset="paper",
            num_impressions=args.impressions,
            days=args.days,
            progress=False,
        )
        print(summary.format())
    return trainer_bench.ensure_pipeline_run(config, args.impressions)


def variants(models: Sequence[str], ours: Tuple[int, ...], peer: Tuple[int, ...]):
    """The peer, then each of our models at our towers and at the peer's."""
    towers = [ours] + ([peer] if peer != ours else [])
    return [Variant(PEER, peer)] + [Variant(m, t) for m in models for t in towers]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's flags; ModelConfig's (ours) and PeerConfig's (--peer-*)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/esm2-peer-esmm")
    parser.add_argument("--pipeline-name", default=PipelineConfig.pipeline_name)
    parser.add_argument("--impressions", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["esm2", "esmm"])
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed steps of each pass"
    )
    parser.add_argument("--output", default="peer_esmm.md")
    add_dataclass_arguments(parser, ModelConfig, exclude=paper_claims.PER_RUN_FIELDS)
    add_dataclass_arguments(parser, PeerConfig)
    args = parser.parse_args(argv)
    args.command = "benchmarks/peer_esmm.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    return args


def main() -> None:
    args = parse_args()
    settings = Settings(
        ours=apply_overrides(ModelConfig(), args),
        peer=apply_overrides(PeerConfig(), args),
        warmup=args.warmup,
    )
    data = load_run(ensure_run(args).artifacts)
    json_path = paper_claims.runs_path(args.output)
    towers = (settings.ours.tower_units, settings.peer.peer_tower_units)
    start, all_runs = time.perf_counter(), []
    for seed in args.seeds:
        for variant in variants(args.models, *towers):
            print(f"Training {variant.label}, seed {seed}", flush=True)
            all_runs.append(run_one(data, variant, seed, settings))
            minutes = (time.perf_counter() - start) / 60
            paper_claims.save_runs(json_path, args.command, minutes, all_runs)
    text = report(all_runs, header_lines(args, data, settings))
    with open(args.output, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
