"""Does ESM2 beat ESMM, and ESMM the DNN? Table 3 and Figure 7 on known truth.

    .venv/bin/python benchmarks/paper_claims.py --impressions 1320000 --days 6 \\
        --seeds 0 1 2 --output benchmark_results.md

Generates the ``paper`` preset (rare purchases, real selection bias), then runs
the project's own pipeline once per model and seed in one ML Metadata store:
the ExampleGen, statistics and Transform run once and are reused from the
cache, so every model trains and is evaluated on the same examples. It reads
every figure back from the Evaluator and the GroundTruthEvaluator (nothing
is recomputed on the side) and writes a markdown report: each metric's mean
and spread over seeds, model/oracle fractions, the entire-space CVR AUC, the
per-bucket gain of ESM2 over ESMM (Figure 7) and a verdict on each claim of
shared/specs/evaluation.md.

The raw figures go to the report's .json, rewritten after every run: a
benchmark cut off part-way keeps what it measured, ``--from-json`` renders
it, and ``--resume`` runs only the model/seed pairs it lacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import pipeline  # noqa: F401  (sets the TensorFlow environment first)
from evaluation import eval_config, groundtruth, ranking, results
from models.config import ModelConfig
from pipeline import run_summary, runs
from pipeline.config import PipelineConfig, TrainingConfig
from pipeline.dataclass_cli import add_dataclass_arguments, apply_overrides
from synthetic.generator import generate
from transform import features

HEADLINE = (
    eval_config.CTR_AUC,
    eval_config.CTAVR_AUC,
    eval_config.CVR_AUC,
    eval_config.CTCVR_AUC,
    eval_config.CTCVR_GAUC,
)
ORACLE_METRICS = ("ctr_auc", "cvr_auc", "ctcvr_auc", groundtruth.ENTIRE_SPACE_CVR_AUC)
TOP_METRICS = tuple(
    f"{task}_{kind}_at_top_{pct}"
    for task in ("cvr", "ctcvr")
    for kind in ("precision", "recall", "f1")
    for pct in ("0_1pct", "0_6pct", "1pct")
)
GAIN_METRICS = (eval_config.CVR_AUC, eval_config.CTCVR_AUC, eval_config.CTCVR_GAUC)
# The Table-3 and Figure-7 metrics, also read without label noise.
CLAIM_METRICS = (eval_config.CVR_AUC, eval_config.CTCVR_AUC)
TASKS = ("ctr", "ctavr", "cvr", "ctcvr")
PIPELINE_NAME = "esm2-paper-claims"
# Figure 7 compares the lightest and the heaviest buyers.
FIGURE_7_BUCKETS = (
    features.PURCHASE_FREQ_BUCKET_NAMES[0],
    features.PURCHASE_FREQ_BUCKET_NAMES[-1],
)


def training_config(args) -> TrainingConfig:
    return TrainingConfig(
        train_steps=args.train_steps, epochs=args.epochs, eval_steps=args.eval_steps
    )


# ModelConfig fields the benchmark sets per run; every other one is a flag.
PER_RUN_FIELDS = ("model", "seed")


def model_config(args, model: str, seed: int) -> ModelConfig:
    """The defaults, overridden by any ModelConfig flag given, for one run."""
    return dataclasses.replace(
        apply_overrides(ModelConfig(), args), model=model, seed=seed
    )


def model_settings(all_runs: Iterable[Dict]) -> str:
    """The hyper-parameters the runs were trained with, for the report."""
    settings = sorted(
        {
            ", ".join(
                f"{k}={v}"
                for k, v in run.get("model_config", {}).items()
                if k not in PER_RUN_FIELDS
            )
            or "not recorded"
            for run in all_runs
        }
    )
    return "; ".join(settings) if len(settings) < 2 else (
        "the runs differ: " + " | ".join(settings)
    )


def run_one(args, logs: str, model: str, seed: int) -> Dict:
    """One pipeline run; its overall and per-bucket metrics and ground truth."""
    config = PipelineConfig(
        pipeline_name=PIPELINE_NAME,
        workdir=args.workdir,
        input_base=logs,
        model=model_config(args, model, seed),
        training=training_config(args),
    )
    start = time.perf_counter()
    summary = runs.run(config)
    seconds = time.perf_counter() - start
    metrics = results.candidate_metrics(
        summary.artifacts[run_summary.EVALUATION].uri, model
    )
    return {
        "model": model,
        "seed": seed,
        "model_config": dataclasses.asdict(config.model),
        "seconds": seconds,
        "overall": {
            k: v for k, v in metrics[results.OVERALL].items() if isinstance(v, float)
        },
        "buckets": {
            bucket: {
                k: v
                for k, v in metrics.get(results.bucket_slice(bucket), {}).items()
                if isinstance(v, float)
            }
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        },
        "groundtruth": summary.groundtruth["slices"][groundtruth.OVERALL],
        "groundtruth_buckets": {
            bucket: summary.groundtruth["slices"].get(
                groundtruth.bucket_slice_name(bucket), {}
            )
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        },
    }


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    """The lines of a markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def mean_spread(values: Sequence[float]) -> str:
    if not values:
        return "–"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def _values(runs_of_model: List[Dict], path) -> List[float]:
    out = []
    for run in runs_of_model:
        value = path(run)
        if value is not None and value == value:  # drop missing and NaN
            out.append(value)
    return out


