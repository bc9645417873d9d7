"""Tables: a CSV of rows and columns as a dataset, for regression and classification.

Split by job: :mod:`.reading` (a CSV's bytes → checked text and a frame of strings, sizes
first), :mod:`.columns` (each column's kind and missing count, the task a target implies),
:mod:`.encoding` (one-hot and standardisation fitted on the training split only),
:mod:`.schema` (what a stored table dataset carries), :mod:`.importing` (split, encode,
store), :mod:`.metrics` (regression and binary evaluation in NumPy) and :mod:`.predict`
(rows in, predictions out). Figures are in :mod:`dashcore.charts.tables`. No Streamlit, no
Keras.
"""
