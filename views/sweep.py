"""/sweep: let the workbench search hyperparameters. Each trial is an ordinary run.

The form builds a :class:`~dashcore.sweeps.space.SweepPlan` and says what it will use; the
watch panel is a fragment that moves the sweep along (:func:`dashcore.sweeps.dispatch.advance`)
and redraws the trials table and Optuna's charts every two seconds while trials run.
Sweep and run names are user text: shown only as plain text (``st.text``, tables).
"""

from __future__ import annotations

import streamlit as st

from dashcore.access.auth import can
from dashcore.datasets import catalog
from dashcore.errors import UserError
from dashcore.models.presets import PRESETS
from dashcore.settings import get_settings
from dashcore.store.factory import open_store
from dashcore.sweeps import optuna_missing
from dashcore.sweeps.space import METRICS, PRUNERS, SweepPlan
from dashcore.training.config import OPTIMIZERS, SCHEDULES, TrainConfig, recipe_for
from views.common.access import allowed, current_user, run_or_error
from views.common.text import literal, show_error

WATCH_KEY = "sweep_watch"  # the sweep the panel follows
BATCH_CHOICES = [16, 32, 64, 128, 256]

settings = get_settings()
user = current_user()
st.title("Sweep")
st.caption("Not sure which learning rate, batch size or dropout to pick? A sweep tries many "
           "and keeps the best. Each trial is an ordinary run (see it live on /train); "
           "hopeless ones are stopped early by the pruner.")
missing = optuna_missing()
if missing:
    st.error(missing)  # our own sentence: no user text in it
    st.stop()

from dashcore.jobs import queue  # noqa: E402 - after the Optuna check
from dashcore.sweeps import display, study  # noqa: E402
from dashcore.sweeps.dispatch import advance, start_sweep, stop_sweep  # noqa: E402

try:
    store = open_store(settings)
except UserError as exc:
    show_error(exc)
    st.stop()


def _range(label: str, key: str, low: float, high: float, fmt: str = "%g",
           step: float | None = None) -> dict | None:
    """A tick box and, when ticked, the lowest and highest value to try."""
    if not st.checkbox(f"Vary {label}", key=f"sweep_vary_{key}"):
        return None
    left, right = st.columns(2)
    lo = left.number_input(f"Lowest {label}", value=low, format=fmt, step=step,
                           key=f"sweep_{key}_low")
    hi = right.number_input(f"Highest {label}", value=high, format=fmt, step=step,
                            key=f"sweep_{key}_high")
    return {"low": lo, "high": hi}


def _choices(label: str, key: str, options: list, default: list, fmt=str) -> dict | None:
    if not st.checkbox(f"Vary {label}", key=f"sweep_vary_{key}"):
        return None
    picked = st.multiselect(f"{label.capitalize()} to try", options, default=default,
                            format_func=fmt, key=f"sweep_{key}_choices")
    return {"choices": list(picked)}


def _form() -> None:
    with st.expander("Start a sweep", expanded=not study.has_sweeps(settings)):
        top = st.columns(3)
        preset = top[0].selectbox("Architecture", list(PRESETS), key="sweep_arch",
                                  index=list(PRESETS).index("CNN 32-64"))
        dataset = top[1].selectbox("Dataset", catalog.list_datasets(settings), key="sweep_dataset")
        name = top[2].text_input("Sweep name", placeholder=f"{preset} sweep", max_chars=60,
                                 key="sweep_name").strip() or f"{preset} sweep"
        recipe = recipe_for(preset)
        st.caption(f"Settings that do not vary keep {preset}'s recipe: "
                   f"{OPTIMIZERS[recipe['optimizer']]} at {recipe['learning_rate']:g}, batch "
                   f"{recipe['batch_size']}, {recipe['epochs']} epoch(s), "
                   f"{SCHEDULES[recipe['schedule']].split(':')[0].lower()} schedule.")
        left, right = st.columns(2)
        with left:
            vary = {
                "learning_rate": _range("learning rate", "lr", 1e-4, 1e-2, step=1e-4),
                "batch_size": _choices("batch size", "batch", BATCH_CHOICES, [32, 64, 128]),
                "epochs": _range("epochs", "epochs", 1, 3, fmt="%d", step=1),
                "dropout": _range("dropout", "dropout", 0.1, 0.6, fmt="%.2f", step=0.05),
            }
        with right:
            vary.update({
                "optimizer": _choices("optimizer", "optimizer", list(OPTIMIZERS),
                                      ["adam", "rmsprop"], OPTIMIZERS.get),
                "augment": ({"choices": [False, True]} if st.checkbox(
                    "Vary augmentation (on and off)", key="sweep_vary_augment") else None),
                "schedule": _choices("schedule", "schedule", list(SCHEDULES), list(SCHEDULES),
                                     lambda s: SCHEDULES[s].split(":")[0]),
            })
        if vary.get("epochs"):
            vary["epochs"] = {k: int(v) for k, v in vary["epochs"].items()}
        cols = st.columns(6)
        n_trials = cols[0].number_input("Trials", 1, 100, 8, key="sweep_trials")
        parallel = cols[1].number_input("At once", 1, 10, 1, key="sweep_parallel",
                                        help="Trials queued or running at the same time.")
        epochs = cols[2].number_input("Epochs each", 1, settings.limits.max_epochs,
                                      int(recipe["epochs"]), key="sweep_base_epochs",
                                      disabled=bool(vary.get("epochs")),
                                      help="Epochs per trial when epochs do not vary.")
        images = cols[3].number_input("Training images (0 = all)", 0, value=3000, step=1000,
                                      key="sweep_images")
        metric = cols[4].selectbox("Optimise", list(METRICS), key="sweep_metric",
                                   format_func=lambda m: METRICS[m][0])
        pruner = cols[5].selectbox("Pruner", list(PRUNERS), key="sweep_pruner",
                                   format_func=lambda p: PRUNERS[p].split(":")[0],
                                   help=" ".join(PRUNERS.values()))
        same_worker = st.checkbox(
            "Run trials one after another in the same warm worker (faster; each trial still "
            "gets a fresh Keras session and seed)", value=True, key="sweep_same_worker",
            help="Off: every trial starts in a worker process of its own.")
        base = TrainConfig(dataset=dataset, architecture=PRESETS[preset].to_dict(),
                           **{**recipe, "epochs": int(epochs),
                              "max_train_images": int(images)})
        plan = SweepPlan(name=name, base=base.to_dict(),
                         vary={k: v for k, v in vary.items() if v is not None},
                         n_trials=int(n_trials), parallel=int(parallel), metric=metric,
                         pruner=pruner, same_worker=bool(same_worker))
        problems = plan.validate(settings.limits)
        if not problems:
            try:
                st.info(study.describe_budget(plan, settings))
            except UserError as exc:
                problems = [str(exc)]
        for problem in problems:
            st.warning(literal(problem))  # may quote the typed name
        if st.button("Start sweep", type="primary", disabled=bool(problems),
                     key="sweep_start"):
            sweep = run_or_error(start_sweep, plan, settings, user=user)
            if sweep is not None:
                st.session_state[WATCH_KEY] = sweep.sweep_id
                st.success("Sweep started: its first trials are queued.")


