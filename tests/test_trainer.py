"""The Trainer's model, as the pipeline exported it: it learned, and it serves."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from sklearn.metrics import roc_auc_score
from tfx.utils import path_utils

from evaluation import results
from pipeline import run_summary
from models.trainer import (
    EVAL_ROUNDS,
    fit_schedule,
    input_dataset,
    trainer_fn_args,
)
from transform import features

def _eval_records(summary, limit=None):
    pattern = os.path.join(
        summary.artifacts[run_summary.EXAMPLES].uri, "Split-eval", "*"
    )
    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern), "GZIP")
    return [r.numpy() for r in (dataset.take(limit) if limit else dataset)]


def _label(record: bytes, name: str) -> int:
    return (
        tf.train.Example.FromString(record).features.feature[name].int64_list.value[0]
    )


@pytest.fixture(scope="module")
def served(pipeline_run):
    _, summary = pipeline_run
    return tf.saved_model.load(
        path_utils.serving_model_dir(summary.artifacts["Trainer.model"].uri)
    )


def _scalar_curve(event_dir: str, tag: str):
    values = []
    for path in sorted(glob.glob(os.path.join(event_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values.append(float(tf.make_ndarray(value.tensor)))
    return values


def test_training_loss_falls(pipeline_run):
    _, summary = pipeline_run
    curve = _scalar_curve(
        os.path.join(summary.artifacts["Trainer.model_run"].uri, "logs", "train"),
        "epoch_loss",
    )
    assert len(curve) >= 5
    assert curve[-1] < 0.9 * curve[0]


def test_ctr_auc_on_held_out_day_is_clearly_above_chance(served, pipeline_run):
    _, summary = pipeline_run
    records = _eval_records(summary)
    serve = served.signatures[features.SERVING_SIGNATURE]
    outputs = serve(examples=tf.constant(records))
    clicks = [_label(r, features.LABEL_CLICK) for r in records]
    auc = roc_auc_score(clicks, outputs[features.OUTPUT_PCTR].numpy().ravel())
    assert auc > 0.6, auc


def test_serving_signature_equals_transform_then_model(served, pipeline_run):
    _, summary = pipeline_run
    # 37 examples: the signature pads them to 64 and returns the 37 rows.
    records = _eval_records(summary, limit=37)
    serve = served.signatures[features.SERVING_SIGNATURE]
    from_serving = serve(examples=tf.constant(records))

    tft_output = tft.TFTransformOutput(
        summary.artifacts["Transform.transform_graph"].uri
    )
    raw_spec = tft_output.raw_feature_spec()
    raw = tf.io.parse_example(tf.constant(records), raw_spec)
    transformed = tft_output.transform_raw_features(raw)
    # serving_default: the model without the position (unknown when ranking).
    from_model = served.model(
        {name: transformed[name] for name in features.SERVING_FEATURE_NAMES},
        training=False,
    )
    for name in features.MODEL_OUTPUTS:
        np.testing.assert_allclose(
            from_serving[name].numpy(), from_model[name].numpy(), rtol=1e-5, atol=1e-7
        )


def _at_position(record: bytes, position: int) -> bytes:
    example = tf.train.Example.FromString(record)
    example.features.feature[features.POSITION].int64_list.value[:] = [position]
    return example.SerializeToString()


def test_served_scores_do_not_depend_on_the_position(served, pipeline_run):
    """serving_default ranks as if the slot were unknown; the analysis
    signature at_logged_position is the one that reads it."""
    _, summary = pipeline_run
    records = _eval_records(summary, limit=64)
    top, deep = (
        tf.constant([_at_position(r, p) for r in records]) for p in (1, 30)
    )
    serve = served.signatures[features.SERVING_SIGNATURE]
    logged = served.signatures[features.LOGGED_POSITION_SIGNATURE]
    for name in features.MODEL_OUTPUTS:
        np.testing.assert_array_equal(
            serve(examples=top)[name].numpy(), serve(examples=deep)[name].numpy()
        )
    # The trained position bias: a top slot is clicked more than slot 30.
    assert np.all(
        logged(examples=top)[features.OUTPUT_PCTR].numpy()
        > logged(examples=deep)[features.OUTPUT_PCTR].numpy()
    )


def test_unseen_ids_and_missing_optional_features_are_served(served, pipeline_run):
    _, summary = pipeline_run
    example = tf.train.Example.FromString(_eval_records(summary, limit=1)[0])
    example.features.feature[features.ITEM_ID].bytes_list.value[:] = [
        b"never-seen-item"
    ]
    example.features.feature[features.USER_ID].bytes_list.value[:] = [
        b"never-seen-user"
    ]
    for dropped in ("user_item_pref", "brand_id", "position", "item_price"):
        del example.features.feature[dropped]
    out = served.signatures[features.SERVING_SIGNATURE](
        examples=tf.constant([example.SerializeToString()])
    )
    for name in features.MODEL_OUTPUTS:
        value = out[name].numpy()
        assert value.shape == (1,)
        assert np.all(np.isfinite(value)) and np.all((value >= 0) & (value <= 1))
    assert out[features.OUTPUT_PCTR].numpy()[0] > 0


def test_fit_schedule_by_steps_or_by_full_passes():
    # A step count repeats the split and is cut into validation rounds.
    assert fit_schedule(1000, epochs=1) == (None, EVAL_ROUNDS, 100)
    assert fit_schedule(3, epochs=1) == (None, 3, 1)
    # 15 steps: 7 rounds of 2 and a last one cut to 1 (StopAfterSteps).
    assert fit_schedule(15, epochs=1) == (None, 8, 2)
    # Without one, every Keras epoch is exactly one pass over the split.
    assert fit_schedule(None, epochs=1) == (1, 1, None)
    assert fit_schedule(None, epochs=3) == (1, 3, None)
    with pytest.raises(ValueError, match="epochs"):
        fit_schedule(None, epochs=0)


def test_one_pass_reads_every_training_example_once(pipeline_run):
    _, summary = pipeline_run
    fn_args = trainer_fn_args(summary.artifacts)
    dataset = input_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tft.TFTransformOutput(fn_args.transform_graph_path),
        batch_size=256,
        shuffle=True,
        num_epochs=1,
    )
    sizes = [len(labels[features.LABEL_CLICK]) for _, labels in dataset]
    expected = summary.quality_report.examples_per_split["train"]
    assert sum(sizes) == expected
    assert len(sizes) == -(-expected // 256)


def test_training_time_aucs_agree_with_the_evaluators(pipeline_run):
    """The last validation (whole eval split, scored as served) reads the AUCs
    the Evaluator computes exactly; Keras' 1,000-threshold AUC did not."""
    _, summary = pipeline_run
    logs = os.path.join(summary.artifacts["Trainer.model_run"].uri, "logs", "validation")
    evaluator = results.candidate_metrics(
        summary.artifacts[run_summary.EVALUATION].uri
    )[results.OVERALL]
    for name in ("ctr_auc", "cvr_auc", "ctcvr_auc"):
        curve = _scalar_curve(logs, f"epoch_{name}")
        assert len(curve) == EVAL_ROUNDS
        assert abs(curve[-1] - evaluator[name]) < 0.002, (name, curve[-1])
