"""Router: one stable URL per step of the workflow. Run with ``streamlit run app.py``."""

import streamlit as st

from dashcore.access.stores import count_every_store
from views.common.access import sign_in_gate
from views.common.jobs import recover_jobs_once
from views.common.keras_state import keep_keras_state
from views.common.pages import navigation_pages
from views.common.startup import settings_or_stop
from views.common.warm_model import preload_default_model_once

count_every_store()  # the disk quota counts models, datasets, drawings and runs
keep_keras_state()  # no Keras reset after every rerun: see views/common/keras_state.py
st.set_page_config(page_title="Keras workbench", page_icon="🧠", layout="wide")
# A wrong DASHCORE_* value: every page names it, and nothing else runs. Read once here.
settings = settings_or_stop()

# Page scripts live in views/, not pages/: Streamlit runs a pages/ folder's scripts directly
# (skipping this router and its sign-in gate) until some session has called st.navigation.
recover_jobs_once(settings)  # runs left without a worker by a server restart → interrupted
try:
    sign_in_gate(navigation_pages(), settings).run()
finally:  # also after st.stop() (the sign-in page): the first page is sent before TF loads
    preload_default_model_once(settings)
