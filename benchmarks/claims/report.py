"""The markdown report, one function a section.

Every cell over seeds is "mean ± standard deviation" (``tables.spread_cell``);
the claims and their verdicts come last (``verdicts.claims``).
"""

from __future__ import annotations

import argparse
import os
from typing import Callable, Dict, List, Sequence

from evaluation import eval_config, groundtruth
from transform import features

from .metrics import (
    CLAIM_METRICS,
    GAIN_METRICS,
    HEADLINE,
    ORACLE_METRICS,
    TASKS,
    TOP_METRICS,
)
from .settings import model_settings, training_config
from .stats import Path, expected, gain, observed, truth, values
from .tables import markdown_table, section, spread_cell
from .verdicts import claims

ByModel = Dict[str, List[Dict]]
ORACLE_ROW = "oracle (true probabilities)"
# The calibration figures of each task: (metric suffix, column label).
CALIBRATION = (("calibration", "pred/obs"), ("ece", "ECE"))


def any_run(by_model: ByModel) -> Dict:
    """Every run scores the same eval examples, so the oracle is that of any run."""
    return next(iter(by_model.values()))[0]


def header(all_runs: List[Dict], args: argparse.Namespace) -> List[str]:
    """The title, the command and machine, and what the runs were trained with."""
    return [
        "# ESM2 vs ESMM vs DNN on the `paper` preset",
        "",
        f"Command: `{args.command}`; {os.cpu_count()} CPU cores; "
        f"seeds {list(args.seeds)}; "
        f"Trainer: {training_config(args).describe()} per run.",
        "",
        f"Model settings: {model_settings(all_runs)}.",
    ]


def overall_section(by_model: ByModel) -> List[str]:
    """The headline metrics of each model, and the oracle's."""
    oracle = any_run(by_model)["groundtruth"]
    rows = [
        (m, *(spread_cell(runs, observed(k)) for k in HEADLINE))
        for m, runs in by_model.items()
    ]
    rows.append(
        (
            ORACLE_ROW,
            *(f"{oracle[k]['oracle']:.4f}" if k in oracle else "–" for k in HEADLINE),
        )
    )
    return section(
        "Overall (mean ± standard deviation over seeds)",
        markdown_table(("model", *HEADLINE), rows),
    )


def oracle_section(by_model: ByModel) -> List[str]:
    """Each model's AUCs as fractions of the oracle's."""
    entire = groundtruth.ENTIRE_SPACE_CVR_AUC
    rows = (
        (
            m,
            *(spread_cell(runs, truth(k, "fraction")) for k in ORACLE_METRICS),
            spread_cell(runs, truth(entire, "model")),
        )
        for m, runs in by_model.items()
    )
    return section(
        "Against the oracle (model AUC / oracle AUC)",
        markdown_table(
            ("model", *ORACLE_METRICS, "entire-space CVR AUC (model)"), rows
        ),
    )


def top_section(by_model: ByModel) -> List[str]:
    """Precision, recall and F1 of the top-scored fractions, a column a model."""
    rows = (
        (k, *(spread_cell(runs, observed(k)) for runs in by_model.values()))
        for k in TOP_METRICS
    )
    return section(
        "Precision / recall / F1 at the top",
        markdown_table(("metric", *by_model), rows),
    )


def calibration_section(by_model: ByModel) -> List[str]:
    """Each task's mean prediction over observed rate, and its ECE."""
    columns = [
        (f"{task}_{suffix}", f"{task} {label}")
        for task in TASKS
        for suffix, label in CALIBRATION
    ]
    rows = (
        (m, *(spread_cell(runs, observed(k)) for k, _ in columns))
        for m, runs in by_model.items()
    )
    return section(
        "Calibration: mean prediction / observed rate, and ECE",
        markdown_table(("model", *(label for _, label in columns)), rows),
    )


def bucket_section(by_model: ByModel) -> List[str]:
    """The gain metrics of each model in each purchase-frequency bucket."""
    rows = (
        (bucket, m, *(spread_cell(runs, observed(k, bucket)) for k in GAIN_METRICS))
        for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        for m, runs in by_model.items()
    )
    return section(
        "Per purchase-frequency bucket (mean ± standard deviation over seeds)",
        markdown_table(("bucket", "model", *GAIN_METRICS), rows),
    )


def gain_table(
    by_model: ByModel, path_of: Callable[[str, str], Path], metrics: Sequence[str]
) -> List[str]:
    """ESM2's gain over ESMM in each bucket, on one reading of the AUCs."""
    return markdown_table(
        ("bucket", *metrics),
        (
            (bucket, *(f"{gain(by_model, path_of(k, bucket)):+.4f}" for k in metrics))
            for bucket in features.PURCHASE_FREQ_BUCKET_NAMES
        ),
    )


def has_esm2_and_esmm(by_model: ByModel) -> bool:
    """Whether a gain of ESM2 over ESMM can be read."""
    return {"esm2", "esmm"} <= by_model.keys()


def figure_7_section(by_model: ByModel) -> List[str]:
    """Figure 7 on the Evaluator's AUCs, where both ESM2 and ESMM ran."""
    if not has_esm2_and_esmm(by_model):
        return []
    return section(
        "Gain of ESM2 over ESMM per purchase-frequency bucket (Figure 7)",
        gain_table(by_model, observed, GAIN_METRICS),
    )


def expected_section(by_model: ByModel) -> List[str]:
    """The AUCs against the true probabilities: the same ranking, no label noise."""
    cvr = expected(eval_config.CVR_AUC)
    if not any(values(runs, cvr) for runs in by_model.values()):
        return []
    rows = [
        (m, *(spread_cell(runs, expected(k)) for k in ORACLE_METRICS))
        for m, runs in by_model.items()
    ]
    oracle = any_run(by_model)
    rows.append(
        (
            ORACLE_ROW,
            *(
                f"{expected(k, field='expected_oracle')(oracle):.4f}"
                for k in ORACLE_METRICS
            ),
        )
    )
    blocks = [
        [
            "Each impression counts as a positive of mass p and a negative of mass "
            "1 - p, p its true probability (evaluation/groundtruth.py). Mean ± "
            "standard deviation over seeds."
        ],
        markdown_table(("model", *ORACLE_METRICS), rows),
    ]
    if has_esm2_and_esmm(by_model):
        blocks += [
            ["Gain of ESM2 over ESMM per bucket, without label noise:"],
            gain_table(by_model, expected, CLAIM_METRICS),
        ]
    return section("Without label noise: AUC against the true probabilities", *blocks)


SECTIONS = (
    overall_section,
    oracle_section,
    top_section,
    calibration_section,
    bucket_section,
    figure_7_section,
    expected_section,
)


def report(
    all_runs: List[Dict], models: Sequence[str], args: argparse.Namespace
) -> str:
    """The whole report on ``all_runs``, its columns and rows in ``models``' order."""
    by_model = {m: [r for r in all_runs if r["model"] == m] for m in models}
    lines = header(all_runs, args)
    for make_section in SECTIONS:
        lines += make_section(by_model)
    lines += section("Claims", [f"- {c}" for c in claims(by_model)])
    return "\n".join(lines) + "\n"
