"""The single source of truth for columns, features, labels and the slice key.

Everything that names a column imports it from here: the synthetic generator
(what it writes), the ExampleGen (what it reads, validates and emits), the
schema, Transform, the models, TFMA slicing and the serving client.  Columns
of the input logs that are not named here are ignored (the input contract
passes extra columns through only if the feature spec names them).

Adding a feature to the pipeline: name it here, then rewrite the curated
schema with ``python -m pipeline.schema.generate``, which takes the schema's
feature list (names, types, presence, serving environment) from this file;
tests/test_schema.py fails until the checked-in ``pipeline/schema/schema.pbtxt``
is regenerated.  If the feature's values have a contract (a range, a fixed
set of codes), add that to ``pipeline/schema/constraints.pbtxt`` by hand: a
reviewed constraint, not something to derive.  Without one, ExampleValidator
checks only the feature's type and presence.  The ExampleGen, Transform and
the models need no change (they follow the column's role); the synthetic
generator does, since it has to draw the new column's values
(``synthetic/impressions.py``) for the demo and the tests.

The input layout itself is defined in ``shared/specs/impression_logs.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple, Type


# --- Roles a column can play -------------------------------------------------
ROLE_KEY = "key"  # identifies the row; never a model input
ROLE_TIMESTAMP = "timestamp"  # epoch milliseconds; never a model input
ROLE_ID = "id"  # categorical: vocabulary + embedding
ROLE_DENSE = "dense"  # numeric: tanh((f - mean) / std), the paper's eq. 17
# Known in the logs but not when ranking (the rank on the page): a vocabulary
# and a shallow per-tower logit offset in training; the served model ranks
# with the offset learned for "position unknown" (models/layers.py).
ROLE_BIAS = "bias"


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the impression log and how the pipeline treats it.

    Attributes:
        name: column name in the logs and feature name in the tf.Examples.
        dtype: Python type of the value: ``str``, ``int`` or ``float``.
        role: one of the ``ROLE_*`` constants.
        embedding_dim: embedding width for ``ROLE_ID`` columns.
        min_value / max_value: inclusive validity bounds; a row outside them is
            malformed (input contract: price > 0, rates in [0, 1]).
        min_exclusive: makes ``min_value`` exclusive (price must be > 0).
        log_scale: Transform takes log1p before the z-score; for heavy-tailed
            counts and prices, whose z-score would otherwise squash nearly every
            value into a sliver of tanh's range.
    """

    name: str
    dtype: Type
    role: str
    embedding_dim: Optional[int] = None
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    min_exclusive: bool = False
    log_scale: bool = False

    def violation(self, value) -> Optional[str]:
        """Why ``value`` (already of ``dtype``) is out of range, or None."""
        if self.min_value is not None:
            if self.min_exclusive and not value > self.min_value:
                return f"{self.name}={value!r} must be > {self.min_value}"
            if not self.min_exclusive and not value >= self.min_value:
                return f"{self.name}={value!r} must be >= {self.min_value}"
        if self.max_value is not None and not value <= self.max_value:
            return f"{self.name}={value!r} must be <= {self.max_value}"
        return None


# --- The impressions table (shared/specs/impression_logs.md) -----------------
IMPRESSION_ID = "impression_id"
TIMESTAMP = "ts"
USER_ID = "user_id"
ITEM_ID = "item_id"
USER_AGE_BUCKET = "user_age_bucket"
USER_GENDER = "user_gender"
USER_POWER = "user_power"
USER_PURCHASE_COUNT = "user_purchase_count"
CATEGORY_ID = "category_id"
BRAND_ID = "brand_id"
SHOP_ID = "shop_id"
ITEM_PRICE = "item_price"
ITEM_HIST_CTR = "item_hist_ctr"
ITEM_HIST_CVR = "item_hist_cvr"
USER_ITEM_PREF = "user_item_pref"
POSITION = "position"