Path = Callable[[Dict], Optional[float]]


def observed(metric: str, bucket: Optional[str] = None) -> Path:
    """A metric of the Evaluator (TFMA), overall or in one bucket."""

    def read(run: Dict) -> Optional[float]:
        slice_metrics = run["overall"] if bucket is None else run["buckets"][bucket]
        return slice_metrics.get(metric)

    return read


def expected(
    metric: str, bucket: Optional[str] = None, field: str = "expected_model"
) -> Path:
    """A label-noise-free AUC of the GroundTruthEvaluator (see groundtruth.py).

    Runs saved before it existed have no such figure, and render as "–".
    """

    def read(run: Dict) -> Optional[float]:
        slices = (
            run["groundtruth"]
            if bucket is None
            else run.get("groundtruth_buckets", {}).get(bucket, {})
        )
        return slices.get(metric, {}).get(field)

    return read


def mean_and_spread(runs_of_model: List[Dict], path: Path) -> Tuple[float, float]:
    values = _values(runs_of_model, path)
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def gain(by_model: Dict[str, List[Dict]], path: Path) -> float:
    """Mean over seeds of ESM2's figure minus ESMM's."""
    return (
        mean_and_spread(by_model.get("esm2", []), path)[0]
        - mean_and_spread(by_model.get("esmm", []), path)[0]
    )


