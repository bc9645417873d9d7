"""/data: look at a dataset before training on it, and add your own.

The page reads widgets, calls dashcore, and lays out what comes back; every number comes
from :mod:`dashcore.datasets.statistics` and every chart from :mod:`dashcore.charts.data`.
Heavy views are cached per dataset (name + content fingerprint), the sample grid also per seed.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from dashcore.charts import data as charts
from dashcore.datasets import base, catalog, prepare, statistics, uploads
from dashcore.errors import UserError
from dashcore.settings import Settings, get_settings
from views.common.access import allowed, current_user
from views.common.contributions import clear_drawings_panel
from views.common.own_images import show_import_report, webcam_form, zip_import_form
from views.common.tables import show_table, table_import_form
from views.common.text import literal, show_error

SELECT_KEY = "data_dataset"
PENDING_KEY = "data_pending_dataset"  # set before a rerun to select a just-uploaded dataset
FLASH_KEY = "data_flash"  # a success message that survives that rerun
SEED_KEY = "data_seed"
MIN_IMAGES_FOR_PCA = 10


def _label(name: str) -> str:
    """How a dataset appears in the selector: uploads by their own name."""
    if name.startswith(base.UPLOAD_PREFIX):
        return f"{name[len(base.UPLOAD_PREFIX):]} (uploaded)"
    return name


@st.cache_data(show_spinner="Computing counts, pixel statistics, mean images and PCA…",
               max_entries=8)
def _overview(name: str, token: str, _dataset: base.Dataset) -> dict:
    """Everything on the page that does not depend on the seed (cached by name + content)."""
    ds = _dataset
    train_counts, test_counts = statistics.class_counts(ds)
    figures = {
        "counts": charts.class_counts_figure(train_counts, test_counts, ds.class_names),
        "histogram": (charts.channel_histogram_figure(statistics.channel_histograms(ds.x_train))
                      if ds.colour else
                      charts.pixel_histogram_figure(statistics.pixel_histogram(ds.x_train),
                                                    statistics.pixel_histogram(ds.x_test))),
        "means": charts.mean_images_figure(
            statistics.mean_images(ds.x_train, ds.y_train, ds.num_classes), ds.class_names),
    }
    if len(ds.x_train) >= MIN_IMAGES_FOR_PCA:
        figures["pca"] = charts.pca_figure(statistics.pca_2d(ds.x_train, ds.y_train),
                                           ds.class_names)
    return {"summary": statistics.summary(ds).rows, "steps": prepare.preparation_steps(ds),
            "figures": figures}


@st.cache_data(show_spinner=False, max_entries=32)
def _samples(name: str, token: str, seed: int, per_class: int, _dataset: base.Dataset):
    """The sample grid for one seed (cached, so going back to a seed is instant)."""
    ds = _dataset
    indices = statistics.sample_indices(ds.y_train, ds.num_classes, per_class, seed)
    return charts.sample_grid_figure(statistics.sample_tiles(ds.x_train, indices), indices,
                                     ds.class_names, seed)


def _reshuffle() -> None:
    """Next seed: a callback, so it runs before the number input is drawn."""
    st.session_state[SEED_KEY] = int(st.session_state.get(SEED_KEY, 0)) + 1


def _upload_form(settings: Settings) -> None:
    """Validate an uploaded .npz with dashcore and, if it is valid, select it."""
    limits = settings.limits
    with st.expander("Add your own dataset (.npz)", expanded=False):
        user = current_user()
        if not allowed("upload", user=user):
            return
        st.markdown(
            "A `.npz` made with `numpy.savez` holding `x_train, y_train, x_test, y_test`: "
            "grey images `N×H×W` or `N×H×W×1`, or colour `N×H×W×3` (uint8 0–255 or floats "
            "0–1, sides "
            f"{base.MIN_SIDE}–{base.MAX_SIDE} px) and integer labels `0…K-1`. Up to "
            f"{limits.upload_mb} MB and {limits.dataset_images:,} images."
        )
        st.code("np.savez('digits.npz', x_train=x_train, y_train=y_train, "
                "x_test=x_test, y_test=y_test)", language="python")
        with st.form("data_upload_form"):
            name = st.text_input("Name", key="data_upload_name", max_chars=60,
                                 placeholder="e.g. my digits (defaults to the file name)")
            upload = st.file_uploader("Dataset file", type=["npz"], key="data_upload_file",
                                      max_upload_size=limits.upload_mb)
            submitted = st.form_submit_button("Validate and add", key="data_upload_submit")
        if not submitted:
            return
        if upload is None:
            st.error("No file chosen: pick a .npz file above, then press Validate and add.")
            return
        chosen = name.strip() or PurePath(upload.name).stem
        try:
            dataset = uploads.save_uploaded_dataset(chosen, upload.getvalue(), settings,
                                                    user=user)
        except UserError as error:
            show_error(error)
            return
        st.session_state[PENDING_KEY] = dataset.name
        st.session_state[FLASH_KEY] = (
            f"Added {chosen!r}: {len(dataset.x_train):,} train and {len(dataset.x_test):,} "
            f"test images, {dataset.num_classes} classes. Every page can now use it.")
        st.rerun()


st.title("Data")
st.caption("Look at the data before you train on it: what the images are, how the classes "
           "are balanced, and what the tutorial's preparation does to the arrays.")

if pending := st.session_state.pop(PENDING_KEY, None):
    st.session_state[SELECT_KEY] = pending
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(literal(flash))
show_import_report()

settings = get_settings()  # once per run of the page, handed to everything below
names = catalog.list_datasets(settings)
if st.session_state.get(SELECT_KEY) not in names:  # first visit, or the dataset was removed
    st.session_state[SELECT_KEY] = base.MNIST
name = st.selectbox("Dataset", names, key=SELECT_KEY, format_func=_label)
_upload_form(settings)
if added := (zip_import_form(current_user(), settings)
             or table_import_form(current_user(), settings)
             or webcam_form(current_user(), settings)):
    st.session_state[PENDING_KEY], st.session_state[FLASH_KEY] = added
    st.rerun()

try:
    dataset = catalog.load_dataset(name, settings)
except UserError as error:
    show_error(error)
    st.stop()

if dataset.is_table:
    uploader = uploads.dataset_owner(name, settings)
    st.caption(f"Uploaded by **{literal(uploader)}**." if uploader else literal(dataset.source))
    show_table(dataset)
    st.stop()

if name == base.DRAWINGS:
    clear_drawings_panel(current_user(), settings)

token = statistics.fingerprint(dataset)
overview = _overview(name, token, dataset)
figures = overview["figures"]
uploader = uploads.dataset_owner(name, settings)
if uploader or dataset.source:
    st.caption(f"Uploaded by **{literal(uploader)}**." if uploader else literal(dataset.source))

st.subheader("At a glance")
st.dataframe(overview["summary"], hide_index=True, key="data_stats",
             column_config={"statistic": "", "train": "train", "test": "test"})

st.subheader("Sample images")
left, middle, right = st.columns([1, 1, 2], vertical_alignment="bottom")
seed = left.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=SEED_KEY,
                         help="The same seed always shows the same images.")
middle.button("Reshuffle", icon=":material/shuffle:", on_click=_reshuffle, key="data_reshuffle",
              help="Show other images (the next seed).")
per_class = right.slider("Images per class", 4, 20, 10, key="data_per_class")
st.plotly_chart(_samples(name, token, int(seed), int(per_class), dataset), key="data_samples",
                width="stretch")

st.subheader("Classes and pixels")
left, right = st.columns(2)
with left:
    st.plotly_chart(figures["counts"], key="data_counts", width="stretch")
with right:
    st.plotly_chart(figures["histogram"], key="data_histogram", width="stretch")

st.subheader("Mean image of each class")
st.plotly_chart(figures["means"], key="data_means", width="stretch")

st.subheader("2-D map (PCA)")
if "pca" in figures:
    st.caption("Each dot is an image, placed by its first two principal components. Digits "
               "that overlap here are the ones a linear model will confuse. Hover for the "
               "class and index; click the legend to hide a class.")
    st.plotly_chart(figures["pca"], key="data_pca", width="stretch")
else:
    st.info(f"The PCA map needs at least {MIN_IMAGES_FOR_PCA} training images; this dataset "
            f"has {len(dataset.x_train)}. Add more images to see it.")

st.subheader("Preparing it for a model")
st.caption("What the Keras tutorials do before `fit`, with the array shapes before and after. "
           "The Train page does the same for you.")
st.dataframe(overview["steps"], hide_index=True, key="data_steps",
             column_config={"step": "step", "code": "code", "before": "before",
                            "after": "after"})