IMPRESSION_COLUMNS: Tuple[Column, ...] = (
    Column(IMPRESSION_ID, str, ROLE_KEY),
    Column(TIMESTAMP, int, ROLE_TIMESTAMP),
    Column(USER_ID, str, ROLE_ID, embedding_dim=64),
    Column(ITEM_ID, str, ROLE_ID, embedding_dim=128),  # paper, section 4.3
    Column(USER_AGE_BUCKET, int, ROLE_ID, embedding_dim=8),
    Column(USER_GENDER, str, ROLE_ID, embedding_dim=4),
    Column(USER_POWER, int, ROLE_ID, embedding_dim=8),
    Column(USER_PURCHASE_COUNT, int, ROLE_DENSE, min_value=0, log_scale=True),
    Column(CATEGORY_ID, str, ROLE_ID, embedding_dim=32),
    Column(BRAND_ID, str, ROLE_ID, embedding_dim=32),
    Column(SHOP_ID, str, ROLE_ID, embedding_dim=32),
    Column(
        ITEM_PRICE,
        float,
        ROLE_DENSE,
        min_value=0.0,
        min_exclusive=True,
        log_scale=True,
    ),
    Column(ITEM_HIST_CTR, float, ROLE_DENSE, min_value=0.0, max_value=1.0),
    Column(ITEM_HIST_CVR, float, ROLE_DENSE, min_value=0.0, max_value=1.0),
    Column(USER_ITEM_PREF, float, ROLE_DENSE),
    Column(POSITION, int, ROLE_BIAS),
)
IMPRESSION_COLUMN_NAMES: Tuple[str, ...] = tuple(c.name for c in IMPRESSION_COLUMNS)
COLUMNS_BY_NAME = {c.name: c for c in IMPRESSION_COLUMNS}

# Model inputs, by role.
ID_FEATURES: Tuple[Column, ...] = tuple(
    c for c in IMPRESSION_COLUMNS if c.role == ROLE_ID
)
DENSE_FEATURES: Tuple[Column, ...] = tuple(
    c for c in IMPRESSION_COLUMNS if c.role == ROLE_DENSE
)
BIAS_FEATURES: Tuple[Column, ...] = tuple(
    c for c in IMPRESSION_COLUMNS if c.role == ROLE_BIAS
)
# Columns that get a vocabulary (integer index) from Transform.
VOCABULARY_FEATURES: Tuple[Column, ...] = ID_FEATURES + BIAS_FEATURES
# What a request to the served model carries (the serving client's features),
# and what the Trainer feeds the model: the served ones plus the bias ones.
SERVING_FEATURES: Tuple[Column, ...] = ID_FEATURES + DENSE_FEATURES
SERVING_FEATURE_NAMES: Tuple[str, ...] = tuple(c.name for c in SERVING_FEATURES)
SERVING_COLUMNS_BY_NAME: Dict[str, Column] = {c.name: c for c in SERVING_FEATURES}
TRAINING_FEATURE_NAMES: Tuple[str, ...] = SERVING_FEATURE_NAMES + tuple(
    c.name for c in BIAS_FEATURES
)

# Vocabularies of ID features (computed by Transform over the training split).
# An ID seen fewer than VOCAB_FREQUENCY_THRESHOLD times cannot be learned and
# only bloats the table; it shares the OOV buckets with IDs never seen, which
# are hashed into NUM_OOV_BUCKETS so unseen IDs at serving time are no error.
VOCAB_FREQUENCY_THRESHOLD = 2
VOCAB_TOP_K = 2_000_000
NUM_OOV_BUCKETS = 16

# --- The events table ---------------------------------------------------------
EVENT_TYPE = "event"
EVENT_COLUMNS: Tuple[Column, ...] = (
    Column(IMPRESSION_ID, str, ROLE_KEY),
    Column(TIMESTAMP, int, ROLE_TIMESTAMP),
    Column(EVENT_TYPE, str, ROLE_KEY),
)
EVENT_COLUMN_NAMES: Tuple[str, ...] = tuple(c.name for c in EVENT_COLUMNS)

EVENT_CLICK = "click"
EVENT_CART = "cart"
EVENT_WISHLIST = "wishlist"
EVENT_PURCHASE = "purchase"
# Purchase-related post-click actions (DAction); configurable in the pipeline.
DEFAULT_DACTION_EVENTS: Tuple[str, ...] = (EVENT_CART, EVENT_WISHLIST)
DEFAULT_ATTRIBUTION_WINDOW_DAYS = 7

# --- Labels (the behaviour graph impression -> click -> D(O)Action -> buy) ----
LABEL_CLICK = "click"
LABEL_DACTION = "daction"
LABEL_PURCHASE = "purchase"
LABELS: Tuple[str, ...] = (LABEL_CLICK, LABEL_DACTION, LABEL_PURCHASE)

# --- Slice key (ESM2 paper, section 4.4) -------------------------------------
SLICE_KEY = "purchase_freq_bucket"
# (upper bound inclusive, bucket name); the last bucket is open-ended.
PURCHASE_FREQ_BUCKETS: Tuple[Tuple[Optional[int], str], ...] = (
    (10, "0-10"),
    (20, "11-20"),
    (50, "21-50"),
    (None, "51+"),
)
PURCHASE_FREQ_BUCKET_NAMES: Tuple[str, ...] = tuple(
    name for _, name in PURCHASE_FREQ_BUCKETS
)


