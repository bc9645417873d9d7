"""/train: configure a run, watch it live, stop it, compare it with earlier runs.

Training never runs here: the form queues a job (:func:`dashcore.jobs.queue.submit`) that a
worker process trains. The live panel is a fragment that re-reads the run store every
second, so a rerun, another page, a refresh or a closed tab changes nothing for the run.
"""

from __future__ import annotations

import streamlit as st

from dashcore.access.auth import can, why_not
from dashcore.charts import training as charts
from dashcore.datasets import catalog
from dashcore.errors import UserError
from dashcore.jobs import display, queue, spares
from dashcore.models.presets import DEFAULT_PRESET, PRESETS, RECIPE_NOTES, RECIPES
from dashcore.models.specs import ModelSpec
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.store.runs import ACTIVE, QUEUED, WORKING, RunRecord
from dashcore.training.config import (
    LOSSES,
    MAX_GPUS,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    recipe_for,
)
from dashcore.training.data import default_loss
from views.common.access import allowed, current_user, run_or_error
from views.common.continue_panel import continue_panel, start_from_fields
from views.common.text import literal, show_error

AUTO_LOSS = "auto"  # the loss the dataset calls for (dashcore.training.data.default_loss)
WATCH_KEY = "train_watch"  # the run the live panel follows
ARCH_KEY = "arch_spec"  # the model built on /architecture (a ModelSpec dict), if any
CUSTOM = "Built on /architecture"
DEFAULTS = TrainConfig()
# Form widgets a preset's recipe fills in (widget key → TrainConfig field).
RECIPE_WIDGETS = {"train_optimizer": "optimizer", "train_lr": "learning_rate",
                  "train_batch": "batch_size", "train_epochs": "epochs",
                  "train_val": "validation_split", "train_schedule": "schedule",
                  "train_augment": "augment", "train_patience": "patience"}
RECIPE_KEY = "train_recipe"  # the recipe last filled into the form

settings = get_settings()
try:
    store = open_store(settings)
except UserError as exc:  # a damaged run store file: say what to do, not a traceback
    show_error(exc)
    st.stop()
user = current_user()

st.title("Train")
st.caption("Training runs as a background job: you can leave this page, refresh or close the "
           "tab, and the run keeps going. Come back to see it. Not sure which settings to "
           "pick? Let a sweep search for them on /sweep.")


# ------------------------------------------------------------------ the form


def _architectures() -> dict[str, dict]:
    """Presets, plus the model built on /architecture when there is one."""
    options = {name: spec.to_dict() for name, spec in PRESETS.items()}
    custom = st.session_state.get(ARCH_KEY)
    if custom:
        try:
            spec = ModelSpec.from_dict(custom)
            options = {f"{CUSTOM}: {spec.name}": spec.to_dict(), **options}
        except UserError as exc:
            st.warning(literal(f"The model from /architecture cannot be used: {exc}"))
    return options


def _apply_recipe(values: dict) -> None:
    """Fill the recipe's fields of the form (the user can still edit them)."""
    for key, name in RECIPE_WIDGETS.items():
        st.session_state[key] = values[name]
    st.session_state[RECIPE_KEY] = values


def _on_architecture_change() -> None:
    """A preset picked: its recommended recipe (the tutorial recipe if it has none).

    Only when that differs from the recipe in the form: moving between presets that share
    a recipe (Dense 64 → CNN 32-64) keeps what the user typed.
    """
    chosen = st.session_state.get("train_arch")
    if chosen in PRESETS and recipe_for(chosen) != st.session_state.get(RECIPE_KEY):
        _apply_recipe(recipe_for(chosen))


