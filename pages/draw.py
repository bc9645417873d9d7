import streamlit as st

st.title("Draw")
st.info("Coming next: draw a digit and get a prediction from a saved model.")
