"""Draw: draw a digit, see what the model sees and what it thinks, save it as an example.

The logic lives in dashcore: ``preprocess`` (canvas → MNIST-style 28×28),
``inference`` (one shared, compiled model per file per server process) and
``drawings`` (the labelled "Your drawings" set). This page reads the canvas and the
widgets and renders; it predicts on every finished stroke, with no button.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from dashcore.charts.draw import model_view, probability_figure
from dashcore.datasets import drawings
from dashcore.datasets.base import DRAWINGS
from dashcore.errors import UserError
from dashcore.inference.canvas import decode_canvas_png
from dashcore.inference.predictor import (
    Prediction,
    card_threshold,
    get_predictor,
    interpret,
    is_loaded,
    preload,
)
from dashcore.inference.preprocess import EMPTY_MESSAGE, preprocess
from dashcore.models import registry
from dashcore.settings import get_settings
from views.common.access import allowed, current_user
from views.common.text import literal, show_error

CANVAS_SIDE = 280  # pixels: fits a phone screen, 10× the model's 28×28
MAX_COMPARED = 2  # extra models shown side by side (3 in all)
# A drawing supplied without the canvas (RGBA or grey array): used by tests, where the
# canvas component cannot be drawn on.
OVERRIDE_KEY = "draw_image_override"
# On a narrow screen (Streamlit stacks columns below 640 px) the answer column falls below
# the canvas, out of a phone's first screen: a one-line answer above the canvas shows there.
PHONE_ANSWER_KEY = "draw_phone_answer"
PHONE_ONLY_CSS = (f"<style>@media (min-width: 640px) {{ .st-key-{PHONE_ANSWER_KEY} "
                  "{ display: none; } }</style>")
GETTING_READY = "Getting the model ready…"  # shown while the server still loads the model


UPLOADED_NOT_DRAWN = ("Uploaded models are not offered for drawing: a model of unknown cost "
                      "would run in the web server everyone shares. Evaluate them on "
                      "**Evaluate**, where they run in a separate, time-limited process.")


def usable_models() -> list[registry.ModelEntry]:
    """Saved models that take one 28×28 grey image (what a drawing becomes) and may run in
    the server (not uploaded ones)."""
    return [e for e in registry.list_models(settings) if e.error is None and e.info.reads_drawings
            and e.info.runs_in_the_server]


def uploaded_drawable() -> bool:
    """True when an uploaded model could read drawings but is kept off this page."""
    return any(e.error is None and e.info.reads_drawings and not e.info.runs_in_the_server
               for e in registry.list_models(settings))


def class_names(entry: registry.ModelEntry) -> tuple[str, ...]:
    """The model's class names from its card (digits when the card has none)."""
    return entry.info.labels


def label_for(entry: registry.ModelEntry) -> str:
    """A picker label: name, test accuracy when known, and the built-in marker."""
    accuracy = entry.card.get("test_accuracy")
    shown = f" · {float(accuracy):.1%} on test" if accuracy is not None else ""
    return f"{entry.name}{shown}" + (" (built in)" if entry.builtin else "")


def predict(entry: registry.ModelEntry, image: np.ndarray) -> Prediction:
    """The shared, cached model of ``entry`` applied to one 28×28 image, "sure" at the
    threshold on its card. A model still loading (the server starts loading the default
    one at start-up) is waited for under "Getting the model ready…": never dropped."""
    if is_loaded(entry.path):
        predictor = get_predictor(entry.path)
    else:
        with st.spinner(GETTING_READY):
            predictor = get_predictor(entry.path)
    return interpret(predictor.predict_one(image), class_names(entry), predictor.threshold)


def show_prediction(entry: registry.ModelEntry, image: np.ndarray, key: str,
                    title: str = "") -> Prediction | None:
    """Headline, probability bars; a sentence instead when the model cannot answer."""
    try:
        prediction = predict(entry, image)
    except UserError as exc:
        show_error(f"{entry.name}: {exc}")
        return None
    if title:
        st.markdown(f"**{literal(title)}**")
    st.subheader(literal(prediction.headline()))
    if not prediction.sure:
        st.caption(f"The model's best guess is under {prediction.threshold:.0%}: try drawing "
                   "the digit bigger, or more like a printed one.")
    st.plotly_chart(probability_figure(prediction.probabilities, prediction.class_names,
                                       threshold=prediction.threshold), key=key,
                    config={"displayModeBar": False, "staticPlot": True})
    return prediction