def purchase_freq_bucket(purchase_count: int) -> str:
    """The paper's purchase-frequency bucket of a user's purchase count."""
    for upper, name in PURCHASE_FREQ_BUCKETS:
        if upper is None or purchase_count <= upper:
            return name
    raise AssertionError("the last bucket is open-ended")


# Every feature of an emitted tf.Example, with its Python type.
EXAMPLE_FEATURES: Tuple[Tuple[str, Type], ...] = (
    tuple((c.name, c.dtype) for c in IMPRESSION_COLUMNS)
    + tuple((label, int) for label in LABELS)
    + ((SLICE_KEY, str),)
)

# --- Ground truth (synthetic data only; never trained on) --------------------
P_CLICK = "p_click"  # y1
P_DACTION = "p_daction"  # y2
P_BUY_DACTION = "p_buy_daction"  # y3
P_BUY_OACTION = "p_buy_oaction"  # y4
PURCHASE_IF_CLICKED = "purchase_if_clicked"  # counterfactual draw, every impression
GROUNDTRUTH_COLUMNS: Tuple[Tuple[str, Type], ...] = (
    (IMPRESSION_ID, str),
    (P_CLICK, float),
    (P_DACTION, float),
    (P_BUY_DACTION, float),
    (P_BUY_OACTION, float),
    (PURCHASE_IF_CLICKED, int),
)

# --- Directory layout of <input_base> ----------------------------------------
IMPRESSIONS_DIR = "impressions"
EVENTS_DIR = "events"
GROUNDTRUTH_DIR = "groundtruth"
DAY_PARTITION_PREFIX = "dt="
DAY_FORMAT = "%Y-%m-%d"

# --- Bad-input kinds (shared/specs/impression_logs.md, "Bad input") ----------
# The ExampleGen counts every rejected row under one of these names, and the
# generator's bad-row injection uses the same names, so the two can be checked
# against each other.
REJECT_MISSING_VALUE = "missing_value"  # required column absent or null/empty
REJECT_UNPARSABLE_VALUE = "unparsable_value"  # not of the column's type, NaN/inf
REJECT_OUT_OF_RANGE = "out_of_range"  # price <= 0, rate outside [0, 1], ...
REJECT_DUPLICATE_ID = "duplicate_impression_id"  # the first one (by ts) is kept
REJECT_INCONSISTENT_JOURNEY = "inconsistent_journey"  # DAction/purchase, no click
IMPRESSION_REJECT_REASONS: Tuple[str, ...] = (
    REJECT_MISSING_VALUE,
    REJECT_UNPARSABLE_VALUE,
    REJECT_OUT_OF_RANGE,
    REJECT_DUPLICATE_ID,
    REJECT_INCONSISTENT_JOURNEY,
)
# Event rows that are not used for any label.
EVENT_ORPHAN = "orphan_event"  # no accepted impression with that id
EVENT_MALFORMED = "malformed_event"  # missing/unparsable column of an event row
EVENT_OF_REJECTED_IMPRESSION = "event_of_rejected_impression"
EVENT_OUTSIDE_WINDOW = "purchase_outside_window"  # too late to be attributed

# --- The exported model's interface (TF Serving, TFMA, the client) ----------
SERVING_SIGNATURE = "serving_default"
# The same model scored at each example's logged position (the bias features
# on): for offline analysis of the position effect, never for ranking.
LOGGED_POSITION_SIGNATURE = "at_logged_position"
SERVING_INPUT = "examples"  # a batch of serialized raw tf.Examples
# The features that describe the user; the others describe the item or the
# (user, item) pair. The serving client builds candidates from the two.
USER_FEATURES: Tuple[str, ...] = (
    USER_ID,
    USER_AGE_BUCKET,
    USER_GENDER,
    USER_POWER,
    USER_PURCHASE_COUNT,
)

# --- Model outputs (shared/specs/evaluation.md) ------------------------------
# Every model exports all four, so evaluation, serving and reports treat ESM2,
# ESMM and the DNN baseline alike.
OUTPUT_PCTR = "pctr"  # P(click | impression)
OUTPUT_PCTAVR = "pctavr"  # P(click, DAction | impression)
OUTPUT_PCVR = "pcvr"  # P(purchase | click)
OUTPUT_PCTCVR = "pctcvr"  # P(click, purchase | impression)
MODEL_OUTPUTS: Tuple[str, ...] = (
    OUTPUT_PCTR,
    OUTPUT_PCTAVR,
    OUTPUT_PCVR,
    OUTPUT_PCTCVR,
)
# Which label scores each output, over which impressions: transform/tasks.py.
