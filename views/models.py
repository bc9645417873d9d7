"""/models: the model registry. Cards, rename, delete, default for /draw, downloads, upload.

Everything here calls one dashcore function per action and shows its errors with the
fix. Downloads are generated only when their button is clicked (``data`` is a callable),
so listing many models stays fast. A broken entry gets an error on its own row.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import streamlit as st

from dashcore.access import quota
from dashcore.access.auth import User, can, why_not
from dashcore.errors import UserError
from dashcore.models import export, registry, upload
from dashcore.settings import Settings, get_settings
from dashcore.system import human_bytes, system_info
from views.common.access import allowed, current_user
from views.common.export_panel import export_panel
from views.common.text import literal, show_error

FLASH = "models_flash"  # (kind, message) shown once at the top after an action
CONFIRM = "models_confirm_delete"  # model id waiting for "Yes, delete"
UPLOAD_GEN = "models_upload_gen"  # bumped to clear the file uploader after an import


def _flash(kind: str, message: str) -> None:
    st.session_state[FLASH] = (kind, message)


def _act(action: Any, done: str) -> None:
    """Run one registry action from a button callback; remember the outcome to show it."""
    try:
        action()
    except UserError as exc:
        _flash("error", str(exc))
    else:
        _flash("success", done)


def _rename(entry: registry.ModelEntry, user: User, settings: Settings) -> None:
    new_name = st.session_state.get(f"rename-{entry.model_id}", "")
    _act(partial(registry.rename_model, entry.model_id, new_name, user=user,
                 settings=settings),
         f"Renamed {entry.name!r} to {new_name.strip()!r}.")


def _delete(entry: registry.ModelEntry, user: User, settings: Settings) -> None:
    st.session_state.pop(CONFIRM, None)
    _act(partial(registry.delete_model, entry.model_id, user=user, settings=settings),
         f"Deleted {entry.name!r}.")


def _fmt_accuracy(value: Any) -> str:
    try:
        return f"{float(value):.2%}"
    except (TypeError, ValueError):
        return "—"


def _card_table(entry: registry.ModelEntry) -> None:
    card = entry.card
    shape = card.get("input_shape")
    params = card.get("params")
    rows = {
        "Owner": card.get("owner") or "—",
        "Dataset": card.get("dataset") or "—",
        "Architecture": entry.info.architecture_line(),
        "Input → classes": (f"{'×'.join(str(d) for d in shape)} "
                            f"({_input_kind(entry.info.input_shape)}) → "
                            f"{card.get('num_classes')}" if isinstance(shape, list) else "—"),
        "Parameters": f"{int(params):,}" if isinstance(params, int | float) else "—",
        "Test accuracy": _fmt_accuracy(card.get("test_accuracy")),
        "Created": str(card.get("created") or "—").replace("T", " ")[:19],
        "Trained": entry.info.training_line(),
        "Backend and device": entry.info.device_line(),
        "Lineage": entry.info.lineage_line(),
        "Where the time went": entry.info.phases_line(),
    }
    left, right = st.columns(2)
    items = list(rows.items())
    for column, chunk in ((left, items[:5]), (right, items[5:])):
        column.markdown("\n".join(f"- **{k}**: {literal(v)}" for k, v in chunk))
    # Class names are user text (folder names, typed names): shown literally, never as Markdown.
    st.text("Classes: " + ", ".join(entry.info.labels))


def _input_kind(shape: tuple[int, ...]) -> str:
    """What a model's input is, in words: grey or colour images, rows, or a flat vector."""
    if len(shape) == 3:
        return "colour images" if shape[2] == 3 else "grey images" if shape[2] == 1 else \
            f"{shape[2]} channels"
    return "rows" if len(shape) == 2 else "a flat vector"


def _owner(entry: registry.ModelEntry) -> str | None:
    owner = entry.card.get("owner")
    return str(owner) if owner else None


