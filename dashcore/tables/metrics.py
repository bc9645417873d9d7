"""How well a model does on a table's rows: regression errors against a baseline that
always predicts the training mean, binary curves (ROC, precision–recall, their areas) and
the confusion matrix at a threshold, and the rows it gets most wrong. Pure NumPy.

Example:
    >>> report = regression_report(np.array([1., 2., 3.]), np.array([1., 2., 4.]), 2.0)
    >>> round(report.rmse, 3), round(report.r2, 2)
    (0.577, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RegressionReport:
    """Errors of the model and of the mean baseline on the same rows, in the target's units."""

    mae: float
    rmse: float
    r2: float
    baseline_mae: float  # predicting the training mean for every row
    baseline_rmse: float
    baseline_r2: float

    def rows(self) -> list[dict]:
        """The report as a small table: metric, model, baseline."""
        return [{"metric": "MAE (mean absolute error)", "model": self.mae,
                 "always the training mean": self.baseline_mae},
                {"metric": "RMSE (root mean squared error)", "model": self.rmse,
                 "always the training mean": self.baseline_rmse},
                {"metric": "R² (share of the variance explained)", "model": self.r2,
                 "always the training mean": self.baseline_r2}]


def r_squared(actual: np.ndarray, predicted: np.ndarray) -> float:
    """1 − (squared error / squared spread around the rows' own mean); 0 when constant."""
    spread = float(np.sum((actual - actual.mean()) ** 2))
    error = float(np.sum((actual - predicted) ** 2))
    return 1.0 - error / spread if spread > 0 else 0.0


def regression_report(actual: np.ndarray, predicted: np.ndarray, train_mean: float
                      ) -> RegressionReport:
    """MAE, RMSE and R² of ``predicted``, and of always predicting ``train_mean``."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    baseline = np.full_like(actual, float(train_mean))

    def errors(guess: np.ndarray) -> tuple[float, float, float]:
        diff = actual - guess
        return (float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff ** 2))),
                r_squared(actual, guess))

    mae, rmse, r2 = errors(predicted)
    b_mae, b_rmse, b_r2 = errors(baseline)
    return RegressionReport(mae, rmse, r2, b_mae, b_rmse, b_r2)


@dataclass(frozen=True)
class Curve:
    """A ROC or precision–recall curve: points from the strictest threshold down, and its
    area. ``thresholds[i]`` gives ``(x[i], y[i])``."""

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    area: float


def _counts(positive: np.ndarray, scores: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct score taken as the threshold (≥)."""
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each score run
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    return tp.astype(np.float64), fp.astype(np.float64), scores[last]


def roc_curve(positive: np.ndarray, scores: np.ndarray) -> Curve:
    """False- against true-positive rate over every threshold, with its area (AUC)."""
    positive = np.asarray(positive, dtype=bool)
    tp, fp, thresholds = _counts(positive, np.asarray(scores, dtype=np.float64))
    n_pos, n_neg = max(1, int(positive.sum())), max(1, int((~positive).sum()))
    tpr, fpr = np.r_[0.0, tp / n_pos], np.r_[0.0, fp / n_neg]
    return Curve(fpr, tpr, np.r_[np.inf, thresholds], float(np.trapezoid(tpr, fpr)))


def pr_curve(positive: np.ndarray, scores: np.ndarray) -> Curve:
    """Precision against recall over every threshold; the area is average precision."""
    positive = np.asarray(positive, dtype=bool)
    tp, fp, thresholds = _counts(positive, np.asarray(scores, dtype=np.float64))
    n_pos = max(1, int(positive.sum()))
    recall = tp / n_pos
    precision = tp / np.maximum(tp + fp, 1)
    area = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))  # average precision
    return Curve(recall, precision, thresholds, area)


def binary_confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """2×2 counts (rows true, columns predicted; class 1 is the positive one) when a row is
    called positive at ``score ≥ threshold``."""
    labels = np.asarray(labels, dtype=np.int64)
    called = (np.asarray(scores) >= threshold).astype(np.int64)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels, called), 1)
    return matrix


def threshold_point(matrix: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and false-positive rate of a 2×2 confusion matrix."""
    (tn, fp), (fn, tp) = matrix.tolist()
    total = max(1, tn + fp + fn + tp)
    return {"accuracy": (tn + tp) / total, "precision": tp / max(1, tp + fp),
            "recall": tp / max(1, tp + fn), "false_positive_rate": fp / max(1, fp + tn)}


def largest_errors(errors: np.ndarray, count: int = 20) -> np.ndarray:
    """Indices of the ``count`` rows with the largest errors, largest first."""
    errors = np.asarray(errors, dtype=np.float64)
    return np.argsort(-errors, kind="mergesort")[:count]
