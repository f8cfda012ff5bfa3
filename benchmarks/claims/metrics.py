"""Which figures the report shows, and which the claims are judged on.

Named once here: the tables, the verdicts and peer_esmm.py read the same
metrics, and the report's columns follow these orders.
"""

from __future__ import annotations

from evaluation import eval_config, groundtruth
from transform import features, tasks

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
TASKS = tuple(task.name for task in tasks.TASKS)
# Figure 7 compares the lightest and the heaviest buyers.
FIGURE_7_BUCKETS = (
    features.PURCHASE_FREQ_BUCKET_NAMES[0],
    features.PURCHASE_FREQ_BUCKET_NAMES[-1],
)
