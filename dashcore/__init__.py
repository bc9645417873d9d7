"""dashcore: the functional core of the Keras workbench.

Plain Python, Keras, NumPy and Plotly. Nothing here imports Streamlit, so every
module can be tested alone and reused from scripts, workers and benchmarks.

Packages, one concern each: ``access`` (users, sign-in, permissions, quotas),
``datasets`` (built-in sets, uploads, drawings, statistics), ``models`` (specs, presets
with their recipes, building, registry and cards, uploads, export), ``training`` (config,
data, callbacks, pipeline), ``jobs`` (queue, worker, backends), ``store`` (run records),
``evaluation`` (metrics, running models), ``inference`` (canvas preprocessing, the shared
predictor, calibration), ``sweeps`` (Optuna studies whose trials are runs), ``tables``
(CSV tables: reading with sizes first, column kinds, encoding fitted on the training rows,
metrics, prediction) and ``charts``
(Plotly figures). Shared modules: ``settings`` (the data folder and every ``DASHCORE_*``
limit), ``text`` (the one check for names people type), ``artifacts`` (local or object-store
folders), ``atomic``, ``errors``, ``system``.
"""

__version__ = "0.1.0"
