"""Table metrics against hand-worked answers: R² vs the mean baseline, ROC/PR areas, the
confusion matrix at a threshold, the worst rows."""

from __future__ import annotations

import numpy as np
import pytest

from dashcore.tables.metrics import (
    binary_confusion,
    largest_errors,
    pr_curve,
    regression_report,
    roc_curve,
    threshold_point,
)


def test_regression_errors_and_the_mean_baseline() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    report = regression_report(actual, np.array([1.0, 2.0, 3.0, 5.0]), train_mean=2.5)
    assert report.mae == pytest.approx(0.25) and report.rmse == pytest.approx(0.5)
    assert report.r2 == pytest.approx(1 - 1 / 5)
    assert report.baseline_mae == pytest.approx(1.0) and report.baseline_r2 == pytest.approx(0)


def test_roc_and_pr_areas() -> None:
    labels = np.array([0, 0, 1, 1])
    perfect = roc_curve(labels == 1, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect.area == pytest.approx(1.0)
    mixed = roc_curve(labels == 1, np.array([0.1, 0.4, 0.35, 0.8]))
    assert mixed.area == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs ordered
    assert pr_curve(labels == 1, np.array([0.1, 0.4, 0.35, 0.8])).area == pytest.approx(
        (1.0 + 2 / 3) / 2)
    tied = roc_curve(labels == 1, np.full(4, 0.5))
    assert tied.area == pytest.approx(0.5)


def test_the_threshold_moves_rows_between_cells() -> None:
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
    assert binary_confusion(labels, scores, 0.5).tolist() == [[1, 1], [1, 1]]
    assert binary_confusion(labels, scores, 0.3).tolist() == [[1, 1], [0, 2]]
    point = threshold_point(binary_confusion(labels, scores, 0.3))
    assert point["recall"] == 1.0 and point["precision"] == pytest.approx(2 / 3)


def test_largest_errors_come_first() -> None:
    assert largest_errors(np.array([0.1, 3.0, 0.5, 2.0]), 2).tolist() == [1, 3]
