import streamlit as st

st.title("Data")
st.info("Coming next: sample images, class counts, pixel histogram, mean images and a PCA map.")
