"""Evaluate: where and why a saved model errs. The logic lives in dashcore.evaluation.

Predictions are computed once per (model file, dataset, split) and cached in the
server process by dashcore, so every session and every rerun reuses them; this
page only reads widgets and renders.
"""

from __future__ import annotations

import streamlit as st

from dashcore.charts import evaluation as charts
from dashcore.datasets import base, catalog
from dashcore.errors import UserError
from dashcore.evaluation import metrics, runner, splits
from dashcore.models import registry
from dashcore.settings import get_settings
from views.common.access import current_user
from views.common.table_evaluation import show_table_evaluation
from views.common.text import literal, show_error

GALLERY_SIZE = 30  # images shown per gallery: enough to see a pattern, cheap to send
ZOOM = 3  # 28×28 digits shown at 84×84, pixels repeated so they stay crisp


def gallery(images, examples: list[metrics.Example], captions: list[str], key: str) -> None:
    """A row-wrapped grid of enlarged images with one caption each."""
    with st.container(key=key):
        if not examples:
            st.caption("No images here.")
            return
        st.image([metrics.enlarge(images[e.index], ZOOM) for e in examples], caption=captions,
                 width=28 * ZOOM)


st.title("Evaluate")
st.caption("See not just the accuracy but where the model errs: click a cell of the confusion "
           "matrix to see its images, the mistakes the model is surest of first.")

settings = get_settings()  # once per run of the page, handed to everything below
entries = [e for e in registry.list_models(settings) if e.error is None]
if not entries:
    st.info("There is no saved model to evaluate yet: train one on **Train** (or upload one on "
            "**Models**), then come back here.")
    st.stop()

by_id = {e.model_id: e for e in entries}
ids = list(by_id)
# /evaluate?model=<id> (the sweep page's "Open on /evaluate") picks that model.
wanted = st.query_params.get("model")
default_id = wanted if wanted in by_id else registry.default_model_id(settings)
left, middle, right = st.columns([2, 1, 1])
model_id = left.selectbox(
    "Model", ids, index=ids.index(default_id) if default_id in ids else 0,
    format_func=lambda i: f"{by_id[i].name}  ({i})", key="eval_model")
entry = by_id[model_id]

split_options = list(splits.SPLITS) + (
    [splits.DRAWINGS_SPLIT] if splits.drawings_available(settings) else [])
drawn = entry.card.get("dataset") == base.DRAWINGS and splits.DRAWINGS_SPLIT in split_options
split = right.radio("Split", split_options, horizontal=True, key="eval_split",
                    index=split_options.index(splits.DRAWINGS_SPLIT) if drawn else 0,
                    help="The test split is what the model never trained on. A model "
                         "trained on your drawings is scored on the held-out ones.")
# drawings are a split here, not a dataset
datasets = [d for d in catalog.list_datasets(settings) if d != base.DRAWINGS]
card_dataset = entry.card.get("dataset")
dataset_name = middle.selectbox(
    "Dataset", datasets,
    index=datasets.index(card_dataset) if card_dataset in datasets else 0,
    disabled=split == splits.DRAWINGS_SPLIT, key=f"eval_dataset|{model_id}")

user = current_user()
if entry.card.get("table") is not None or (
        split != runner.DRAWINGS_SPLIT and catalog.load_dataset(dataset_name, settings).is_table):
    show_table_evaluation(entry, dataset_name, split, settings)
    st.stop()
where = (" in a separate, time-limited process" if entry.card.get("source") == "uploaded"
         else "")
try:
    with st.spinner(f"Running the model over the {split} images{where} (once; then cached)…"):
        result = runner.evaluate_entry(entry, dataset_name, split, user=user,
                                       settings=settings)
except UserError as exc:
    show_error(exc)
    st.stop()

preds = result.predictions
names = preds.class_names
images = preds.images
c1, c2, c3, c4 = st.columns(4)
c1.metric("Accuracy", f"{result.accuracy:.2%}")
c2.metric("Loss (cross-entropy)", f"{result.loss:.4f}")
c3.metric("Images", f"{result.size:,}")
c4.metric("Mistakes", f"{result.errors:,}")

context = f"{model_id}|{dataset_name}|{split}"
cell_key = f"eval_cell|{context}"
chart_key = f"eval_chart|{context}"
cells = [(t, p) for t in range(len(names)) for p in range(len(names))]
cells.sort(key=lambda c: (c[0] == c[1], -int(result.matrix[c]), c))


def _cell_label(cell: tuple[int, int]) -> str:
    t, p = cell
    return f"{names[t]} → {names[p]}  ({int(result.matrix[t, p]):,})"


def _on_click() -> None:
    cell = charts.cell_from_selection(st.session_state[chart_key].selection)
    if cell is not None:
        st.session_state[cell_key] = cell


def _pick(cell: tuple[int, int]) -> None:
    st.session_state[cell_key] = cell


