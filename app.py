"""Router: one stable URL per step of the workflow. Run with ``streamlit run app.py``."""

import streamlit as st

from streamlit_keras import keep_keras_state
from webui import sign_in_gate

keep_keras_state()  # no Keras reset after every rerun: see streamlit_keras.py
st.set_page_config(page_title="Keras workbench", page_icon="🧠", layout="wide")

# Page scripts live in views/, not pages/: Streamlit runs a pages/ folder's scripts directly
# (skipping this router and its sign-in gate) until some session has called st.navigation.
PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/grid_view:", url_path="data"),
    st.Page("views/architecture.py", title="Architecture", icon=":material/account_tree:",
            url_path="architecture"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:",
            url_path="train"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/analytics:",
            url_path="evaluate"),
    st.Page("views/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("views/models.py", title="Models", icon=":material/inventory_2:", url_path="models"),
]

sign_in_gate(PAGES).run()
