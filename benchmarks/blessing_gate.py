"""How often the Evaluator's gate refuses retrains as good as the blessed model.

    .venv/bin/python benchmarks/blessing_gate.py --input-base LOGS \\
        --workdir /tmp/esm2-gate --seeds 1 2 3 4 5

Runs the pipeline once (the first run: ESM2, seed 0; blessed if it passes
the skill floor) unless ``--workdir`` already holds a run, then retrains the
same model on the same transformed examples with each of ``--seeds`` through
the Trainer's own ``run_fn``, and evaluates every candidate against that one
blessed model with the pipeline's TFMA EvalConfig (``build_eval_config``
with a baseline), on the run's eval split. Two deliberately bad candidates
go through the same gate: the no-skill prior and a damaged retrain (the
first seed's model with the rows of its ID embedding tables shuffled: each
item, user, ... gets another's learned vector).

For each candidate it prints the gated AUCs' change against the baseline,
DeLong's 95 % interval and p-value, the verdict of the gate as configured
(``--skill-alpha``, ``--regression-alpha``, ``--auc-margin``) and the verdict
of the rule it replaced (AUC >= 0.5 and a change of at least -0.001 on CVR
and CTCVR AUC), and the count of retrains each refuses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from typing import Dict, List, Mapping, NamedTuple, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_analysis as tfma  # noqa: E402
from tfx.utils import path_utils  # noqa: E402

from evaluation import results  # noqa: E402
from evaluation.eval_config import BlessingThresholds, build_eval_config  # noqa: E402
from evaluation.offline import run_tfma  # noqa: E402
from models import trainer  # noqa: E402
from pipeline import run_summary, runs  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.dataclass_cli import add_dataclass_arguments, apply_overrides  # noqa: E402
from transform import features  # noqa: E402

# The rule this gate replaced: AUC >= 0.5 and change >= -0.001 (CVR, CTCVR).
OLD_MIN_AUC = 0.5
OLD_MIN_CHANGE = -1e-3


class Candidate(NamedTuple):
    """A model the gate judges: its row label, architecture and SavedModel."""

    label: str
    model: str  # models.registry name: decides which AUCs are evaluated
    model_dir: str
    workdir: str  # where its training and evaluation outputs go


def train_candidate(
    outputs: Mapping, config: PipelineConfig, model_dir: str
) -> str:
    """Trains ``config.model`` with the Trainer's ``run_fn`` on a run's
    transformed examples; returns the exported model's directory."""
    fn_args = trainer.trainer_fn_args(outputs)
    fn_args.serving_model_dir = path_utils.serving_model_dir(model_dir)
    fn_args.model_run_dir = os.path.join(model_dir, "run")
    fn_args.train_steps = config.training.train_steps or None
    fn_args.eval_steps = config.training.eval_steps
    fn_args.custom_config = {
        trainer.MODEL_CONFIG_KEY: dataclasses.asdict(config.model),
        trainer.EPOCHS_KEY: config.training.epochs,
    }
    trainer.run_fn(fn_args)
    return fn_args.serving_model_dir


def shuffle_id_embeddings(
    model_dir: str, output_dir: str, columns: Sequence[str], seed: int = 0
) -> str:
    """A copy of a SavedModel whose ``columns``' embedding rows are permuted.

    Every ID keeps a learned vector, but another ID's: the model still
    scores like a trained one (same calibration, same dense features) and
    ranks worse by what the IDs taught it.
    """
    loaded = tf.saved_model.load(model_dir)
    rng = np.random.default_rng(seed)
    names = {f"{column}_embedding/embeddings:0" for column in columns}
    shuffled = 0
    for variable in loaded.model.variables:
        if variable.name.split("/", 1)[-1] in names or variable.name in names:
            variable.assign(rng.permutation(variable.numpy()))
            shuffled += 1
    if shuffled < len(names):
        raise ValueError(f"found {shuffled} of the embedding tables {sorted(names)}")
    tf.saved_model.save(loaded, output_dir, signatures=dict(loaded.signatures))
    return output_dir


def evaluate_against(
    candidate_dir: str,
    baseline_dir: str,
    model_name: str,
    thresholds: BlessingThresholds,
    data_location: str,
    output_path: str,
) -> str:
    """TFMA with the pipeline's EvalConfig, candidate against baseline."""
    return run_tfma(
        build_eval_config(model_name, thresholds, baseline=True),
        {tfma.CANDIDATE_KEY: candidate_dir, tfma.BASELINE_KEY: baseline_dir},
        data_location,
        output_path,
    )


