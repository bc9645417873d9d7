"""The /draw canvas: streamlit-drawable-canvas 0.13, wrapped so that no stroke is lost.

The installed component's frontend is used unchanged; a small wrapper module
(``shim.js``, ``shim.css``) loads it and fixes three ways it dropped strokes (see
``README.md`` here). Only the arguments /draw uses are offered; the result is the
package's own ``CanvasResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

HERE = Path(__file__).resolve().parent
# The installed component's name in Streamlit's registry (from its pyproject.toml).
UPSTREAM = "streamlit-drawable-canvas.streamlit_drawable_canvas"


def _upstream_build() -> Path:
    """The installed component's frontend build folder."""
    import streamlit_drawable_canvas

    return Path(streamlit_drawable_canvas.__file__).resolve().parent / "frontend" / "build"


def _one(folder: Path, pattern: str) -> Path:
    """The single file matching ``pattern`` (the build names files by content hash)."""
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise RuntimeError(f"expected one {pattern} in {folder}, found {len(found)}: "
                           "reinstall streamlit-drawable-canvas 0.13 (pip install -e .)")
    return found[0]


def module_url() -> str:
    """Where the server serves the installed component's JS (under any base URL path)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{base}" if base else ""
    name = _one(_upstream_build(), "index-*.js").name
    return f"{prefix}/_stcore/bidi-components/{UPSTREAM}/{name}"


@cache
def _component() -> Callable[..., Any]:
    """Register the wrapper once per process: upstream CSS plus our fixes, our JS."""
    css = _one(_upstream_build(), "index-*.css").read_text() + (HERE / "shim.css").read_text()
    return st.components.v2.component(
        "workbench.draw_canvas", html='<div class="canvas-root"></div>', css=css,
        js=(HERE / "shim.js").read_text(), isolate_styles=True)


def draw_canvas(*, stroke_width: int, stroke_color: str, background_color: str, height: int,
                width: int, key: str) -> Any:
    """A free-drawing canvas that sends its image on every finished stroke.

    Same behaviour as ``st_canvas(..., drawing_mode="freedraw", update_streamlit=True,
    return_image_data=True)``; returns its ``CanvasResult``.
    """
    from streamlit_drawable_canvas import CanvasResult

    drawing: dict[str, Any] = {"objects": [], "background": background_color}
    data = {
        "fillColor": "#eee", "strokeWidth": stroke_width, "strokeColor": stroke_color,
        "backgroundColor": background_color, "backgroundImageURL": None,
        "realtimeUpdateStreamlit": True, "canvasWidth": width, "canvasHeight": height,
        "drawingMode": "freedraw", "initialDrawing": drawing, "displayRadius": 3,
        "returnImageData": True, "disabled": False, "backgroundImageFit": "stretch",
        "maxDisplayHeight": None, "fontSize": 20, "label": "",
        "moduleUrl": module_url(),
    }
    result = _component()(
        data=data, key=key, default={"drawing": {"raw": drawing, "data": None},
                                     "backgroundFit": None},
        on_drawing_change=lambda: None, on_backgroundFit_change=lambda: None,
        width="content", height="content")
    state = result.get("drawing") or {"raw": drawing, "data": None}
    return CanvasResult(json_data=state.get("raw"), image_data_url=state.get("data"),
                        return_image_data=True)
