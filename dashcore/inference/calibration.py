"""Calibrating "Not sure": temperature scaling and the confidence threshold.

A network's softmax is usually over-confident on inputs unlike its training images
(a drawing is not an MNIST scan), so "98% confident" can be wrong far more than 2% of
the time. Temperature scaling (Guo et al., 2017) divides the log-probabilities by one
number T fitted on held-out data to minimise the negative log-likelihood: the top guess
never changes, only how sure it claims to be. /draw then says a guess is "sure" only
above a threshold chosen so that sure answers are right at least 99% of the time on
held-out canvas-like drawings.
"""

from __future__ import annotations

import numpy as np

TEMPERATURE_RANGE = (0.05, 20.0)  # search interval for T; 1 = unchanged
TARGET_SURE_ACCURACY = 0.99  # sure answers must be right at least this often


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``(..., K)`` re-softmaxed at ``temperature`` (T > 1 softens them)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return p
    if not temperature > 0:
        raise ValueError(f"Temperature must be above 0, got {temperature}.")
    logits = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    p = np.asarray(probabilities, dtype=np.float64)
    picked = p[np.arange(len(labels)), np.asarray(labels, dtype=int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the NLL of ``labels``: golden-section search on log T.

    The NLL is convex in 1/T for fixed logits, so a one-dimensional search finds it.
    """
    lo, hi = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    golden = (np.sqrt(5.0) - 1.0) / 2.0

    def loss(log_t: float) -> float:
        return nll(apply_temperature(probabilities, float(np.exp(log_t))), labels)

    a, b = lo + (1 - golden) * (hi - lo), lo + golden * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - golden) * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = loss(b)
    return float(np.exp((lo + hi) / 2))


def sure_stats(probabilities: np.ndarray, labels: np.ndarray, threshold: float
               ) -> tuple[float, float]:
    """(accuracy of the sure answers, share of answers that are sure) at ``threshold``."""
    p = np.asarray(probabilities)
    sure = p.max(axis=1) >= threshold
    if not sure.any():
        return 1.0, 0.0
    right = p.argmax(axis=1) == np.asarray(labels)
    return float(right[sure].mean()), float(sure.mean())


def pick_threshold(probabilities: np.ndarray, labels: np.ndarray, preferred: float,
                   target: float = TARGET_SURE_ACCURACY) -> float:
    """``preferred`` if sure answers reach ``target`` there, else the lowest grid value that does.

    Grid: 0.50, 0.55, … 0.95, then 0.97, 0.98, 0.99.
    """
    if sure_stats(probabilities, labels, preferred)[0] >= target:
        return preferred
    grid = [*np.round(np.arange(0.5, 0.951, 0.05), 2), 0.97, 0.98, 0.99]
    for threshold in grid:
        if threshold > preferred and sure_stats(probabilities, labels, threshold)[0] >= target:
            return float(threshold)
    return 0.99
