"""/evaluate for a model trained on a table: regression errors against the mean baseline
with predicted-vs-actual and residual charts; for two classes a threshold to move, the
confusion matrix at it, ROC and precision–recall curves with their areas; per-class metrics
for several classes; and the rows the model gets most wrong, with their values.
"""

from __future__ import annotations

import streamlit as st

from dashcore.charts import evaluation as eval_charts
from dashcore.charts import tables as charts
from dashcore.errors import UserError
from dashcore.evaluation import metrics
from dashcore.evaluation.tables import TableEvaluation, evaluate_table
from dashcore.models.registry import ModelEntry
from dashcore.settings import Settings
from dashcore.tables import metrics as table_metrics
from dashcore.tables.columns import BINARY, REGRESSION, TASKS
from views.common.text import literal, show_error

WORST_ROWS = 20


def _regression(result: TableEvaluation) -> None:
    report = table_metrics.regression_report(result.actual, result.outputs, result.train_mean)
    c1, c2, c3 = st.columns(3)
    c1.metric("R²", f"{report.r2:.3f}", delta=f"{report.r2 - report.baseline_r2:+.3f} vs mean",
              help="Share of the target's variance the model explains: 1 is perfect, 0 is "
                   "no better than always predicting the mean.")
    c2.metric("MAE", f"{report.mae:,.4g}",
              delta=f"{report.mae - report.baseline_mae:+,.4g} vs mean", delta_color="inverse")
    c3.metric("RMSE", f"{report.rmse:,.4g}",
              delta=f"{report.rmse - report.baseline_rmse:+,.4g} vs mean",
              delta_color="inverse")
    st.caption(f"The baseline always predicts the training rows' mean {literal(result.target)} "
               f"({result.train_mean:,.4g}).")
    st.dataframe(report.rows(), hide_index=True, key="eval_table_report")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.predicted_actual_figure(result.actual, result.outputs,
                                                       result.target),
                        key="eval_table_scatter", width="stretch")
    with right:
        st.plotly_chart(charts.residuals_figure(result.actual, result.outputs, result.target),
                        key="eval_table_residuals", width="stretch")


def _binary(result: TableEvaluation) -> None:
    names = result.class_names
    positive = result.actual == 1
    roc = table_metrics.roc_curve(positive, result.scores)
    pr = table_metrics.pr_curve(positive, result.scores)
    threshold = st.slider(
        f"Threshold: a row is called {literal(names[1])!s} when its probability is at least",
        0.01, 0.99, 0.5, 0.01, key="eval_threshold",
        help="Lower it to catch more of the positive class (more false alarms); raise it to "
             "be surer of each positive call (more missed).")
    matrix = table_metrics.binary_confusion(result.actual, result.scores, threshold)
    point = table_metrics.threshold_point(matrix)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Accuracy", f"{point['accuracy']:.2%}")
    c2.metric("Precision", f"{point['precision']:.2%}")
    c3.metric("Recall", f"{point['recall']:.2%}")
    c4.metric("ROC AUC", f"{roc.area:.3f}")
    left, middle, right = st.columns(3)
    with left:
        st.plotly_chart(eval_charts.confusion_figure(matrix, names,
                                                     title=f"At threshold {threshold:.2f}",
                                                     unit="rows"),
                        key="eval_table_matrix", width="stretch")
    with middle:
        st.plotly_chart(charts.curve_figure(
            roc.x, roc.y, f"ROC curve (AUC {roc.area:.3f})", "false-positive rate",
            "true-positive rate", diagonal=True,
            marker=(point["false_positive_rate"], point["recall"])),
            key="eval_table_roc", width="stretch")
    with right:
        st.plotly_chart(charts.curve_figure(
            pr.x, pr.y, f"Precision–recall (average precision {pr.area:.3f})", "recall",
            "precision", diagonal=False, marker=(point["recall"], point["precision"])),
            key="eval_table_pr", width="stretch")


def _classes(result: TableEvaluation) -> None:
    names = result.class_names
    predicted = result.outputs.argmax(axis=1)
    matrix = metrics.confusion_matrix(result.actual, predicted, len(names))
    st.metric("Accuracy", f"{float((predicted == result.actual).mean()):.2%}")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(eval_charts.confusion_figure(matrix, names, unit="rows"),
                        key="eval_table_matrix", width="stretch")
    with right:
        st.dataframe(metrics.per_class_metrics(matrix, names).as_records(), hide_index=True,
                     key="eval_table_classes")


def show_table_evaluation(entry: ModelEntry, dataset_name: str, split: str,
                          settings: Settings) -> None:
    """Everything /evaluate shows for a table model on one split."""
    try:
        with st.spinner(f"Running the model over the {split} rows (once; then cached)…"):
            result = evaluate_table(entry, dataset_name, split, settings)
    except UserError as exc:
        show_error(exc)
        return
    st.markdown(f"**{TASKS[result.task]}** of **{literal(result.target)}** on "
                f"{len(result.actual):,} {split} rows.")
    if result.task == REGRESSION:
        _regression(result)
    elif result.task == BINARY:
        _binary(result)
    else:
        _classes(result)
    st.subheader("Rows with the largest errors")
    st.caption("As uploaded, with the model's answer; the row number counts the split's rows "
               "from 0.")
    st.dataframe(result.worst_rows(WORST_ROWS), hide_index=True, key="eval_table_worst")