def _form() -> None:
    architectures = _architectures()
    names = list(architectures)
    default_arch = names.index(DEFAULT_PRESET) if DEFAULT_PRESET in names else 0
    if "train_lr" not in st.session_state:  # first visit: the default preset's recipe
        _apply_recipe(recipe_for(DEFAULTS.spec.name))
    # Outside the form so that picking a preset fills in its recipe at once.
    arch = st.selectbox("Architecture", names, index=default_arch, key="train_arch",
                        on_change=_on_architecture_change,
                        help="A preset from the tutorials, or the model you built on "
                             "/architecture. A preset with a recommended recipe fills it in "
                             "below.")
    if arch in RECIPES:
        st.caption(f"Recommended recipe for {arch} filled in: {RECIPE_NOTES[arch]}")
    with st.form("train_form"):
        left, middle, right = st.columns(3)
        dataset = left.selectbox("Dataset", catalog.list_datasets(settings), key="train_dataset",
                                 help="The images to learn from; see /data for a look.")
        classes = left.multiselect(
            "Classes (empty = all)", list(range(10)), key="train_classes",
            help="Train on some classes only, e.g. 3 and 8 for the two-class task.")
        start_model, trainable_last = start_from_fields(left, settings)
        optimizer = middle.selectbox("Optimizer", list(OPTIMIZERS), key="train_optimizer",
                                     format_func=OPTIMIZERS.get,
                                     help="How weights are updated. Adam works out of the box.")
        learning_rate = middle.number_input(
            "Learning rate", step=1e-4, format="%g", key="train_lr",
            help="Size of each update: 0.001 for Adam, about 0.01 for SGD. With one-cycle, "
                 "the peak rate.")
        schedule = middle.selectbox(
            "Learning-rate schedule", list(SCHEDULES), key="train_schedule",
            format_func=lambda name: SCHEDULES[name].split(":")[0],
            help=" ".join(SCHEDULES.values()))
        loss = middle.selectbox("Loss", [AUTO_LOSS, *LOSSES], key="train_loss",
                                format_func=lambda k: LOSSES.get(k, "Follow the data"),
                                help="Follow the data: categorical cross-entropy for images, "
                                     "and for a table the one its task calls for (mean "
                                     "squared error for a number, binary cross-entropy for "
                                     "two classes). Mean squared error on images is there to "
                                     "compare, as the tutorials do.")
        batch_size = middle.number_input(
            "Batch size", step=32, key="train_batch",
            help="Images per update, 1 to 4096. Larger is faster per image, noisier when small.")
        epochs = right.number_input(
            "Epochs", step=1, key="train_epochs",
            help=f"Passes over the training images, 1 to {settings.limits.max_epochs}.")
        validation_split = right.number_input(
            "Validation split", step=0.05, format="%.2f",
            key="train_val", help="Share of training images held out to check progress, 0–0.5.")
        patience = right.number_input(
            "Early-stopping patience", step=1, key="train_patience",
            help="Stop after this many epochs without a better validation loss; 0 = off.")
        seed = right.number_input("Seed", value=DEFAULTS.seed, step=1, key="train_seed",
                                  help="Same seed and settings → the same split and start.")
        augment = right.checkbox("Light augmentation", key="train_augment",
                                 help="Random small shifts, rotations and zooms of the "
                                      "training images each epoch. Safe for digits, letters "
                                      "and drawings: nothing is mirrored.")
        augment_photo = right.checkbox(
            "Photo augmentation", value=False, key="train_augment_photo",
            help="For photos (e.g. a zip of class folders or webcam shots): random mirror "
                 "images, small rotations, zooms and brightness changes, so the model does "
                 "not learn the exact framing and lighting. Not for digits or letters: a "
                 "mirrored b is a d.")
        canvas_ready = right.checkbox(
            "Canvas-ready", key="train_canvas_ready",
            help="Also train on each digit redrawn the way a hand draws it on the /draw canvas "
                 "(strokes that wander, overshoot or lift; a round brush, any size and place, "
                 "then /draw's preprocessing), so the model reads "
                 "drawings better; about twice the training time, 28×28 grey digits only.")
        with st.expander("More"):
            max_images = st.number_input(
                "Training images (0 = all)", value=0, step=1000, key="train_max_images",
                help="Use only this many training images, for a quick try.")
            name = st.text_input("Run name (optional)", key="train_name", max_chars=80,
                                 help="You can also rename the run while it trains.")
            mixed = st.checkbox(
                "Mixed precision (GPU only)", value=False, key="train_mixed",
                help="float16 arithmetic with float32 weights: faster on a recent GPU. "
                     "Without a GPU the run trains in float32 and its model card says so.")
            gpus = None
            if settings.backend == "ray":  # only a cluster hands out GPUs per run
                gpus = st.number_input(
                    "GPUs for this run", min_value=0, max_value=MAX_GPUS, step=1,
                    value=int(settings.ray_gpus), key="train_gpus",
                    help="GPUs the run's job asks the Ray cluster for (one host's). If none "
                         "is free, the run says it is waiting for a GPU.")
        submitted = st.form_submit_button("Train", type="primary")
    if not submitted:
        return
    if loss == AUTO_LOSS:
        try:
            loss = default_loss(catalog.load_dataset(dataset, settings))
        except UserError as exc:
            show_error(exc)
            return
    config = TrainConfig(
        dataset=dataset, architecture=architectures[arch], optimizer=optimizer,
        learning_rate=float(learning_rate), batch_size=int(batch_size), epochs=int(epochs),
        validation_split=float(validation_split), seed=int(seed), patience=int(patience),
        augment=bool(augment), augment_photo=bool(augment_photo), loss=loss,
        classes=sorted(classes) or None,
        max_train_images=int(max_images), schedule=schedule, mixed_precision=bool(mixed),
        canvas_ready=bool(canvas_ready), gpus=None if gpus is None else int(gpus),
        start_model=start_model, trainable_last=trainable_last)
    problems = config.validate(settings.limits)
    if problems:
        for problem in problems:
            show_error(problem)
        return
    run = run_or_error(queue.submit, config, name=name.strip() or None, settings=settings,
                       user=user)
    if run is not None:
        st.session_state[WATCH_KEY] = run.run_id
        st.success(literal(f"Run “{run.name}” is {run.status}."))


