"""/data's forms for a person's own images: a zip of class folders and webcam photos.

Thin: each form reads its widgets, calls one dashcore function, and returns what the page
needs to select the new dataset; problems and class names are shown as literal text.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from dashcore.access.auth import User
from dashcore.datasets import collect, image_folders, zip_import
from dashcore.datasets.images import TARGET_SIDES
from dashcore.errors import UserError
from dashcore.settings import Settings
from views.common.access import allowed
from views.common.text import show_error

REPORT_KEY = "data_import_report"  # the last import's counts and problem lines, for one rerun
COLLECTION_KEY = "data_webcam"  # the webcam collection being built in this session
SHOTS_KEY = "data_webcam_shots"  # photos taken so far: a fresh camera widget after each one

LAYOUT = """\
shapes.zip
├── circle/      a.png  b.jpg  …
├── square/      …
└── triangle/    …

or, with your own split:

shapes.zip
├── train/  circle/ …  square/ …  triangle/ …
└── test/   circle/ …  square/ …  triangle/ …
"""


def zip_import_form(user: User | None, settings: Settings) -> tuple[str, str] | None:
    """The "Add your own images" form; returns (dataset name, success sentence) once added."""
    limits = settings.limits
    with st.expander("Add your own images (.zip of class folders)", expanded=False):
        if not allowed("upload", user=user):
            return None
        st.markdown(
            "One folder per class, named after the class; the images inside can be PNG, "
            "JPEG, GIF, BMP or WebP, any size, grey or colour. Each image is scaled to the "
            "size you choose with its shape kept, and padded with black. Without `train/` and "
            "`test/` folders, each class is split for you. Up to "
            f"{limits.upload_mb} MB and {limits.dataset_images:,} images.")
        st.code(LAYOUT, language=None)
        with st.form("data_zip_form"):
            name = st.text_input("Name", key="data_zip_name", max_chars=60,
                                 placeholder="e.g. shapes (defaults to the file name)")
            upload = st.file_uploader("Zip of class folders", type=["zip"], key="data_zip_file",
                                      max_upload_size=limits.upload_mb)
            size_col, colour_col, share_col, seed_col = st.columns(4)
            side = size_col.selectbox("Image size (px)", TARGET_SIDES, index=1,
                                      key="data_zip_side", help="Every image becomes a square "
                                      "of this side. Small is fast to train; 28 matches MNIST.")
            colour = colour_col.radio("Colour", ["rgb", "grey"], key="data_zip_colour",
                                      format_func={"rgb": "colour (RGB)", "grey": "grey"}.get,
                                      horizontal=True)
            share = share_col.slider("Test share", 0.05, 0.5, 0.2, 0.05, key="data_zip_share",
                                     help="Share of each class kept for testing, when the zip "
                                     "has no train/ and test/ folders.")
            seed = seed_col.number_input("Split seed", 0, 2**31 - 1, 0, key="data_zip_seed",
                                         help="The same seed always gives the same split.")
            submitted = st.form_submit_button("Import images", key="data_zip_submit")
        if not submitted:
            return None
        if upload is None:
            st.error("No file chosen: pick a .zip file above, then press Import images.")
            return None
        chosen = name.strip() or PurePath(upload.name).stem
        options = image_folders.ImportOptions(side=int(side), colour=str(colour),
                                              test_fraction=float(share), seed=int(seed))
        try:
            with st.spinner("Reading and resizing the images…"):
                report = zip_import.import_zip(chosen, upload.getvalue(), options, settings,
                                                  user=user)
        except UserError as error:
            show_error(error)
            return None
    dataset = report.dataset
    st.session_state[REPORT_KEY] = {"counts": report.counts(), "problems": report.problems,
                                    "more": report.more_problems}
    skipped = len(report.problems) + report.more_problems
    return dataset.name, (
        f"Added {chosen!r}: {len(dataset.x_train):,} train and {len(dataset.x_test):,} test "
        f"images, {dataset.num_classes} classes, {dataset.describe_images()}"
        + (f"; {skipped} problem line(s) below." if skipped else "."))


def show_import_report() -> None:
    """The last import's per-class counts and one line per file left out (once)."""
    report = st.session_state.pop(REPORT_KEY, None)
    if not report:
        return
    st.dataframe(report["counts"], hide_index=True, key="data_import_counts",
                 column_config={"class": "class", "train": "train images",
                                "test": "test images"})
    if report["problems"]:
        st.warning("Some files or classes were left out; the rest was imported:")
        lines = list(report["problems"])
        if report["more"]:
            lines.append(f"… and {report['more']:,} more")
        st.dataframe([{"left out": line} for line in lines], hide_index=True,
                     key="data_import_problems")