def verdicts(output_path: str, model_name: str) -> Dict[str, object]:
    """The gate's verdict, the old rule's, and the figures behind them."""
    comparison = results.baseline_comparison(output_path)
    overall = results.candidate_metrics(output_path, model_name)[results.OVERALL]
    old_ok = all(
        overall[auc] >= OLD_MIN_AUC and comparison[auc]["delta"] >= OLD_MIN_CHANGE
        for auc in comparison
    )
    return {
        "blessed": tfma.load_validation_result(output_path).validation_ok,
        "old_rule_blessed": old_ok,
        "comparison": comparison,
        "failures": results.blessing_failures(output_path),
    }


def _row(name: str, verdict: Mapping) -> str:
    cells = [name]
    for auc, c in verdict["comparison"].items():
        cells.append(
            f"{c['delta']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
            f"{results.p_value_text(c['p_value'])}"
        )
    cells.append("blessed" if verdict["blessed"] else "REFUSED")
    cells.append("blessed" if verdict["old_rule_blessed"] else "REFUSED")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    add_dataclass_arguments(parser, PipelineConfig)
    args = parser.parse_args()
    config = apply_overrides(PipelineConfig(workdir="/tmp/esm2-gate"), args)

    if os.path.exists(config.metadata_path):
        summary = run_summary.summarize(config.metadata_path, config.pipeline_name)
    else:
        summary = runs.run(config)
    if not summary.blessed:
        raise SystemExit(f"the first run was not blessed: {summary.blessing_failures}")
    outputs = summary.artifacts
    baseline = path_utils.serving_model_dir(outputs["Trainer.model"].uri)
    eval_files = os.path.join(
        outputs[run_summary.EXAMPLES].uri, "Split-eval", "*"
    )
    scratch = tempfile.mkdtemp(prefix="blessing_gate_", dir=config.workdir)

    def retrain(seed: int, model: str = config.model.model) -> Candidate:
        changed = dataclasses.replace(config.model, seed=seed, model=model)
        directory = os.path.join(scratch, f"{model}-seed-{seed}")
        trained = train_candidate(
            outputs, dataclasses.replace(config, model=changed), directory
        )
        return Candidate(f"retrain, seed {seed}", model, trained, directory)

    retrains = [retrain(seed) for seed in args.seeds]
    first, damaged_dir = retrains[0], os.path.join(scratch, "damaged")
    damaged = Candidate(
        f"damaged: seed {args.seeds[0]}, ID embeddings shuffled",
        first.model,
        shuffle_id_embeddings(
            first.model_dir,
            path_utils.serving_model_dir(damaged_dir),
            [c.name for c in features.ID_FEATURES],
        ),
        damaged_dir,
    )
    prior = retrain(args.seeds[0], model="prior")._replace(label="no-skill prior")

    t = config.blessing
    print(
        f"\nGate: skill_alpha={t.skill_alpha}, regression_alpha={t.regression_alpha}"
        f" (per AUC {t.regression_test_alpha()}), auc_margin={t.auc_margin}; "
        f"old rule: AUC >= {OLD_MIN_AUC} and change >= {OLD_MIN_CHANGE}"
    )
    print(
        "| candidate | CVR AUC change [95% CI] p | CTCVR AUC change [95% CI] p "
        "| gate | old rule |\n|---|---|---|---|---|"
    )
    refused: List[str] = []
    old_refused: List[str] = []
    for candidate in [*retrains, damaged, prior]:
        output = evaluate_against(
            candidate.model_dir,
            baseline,
            candidate.model,
            config.blessing,
            eval_files,
            os.path.join(candidate.workdir, "evaluation"),
        )
        verdict = verdicts(output, candidate.model)
        print(_row(candidate.label, verdict), flush=True)
        if candidate in retrains:
            refused += [] if verdict["blessed"] else [candidate.label]
            old_refused += [] if verdict["old_rule_blessed"] else [candidate.label]
    print(
        f"\nRetrains refused: gate {len(refused)} of {len(args.seeds)}, "
        f"old rule {len(old_refused)} of {len(args.seeds)}"
    )


if __name__ == "__main__":
    main()
