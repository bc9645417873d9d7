import streamlit as st

st.title("Models")
st.info("Coming next: the saved models with their cards, download, upload and a system panel.")
