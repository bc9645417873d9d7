"""Stop Streamlit from resetting Keras after every script run.

After each run of any page, in every session, Streamlit calls
``keras.backend.clear_session()`` once ``keras`` is imported (its
``script_runner._clean_problem_modules``). On TensorFlow that resets Keras's global
state, empties TensorFlow's eager kernel cache and runs a full ``gc.collect()``: about
0.43 s of CPU per rerun on the 2-core dev box, against ~0.04 s for everything /draw does
(preprocess, shared predictor, chart). With 20 people drawing, that alone needs more than
the two cores and serialises every session behind the GIL; it also slows the next
prediction, whose kernels were just thrown away.

The workbench does not need the reset: models are built with explicit layer names,
loaded models live in the shared predictor cache (``dashcore.inference.predictor``), and training
runs in worker processes. So :func:`keep_keras_state` swaps Streamlit's cleanup for one
that does the rest of its job (closing matplotlib figures) without touching Keras.
Measured effect: ``benchmarks/bench_many_sessions.py`` (BENCHMARKS.md, "Many sessions").
"""

from __future__ import annotations

import sys
from typing import Any


def _clean_without_keras() -> None:
    """Streamlit's per-run cleanup, less the Keras reset."""
    plt: Any = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001 - as Streamlit does: never fail the run for this
            pass


def keep_keras_state() -> bool:
    """Install the cleanup above; True if Streamlit had the hook to replace (idempotent)."""
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # a Streamlit that moved it: nothing to undo
        return False
    if not hasattr(script_runner, "_clean_problem_modules"):
        return False
    script_runner._clean_problem_modules = _clean_without_keras
    return True
