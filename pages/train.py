import streamlit as st

st.title("Train")
st.info("Coming next: training as a background job with live charts, stop and history.")
