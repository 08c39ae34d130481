"""Monitoring: is the champion still right about the data it sees? Pure: imports no prefect.

- `monitoring.stats`: PSI, quantile bins, chi-square homogeneity, KS, Wilson interval,
  the bootstrap interval of macro-F1 (the one macro-F1 is `learning.evaluation.macro_f1`).
- `monitoring.profile`: `build_profile` (the reference saved with a model, JSON),
  `prediction_profile` (its section of out-of-fold predictions) and `compare` (a batch and
  the model's predictions on it against the reference -> `DriftReport`; `not_checked`
  when nothing can be compared), `DriftThresholds`, `DriftRecord` (a batch's report as
  saved), `report_markdown` / `record_markdown`.
- `monitoring.inputs`: `monitored_frame`, what is profiled: the model's inputs by its
  feature spec (an image's pixels, a table's columns, a text column).
- `monitoring.decisions`: `drift_event` (`labelloop.data.drifted`), `live_accuracy`,
  `degradation` / `degraded_event` (`labelloop.model.degraded`), `disputed` /
  `flag_disputed`, `LiveAccuracySeries`, `trend_markdown`.
- `monitoring.live`: `DegradedLog` (one degraded event per champion version),
  `live_report_markdown`, `per_class_markdown`.
- `monitoring.review`: disputed labels sent back for review: `ReviewRequest`,
  `ReviewLedger`, `plan_reviews`, `waiting_for_review`, `hold_for_review`,
  `disputes_markdown`.

Where monitoring keeps its records in the DataStore: `storage.layout`.
"""
