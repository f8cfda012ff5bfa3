"""Evaluation of the ESM2 / ESMM / DNN models: custom TFMA metrics and the EvalConfig.

- ``evaluation.ranking``: exact AUC, GAUC, top-fraction precision/recall and
  calibration bins on numpy arrays (no Beam, no TFMA).
- ``evaluation.metrics``: those figures as ``tfma.metrics.Metric`` classes that
  run inside TFMA's Evaluator, re-exported from one module per family:
  ``metrics_names`` (the key names), ``metrics_base`` (reading the examples,
  the shared score sketch, the gathers), ``metrics_auc`` (AUC, its test
  against chance, GAUC), ``metrics_top_fraction`` (top-fraction precision,
  recall, F1), ``metrics_calibration`` (ECE, positive count, mean
  calibration) and ``metrics_paired`` (the paired AUC test against the
  baseline model).
- ``evaluation.eval_config``: ``build_eval_config`` (shared/specs/evaluation.md)
  and ``METRIC_KEYS``, the names the report reads the figures back by.
- ``evaluation.results``: reading a TFMA output directory back by those names.

Kept import-light on purpose: importing the package does not pull in TFMA.
"""
