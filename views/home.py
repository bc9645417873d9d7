"""Home: the workflow in a few lines, each step a link."""

import streamlit as st

from views.common.pages import workflow_steps

st.title("Keras workbench")
st.write(
    "Explore handwritten digits, build a neural network with forms, train it while live "
    "charts show it learning, find out where it goes wrong, and draw digits for it to read."
)
for number, page in enumerate(workflow_steps(), start=1):
    left, right = st.columns([1, 4])
    left.page_link(page.script, label=f"{number}. {page.title}")
    right.write(page.blurb)