tab_matrix, tab_classes, tab_mistakes, tab_first, tab_compare = st.tabs(
    ["Confusion matrix", "Per class", "Mistakes", "First 20", "Compare models"])

with tab_matrix:
    view = st.radio("Cells show", ["counts", "row-normalised"], horizontal=True,
                    key="eval_view")
    chart_col, pairs_col = st.columns([3, 1])
    with chart_col:
        fig = charts.confusion_figure(result.matrix, names, normalised=view != "counts",
                                      selected=st.session_state.get(cell_key))
        st.plotly_chart(fig, key=chart_key, on_select=_on_click, selection_mode="points")
        st.selectbox("Or pick a cell: true → predicted", cells, index=None,
                     format_func=_cell_label, placeholder="choose a true → predicted pair",
                     key=cell_key)
    with pairs_col:
        st.markdown("**Most confused**")
        pairs = metrics.most_confused(result.matrix, names, top=10)
        if not pairs:
            st.caption("No mistakes at all on this split.")
        for pair in pairs:
            st.button(literal(pair.text), key=f"eval_pair|{context}|{pair.true}|{pair.pred}",
                      on_click=_pick, args=((pair.true, pair.pred),), width="stretch")
    cell = st.session_state.get(cell_key)
    if cell is None:
        st.caption("Click a cell of the matrix to see its images, most confident first.")
    else:
        t, p = cell
        examples = metrics.cell_examples(preds, t, p, limit=GALLERY_SIZE)
        count = int(result.matrix[t, p])
        kind = "right" if t == p else "mistakes"
        st.subheader(literal(f"True {names[t]}, predicted {names[p]}: {count:,} images "
                             f"({kind})"))
        if count > len(examples):
            st.caption(f"The {len(examples)} the model was most confident about.")
        gallery(images, examples, [f"#{e.index} · p={e.probability:.1%}" for e in examples],
                key="eval_drilldown")

with tab_classes:
    table = result.metrics
    st.dataframe(
        table.as_records(), hide_index=True,
        column_config={col: st.column_config.NumberColumn(format="%.3f")
                       for col in ("precision", "recall", "f1")})
    st.plotly_chart(charts.per_class_figure(table), key="eval_classes_chart")

with tab_mistakes:
    wrong = metrics.mistakes(preds, limit=GALLERY_SIZE)
    st.markdown(f"**{result.errors:,} misclassified**, the ones the model was surest of first "
                "(caption: true → predicted, probability).")
    gallery(images, wrong, [f"{names[e.true]} → {names[e.pred]} · {e.probability:.1%}"
                            for e in wrong], key="eval_mistakes")
    st.markdown("**Confidence, right vs wrong**: a trustworthy model is unsure when it is "
                "wrong.")
    st.plotly_chart(charts.confidence_figure(metrics.confidence_histogram(preds)),
                    key="eval_confidence_chart")

with tab_first:
    first = metrics.first_examples(preds, 20)
    st.markdown(f"The first {len(first)} {split} images, prediction and label side by side, as "
                "the tutorials print them.")
    gallery(images, first, [f"pred {names[e.pred]} · label {names[e.true]} "
                            f"{'✓' if e.pred == e.true else '✗'}" for e in first],
            key="eval_first")

with tab_compare:
    others = [i for i in ids if i != model_id]
    if not others:
        st.caption("Save a second model to compare it with this one on the same images.")
    else:
        other_id = st.selectbox("Compare with", others, index=None,
                                format_func=lambda i: f"{by_id[i].name}  ({i})",
                                placeholder="choose a model", key="eval_compare")
        if other_id is not None:
            try:
                with st.spinner("Running the second model…"):
                    other = runner.evaluate_entry(by_id[other_id], dataset_name, split,
                                                  user=user, settings=settings)
                diff = metrics.compare(result, other)
            except UserError as exc:
                show_error(exc)
            else:
                a, b, d = st.columns(3)
                a.metric(f"A: {literal(entry.name)}", f"{diff.accuracy_a:.2%}")
                b.metric(f"B: {literal(by_id[other_id].name)}", f"{diff.accuracy_b:.2%}",
                         delta=f"{diff.accuracy_delta:+.2%}")
                d.metric("B fixed / broke", f"{diff.fixed:,} / {diff.broken:,}")
                st.dataframe(diff.rows, hide_index=True, column_config={
                    col: st.column_config.NumberColumn(format="%+.3f" if "Δ" in col
                                                       else "%.3f")
                    for col in ("recall A", "recall B", "Δ recall", "F1 A", "F1 B", "Δ F1")})
                st.caption("Difference of confusion matrices, B − A: blue cells are where B "
                           "does better (more right on the diagonal, fewer mistakes off it).")
                st.plotly_chart(charts.difference_figure(diff.matrix_diff, names),
                                key="eval_diff_chart")
