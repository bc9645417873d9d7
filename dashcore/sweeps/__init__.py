"""Hyperparameter sweeps: an Optuna study whose trials are ordinary training runs.

A sweep is a :class:`~dashcore.sweeps.space.SweepPlan` (what varies, how many trials, how
many at once, the metric, the pruner) stored as an Optuna study in the same database as the
runs (:mod:`dashcore.sweeps.study`). :func:`dashcore.sweeps.dispatch.advance` asks the study
for trials and submits each as a run through the job queue, and tells the study each
finished run's value; the worker reports every epoch's validation value to the trial and
stops a pruned one (:mod:`dashcore.sweeps.pruning`). Nothing lives in memory, so a sweep
survives a web-server restart.

Optuna is an optional extra (``pip install 'dashcore[sweeps]'``): the rest of the
workbench never imports it, and the sweep page says how to install it when it is missing.
"""

from __future__ import annotations

import importlib.util

MISSING_OPTUNA = ("Sweeps need Optuna, which is not installed on this server. Install it with "
                  "`pip install 'dashcore[sweeps]'` (or `pip install optuna`) and restart the "
                  "app.")


def optuna_missing() -> str | None:
    """The sentence to show when Optuna is not installed; ``None`` when it is."""
    return None if importlib.util.find_spec("optuna") is not None else MISSING_OPTUNA
