"""The workbench's pages, listed once: the router builds its navigation from this list and
the home page its links, so adding a page is one entry here plus its script in views/."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageInfo:
    """One page: its script, where it lives in the URL, and how home describes it."""

    script: str  # path from the repository root, e.g. "views/data.py"
    title: str  # sidebar label
    icon: str  # Material icon shown in the sidebar
    url_path: str  # "" for the home page
    blurb: str = ""  # one line on the home page ("" for home itself)


PAGES: tuple[PageInfo, ...] = (
    PageInfo("views/home.py", "Home", ":material/home:", ""),
    PageInfo("views/data.py", "Data", ":material/grid_view:", "data",
             "look at MNIST (or your own upload): samples, classes, pixels."),
    PageInfo("views/architecture.py", "Architecture", ":material/account_tree:", "architecture",
             "pick a preset or compose layers; see shapes and parameters."),
    PageInfo("views/train.py", "Train", ":material/model_training:", "train",
             "fit it as a background job with live loss and accuracy."),
    PageInfo("views/sweep.py", "Sweep", ":material/tune:", "sweep",
             "let it search learning rate, batch size, dropout…: each trial a run."),
    PageInfo("views/evaluate.py", "Evaluate", ":material/analytics:", "evaluate",
             "confusion matrix, per-class metrics, the mistakes."),
    PageInfo("views/draw.py", "Draw", ":material/draw:", "draw",
             "draw a digit and see what a saved model predicts."),
    PageInfo("views/predict.py", "Predict", ":material/table_view:", "predict",
             "a model trained on a table answers new rows: a form, or a CSV in and out."),
    PageInfo("views/models.py", "Models", ":material/inventory_2:", "models",
             "keep, download, upload and share saved models."),
)


def navigation_pages() -> list[st.Page]:
    """``st.Page`` objects for ``st.navigation``; the first page is the default."""
    return [st.Page(p.script, title=p.title, icon=p.icon, default=not p.url_path,
                    **({"url_path": p.url_path} if p.url_path else {})) for p in PAGES]


def workflow_steps() -> list[PageInfo]:
    """The pages home links to, in workflow order (every page but home)."""
    return [p for p in PAGES if p.url_path]
