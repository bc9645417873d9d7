"""Architecture: pick a preset or compose layers with forms; see shapes, parameters, a diagram.

The current model lives in ``st.session_state["arch_spec"]`` as ``ModelSpec.to_dict()``;
/train reads that key to train "the one built on /architecture". All checking, editing
and counting is in :mod:`dashcore.models`; this page only wires widgets to it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashcore.charts.architecture import layer_stack_figure
from dashcore.datasets import catalog
from dashcore.errors import UserError
from dashcore.models import builder, presets, specs, validation
from dashcore.settings import Settings, get_settings
from views.common.text import literal, show_error

SPEC_KEY = "arch_spec"  # shared with /train: the model built here, as a dict
SOURCE_KEY = "arch_source"  # which start the radio shows when the page is opened again
REV_KEY = "arch_rev"  # bumped on every change so per-layer widgets start fresh
EDIT_KEY = "arch_editing"  # index of the layer whose form is open, or None
FLASH_KEY = "arch_flash"  # (kind, message) shown once after a callback
DATA_SHAPE_KEY = "arch_data_shape"  # (input shape, classes) of the dataset built for
EMPTY = "Empty (start from scratch)"
DEFAULT_START = "Dense 64"
MAX_UPLOAD_BYTES = 1_000_000  # a spec is a few kB; anything bigger is not one


def _spec() -> specs.ModelSpec:
    return specs.ModelSpec.from_dict(st.session_state[SPEC_KEY])


def _store(spec: specs.ModelSpec) -> None:
    st.session_state[SPEC_KEY] = spec.to_dict()
    st.session_state[REV_KEY] = st.session_state.get(REV_KEY, 0) + 1
    st.session_state[EDIT_KEY] = None


def _start_from(choice: str) -> None:
    spec = presets.empty_spec() if choice == EMPTY else presets.get_preset(choice)
    shape, classes = st.session_state.get(DATA_SHAPE_KEY, (spec.input_shape, spec.num_classes))
    _store(spec.with_data(tuple(shape), int(classes)))
    st.session_state[SOURCE_KEY] = choice


def _on_dataset_change(settings: Settings) -> None:
    """Fit the current stack to the chosen dataset's image shape and class count."""
    try:
        dataset = catalog.load_dataset(st.session_state["arch_dataset"], settings)
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc))
        return
    st.session_state[DATA_SHAPE_KEY] = (dataset.input_shape, dataset.num_classes)
    _store(_spec().with_data(dataset.input_shape, dataset.num_classes))


def _on_start_change() -> None:
    _start_from(st.session_state["arch_start"])


def _change(edit, *args: Any) -> None:
    """Apply one pure edit from dashcore to the stored spec."""
    try:
        _store(edit(_spec(), *args))
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc))


def _toggle_edit(index: int) -> None:
    st.session_state[EDIT_KEY] = None if st.session_state.get(EDIT_KEY) == index else index


def _read_fields(kind: str, prefix: str) -> dict[str, Any]:
    """The layer dict a form describes (target_shape typed as text is parsed here)."""
    layer: dict[str, Any] = {"type": kind}
    for key in specs.LAYER_DEFAULTS[kind]:
        value = st.session_state[f"{prefix}_{key}"]
        layer[key] = specs.parse_shape(value) if key == "target_shape" else value
    return layer


def _save_edit(index: int, kind: str, prefix: str) -> None:
    try:
        _store(specs.replace_layer(_spec(), index, _read_fields(kind, prefix)))
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc))


def _add(kind: str, prefix: str) -> None:
    try:
        position = st.session_state[f"{prefix}_position"]
        _store(specs.add_layer(_spec(), _read_fields(kind, prefix), position))
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", str(exc))


def _load_upload(key: str) -> None:
    upload = st.session_state.get(key)
    if upload is None:
        return
    try:
        if upload.size > MAX_UPLOAD_BYTES:
            raise UserError(f"{upload.name} is {upload.size:,} bytes; an architecture file is a "
                            "few kilobytes. Upload the .json the Download button saved.")
        spec = specs.ModelSpec.from_json(upload.getvalue())
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", f"Could not load {upload.name}: {exc}")
        return
    _store(spec)
    st.session_state["arch_upload_rev"] = st.session_state.get("arch_upload_rev", 0) + 1
    st.session_state[FLASH_KEY] = ("success", f"Loaded “{spec.name}” from {upload.name}.")