if allowed("train", user=user):
    _form()


def _best(sweep: study.Sweep, best: display.BestTrial | None) -> None:
    if best is None:
        st.caption("Best so far: none yet (appears when a trial finishes).")
        return
    st.markdown(f"**Best so far:** trial {best.number}, {sweep.plan.metric_label} "
                f"{best.value:.4f}, run:")
    st.text(best.run.name)
    if not best.model_id:
        return
    row = st.container(horizontal=True)
    row.page_link("views/evaluate.py", label="Open on /evaluate", icon=":material/analytics:",
                  query_params={"model": best.model_id})
    if can(user, "admin") and row.button("Make default for /draw", key="sweep_default_best",
                                         icon=":material/star:"):
        from dashcore.models.registry import set_default_model

        try:
            set_default_model(best.model_id, settings, user=user)
            st.toast("It is now the default model for /draw.")
        except UserError as exc:
            show_error(exc)


def _watch(sweep_id: str) -> None:
    """Moves the sweep along, then redraws it; re-run every 2 s while it runs."""
    try:
        queue.dispatch(settings)
        advance(settings)
        sweep = study.load_sweep(sweep_id, settings)
    except UserError as exc:
        st.warning(literal(exc))
        return
    pairs = display.trial_runs(sweep, store)
    with st.container(key="sweep_status"):
        st.text(display.status_sentence(sweep, pairs))
    if sweep.status == study.RUNNING_SWEEP and can(user, "manage", owner=sweep.owner):
        if st.button("Stop sweep", key="sweep_stop", icon=":material/stop_circle:",
                     help="Stops its running trials (each keeps its model so far) and "
                          "queues no more."):
            if run_or_error(stop_sweep, sweep_id, settings, user=user) is not None:
                st.rerun()  # the sweep list shows it stopped
    _best(sweep, display.best_trial(sweep, pairs))
    st.dataframe(display.trial_rows(sweep, pairs), hide_index=True, key="sweep_trials_table")
    charts = list(display.figures(sweep).items())
    for start in range(0, len(charts), 2):
        for col, (title, (fig, why)) in zip(st.columns(2), charts[start:start + 2],
                                           strict=False):
            with col:
                st.subheader(title)
                if fig is None:
                    st.caption(why)
                else:
                    st.plotly_chart(fig, key=f"sweep_chart_{title.lower().replace(' ', '_')}")
    if sweep.status != study.RUNNING_SWEEP and st.session_state.get("sweep_was_running"):
        st.session_state["sweep_was_running"] = False
        st.rerun(scope="app")  # stop polling


st.header("Sweeps")
try:
    sweeps = study.list_sweeps(settings)
except UserError as exc:
    show_error(exc)
    st.stop()
if not sweeps:
    st.info("No sweeps yet: tick what should vary above and press Start sweep.")
    st.stop()
by_id = {s.sweep_id: s for s in sweeps}
if st.session_state.get(WATCH_KEY) not in by_id:
    st.session_state[WATCH_KEY] = sweeps[0].sweep_id
watched = st.selectbox("Sweep", list(by_id), key=WATCH_KEY,
                       format_func=lambda sid: f"{by_id[sid].plan.name} · {by_id[sid].status}")
running = by_id[watched].status == study.RUNNING_SWEEP
st.session_state["sweep_was_running"] = running
st.fragment(run_every=2.0 if running else None)(_watch)(watched)
