"""What the served model sees at request time: AUCs with and without position.

    .venv/bin/python benchmarks/serving_inputs.py \\
        --model before=<old run>/Trainer/model/<id>/Format-Serving \\
        --model after=<new run>/Trainer/model/<id>/Format-Serving \\
        --examples <run>/ImpressionLogExampleGen/examples/<id>/Split-eval

When ranking candidates the position they will be shown at is not known yet,
and a request may lack a user's gender, age bucket or purchasing power.
This scores a run's eval split as logged and as a ranking request sees it,
for each model given:

- ``logged position``: every feature as logged (a model with the
  ``at_logged_position`` signature is scored through it; an older model's
  ``serving_default`` read the position as any other feature);
- ``position unknown``: the position left out of every example, as the
  serving client sends them;
- ``position and user profile unknown``: also gender, age bucket and
  purchasing power left out (IDs a request may miss).

and prints CTR, CVR (clicked impressions) and CTCVR AUC (exact, as the
Evaluator computes them) and CTR calibration (mean pCTR / click rate). A
feature left out is parsed to its default, which the vocabulary maps to an
OOV bucket: trained in the current models (``id_unknown_rate``,
``position_unknown_rate``), random initial values in a model without that.
"""

from __future__ import annotations

import argparse
import os
from typing import Dict, List, Mapping, Sequence, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from evaluation.groundtruth import read_examples, score_with  # noqa: E402
from evaluation.ranking import exact_auc  # noqa: E402
from transform import features  # noqa: E402

USER_PROFILE = (features.USER_GENDER, features.USER_AGE_BUCKET, features.USER_POWER)
SCENARIOS: Dict[str, Tuple[str, ...]] = {
    "logged position": (),
    "position unknown (as served)": (features.POSITION,),
    "position and user profile unknown": (features.POSITION,) + USER_PROFILE,
}


def without(serialized: Sequence[bytes], dropped: Sequence[str]) -> List[bytes]:
    """The serialized examples with the ``dropped`` features left out."""
    out = []
    for record in serialized:
        example = tf.train.Example.FromString(record)
        for name in dropped:
            del example.features.feature[name]
        out.append(example.SerializeToString())
    return out


def figures(scores: Mapping[str, np.ndarray], examples: pd.DataFrame):
    click = examples[features.LABEL_CLICK].to_numpy(np.float64)
    purchase = examples[features.LABEL_PURCHASE].to_numpy(np.float64)
    return {
        "CTR AUC": exact_auc(scores[features.OUTPUT_PCTR], click),
        "CVR AUC": exact_auc(scores[features.OUTPUT_PCVR], purchase, click),
        "CTCVR AUC": exact_auc(scores[features.OUTPUT_PCTCVR], purchase),
        "CTR calibration": float(np.mean(scores[features.OUTPUT_PCTR]) / click.mean()),
    }


def evaluate(model_dir: str, examples: pd.DataFrame):
    """Each scenario's figures of one model on ``groundtruth.read_examples``."""
    model = tf.saved_model.load(model_dir)
    served = model.signatures[features.SERVING_SIGNATURE]
    logged = model.signatures.get(features.LOGGED_POSITION_SIGNATURE, served)
    serialized = examples["serialized"].tolist()
    results = {}
    for scenario, dropped in SCENARIOS.items():
        signature = logged if not dropped else served
        scores = score_with(signature, without(serialized, dropped))
        results[scenario] = figures(scores, examples)
    return results


def mean_table(rows: Dict[Tuple[str, str], Dict[str, float]]) -> List[str]:
    """Mean ± spread (max - min) per model group and request; a model labelled
    "after, seed 1" belongs to the group "after"."""
    groups: Dict[Tuple[str, str], List[Dict[str, float]]] = {}
    for (label, scenario), values in rows.items():
        groups.setdefault((label.split(",")[0], scenario), []).append(values)
    lines = [
        "| models | request | CTR AUC | CVR AUC | CTCVR AUC | CTR calibration |",
        "|---|---|---|---|---|---|",
    ]
    for (group, scenario), runs in groups.items():
        cells = []
        for name in runs[0]:
            values = [run[name] for run in runs]
            cells.append(f"{np.mean(values):.4f} ± {np.ptp(values):.4f}")
        lines.append(f"| {group} (n={len(runs)}) | {scenario} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        help='LABEL=<Format-Serving dir>; repeat to compare models ("after, '
        'seed 1=DIR": rows of the same LABEL before the comma are averaged)',
    )
    parser.add_argument("--examples", required=True, help="a Split-eval dir")
    args = parser.parse_args()

    examples = read_examples(args.examples)
    print(f"{len(examples):,} eval examples from {args.examples}\n")
    print("| model | request | CTR AUC | CVR AUC | CTCVR AUC | CTR calibration |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for spec in args.model:
        name, _, model_dir = spec.partition("=")
        for scenario, values in evaluate(model_dir, examples).items():
            rows[(name, scenario)] = values
            cells = " | ".join(f"{v:.4f}" for v in values.values())
            print(f"| {name} | {scenario} | {cells} |", flush=True)
    print("\nMean ± spread (max - min) over the models of each label:\n")
    print("\n".join(mean_table(rows)))


if __name__ == "__main__":
    main()