def read_canvas(brush: int) -> tuple[np.ndarray | None, bytes | None]:
    """The canvas image (RGBA) and its PNG bytes; ``(None, None)`` before the first stroke."""
    if OVERRIDE_KEY in st.session_state:
        return np.asarray(st.session_state[OVERRIDE_KEY]), None
    try:
        from views.common.draw_canvas import draw_canvas
    except Exception as exc:  # noqa: BLE001 - the page still explains itself without it
        st.error(f"The drawing canvas could not be loaded ({type(exc).__name__}): install "
                 "streamlit-drawable-canvas ≥ 0.13 (pip install -e .) and restart the app.")
        return None, None
    # streamlit-drawable-canvas, wrapped so that no stroke is lost (views/common/draw_canvas).
    result = draw_canvas(stroke_width=brush, stroke_color="#FFFFFF", background_color="#000000",
                         height=CANVAS_SIDE, width=CANVAS_SIDE, key="draw_canvas")
    # The PNG, decoded here within the size limits (the component's image_data is not).
    try:
        png = result.image_bytes
    except ValueError:  # not a base64 data URL: the browser did not send a canvas picture
        png = b"not a data URL"
    if png is None:
        return None, None
    try:
        return decode_canvas_png(png, settings.limits), png
    except UserError as exc:
        show_error(exc)
        return None, None


st.title("Draw")
st.caption("Draw a digit with your mouse or finger; the prediction updates each time you "
           "lift the pen. Undo and clear are in the canvas toolbar (hover its top-right "
           "corner).")

settings = get_settings()  # once per run of the page, handed to everything below
models = usable_models()
if not models:
    st.error("No model can read drawings: the built-in default model is missing. Run "
             "`python -m dashcore.models.default_model` to recreate it, or train a model on "
             "**Train**.")
    st.stop()
by_id = {e.model_id: e for e in models}
ids = list(by_id)
default_id = registry.default_model_id(settings)

picker, compare_box = st.columns([1, 1])
model_id = picker.selectbox("Model", ids, index=ids.index(default_id) if default_id in ids
                            else 0, format_func=lambda i: label_for(by_id[i]), key="draw_model",
                            help="Defaults to the model marked as default on Models, else the "
                                 "most accurate one.")
compared = compare_box.multiselect(
    "Compare with (optional)", [i for i in ids if i != model_id], max_selections=MAX_COMPARED,
    format_func=lambda i: label_for(by_id[i]), key="draw_compare",
    help=f"Up to {MAX_COMPARED} more models answer the same drawing, side by side.")
entry = by_id[model_id]
if uploaded_drawable():
    st.caption(UPLOADED_NOT_DRAWN)
preload(entry.path)  # usually loaded already (the server loads the default model at start)
left, right = st.columns([1, 1], gap="large")
with left:
    brush = st.slider("Brush width", 6, 40, 18, key="draw_brush",
                      help="Any width works: strokes are thickened or thinned to MNIST's pen.")
    st.html(PHONE_ONLY_CSS)
    phone_answer = st.container(key=PHONE_ANSWER_KEY)
    canvas_image, canvas_png = read_canvas(brush)
    # Below the canvas, so that on a phone nothing pushes the canvas out of the first screen.
    sure_line = entry.info.sure_line()
    st.caption(f"For this model an answer counts as sure at {card_threshold(entry.path):.0%} "
               "confidence or more; below that the page says it is not sure and shows two "
               "guesses."
               + (f" {sure_line}" if sure_line else ""))

image, stats = (None, None)
if canvas_image is not None:
    try:
        image, stats = preprocess(canvas_image)
    except ValueError as exc:
        show_error(f"The canvas image could not be read: {exc}")

