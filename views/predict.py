"""/predict: a model trained on a table answers new rows, typed into a form (one input per
feature) or uploaded as a CSV that comes back with prediction columns. The counterpart of
/draw's canvas; the logic is dashcore.tables.predict.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from dashcore.charts.draw import probability_figure
from dashcore.errors import UserError
from dashcore.inference.predictor import get_predictor
from dashcore.models import registry
from dashcore.settings import get_settings
from dashcore.tables import predict
from dashcore.tables.columns import REGRESSION
from views.common.text import literal, show_error

settings = get_settings()
st.title("Predict")
st.caption("Ask a model trained on a table about new rows: fill in the form, or upload a CSV "
           "of rows and download it back with the predictions.")

entries = [e for e in registry.list_models(settings) if e.error is None
           and isinstance(e.card.get("table"), dict)]
if not entries:
    st.info("No model trained on a table yet: add a CSV on **Data**, train on it on **Train**, "
            "then come back here. (Models of images answer drawings on **Draw**.)")
    st.stop()
by_id = {e.model_id: e for e in entries}
model_id = st.selectbox("Model", list(by_id), key="predict_model",
                        format_func=lambda i: f"{by_id[i].name}  ({i})")
entry = by_id[model_id]
table = predict.table_of(entry.card)
target = table.target
st.caption(f"Predicts **{literal(target)}** from {len(table.encoder.features)} columns "
           f"(trained on {literal(entry.card.get('dataset'))}).")


def _run(x):
    return get_predictor(entry.path).predict_rows(x)


st.subheader("One row")
defaults = predict.form_defaults(table)
with st.form(f"predict_form|{model_id}"):
    columns = st.columns(3)
    values: dict[str, object] = {}
    for number, feature in enumerate(table.encoder.features):
        where = columns[number % 3]
        label = literal(feature.name)
        key = f"predict_field|{model_id}|{number}"
        if feature.kind == "number":
            values[feature.name] = where.number_input(label, value=float(defaults[feature.name]),
                                                      format="%g", key=key)
        else:
            values[feature.name] = where.selectbox(label, feature.categories, key=key)
    asked = st.form_submit_button("Predict", type="primary", key="predict_submit")
if asked:
    try:
        answer = predict.predict_frame(predict.one_row(values), entry.card, _run)
    except UserError as exc:
        show_error(exc)
    else:
        predicted = answer[f"predicted {target}"].iloc[0]
        with st.container(key="predict_answer"):
            if table.task == REGRESSION:
                st.success(literal(f"Predicted {target}: {float(predicted):,.4g}"))
            else:
                names = list(entry.card.get("class_names") or [])
                probabilities = [float(answer[f"probability of {n}"].iloc[0]) for n in names]
                st.success(literal(f"Predicted {target}: {predicted} "
                                   f"({max(probabilities):.1%})"))
                st.plotly_chart(probability_figure(probabilities, names),
                                key="predict_probabilities")

st.subheader("Many rows (CSV)")
st.caption("A CSV with the same columns the model reads (the target column may be absent); "
           "it comes back with a prediction column (and one probability per class).")
upload = st.file_uploader("CSV of new rows", type=["csv", "tsv", "txt", "zip", "gz"],
                          key="predict_csv", max_upload_size=settings.limits.upload_mb)
if upload is not None:
    try:
        with st.spinner("Predicting…"):
            result = predict.predict_csv(upload.getvalue(), entry.card, _run, settings.limits)
    except UserError as exc:
        show_error(exc)
    else:
        stem = PurePath(upload.name).stem.split(".")[0] or "rows"
        st.download_button("Download with predictions", result, f"{stem}-predicted.csv",
                           mime="text/csv", key="predict_download")