if allowed("train", user=user):
    spares.keep_ready_for(user, settings)  # a warm worker waits for the Train press
    _form()


# ------------------------------------------------------------------ the live panel


def _stop_button(run: RunRecord) -> None:
    if run.status in (QUEUED, *WORKING) and not run.stop_requested:
        if not allowed("manage", owner=run.owner, what="this run", user=user):
            return
        if st.button("Stop", key="stop_button", help="Halts within a batch or two and keeps "
                                                      "the model trained so far."):
            updated = run_or_error(queue.stop, run.run_id, settings, user=user)
            if updated is not None:
                st.toast(literal(f"Stopping “{updated.name}”…"))


def _live_panel(run_id: str, was_active: bool) -> None:
    """Re-run every second while something is active: reads the store and redraws."""
    queue.dispatch(settings)  # notices dead workers and starts queued runs
    try:
        run = store.get_run(run_id)
    except UserError as exc:
        st.warning(literal(exc))
        return
    positions = queue.queue_positions(store.list_runs([QUEUED]))
    with st.container(key="run_status"):
        line = display.status_line(run, positions.get(run.run_id))
        {"failed": st.error, "interrupted": st.warning, "stopped": st.info,
         "completed": st.success}.get(run.status, st.markdown)(
            f"**{run.status}** · {literal(line)}")
    if run.status not in (QUEUED, "starting"):
        fraction, caption = display.progress_caption(run.progress)
        st.progress(fraction, text=caption)
    phases = display.phases_line(run)
    if phases:
        st.caption(f"Where the time went: {phases}", help="Waiting for a worker (a warm one "
                   "takes a run at once; a cold one imports Keras and its backend first), "
                   "loading data, compiling (building the model and tracing its first step), "
                   "training.")
    _stop_button(run)
    batch_points = store.batch_points(run.run_id)
    epoch_points = store.epoch_points(run.run_id)
    st.plotly_chart(charts.live_figure(batch_points, epoch_points), key="live_chart")
    if run.status != QUEUED and st.toggle("Show the job's log", key="show_job_log",
                                          help="The last lines the worker printed."):
        log = run_or_error(queue.job_log, run.run_id, settings)
        if log is not None:
            st.code(log or "(nothing printed yet)", language=None)
    summary = run.summary or {}
    tested = summary.get("test_metrics") or {}
    if summary.get("test_accuracy") is None and "mae" in tested:  # a table's regression
        st.caption(f"Test MAE {tested['mae']:.4g} · test RMSE {tested['rmse']:.4g} · best "
                   f"epoch {summary.get('best_epoch')} · saved as model "
                   f"`{summary.get('model_id')}` (see /models, /evaluate).")
    if summary.get("test_accuracy") is not None:
        st.caption(f"Test accuracy {summary['test_accuracy']:.4f} · test loss "
                   f"{summary['test_loss']:.4f} · best epoch {summary.get('best_epoch')} · "
                   f"saved as model `{summary.get('model_id')}` (see /models, /evaluate).")
    if was_active and not run.active:
        st.rerun(scope="app")  # refresh the history and stop polling


