"""Home: the workflow in a few lines, each step a link."""

import streamlit as st

st.title("Keras workbench")
st.write(
    "Explore handwritten digits, build a neural network with forms, train it while live "
    "charts show it learning, find out where it goes wrong, and draw digits for it to read."
)
STEPS = [
    ("views/data.py", "1. Data", "look at MNIST (or your own upload): samples, classes, pixels."),
    ("views/architecture.py", "2. Architecture", "pick a preset or compose layers; see "
     "shapes and parameters."),
    ("views/train.py", "3. Train", "fit it as a background job with live loss and accuracy."),
    ("views/evaluate.py", "4. Evaluate", "confusion matrix, per-class metrics, the mistakes."),
    ("views/draw.py", "5. Draw", "draw a digit and see what a saved model predicts."),
    ("views/models.py", "6. Models", "keep, download, upload and share saved models."),
]
for page, label, blurb in STEPS:
    left, right = st.columns([1, 4])
    left.page_link(page, label=label)
    right.write(blurb)