def _collection(side: int, colour: str) -> collect.Collection:
    """This session's collection (a new one while it is empty, so size and colour apply)."""
    current = st.session_state.get(COLLECTION_KEY)
    if current is None or (current.total == 0 and (current.side, current.colour) != (side,
                                                                                     colour)):
        photos = current.photos if current is not None else {}
        current = collect.Collection(side=side, colour=colour, photos=photos)
        st.session_state[COLLECTION_KEY] = current
    return current


def _add_class(collection: collect.Collection) -> None:
    try:
        name = collection.add_class(st.session_state.get("data_cam_new_class", ""))
    except UserError as error:
        st.session_state["data_cam_flash"] = str(error)
        return
    st.session_state["data_cam_new_class"] = ""
    st.session_state["data_cam_class"] = name


def webcam_form(user: User | None, settings: Settings) -> tuple[str, str] | None:
    """Collect webcam photos into named classes; returns (dataset name, sentence) once saved."""
    with st.expander("Collect photos with your webcam", expanded=False):
        if not allowed("upload", user=user):
            return None
        st.markdown("Name a class, take a few photos of it, then the next class. Every photo "
                    "is shrunk at once to the size below; save when each class has at least "
                    "two (more is better: 20 or so per class).")
        existing = st.session_state.get(COLLECTION_KEY)
        locked = existing is not None and existing.total > 0
        size_col, colour_col = st.columns(2)
        side = size_col.selectbox("Image size (px)", TARGET_SIDES, index=1, key="data_cam_side",
                                  disabled=locked, help="Fixed once the first photo is taken.")
        colour = colour_col.radio("Colour", ["rgb", "grey"], key="data_cam_colour",
                                  horizontal=True, disabled=locked,
                                  format_func={"rgb": "colour (RGB)", "grey": "grey"}.get)
        collection = _collection(int(side), str(colour))
        new_col, add_col = st.columns([3, 1], vertical_alignment="bottom")
        new_col.text_input("New class", key="data_cam_new_class", max_chars=40,
                           placeholder="e.g. thumbs up")
        add_col.button("Add class", key="data_cam_add", on_click=_add_class,
                       args=(collection,))
        if flash := st.session_state.pop("data_cam_flash", None):
            show_error(flash)
        if not collection.photos:
            return None
        target = st.radio("Take photos into", list(collection.photos), key="data_cam_class",
                          horizontal=True)
        shots = st.session_state.get(SHOTS_KEY, 0)
        photo = st.camera_input("Take a photo", key=f"data_cam_photo_{shots}")
        if photo is not None:
            try:
                collection.add_photo(str(target), photo.getvalue(), settings.limits)
            except UserError as error:
                show_error(error)
            else:
                st.session_state[SHOTS_KEY] = shots + 1  # a fresh, live camera next run
                st.rerun()
        with st.container(key="data_cam_counts"):  # class names are user text: st.text
            st.text("Photos so far: " + " · ".join(f"{row['class']} {row['photos']}"
                                                   for row in collection.counts()))
        name_col, save_col = st.columns([3, 1], vertical_alignment="bottom")
        name = name_col.text_input("Dataset name", key="data_cam_name", max_chars=60,
                                   placeholder="e.g. my hands")
        if not save_col.button("Save as dataset", key="data_cam_save", type="primary"):
            return None
        try:
            dataset = collect.save_collection(collection, name or "webcam", settings, user=user)
        except UserError as error:
            show_error(error)
            return None
    st.session_state.pop(COLLECTION_KEY, None)
    return dataset.name, (
        f"Added {dataset.name.split(':', 1)[1]!r}: {len(dataset.x_train):,} train and "
        f"{len(dataset.x_test):,} test photos, {dataset.num_classes} classes, "
        f"{dataset.describe_images()}.")