st.header("Live")
runs = store.list_runs()
if not runs:
    st.info("No runs yet: fill in the form and press Train.")
else:
    by_id = {run.run_id: run for run in runs}
    newest_first = sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)
    if st.session_state.get(WATCH_KEY) not in by_id:
        active = [r for r in newest_first if r.active]
        st.session_state[WATCH_KEY] = (active or newest_first)[0].run_id
    watch_col, name_col = st.columns([2, 2])
    watched_id = watch_col.selectbox(
        "Run", [r.run_id for r in newest_first], key=WATCH_KEY,
        format_func=lambda rid: f"{by_id[rid].name} · {by_id[rid].status}")
    watched = by_id[watched_id]
    with name_col:
        if can(user, "manage", owner=watched.owner):
            new_name = st.text_input("Name", value=watched.name, key=f"name_{watched_id}",
                                     max_chars=80, help="Rename the run (and its saved model).")
            if new_name.strip() and new_name.strip() != watched.name:
                renamed = run_or_error(queue.rename, watched_id, new_name, settings, user=user)
                if renamed is not None:
                    st.toast(literal(f"Renamed to “{renamed.name}”."))
        else:  # say whose it is, and (unless read-only, said elsewhere) who may rename it
            reason = "" if user.read_only else why_not(user, "manage", watched.owner, "its name")
            st.caption(f"Started by **{literal(watched.owner or 'nobody signed in')}**. "
                       f"{literal(reason or '')}")
    any_active = any(r.status in ACTIVE for r in runs)
    st.fragment(run_every=1.0 if any_active else None)(_live_panel)(watched_id,
                                                                      watched.active)
    continue_panel(watched, settings, user, WATCH_KEY)


# ------------------------------------------------------------------ history


st.header("History")
if runs:
    runs = store.list_runs()
    st.dataframe(display.history_rows(runs), hide_index=True, key="history_table",
                 column_config={
                     "Best val accuracy": st.column_config.NumberColumn(format="%.4f"),
                     "Test accuracy": st.column_config.NumberColumn(format="%.4f")})
    with_epochs = [r for r in reversed(runs) if store.epoch_points(r.run_id)]
    if with_epochs:
        left, right = st.columns([3, 1])
        chosen = left.multiselect(
            "Overlay runs", [r.run_id for r in with_epochs], key="overlay_runs",
            default=[r.run_id for r in with_epochs[:2]],
            format_func=lambda rid: next(r.name for r in with_epochs if r.run_id == rid))
        metric = right.selectbox("Metric", list(charts.OVERLAY_METRICS), key="overlay_metric",
                                 format_func=charts.OVERLAY_METRICS.get)
        if chosen:
            names = {r.run_id: r.name for r in with_epochs}
            st.plotly_chart(charts.overlay_figure(
                [(names[rid], store.epoch_points(rid)) for rid in chosen], metric),
                key="overlay_chart")
else:
    st.caption("Finished runs will be listed here, with their curves to compare.")
st.caption("TensorBoard logs of every run are in "
           f"`{settings.runs_dir}/<run id>/tensorboard`: "
           f"`tensorboard --logdir {settings.runs_dir}`.")
