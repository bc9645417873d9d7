"""dashcore: the functional core of the Keras workbench.

Plain Python, Keras, NumPy and Plotly. Nothing here imports Streamlit, so every
module can be tested alone and reused from scripts, workers and benchmarks.
"""

__version__ = "0.1.0"