def report(all_runs: List[Dict], models: Sequence[str], args) -> str:
    by_model = {m: [r for r in all_runs if r["model"] == m] for m in models}
    lines = [
        "# ESM2 vs ESMM vs DNN on the `paper` preset",
        "",
        f"Command: `{args.command}`; {os.cpu_count()} CPU cores; "
        f"seeds {list(args.seeds)}; "
        f"Trainer: {training_config(args).describe()} per run.",
        "",
        f"Model settings: {model_settings(all_runs)}.",
        "",
        "## Overall (mean ± standard deviation over seeds)",
        "",
        "| model | " + " | ".join(HEADLINE) + " |",
        "|---" * (len(HEADLINE) + 1) + "|",
    ]
    for m in models:
        cells = [
            mean_spread(_values(by_model[m], lambda r, k=k: r["overall"].get(k)))
            for k in HEADLINE
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    # Every run scores the same eval examples, so the oracle is that of any run.
    oracle = all_runs[0]["groundtruth"]
    lines.append(
        "| oracle (true probabilities) | "
        + " | ".join(
            f"{oracle[k]['oracle']:.4f}" if k in oracle else "–" for k in HEADLINE
        )
        + " |"
    )
    lines += ["", "## Against the oracle (model AUC / oracle AUC)", ""]
    lines.append(
        "| model | " + " | ".join(ORACLE_METRICS) + " | entire-space CVR AUC (model) |"
    )
    lines.append("|---" * (len(ORACLE_METRICS) + 2) + "|")
    for m in models:
        cells = [
            mean_spread(
                _values(
                    by_model[m],
                    lambda r, k=k: r["groundtruth"].get(k, {}).get("fraction"),
                )
            )
            for k in ORACLE_METRICS
        ]
        entire = mean_spread(
            _values(
                by_model[m],
                lambda r: r["groundtruth"][groundtruth.ENTIRE_SPACE_CVR_AUC]["model"],
            )
        )
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {entire} |")
    lines += ["", "## Precision / recall / F1 at the top", ""]
    lines.append("| metric | " + " | ".join(models) + " |")
    lines.append("|---" * (len(models) + 1) + "|")
    for k in TOP_METRICS:
        lines.append(
            f"| {k} | "
            + " | ".join(
                mean_spread(_values(by_model[m], lambda r, k=k: r["overall"].get(k)))
                for m in models
            )
            + " |"
        )
    lines += ["", "## Calibration: mean prediction / observed rate, and ECE", ""]
    lines.append(
        "| model | " + " | ".join(f"{t} pred/obs | {t} ECE" for t in TASKS) + " |"
    )
    lines.append("|---" * (2 * len(TASKS) + 1) + "|")
    for m in models:
        cells = [
            mean_spread(
                _values(by_model[m], lambda r, k=f"{t}_{kind}": r["overall"].get(k))
            )
            for t in TASKS
            for kind in ("calibration", "ece")
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per purchase-frequency bucket (mean ± standard deviation over seeds)",
        "",
    ]
    lines += markdown_table(
        ("bucket", "model", *GAIN_METRICS),
        (
            (bucket, m)
            + tuple(
                mean_spread(
                    _values(
                        by_model[m], lambda r, k=k, b=bucket: r["buckets"][b].get(k)
                    )
                )
                for k in GAIN_METRICS
            )
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
            for m in models
        ),
    )
    if {"esm2", "esmm"} <= set(models):
        lines += [
            "",
            "## Gain of ESM2 over ESMM per purchase-frequency bucket (Figure 7)",
            "",
        ]
        lines += markdown_table(
            ("bucket", *GAIN_METRICS),
            (
                (bucket,)
                + tuple(
                    f"{gain(by_model, observed(k, bucket)):+.4f}" for k in GAIN_METRICS
                )
                for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
            ),
        )
    lines += expected_section(by_model, models)
    lines += ["", "## Claims", ""] + [f"- {c}" for c in claims(by_model)]
    return "\n".join(lines) + "\n"


# Components that handle rows; the others only move metadata.
TIMED_COMPONENTS = (
    "ImpressionLogExampleGen",
    "StatisticsGen",
    "Transform",
    "Trainer",
    "Evaluator",
    "GroundTruthEvaluator",
)


def component_times(metadata_path: str, all_runs: List[Dict]) -> List[str]:
    """Each run's component wall times from ML Metadata ("cached" when reused).

    Runs are matched to ``all_runs`` by order: the benchmark runs them one
    after another in this store and nothing else.
    """
    executions = run_summary.run_executions(metadata_path, PIPELINE_NAME)
    if len(executions) != len(all_runs):
        return [f"(ML Metadata holds {len(executions)} runs, not {len(all_runs)})"]
    lines = [
        "| run | " + " | ".join(TIMED_COMPONENTS) + " |",
        "|---" * (len(TIMED_COMPONENTS) + 1) + "|",
    ]
    for run, nodes in zip(all_runs, executions, strict=True):
        cells = []
        for component in TIMED_COMPONENTS:
            node = nodes.get(component)
            if node is None:
                cells.append("–")
            elif node.state == "CACHED":
                cells.append("cached")
            else:
                cells.append(f"{node.seconds:,.0f} s")
        lines.append(
            f"| {run['model']} seed {run['seed']} | " + " | ".join(cells) + " |"
        )
    return lines


def expected_section(
    by_model: Dict[str, List[Dict]], models: Sequence[str]
) -> List[str]:
    """The AUCs against the true probabilities: the same ranking, no label noise."""
    if not any(_values(by_model[m], expected(eval_config.CVR_AUC)) for m in models):
        return []
    lines = [
        "",
        "## Without label noise: AUC against the true probabilities",
        "",
        "Each impression counts as a positive of mass p and a negative of mass "
        "1 - p, p its true probability (evaluation/groundtruth.py). Mean ± "
        "standard deviation over seeds.",
        "",
    ]
    any_run = next(iter(by_model.values()))[0]
    lines += markdown_table(
        ("model", *ORACLE_METRICS),
        [
            (
                m,
                *(
                    mean_spread(_values(by_model[m], expected(k)))
                    for k in ORACLE_METRICS
                ),
            )
            for m in models
        ]
        + [
            (
                "oracle (true probabilities)",
                *(
                    f"{expected(k, field='expected_oracle')(any_run):.4f}"
                    for k in ORACLE_METRICS
                ),
            )
        ],
    )
    if {"esm2", "esmm"} <= set(models):
        lines += ["", "Gain of ESM2 over ESMM per bucket, without label noise:", ""]
        lines += markdown_table(
            ("bucket", *CLAIM_METRICS),
            (
                (
                    bucket,
                    *(
                        f"{gain(by_model, expected(k, bucket)):+.4f}"
                        for k in CLAIM_METRICS
                    ),
                )
                for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
            ),
        )
    return lines


def verdict(holds: bool) -> str:
    return "HOLDS" if holds else "DOES NOT HOLD"


def ordering_claims(
    by_model: Dict[str, List[Dict]], reading: str, path_of: Callable[[str], Path]
) -> List[str]:
    """Table 3: ESM2 > ESMM > DNN, each gap larger than the seed spread."""
    found = []
    for k in CLAIM_METRICS:
        for better, worse in (("esm2", "esmm"), ("esmm", "dnn")):
            (a, sa), (b, sb) = (
                mean_and_spread(by_model.get(m, []), path_of(k))
                for m in (better, worse)
            )
            if a != a or b != b:
                continue  # a model that was not run, or a reading it lacks
            found.append(
                f"{k} ({reading}): {better} {a:.4f} > {worse} {b:.4f} by more than "
                f"the seed spread ({max(sa, sb):.4f}): {verdict(a - b > max(sa, sb))}"
            )
    return found


def figure_7_claims(
    by_model: Dict[str, List[Dict]],
    reading: str,
    path_of: Callable[[str, str], Path],
) -> List[str]:
    """Figure 7: ESM2's gain over ESMM no smaller for heavy buyers than light."""
    light, heavy = FIGURE_7_BUCKETS
    found = []
    for k in CLAIM_METRICS:
        low, high = gain(by_model, path_of(k, light)), gain(by_model, path_of(k, heavy))
        if low == low and high == high:
            found.append(
                f"{k} ({reading}): ESM2's gain over ESMM in {heavy} ({high:+.4f}) "
                f">= in {light} ({low:+.4f}) (Figure 7): {verdict(high >= low)}"
            )
    return found


def label_noise(by_model: Dict[str, List[Dict]]) -> List[str]:
    """How far one eval day's labels alone move each claimed AUC."""
    found = []
    runs = by_model.get("esm2") or next(iter(by_model.values()))
    for k in CLAIM_METRICS:
        task = k.split("_")[0]
        auc, _ = mean_and_spread(runs, observed(k))
        for bucket in (None, *FIGURE_7_BUCKETS):
            positives = observed(f"{task}_positive_count", bucket)(runs[0])
            examples = observed(f"{task}_example_count", bucket)(runs[0])
            if positives is None or examples is None:
                continue
            error = ranking.auc_standard_error(auc, positives, examples - positives)
            found.append(
                f"{k} on {bucket or 'all'} of the eval day: {positives:,.0f} purchases "
                f"among {examples:,.0f}; standard error of one model's AUC from "
                f"the label draw alone (Hanley-McNeil) ±{error:.4f}"
            )
    return found


def claims(by_model: Dict[str, List[Dict]]) -> List[str]:
    """The spec's "ESM2 works" criteria, each with its verdict.

    Each is judged as the spec states it, on the Evaluator's AUCs, and again
    on the AUCs against the true probabilities, which a few hundred purchases
    cannot blur; ``label_noise`` says how much the former can move.
    """
    found = ordering_claims(by_model, "Evaluator", observed)
    if by_model.get("esm2") and by_model.get("esmm"):
        found += figure_7_claims(by_model, "Evaluator", observed)
    fraction = _values(
        by_model.get("esm2", []), lambda r: r["groundtruth"]["ctcvr_auc"]["fraction"]
    )
    if fraction:
        value = statistics.mean(fraction)
        found.append(
            f"ESM2 CTCVR AUC / oracle = {value:.3f} >= 0.95: {verdict(value >= 0.95)}"
        )
    found += label_noise(by_model)
    found += ordering_claims(by_model, "without label noise", expected)
    if by_model.get("esm2") and by_model.get("esmm"):
        found += figure_7_claims(by_model, "without label noise", expected)
    return found


def runs_path(output: str) -> str:
    """Where the raw figures of the report at ``output`` are kept."""
    return os.path.splitext(output)[0] + ".json"


def save_runs(path: str, command: str, minutes: float, all_runs: List[Dict]) -> None:
    """Write the runs so far; rewritten after every run, so a cut-off
    benchmark keeps what it measured (render it with ``--from-json``)."""
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(
            {"command": command, "minutes": minutes, "runs": all_runs}, f, indent=1
        )
    os.replace(temporary, path)


def load_runs(path: str) -> Dict:
    with open(path) as f:
        return json.load(f)


def run_all(args) -> Tuple[List[Dict], float]:
    """Generate the logs if needed and run every model and seed in turn.

    With ``--resume``, runs already in the output's .json are kept and not run
    again; the wall time then adds this invocation's to the saved one.
    """
    start = time.perf_counter()
    path = runs_path(args.output)
    done, earlier_minutes = [], 0.0
    if args.resume and os.path.exists(path):
        saved = load_runs(path)
        done, earlier_minutes = saved["runs"], saved["minutes"]
        print(f"Resuming: {len(done)} runs already in {path}")
    logs = os.path.join(args.workdir, f"logs-paper-{args.impressions}-{args.days}d")
    if not os.path.isdir(logs):
        print(
            generate(
                logs, preset="paper", num_impressions=args.impressions, days=args.days
            ).format()
        )
    saved_runs = {(r["model"], r["seed"]): r for r in done}
    all_runs, minutes = [], earlier_minutes
    for seed in args.seeds:
        for model in args.models:
            run = saved_runs.get((model, seed)) or run_one(args, logs, model, seed)
            all_runs.append(run)
            minutes = earlier_minutes + (time.perf_counter() - start) / 60
            save_runs(path, args.command, minutes, all_runs)
    return all_runs, minutes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's flags, with the command line recorded in ``command``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impressions", type=int, default=1_320_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["esm2", "esmm", "dnn"])
    parser.add_argument(
        "--train-steps", type=int, default=0, help="0: --epochs passes (default)"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--eval-steps", type=int, default=100)
    parser.add_argument("--workdir", default="/tmp/esm2-paper-claims")
    parser.add_argument("--output", default="benchmark_results.md")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs already in the output's .json and run only the rest",
    )
    parser.add_argument(
        "--from-json",
        help="re-render the report from the .json a run wrote, without running",
    )
    add_dataclass_arguments(parser, ModelConfig, exclude=PER_RUN_FIELDS)
    args = parser.parse_args(argv)
    args.command = "benchmarks/paper_claims.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k not in ("command", "from_json", "resume") and v is not None
    )
    return args


def main() -> None:
    args = parse_args()
    if args.from_json:
        saved = load_runs(args.from_json)
        args.command, all_runs, minutes = (
            saved["command"],
            saved["runs"],
            saved["minutes"],
        )
    else:
        all_runs, minutes = run_all(args)
    models = [m for m in args.models if any(r["model"] == m for r in all_runs)]
    text = report(all_runs, models, args)
    metadata_path = os.path.join(args.workdir, "metadata.sqlite")
    if os.path.exists(metadata_path):
        text += "\n## Where the time went (ML Metadata)\n\n"
        text += "\n".join(component_times(metadata_path, all_runs)) + "\n"
    text += f"\nWall time of the whole benchmark: {minutes:.1f} min.\n"
    with open(args.output, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
