import streamlit as st

st.title("Evaluate")
st.info("Coming next: a confusion matrix you can click into, per-class metrics and mistakes.")
