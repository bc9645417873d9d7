"""Plotly figure builders: pure functions from dashcore results to figures (no Streamlit)."""
