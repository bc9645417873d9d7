"""Pure NumPy metrics of a model's predictions: confusion matrix, per-class scores, the
mistakes, confidence histogram, comparison of two models. No model is run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dashcore.errors import UserError

_PROB_FLOOR = float(np.finfo(np.float32).tiny)  # see loss_and_accuracy


# ---------------------------------------------------------------- data classes


@dataclass(frozen=True)
class Predictions:
    """A model's class probabilities for every image of one split, with the labels.

    Attributes:
        y_true: true labels ``(N,)`` int64.
        probs: probabilities ``(N, K)`` float32, each row summing to 1.
        class_names: one display name per class.
        images: the split's uint8 images ``(N, H, W[, 3])`` (a reference, not a copy), or None.
        title: what was evaluated, e.g. ``"Dense 64 on MNIST (test)"``.
    """

    y_true: np.ndarray
    probs: np.ndarray
    class_names: tuple[str, ...]
    images: np.ndarray | None = None
    title: str = ""

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted class per image (arg-max of the probabilities)."""
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class per image."""
        return self.probs.max(axis=1)

    @property
    def num_classes(self) -> int:
        """Number of classes K."""
        return len(self.class_names)


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall, F1 and support of one class (or an average of classes)."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class MetricsTable:
    """Per-class metrics plus the macro (unweighted) and support-weighted averages."""

    rows: list[ClassMetrics]
    macro: ClassMetrics
    weighted: ClassMetrics

    def as_records(self) -> list[dict[str, object]]:
        """Rows for a table: every class, then the two averages."""
        return [{"class": r.name, "precision": r.precision, "recall": r.recall, "f1": r.f1,
                 "support": r.support} for r in [*self.rows, self.macro, self.weighted]]


@dataclass(frozen=True)
class ConfusedPair:
    """One off-diagonal cell: how often ``true`` was read as ``pred``."""

    true: int
    pred: int
    count: int
    text: str  # "4 read as 9: 23 times"


@dataclass(frozen=True)
class Example:
    """One image of a gallery: its index in the split, label, prediction and probability."""

    index: int
    true: int
    pred: int
    probability: float  # probability the model gave to ``pred``


@dataclass(frozen=True)
class Histogram:
    """Confidence histogram data: counts per bin for right and for wrong predictions."""

    edges: np.ndarray  # (bins + 1,) from 0 to 1
    right: np.ndarray  # (bins,) int
    wrong: np.ndarray  # (bins,) int


@dataclass(frozen=True)
class Evaluation:
    """Everything /evaluate shows for one model on one split."""

    predictions: Predictions
    matrix: np.ndarray  # (K, K) int64 counts, rows true, columns predicted
    loss: float  # mean categorical cross-entropy, as model.evaluate reports it
    accuracy: float
    metrics: MetricsTable = field(repr=False)

    @property
    def size(self) -> int:
        """Number of images evaluated."""
        return int(len(self.predictions.y_true))

    @property
    def errors(self) -> int:
        """Number of misclassified images."""
        return int(self.matrix.sum() - np.trace(self.matrix))


@dataclass(frozen=True)
class Comparison:
    """Model B against model A on the same images: B minus A everywhere."""

    accuracy_a: float
    accuracy_b: float
    rows: list[dict[str, object]]  # per class: recall and F1 of both, and the deltas
    matrix_diff: np.ndarray  # (K, K) int64: B's counts minus A's
    fixed: int  # images A got wrong and B got right
    broken: int  # images A got right and B got wrong

    @property
    def accuracy_delta(self) -> float:
        """B's accuracy minus A's (positive: B is better)."""
        return self.accuracy_b - self.accuracy_a


# ---------------------------------------------------------------- pure metrics


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``(K, K)``: entry ``[t, p]`` is how many images of class t were predicted p."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise UserError(f"{len(y_true)} labels but {len(y_pred)} predictions: they must "
                        "match one to one.")
    for name, values in (("label", y_true), ("prediction", y_pred)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise UserError(f"A {name} of {int(values.max())} is outside the {num_classes} "
                            f"classes (0–{num_classes - 1}).")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the share of class t predicted as p); empty rows stay 0.

    Row-normalised cells make rare classes as readable as common ones: the diagonal
    is each class's recall.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def per_class_metrics(matrix: np.ndarray, class_names: Sequence[str]) -> MetricsTable:
    """Precision, recall, F1 and support per class, with macro and weighted averages.

    A class never predicted has precision 0, one never present recall 0 (as
    scikit-learn's ``zero_division=0``). The averages cover the classes that occur
    as a label or a prediction, like scikit-learn's default, so a class absent from
    this split does not drag the macro average down.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    true_pos = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_div(true_pos, predicted)
    recall = _safe_div(true_pos, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    rows = [ClassMetrics(str(class_names[k]), float(precision[k]), float(recall[k]),
                         float(f1[k]), int(support[k])) for k in range(len(matrix))]
    present = (support > 0) | (predicted > 0)
    total = int(support.sum())

    def average(name: str, weights: np.ndarray) -> ClassMetrics:
        w = weights[present].astype(np.float64)
        if w.sum() == 0:
            return ClassMetrics(name, 0.0, 0.0, 0.0, total)
        return ClassMetrics(name, float(np.average(precision[present], weights=w)),
                            float(np.average(recall[present], weights=w)),
                            float(np.average(f1[present], weights=w)), total)

    return MetricsTable(rows, average("macro avg", np.ones(len(matrix))),
                        average("weighted avg", support))


def loss_and_accuracy(y_true: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Mean categorical cross-entropy and accuracy, as ``model.evaluate`` reports them.

    Keras computes the loss of a softmax output from its logits, so it is not capped
    at ``-log(epsilon) ≈ 16.1`` per image; computing ``-log(p)`` in float64 with only
    float32's smallest normal number as a floor reproduces it from probabilities
    (to ~1e-6) unless a probability underflowed to exactly 0.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if len(y_true) == 0:
        return 0.0, 0.0
    probs = probs / probs.sum(axis=1, keepdims=True)
    p_true = np.clip(probs[np.arange(len(y_true)), y_true], _PROB_FLOOR, 1.0)
    loss = float(-np.log(p_true).mean())
    accuracy = float((probs.argmax(axis=1) == y_true).mean())
    return loss, accuracy


def most_confused(matrix: np.ndarray, class_names: Sequence[str], top: int = 10
                  ) -> list[ConfusedPair]:
    """The off-diagonal cells with the most images, largest first ("4 read as 9: 23 times")."""
    matrix = np.asarray(matrix, dtype=np.int64)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    cells = [(int(off[t, p]), t, p) for t, p in zip(*np.nonzero(off), strict=True)]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    pairs = []
    for count, t, p in cells[:top]:
        times = "time" if count == 1 else "times"
        pairs.append(ConfusedPair(int(t), int(p), count,
                                  f"{class_names[t]} read as {class_names[p]}: {count} {times}"))
    return pairs


def _examples(preds: Predictions, indices: np.ndarray, limit: int | None) -> list[Example]:
    y_pred = preds.y_pred
    chosen = indices if limit is None else indices[:limit]
    return [Example(int(i), int(preds.y_true[i]), int(y_pred[i]),
                    float(preds.probs[i, y_pred[i]])) for i in chosen]


def _by_confidence(preds: Predictions, mask: np.ndarray) -> np.ndarray:
    """Indices where ``mask`` holds, most confident first (ties: lower index first)."""
    indices = np.flatnonzero(mask)
    order = np.argsort(-preds.confidence[indices], kind="stable")
    return indices[order]


def mistakes(preds: Predictions, limit: int | None = 50) -> list[Example]:
    """Misclassified images, most confident first: the errors the model is surest of."""
    return _examples(preds, _by_confidence(preds, preds.y_pred != preds.y_true), limit)


def cell_examples(preds: Predictions, true_class: int, pred_class: int,
                  limit: int | None = 30) -> list[Example]:
    """The images of one confusion-matrix cell, most confident first, for the drill-down."""
    k = preds.num_classes
    if not (0 <= true_class < k and 0 <= pred_class < k):
        raise UserError(f"Cell ({true_class}, {pred_class}) is outside the {k}×{k} matrix: "
                        f"pick classes 0–{k - 1}.")
    mask = (preds.y_true == true_class) & (preds.y_pred == pred_class)
    return _examples(preds, _by_confidence(preds, mask), limit)


def first_examples(preds: Predictions, count: int = 20) -> list[Example]:
    """The first ``count`` images in order, as the tutorials print predictions vs labels."""
    return _examples(preds, np.arange(min(count, len(preds.y_true))), None)


def confidence_histogram(preds: Predictions, bins: int = 20) -> Histogram:
    """How confident the model was, split into right and wrong predictions.

    A good model is confident when right and unsure when wrong; wrong predictions
    piled up near 1.0 mean it is confidently wrong.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    right_mask = preds.y_pred == preds.y_true
    conf = preds.confidence
    right, _ = np.histogram(conf[right_mask], bins=edges)
    wrong, _ = np.histogram(conf[~right_mask], bins=edges)
    return Histogram(edges, right.astype(np.int64), wrong.astype(np.int64))


def enlarge(image: np.ndarray, factor: int = 3) -> np.ndarray:
    """Scale a small grey ``(H, W)`` or colour ``(H, W, 3)`` image up by pixel repetition, so
    28×28 digits stay crisp on screen."""
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


# ---------------------------------------------------------------- comparison


def compare(a: Evaluation, b: Evaluation) -> Comparison:
    """Model B against model A on the same split: accuracy, per-class deltas, matrix diff.

    Raises:
        UserError: when the two were not evaluated on the same labelled images.
    """
    ya, yb = a.predictions.y_true, b.predictions.y_true
    if ya.shape != yb.shape or not np.array_equal(ya, yb):
        raise UserError(f"The two evaluations cover different images ({len(ya):,} vs "
                        f"{len(yb):,} labels): compare models on the same dataset and split.")
    rows: list[dict[str, object]] = []
    for ra, rb in zip(a.metrics.rows, b.metrics.rows, strict=True):
        rows.append({"class": ra.name, "support": ra.support,
                     "recall A": ra.recall, "recall B": rb.recall,
                     "Δ recall": rb.recall - ra.recall,
                     "F1 A": ra.f1, "F1 B": rb.f1, "Δ F1": rb.f1 - ra.f1})
    right_a = a.predictions.y_pred == ya
    right_b = b.predictions.y_pred == yb
    return Comparison(a.accuracy, b.accuracy, rows, b.matrix - a.matrix,
                      fixed=int((~right_a & right_b).sum()),
                      broken=int((right_a & ~right_b).sum()))