def _field_widgets(kind: str, values: dict[str, Any], prefix: str) -> None:
    """One input per setting of ``kind``, keyed ``{prefix}_{setting}``; values read on submit."""
    settings = specs.LAYER_DEFAULTS[kind]
    if not settings:
        st.caption(f"{kind} has no settings.")
    columns = st.columns(max(len(settings), 1))
    for column, key in zip(columns, settings, strict=False):
        label, meaning = specs.FIELD_LABELS[key]
        value = values.get(key, settings[key])
        widget_key = f"{prefix}_{key}"
        with column:
            if key in ("units", "filters", "kernel_size", "pool_size"):
                high = {"units": specs.MAX_UNITS, "filters": specs.MAX_FILTERS}.get(key, 64)
                safe = value if isinstance(value, int) and 1 <= value <= high else settings[key]
                st.number_input(label, 1, high, int(safe), step=1, help=meaning, key=widget_key)
            elif key in ("activation", "padding"):
                options = specs.ACTIVATIONS if key == "activation" else specs.PADDINGS
                st.selectbox(label, options, help=meaning, key=widget_key,
                             index=options.index(value) if value in options else 0)
            elif key == "rate":
                safe = float(value) if isinstance(value, int | float) and 0 <= value < 1 else 0.5
                st.number_input(label, 0.0, 0.95, safe, step=0.05, help=meaning,
                                key=widget_key)
            elif key == "return_sequences":
                st.checkbox(label, bool(value), help=meaning, key=widget_key)
            else:  # target_shape
                text = ", ".join(str(d) for d in value) if isinstance(value, list) else str(value)
                st.text_input(label, text, help=meaning, key=widget_key)


@st.cache_data(show_spinner="Building the model with Keras…", max_entries=64)
def _summary(spec_json: str, max_params: int) -> builder.ModelSummary:
    """Keras's own numbers for a spec; cached because building imports TensorFlow (~3 s)."""
    return builder.summarize(specs.ModelSpec.from_json(spec_json), max_params)


def _dims(shape: tuple[int, ...] | None) -> str:
    """'26×26×32', '1,600 values', or '?' past the first problem."""
    if not shape:
        return "?"
    return f"{shape[0]:,} values" if len(shape) == 1 else "×".join(str(d) for d in shape)


# --- page ----------------------------------------------------------------------------------

if SPEC_KEY not in st.session_state:
    _start_from(DEFAULT_START)

st.title("Architecture")
st.write("Choose the network to train: start from a tutorial's model or from scratch, then "
         "add, remove, reorder and edit layers. Problems are explained before anything is "
         "built; a valid model shows Keras's own summary and a diagram.")

settings = get_settings()  # once per run of the page, handed to everything below
starts = [*presets.PRESETS, EMPTY]
source = st.session_state.get(SOURCE_KEY, DEFAULT_START)
st.radio("Start from", starts, index=starts.index(source) if source in starts else 0,
         horizontal=True, key="arch_start", on_change=_on_start_change,
         help="Choosing a start replaces the layers below.")

st.selectbox("Build for the images of", catalog.list_datasets(settings), key="arch_dataset",
             on_change=_on_dataset_change, args=(settings,),
             help="The input takes this dataset's image size and colour, and the output one "
                  "unit per class. Train fits the model to its own dataset the same way.")

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    (st.error if flash[0] == "error" else st.success)(literal(flash[1]))

spec = _spec()
rev = st.session_state.get(REV_KEY, 0)
shapes, problem = validation.trace_stack(spec, settings.limits.max_params)
shape_text = "×".join(str(d) for d in spec.input_shape)
st.caption(f"Model **{literal(spec.name)}** · input {shape_text} · {spec.num_classes} classes · "
           f"{len(spec.layers)} layers")
for note in presets.fit_notes(spec, spec.input_shape):
    st.info(note)