def _actions(entry: registry.ModelEntry, is_default: bool, user: User) -> None:
    """Buttons for what this user may do; dashcore checks each again when it runs."""
    key = entry.model_id
    row = st.container(horizontal=True, gap="small")
    if can(user, "admin"):
        row.button("Make default for /draw", key=f"default-{key}", disabled=is_default,
                   icon=":material/star:", on_click=_act,
                   args=(partial(registry.set_default_model, key, settings, user=user),
                         f"{entry.name!r} is now the default model for /draw."))
    may_manage = can(user, "manage", owner=_owner(entry))
    if not entry.builtin and may_manage:
        with row.popover("Rename", icon=":material/edit:"):
            st.text_input("New name", value=entry.name, key=f"rename-{key}", max_chars=80)
            st.button("Save name", key=f"rename-save-{key}", on_click=_rename,
                      args=(entry, user, settings))
        row.button("Delete", key=f"delete-{key}", icon=":material/delete:",
                   on_click=st.session_state.__setitem__, args=(CONFIRM, key))
    downloads = ((".keras", export.keras_bytes, ".keras", "application/octet-stream"),
                 (".h5", export.h5_bytes, ".h5", "application/octet-stream"),
                 ("card", export.card_json, ".json", "application/json"))
    for label, make, suffix, mime in downloads:
        # data is a callable: the bytes are made only when this button is clicked
        row.download_button(label, data=partial(make, entry), mime=mime,
                            file_name=export.download_name(entry, suffix),
                            key=f"dl-{suffix.strip('.')}-{key}", on_click="ignore",
                            icon=":material/download:")
    if not entry.builtin and not may_manage and not user.read_only:
        st.caption(literal(why_not(user, "manage", owner=_owner(entry), what="this model")))


def _confirm_delete(entry: registry.ModelEntry, user: User) -> None:
    st.warning(literal(f"Delete {entry.name!r} permanently? Its file and card are removed; "
                       "runs that produced it stay in the training history."))
    yes, no, _ = st.columns([1, 1, 4])
    yes.button("Yes, delete", key=f"delete-yes-{entry.model_id}", type="primary",
               on_click=_delete, args=(entry, user, settings))
    no.button("Cancel", key=f"delete-no-{entry.model_id}",
              on_click=lambda: st.session_state.pop(CONFIRM, None))


def _render_entry(entry: registry.ModelEntry, default_id: str | None, user: User) -> None:
    """One model's row; any problem stays inside the row."""
    is_default = entry.model_id == default_id
    with st.container(border=True, key=f"model-{entry.model_id}"):
        badges = " · ".join(b for b in (":material/star: default for /draw" if is_default else "",
                                         "built-in" if entry.builtin else "") if b)
        st.markdown(f"#### {literal(entry.name)}" + (f"  \n:gray[{badges}]" if badges else ""))
        try:
            _render_entry_body(entry, is_default, user)
        except Exception as exc:  # noqa: BLE001 - one odd card must not break the page
            show_error(f"Model {entry.name!r} cannot be shown ({type(exc).__name__}: {exc}).")
        with st.expander("Model card (JSON)"):
            st.code(json.dumps(entry.card, indent=2, sort_keys=True, default=str),
                    language="json")


def _render_entry_body(entry: registry.ModelEntry, is_default: bool, user: User) -> None:
    """Card, actions and delete confirmation; a broken file shows an error instead."""
    problem = entry.error or export.file_problem(entry.path)
    if problem:
        show_error(f"Model {entry.name!r} ({entry.model_id}) is broken: {problem}. Delete it, "
                   "or restore its files from a backup.")
        if not entry.builtin and can(user, "manage", owner=_owner(entry)):
            st.button("Delete", key=f"delete-{entry.model_id}",
                      on_click=st.session_state.__setitem__, args=(CONFIRM, entry.model_id))
    else:
        _card_table(entry)
        _actions(entry, is_default, user)
        export_panel(entry, settings, user)
    if st.session_state.get(CONFIRM) == entry.model_id:
        _confirm_delete(entry, user)


