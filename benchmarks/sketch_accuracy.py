"""The Evaluator's sketched AUCs against the exact ones, on a real eval day.

    .venv/bin/python benchmarks/sketch_accuracy.py \\
        --model-dir <pipeline_root>/Trainer/model/<id>/Format-Serving \\
        --examples <pipeline_root>/ImpressionLogExampleGen/examples/<id>/Split-eval

Scores every eval example through the model's serving signature and prints,
per output and population the Evaluator reports (CTR, CTAVR and CTCVR over
all impressions, CVR over clicks), the ``ScoreSketch`` AUC, the exact rank
AUC (``ranking.exact_auc``), their difference, the sketch's bound on it
(``tie_bound``) and the sketch's size against the examples it summarises.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402

from evaluation import groundtruth, ranking  # noqa: E402
from evaluation.sketch import ScoreSketch  # noqa: E402
from transform import tasks  # noqa: E402



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True, help="a Format-Serving dir")
    parser.add_argument("--examples", required=True, help="a Split-eval dir")
    args = parser.parse_args()
    examples = groundtruth.read_examples(args.examples)
    scores = groundtruth.score(args.model_dir, examples["serialized"].tolist())
    print(f"{len(examples):,} eval examples; model {args.model_dir}")
    print(
        f"{'output':<8} {'sketch AUC':>11} {'exact AUC':>11} {'difference':>11} "
        f"{'tie bound':>10} {'bins':>8} {'examples':>9}"
    )
    for task in tasks.TASKS:  # each output over its population, as the Evaluator
        output = task.output
        weights = (
            np.ones(len(examples))
            if task.population is None
            else examples[task.population].to_numpy(dtype=float)
        )
        labels = examples[task.label].to_numpy(dtype=float)
        sketch = ScoreSketch.of(scores[output], labels, weights)
        exact = ranking.exact_auc(scores[output], labels, weights)
        print(
            f"{output:<8} {sketch.auc():>11.6f} {exact:>11.6f} "
            f"{sketch.auc() - exact:>11.2e} {sketch.tie_bound():>10.2e} "
            f"{len(sketch.bins):>8,} {len(sketch):>9,}"
        )


if __name__ == "__main__":
    main()