prediction: Prediction | None = None
with right:
    if image is None:
        st.subheader(EMPTY_MESSAGE)
        note = (" (the tiny specks on the canvas were ignored)"
                if stats is not None and stats.dropped_specks else "")
        st.info(f"{EMPTY_MESSAGE} in the black square{note}: the prediction appears when you "
                "lift the pen.")
    else:
        prediction = show_prediction(entry, image, key="draw_probs")
        st.markdown("**What the model sees**")
        st.image(model_view(image, 5), caption="28×28, ink scaled to 20×20 and centred by "
                 "mass, like MNIST", width=140)
        if stats is not None and stats.dropped_specks:
            st.caption(f"{stats.dropped_specks} tiny speck(s) ignored as noise.")

# Filled after the answer column; always one line, so the canvas never shifts under a finger.
# Worded apart from the headline so that each text names one element on the page.
phone_line = (f"Answer: {prediction.headline().removeprefix('Prediction: ')}" if prediction
              else "Answer: none yet, draw a digit below" if is_loaded(entry.path)
              else f"Answer: none yet, draw a digit below ({GETTING_READY.lower()})")
phone_answer.markdown(f"**{literal(phone_line)}**")

if image is None and not is_loaded(entry.path):
    # Before the first drawing: say so, and hold this run until the model is warm, so a
    # drawing made meanwhile reruns the page (and is answered) the moment it is ready.
    with right, st.spinner(GETTING_READY):
        try:
            get_predictor(entry.path)
        except UserError:
            pass  # the drawing's own prediction shows the sentence

if image is not None and compared:
    st.divider()
    st.markdown("**Side by side**")
    for column, other_id in zip(st.columns(1 + len(compared)), [model_id, *compared],
                                strict=True):
        with column:
            show_prediction(by_id[other_id], image, key=f"draw_probs_{other_id}",
                            title=label_for(by_id[other_id]))

user = current_user()
if image is not None:
    st.divider()
if image is not None and allowed("save_drawing", user=user):
    classes = list(dict.fromkeys([*drawings.CLASS_NAMES, *drawings.class_names_in_use(settings)]))
    with st.form("save_example", border=False):
        st.markdown(f"**Save as example**: add this drawing, with what you drew, to "
                    f"'{DRAWINGS}'. Digits score models on real handwriting on Evaluate; "
                    "classes of your own (shapes, letters, symbols) become a dataset to "
                    "train on.")
        predicted = prediction.label if prediction is not None else None
        guess = classes.index(predicted) if predicted in classes else 0
        label_col, new_col, button_col = st.columns([1, 1, 1], vertical_alignment="bottom")
        label = label_col.selectbox("What I drew", classes, index=guess, key="draw_label")
        new_name = new_col.text_input("…or a new class", key="draw_new_class", max_chars=40,
                                      placeholder="e.g. circle",
                                      help="Any name: a shape, a letter, a symbol. Used "
                                           "instead of the choice on the left.")
        submitted = button_col.form_submit_button("Save as example")
    if submitted:
        chosen = new_name.strip() or str(label)
        digest = hashlib.sha1(image.tobytes() + chosen.encode()).hexdigest()
        if st.session_state.get("draw_last_saved") == digest:
            st.info("This drawing is already saved with that class.")
        else:
            try:
                drawings.save_drawing(image, chosen, canvas_png, settings=settings, user=user)
            except UserError as exc:
                show_error(exc)
            else:
                st.session_state["draw_last_saved"] = digest
                st.success(f"Saved as {chosen!r}. '{DRAWINGS}' now holds "
                           f"{drawings.count_drawings(settings)} drawing(s).")
    counts = drawings.class_counts(settings)
    if counts and set(counts) - set(drawings.CLASS_NAMES):
        # Class names are user text: shown literally, never as Markdown.
        st.text("Your drawings per class: " + " · ".join(f"{name} {count}"
                                                       for name, count in counts.items()))
        st.caption(f"Train a model on '{DRAWINGS}' on Train (a few drawings per class are "
                   "enough for a first try); it then appears in the model picker above.")