def _upload_section(user: User) -> None:
    st.subheader("Upload a model")
    if not allowed("upload", user=user):
        return
    st.caption(f"A `.keras` or legacy `.h5` file saved with `model.save(...)`, up to "
               f"{settings.limits.upload_mb} MB. It is checked before it is added: Lambda "
               "layers and custom objects are refused (they can run code on this server), and "
               "the file is first loaded in a separate, time- and memory-limited process.")
    generation = st.session_state.setdefault(UPLOAD_GEN, 0)
    uploaded = st.file_uploader("Model file", type=["keras", "h5"],
                                max_upload_size=settings.limits.upload_mb,
                                key=f"model-upload-{generation}")
    name = st.text_input("Name (optional)", key=f"model-upload-name-{generation}",
                         placeholder="defaults to the file name", max_chars=80)
    if st.button("Check and add", type="primary", disabled=uploaded is None,
                 key="model-upload-go"):
        with st.spinner("Checking the model in a separate, limited process…"):
            try:
                entry = upload.import_model(uploaded.getvalue(), uploaded.name,
                                                  name=name, settings=settings, user=user)
            except UserError as exc:
                st.error(f"**Refused {literal(repr(uploaded.name))}.** {literal(exc)}")
                return
        _flash("success", f"Added {entry.name!r}: input {entry.card['input_shape']}, "
                          f"{entry.card['num_classes']} classes, {entry.card['params']:,} "
                          "parameters. Pick it on /draw or /evaluate.")
        st.session_state[UPLOAD_GEN] = generation + 1
        st.rerun()


@st.cache_data(ttl=30, show_spinner=False)
def _system_info(home: str, _settings: Settings) -> Any:
    """System facts, refreshed at most every 30 s (walking the data folder costs I/O); keyed
    by the data folder (a leading underscore keeps ``_settings`` out of the cache key)."""
    return system_info(_settings)


def _system_panel() -> None:
    with st.expander("System"):
        info = _system_info(str(settings.home), settings)
        left, right = st.columns(2)
        left.markdown("**Versions**\n\n" + "\n".join(f"- {k}: `{v}`"
                                                     for k, v in info.versions.items()))
        right.markdown("**Keras backend settings** (`~/.keras/keras.json`)\n\n"
                       + "\n".join(f"- {k}: `{v}`" for k, v in info.keras_config.items())
                       + f"\n\n**Devices seen**: {', '.join(info.devices) or 'none'}"
                         f" · {info.cpu_count} CPU cores")
        st.markdown(f"**Data directory**: `{info.data_dir}` · free "
                    f"{human_bytes(info.disk_free)} of {human_bytes(info.disk_total)}")
        if info.disk_use:
            st.table({"folder": list(info.disk_use),
                      "size": [human_bytes(v) for v in info.disk_use.values()]})
        else:
            st.caption("The data directory is empty.")


st.title("Models")
st.caption("Every saved model with its card. Mark one as the default for /draw, download it "
           "as `.keras` or `.h5`, export it as a SavedModel or TFLite file, or upload your own.")
settings = get_settings()  # once per run of the page, handed to everything below
user = current_user()
if user.name:  # signed in: their share of the disk (things made with access off: nobody's)
    try:
        st.caption(f"**Your disk quota.** {quota.disk_use(user.name, settings).line()}")
    except (UserError, OSError) as exc:
        st.caption(f"Your disk use cannot be counted right now: {exc}")
if FLASH in st.session_state:
    kind, message = st.session_state.pop(FLASH)
    (st.success if kind == "success" else st.error)(literal(message))

try:
    models = registry.list_models(settings)
    default_model = registry.default_model_id(settings)
except (UserError, OSError) as exc:
    show_error(f"The model registry cannot be read: {exc}")
    models, default_model = [], None

if not any(not entry.builtin for entry in models):
    st.info("No saved models yet. Train one on /train, or upload a `.keras` / `.h5` file "
            "below.")
for model_entry in models:
    _render_entry(model_entry, default_model, user)

st.divider()
_upload_section(user)
_system_panel()
