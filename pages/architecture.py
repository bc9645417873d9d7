import streamlit as st

st.title("Architecture")
st.info("Coming next: presets, a layer builder and the model summary.")