left, right = st.columns([5, 4], gap="large")

with left:
    st.subheader("Layers")
    for index, layer in enumerate(spec.layers):
        flagged = problem is not None and problem.layer == index
        with st.container(border=True):
            text, up, down, edit, remove = st.columns([8, 1, 1, 1, 1],
                                                      vertical_alignment="center")
            marker = "⚠️ " if flagged else ""
            text.markdown(f"{marker}**{index + 1}. {literal(specs.describe_layer(layer))}**  \n"
                          f":gray[output {_dims(shapes[index])}]")
            last = len(spec.layers) - 1
            up.button(":material/arrow_upward:", key=f"up_{rev}_{index}", help="Move up",
                      type="tertiary", disabled=index == 0,
                      on_click=_change, args=(specs.move_layer, index, -1))
            down.button(":material/arrow_downward:", key=f"down_{rev}_{index}",
                        help="Move down", type="tertiary", disabled=index == last,
                        on_click=_change, args=(specs.move_layer, index, 1))
            edit.button(":material/edit:", key=f"edit_{rev}_{index}", help="Edit settings",
                        type="tertiary",
                        disabled=not specs.LAYER_DEFAULTS.get(layer.get("type"), {}),
                        on_click=_toggle_edit, args=(index,))
            remove.button(":material/delete:", key=f"remove_{rev}_{index}", help="Remove",
                          type="tertiary", on_click=_change, args=(specs.remove_layer, index))
            if st.session_state.get(EDIT_KEY) == index and layer.get("type") in \
                    specs.LAYER_DEFAULTS:
                prefix = f"edit_{rev}_{index}_field"
                with st.form(f"edit_form_{rev}_{index}", border=False):
                    _field_widgets(layer["type"], layer, prefix)
                    st.form_submit_button("Save changes", type="primary", on_click=_save_edit,
                                          args=(index, layer["type"], prefix))

    with st.container(border=True):
        st.markdown("**Add a layer**")
        kind = st.selectbox("Layer type", list(specs.LAYER_DEFAULTS), key=f"add_type_{rev}")
        st.caption(specs.LAYER_HELP[kind])
        prefix = f"add_{rev}"
        with st.form(f"add_form_{rev}", border=False):
            _field_widgets(kind, {}, prefix)
            count = len(spec.layers)
            positions = list(range(count + 1))
            st.selectbox(
                "Where", positions, index=max(count - 1, 0), key=f"{prefix}_position",
                format_func=lambda p: (f"before layer {p + 1} ({spec.layers[p]['type']})"
                                       if p < count else "at the end"))
            st.form_submit_button("Add layer", on_click=_add, args=(kind, prefix))

    file_name = "".join(c if c.isalnum() else "_" for c in spec.name).strip("_") or "model"
    download, upload = st.columns(2)
    download.download_button("Download as JSON", spec.to_json(indent=2),
                             file_name=f"{file_name}.json", mime="application/json",
                             on_click="ignore", help="Save this architecture to a file.")
    upload_key = f"arch_upload_{st.session_state.get('arch_upload_rev', 0)}"
    upload.file_uploader("Load a JSON architecture", type=["json"], key=upload_key,
                         on_change=_load_upload, args=(upload_key,))

with right:
    st.subheader("Model")
    if problem is not None:
        show_error(problem)
    else:
        try:
            summary = _summary(spec.to_json(), settings.limits.max_params)
        except UserError as exc:
            show_error(exc)
        else:
            st.metric("Total params", f"{summary.total_params:,}")
            st.markdown(f"Trainable params: **{summary.trainable_params:,}** · "
                        f"Non-trainable params: **{summary.non_trainable_params:,}**")
            if summary.non_trainable_params:
                st.caption("Non-trainable: BatchNormalization's running mean and variance, "
                           "updated while training but not by the optimizer.")
            st.table([{**row, "Param #": f"{row['Param #']:,}"} for row in summary.table()],
                     hide_index=True)
            st.plotly_chart(layer_stack_figure(summary), width="stretch")
            st.page_link("views/train.py", label="Train this model",
                         icon=":material/model_training:")
