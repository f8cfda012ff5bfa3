"""The curated schema agrees with the feature module and catches bad data."""

from typing import Dict

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.config import DEFAULT_SCHEMA_PATH
from pipeline.schema import generate
from pipeline.statistics import statistics_options
from transform import features

_TFDV_TYPE = {str: schema_pb2.BYTES, int: schema_pb2.INT, float: schema_pb2.FLOAT}
_NOT_SERVED = set(features.LABELS) | {features.SLICE_KEY}


@pytest.fixture(scope="module")
def schema() -> schema_pb2.Schema:
    return tfdv.load_schema_text(DEFAULT_SCHEMA_PATH)


# --- The checked-in schema is what the generator builds ------------------------
_COMMITTED = tfdv.load_schema_text(DEFAULT_SCHEMA_PATH)
_GENERATED = generate.build_schema(generate.load_constraints())
_REGENERATE = "run: python -m pipeline.schema.generate"


def _by_name(schema: schema_pb2.Schema) -> Dict[str, schema_pb2.Feature]:
    return {f.name: f for f in schema.feature}


def test_the_generator_writes_the_file_the_pipeline_imports():
    assert generate.SCHEMA_PATH == DEFAULT_SCHEMA_PATH


@pytest.mark.parametrize(
    "name", sorted(set(_by_name(_COMMITTED)) | set(_by_name(_GENERATED)))
)
def test_each_committed_feature_is_the_generated_one(name):
    committed = _by_name(_COMMITTED).get(name)
    generated = _by_name(_GENERATED).get(name)
    assert committed == generated, (
        f"{name}: schema.pbtxt has\n{committed}\nbut features.py and "
        f"constraints.pbtxt give\n{generated}\n{_REGENERATE}"
    )


def test_the_checked_in_schema_is_exactly_the_generators_output():
    with open(DEFAULT_SCHEMA_PATH, encoding="utf-8") as handle:
        assert handle.read() == generate.generated_text(), _REGENERATE


def test_check_reports_a_stale_schema_and_a_run_rewrites_it(tmp_path, monkeypatch):
    stale = tmp_path / "schema.pbtxt"
    stale.write_text("# edited by hand\n", encoding="utf-8")
    monkeypatch.setattr(generate, "SCHEMA_PATH", str(stale))
    assert generate.main(["--check"]) == 1
    assert generate.main([]) == 0
    assert stale.read_text(encoding="utf-8") == generate.generated_text()
    assert generate.main(["--check"]) == 0


def test_committed_environments_and_string_domains_are_the_generated_ones():
    committed, generated = schema_pb2.Schema(), schema_pb2.Schema()
    committed.CopyFrom(_COMMITTED)
    generated.CopyFrom(_GENERATED)
    del committed.feature[:], generated.feature[:]
    assert committed == generated, _REGENERATE


def test_a_new_feature_needs_no_hand_edit_of_the_schema(monkeypatch):
    added = ("item_age_days", int)
    monkeypatch.setattr(
        features, "EXAMPLE_FEATURES", features.EXAMPLE_FEATURES + (added,)
    )
    new = _by_name(generate.build_schema(generate.load_constraints()))[added[0]]
    assert new.type == schema_pb2.INT
    assert (new.presence.min_fraction, new.presence.min_count) == (1.0, 1)
    assert list(new.not_in_environment) == []
    assert new.WhichOneof("domain_info") is None  # until a reviewer adds one


def _constraints(text: str) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


@pytest.mark.parametrize(
    "text, message",
    [
        ('feature { name: "position" type: FLOAT }', "type"),
        ('feature { name: "click" not_in_environment: "TRAINING" }', "environment"),
        ('feature { name: "gone" int_domain { min: 0 } }', "gone"),
        ('feature { name: "user_gender" domain: "genders" }', "genders"),
        (
            'feature { name: "position" int_domain { min: 1 } }'
            'feature { name: "position" int_domain { min: 0 } }',
            "twice",
        ),
    ],
)
def test_constraints_keep_to_domains_of_known_features(text, message):
    with pytest.raises(ValueError, match=message):
        generate.build_schema(_constraints(text))


def test_schema_has_exactly_the_example_features_with_their_types(schema):
    in_schema = {f.name: f.type for f in schema.feature}
    expected = {name: _TFDV_TYPE[dtype] for name, dtype in features.EXAMPLE_FEATURES}
    assert in_schema == expected


def test_labels_and_slice_key_are_not_required_at_serving(schema):
    not_served = {f.name for f in schema.feature if "SERVING" in f.not_in_environment}
    assert not_served == _NOT_SERVED


def test_schema_domains_match_the_contract(schema):
    genders = {d.name: list(d.value) for d in schema.string_domain}
    assert genders[features.SLICE_KEY] == list(features.PURCHASE_FREQ_BUCKET_NAMES)
    by_name = {f.name: f for f in schema.feature}
    for column in features.IMPRESSION_COLUMNS:
        if column.max_value is not None:
            assert by_name[column.name].float_domain.max == column.max_value


def _row(**overrides):
    row = {
        name: {str: "x", int: 1, float: 0.5}[dtype]
        for name, dtype in features.EXAMPLE_FEATURES
    }
    row.update(user_gender="f", purchase_freq_bucket="0-10", click=1, daction=0)
    row.update(overrides)
    return row


def _anomalous_features(schema, rows):
    # The statistics as the pipeline's StatisticsGen computes them.
    stats = tfdv.generate_statistics_from_dataframe(
        pd.DataFrame(rows), stats_options=statistics_options()
    )
    return set(tfdv.validate_statistics(stats, schema).anomaly_info)


def test_clean_rows_have_no_anomalies(schema):
    assert _anomalous_features(schema, [_row(), _row(user_gender="m")]) == set()


def test_unknown_gender_code_and_rate_above_one_are_anomalies(schema):
    rows = [_row(), _row(user_gender="x", item_hist_ctr=1.5)]
    assert _anomalous_features(schema, rows) == {"user_gender", "item_hist_ctr"}
