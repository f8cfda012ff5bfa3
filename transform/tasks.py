"""The tasks: which label each model output is scored against, over which impressions.

Named once, beside the feature list, because three readers need the same
rows: the models' training losses (``models/base.py``), the Evaluator's
per-output specs (``evaluation/eval_config.py``) and the comparison with the
synthetic ground truth (``evaluation/groundtruth.py``).  A model class lists
the tasks it trains on (``EntireSpaceModel.TASKS``); which outputs it
estimates, and so is evaluated on, follows from those (``estimated_by``).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional, Tuple

from transform import features


@dataclasses.dataclass(frozen=True)
class Task:
    """A label against one model output, over a population of impressions.

    Attributes:
        name: prefix of the task's loss, metric and report names
            (``ctr_loss``, ``cvr_auc``) and of its loss weight in
            ``models.config.ModelConfig`` (``loss_weight_cvr``).
        label: the label (one of ``features.LABELS``).
        output: the model output (one of ``features.MODEL_OUTPUTS``).
        population: a label restricting the task to the impressions where it
            is 1 (CVR: clicked ones); None for every impression.  The loss
            masks with it and the Evaluator weights by it.
    """

    name: str
    label: str
    output: str
    population: Optional[str] = None


# The rows of shared/specs/evaluation.md's metric table, one per output.
CTR = Task("ctr", features.LABEL_CLICK, features.OUTPUT_PCTR)
CTAVR = Task("ctavr", features.LABEL_DACTION, features.OUTPUT_PCTAVR)
CVR = Task(
    "cvr",
    features.LABEL_PURCHASE,
    features.OUTPUT_PCVR,
    population=features.LABEL_CLICK,
)
CTCVR = Task("ctcvr", features.LABEL_PURCHASE, features.OUTPUT_PCTCVR)
# In the order of ``features.MODEL_OUTPUTS``.
TASKS: Tuple[Task, ...] = (CTR, CTAVR, CVR, CTCVR)


def estimated_by(trained: Iterable[Task]) -> Tuple[Task, ...]:
    """The tasks whose output a model trained on ``trained`` estimates.

    A model learns an output only from its task's label: ESM2 sees DAction
    (its CTAVR loss) and estimates pctavr; ESMM, the DNN and the prior never
    see it and export pctavr = 0, which is not worth scoring.  Outputs
    composed from learned ones (ESMM's pcvr, the DNN's pctcvr) have labels the
    model sees, so they count.
    """
    labels = {task.label for task in trained}
    return tuple(task for task in TASKS if task.label in labels)
