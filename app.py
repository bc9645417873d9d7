"""Router: one stable URL per step of the workflow. Run with ``streamlit run app.py``."""

import streamlit as st

from streamlit_keras import keep_keras_state
from webui import sign_in_gate

keep_keras_state()  # no Keras reset after every rerun: see streamlit_keras.py
st.set_page_config(page_title="Keras workbench", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/data.py", title="Data", icon="🔢", url_path="data"),
    st.Page("pages/architecture.py", title="Architecture", icon="🧱", url_path="architecture"),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="🎯", url_path="evaluate"),
    st.Page("pages/draw.py", title="Draw", icon="✏️", url_path="draw"),
    st.Page("pages/models.py", title="Models", icon="📦", url_path="models"),
]

sign_in_gate()
st.navigation(PAGES).run()
