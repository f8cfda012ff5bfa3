"""Oracle AUCs and the entire-space CVR AUC, checked against sklearn."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from evaluation import groundtruth
from transform import features


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = {k: rng.uniform(0.05, 0.95, n) for k in ("y1", "y2", "y3", "y4")}
    click = (rng.uniform(size=n) < y["y1"]).astype(int)
    daction = click * (rng.uniform(size=n) < y["y2"])
    pcvr = y["y2"] * y["y3"] + (1 - y["y2"]) * y["y4"]
    purchase_if_clicked = (rng.uniform(size=n) < pcvr).astype(int)
    frame = pd.DataFrame(
        {
            features.USER_ID: rng.integers(0, 20, n).astype(str),
            features.SLICE_KEY: rng.choice(features.PURCHASE_FREQ_BUCKET_NAMES, n),
            features.LABEL_CLICK: click,
            features.LABEL_DACTION: daction.astype(int),
            features.LABEL_PURCHASE: click * purchase_if_clicked,
            features.PURCHASE_IF_CLICKED: purchase_if_clicked,
            features.P_CLICK: y["y1"],
            features.P_DACTION: y["y2"],
            features.P_BUY_DACTION: y["y3"],
            features.P_BUY_OACTION: y["y4"],
        }
    )
    for name in features.MODEL_OUTPUTS:  # a noisy model
        frame[name] = rng.uniform(size=n)
    return groundtruth.add_oracle_scores(frame), y


def test_oracle_scores_follow_the_behaviour_graph():
    frame, y = _frame()
    pcvr = y["y2"] * y["y3"] + (1 - y["y2"]) * y["y4"]
    np.testing.assert_allclose(frame["oracle_pctr"], y["y1"])
    np.testing.assert_allclose(frame["oracle_pctavr"], y["y1"] * y["y2"])
    np.testing.assert_allclose(frame["oracle_pcvr"], pcvr)
    np.testing.assert_allclose(frame["oracle_pctcvr"], y["y1"] * pcvr)


def test_comparisons_match_sklearn_on_their_populations():
    frame, _ = _frame()
    report = groundtruth.compare_with_oracle(frame, "esm2")[groundtruth.OVERALL]
    clicked = frame[frame[features.LABEL_CLICK] == 1]
    expected = {
        "ctr_auc": (frame, features.LABEL_CLICK, "pctr", "oracle_pctr"),
        "cvr_auc": (clicked, features.LABEL_PURCHASE, "pcvr", "oracle_pcvr"),
        "ctcvr_auc": (frame, features.LABEL_PURCHASE, "pctcvr", "oracle_pctcvr"),
        groundtruth.ENTIRE_SPACE_CVR_AUC: (
            frame,
            features.PURCHASE_IF_CLICKED,
            "pcvr",
            "oracle_pcvr",
        ),
    }
    for name, (part, label, score, oracle) in expected.items():
        got = report[name]
        assert got["model"] == pytest.approx(
            roc_auc_score(part[label], part[score]), abs=1e-12
        )
        assert got["oracle"] == pytest.approx(
            roc_auc_score(part[label], part[oracle]), abs=1e-12
        )
        assert got["fraction"] == pytest.approx(got["model"] / got["oracle"])
        # Label-noise-free AUC: every impression split into mass p positive and
        # 1 - p negative, p the true probability (sklearn on the doubled rows).
        truth = part[oracle].to_numpy()
        doubled = np.concatenate([part[score], part[score]])
        doubled_labels = np.concatenate([np.ones(len(part)), np.zeros(len(part))])
        masses = np.concatenate([truth, 1 - truth])
        assert got["expected_model"] == pytest.approx(
            roc_auc_score(doubled_labels, doubled, sample_weight=masses), abs=1e-12
        )
        assert got["expected_fraction"] == pytest.approx(
            got["expected_model"] / got["expected_oracle"]
        )
        assert got["expected_model"] < got["expected_oracle"]


def test_esmm_report_skips_ctavr_and_buckets_are_sliced():
    frame, _ = _frame()
    report = groundtruth.compare_with_oracle(frame, "esmm")
    assert "ctavr_auc" not in report[groundtruth.OVERALL]
    for bucket in features.PURCHASE_FREQ_BUCKET_NAMES:
        part = frame[frame[features.SLICE_KEY] == bucket]
        got = report[groundtruth.bucket_slice_name(bucket)]["ctr_auc"]["oracle"]
        assert got == pytest.approx(roc_auc_score(part["click"], part["oracle_pctr"]))


def test_pipeline_ground_truth_step_scores_the_eval_day(pipeline_run, tiny_logs):
    _, summary = pipeline_run
    uri = summary.artifacts["GroundTruthEvaluator.evaluation"].uri
    with open(os.path.join(uri, groundtruth.METRICS_FILE)) as f:
        report = json.load(f)
    assert report["examples"] == summary.quality_report.examples_per_split["eval"]
    overall = report["slices"][groundtruth.OVERALL]
    # The oracle ranks clicks better than a model trained on 6,000 impressions.
    assert overall["ctr_auc"]["oracle"] > overall["ctr_auc"]["model"] > 0.5
    assert 0 < overall[groundtruth.ENTIRE_SPACE_CVR_AUC]["fraction"] <= 1.2
