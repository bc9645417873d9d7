"""A Streamlit session without a browser: the websocket protocol, as Chromium speaks it.

Why: load figures measured with real browsers on the same box as the server mostly measure
the browsers (they used ~10× the server's CPU) and the canvas component's send debounce.
This client opens the same websocket a page opens and sends the same BackMsgs, so many
sessions cost the load generator little and each interaction is timed from the frame sent
to the server's ``script_finished`` (the server's own latency).

What a browser does, as recorded by ``benchmarks/capture_browser_frames.py`` (Streamlit
1.67, streamlit-drawable-canvas 0.13; the record is ``benchmarks/frames/browser.json``):

- ``GET /_stcore/health`` (polled by the page) sets the ``_streamlit_xsrf`` cookie; the
  page then opens ``/_stcore/stream`` with that cookie, an ``Origin`` header, and
  ``Sec-WebSocket-Protocol: streamlit, <token>``
  (the token is the cookie's value; the server checks the pair when XSRF is on).
- Every interaction is a ``BackMsg.rerun_script`` carrying a ``ClientState``: the page's
  script hash, every widget's current value, and ``context_info`` (url, timezone, locale).
- A stroke on /draw sends the canvas widget's ``json_value``:
  ``{"drawing": {"raw": <Fabric.js JSON: version, objects[Path…], background>},
  "data": "data:image/png;base64,<280×280 RGBA PNG, transparent, white ink>"}``.
  Reset sends the same with no objects and an empty PNG.
- A fragment with ``run_every`` arrives as ``ForwardMsg.auto_rerun`` (interval, fragment id);
  the page then sends ``rerun_script`` with that ``fragment_id`` and ``is_auto_rerun`` each
  interval, while no other run is in flight.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FRAMES = Path(__file__).resolve().parent / "frames" / "browser.json"
XSRF_COOKIE = "_streamlit_xsrf"
CANVAS_SIDE = 280  # views/draw.py's canvas, pixels
FABRIC_VERSION = "7.4.0"  # what streamlit-drawable-canvas 0.13 reports in its JSON
FINISHED = ForwardMsg.ScriptFinishedStatus
# A Fabric.js Path object as the canvas sends it (recorded); geometry is filled per stroke.
PATH_TEMPLATE: dict[str, Any] = {
    "lockMovementX": False, "lockMovementY": False, "lockRotation": False,
    "lockScalingX": False, "lockScalingY": False, "lockSkewingX": False,
    "lockSkewingY": False, "lockScalingFlip": False, "type": "Path",
    "version": FABRIC_VERSION, "originX": "center", "originY": "center", "left": 0,
    "top": 0, "width": 0, "height": 0, "fill": None, "stroke": "#FFFFFF", "strokeWidth": 18,
    "strokeDashArray": None, "strokeLineCap": "round", "strokeDashOffset": 0,
    "strokeLineJoin": "round", "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1,
    "scaleY": 1, "angle": 0, "flipX": False, "flipY": False, "opacity": 1, "shadow": None,
    "visible": True, "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
    "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0, "path": [],
}


# ---------------------------------------------------------------- the canvas value


def render_stroke_png(points: list[tuple[float, float]], width: int = 18,
                      side: int = CANVAS_SIDE) -> bytes:
    """A transparent ``side``² PNG with one white round-capped stroke through ``points``
    (canvas pixels): what Fabric's ``toDataURL`` gives for a freehand stroke."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line(points, fill=(255, 255, 255, 255), width=width, joint="curve")
    r = width / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def empty_png(side: int = CANVAS_SIDE) -> bytes:
    """The transparent canvas the component sends after a reset."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (side, side), (0, 0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_json(png: bytes, points: list[tuple[float, float]] | None = None,
                width: int = 18) -> str:
    """The canvas widget's ``json_value`` for a drawing (``points``) or a cleared canvas."""
    objects = []
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        path = [["M", *points[0]], *(["L", *p] for p in points[1:])]
        objects.append({**PATH_TEMPLATE, "strokeWidth": width,
                        "left": (min(xs) + max(xs)) / 2, "top": (min(ys) + max(ys)) / 2,
                        "width": max(xs) - min(xs), "height": max(ys) - min(ys),
                        "path": path})
    value = {"drawing": {"raw": {"version": FABRIC_VERSION, "objects": objects,
                                 "background": "#000000"},
                         "data": "data:image/png;base64," + base64.b64encode(png).decode()}}
    return json.dumps(value, separators=(",", ":"))


def png_from_canvas_json(value: str) -> bytes:
    """The PNG inside a canvas ``json_value`` (for checking what a browser sent)."""
    data = json.loads(value)["drawing"]["data"]
    return base64.b64decode(data.split(",", 1)[1])


# ---------------------------------------------------------------- widgets


def widget_of(element: Any) -> tuple[str, Any] | None:
    """``(kind, proto)`` of an Element that is a widget (it has an ``id``), else None."""
    kind = element.WhichOneof("type")
    if kind is None:
        return None
    proto = getattr(element, kind)
    if not hasattr(proto, "id") or not getattr(proto, "id", ""):
        return None
    return kind, proto


def default_state(kind: str, proto: Any) -> WidgetState | None:
    """The value a fresh page reports for a widget left at its default (as the browser
    does once any widget changes: it sends every widget's value)."""
    state = WidgetState(id=proto.id)
    if kind == "selectbox":
        if not proto.options:
            return None
        index = proto.default if proto.HasField("default") else 0
        state.string_value = proto.options[index]
    elif kind == "multiselect":
        state.string_array_value.data.extend(proto.options[i] for i in proto.default)
    elif kind == "slider":
        state.double_array_value.data.extend(proto.default)
    else:
        return None
    return state


# ---------------------------------------------------------------- one session



def as_shown(markdown: str) -> str:
    """A heading's Markdown as the browser shows it: backslash escapes (the page escapes
    every name and headline it renders) removed, so it compares with the visible text."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~])", r"\1", markdown)

@dataclass
class Run:
    """One interaction: what was sent and how the server answered."""

    kind: str
    sent: float
    finished: float | None = None
    status: str | None = None
    bytes_in: int = 0
    messages: int = 0
    headings: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def latency_ms(self) -> float | None:
        """Send → ``script_finished``, milliseconds (None if it never finished)."""
        return None if self.finished is None else (self.finished - self.sent) * 1000


def fetch_xsrf_token(base_url: str, timeout_s: float = 30) -> str:
    """GET ``/_stcore/health`` as a page does before connecting; return the
    ``_streamlit_xsrf`` cookie it sets (the HTML page itself sets none)."""
    with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=timeout_s) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == XSRF_COOKIE:
                return rest.split(";", 1)[0]
    raise RuntimeError(f"{base_url}/ set no {XSRF_COOKIE} cookie (is XSRF protection off?)")


class ProtocolSession:
    """One browser tab's websocket: load pages, rerun with widget values, follow fragments.

    Interactions are serialised, as in a page: one run in flight at a time; a fragment tick
    that comes while another run is in flight is skipped. ``runs`` keeps every finished
    interaction for the caller to summarise.
    """

    def __init__(self, base_url: str, timezone: str = "UTC", locale: str = "en-US") -> None:
        self.base_url = base_url.rstrip("/")
        self.timezone, self.locale = timezone, locale
        self.pages: dict[str, str] = {}  # url path ("" for home) -> page script hash
        self.page_hash = ""
        self.page_path = ""
        self.widgets: dict[str, tuple[str, Any]] = {}  # user key -> (kind, proto)
        self.runs: list[Run] = []
        self.errors: list[str] = []
        self._ws: Any = None
        self._reader: asyncio.Task | None = None
        self._current: Run | None = None
        self._busy = asyncio.Lock()
        self._fragments: dict[str, asyncio.Task] = {}
        self.closed = False

    # -- connection

    async def connect(self, timeout_s: float = 60) -> None:
        """Open the websocket with the XSRF cookie and token, as Chromium does."""
        from websockets.asyncio.client import connect

        token = await asyncio.to_thread(fetch_xsrf_token, self.base_url, timeout_s)
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self._ws = await asyncio.wait_for(connect(
            ws_url, subprotocols=["streamlit", token],  # type: ignore[list-item]
            additional_headers={"Cookie": f"{XSRF_COOKIE}={token}",
                                "Origin": self.base_url},
            max_size=None, compression="deflate", open_timeout=timeout_s,
            ping_interval=None), timeout_s)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        """Stop fragment timers and close the websocket."""
        self.closed = True
        for task in self._fragments.values():
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()

    # -- incoming

    async def _read(self) -> None:
        try:
            async for payload in self._ws:
                self._on_message(payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded; the session is over
            if not self.closed:
                self.errors.append(f"websocket: {type(exc).__name__}: {exc}"[:300])
        finally:
            if self._current is not None and not self._current.done.is_set():
                self._current.done.set()

    def _on_message(self, payload: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        run = self._current
        if run is not None:
            run.bytes_in += len(payload)
            run.messages += 1
        kind = msg.WhichOneof("type")
        if kind == "navigation":
            for page in msg.navigation.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self._on_element(msg.delta.new_element, run)
        elif kind == "auto_rerun":
            self._follow_fragment(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "script_finished" and run is not None:
            run.finished = time.perf_counter()
            run.status = FINISHED.Name(msg.script_finished)
            if msg.script_finished != FINISHED.FINISHED_EARLY_FOR_RERUN:
                run.done.set()

    def _on_element(self, element: Any, run: Run | None) -> None:
        kind = element.WhichOneof("type")
        if kind == "heading" and run is not None:
            run.headings.append(as_shown(element.heading.body))
        elif kind == "exception" and run is not None:
            run.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
        widget = widget_of(element)
        if widget is not None:
            key = widget[1].id.rsplit("-", 1)[-1]  # "$$ID-<hash>-<user key>"
            self.widgets[key] = widget

    # -- outgoing

    def _client_state(self, msg: BackMsg, page_hash: str, path: str) -> Any:
        state = msg.rerun_script
        if page_hash:
            state.page_script_hash = page_hash
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = self.timezone, 0, self.locale
        info.url = f"{self.base_url}/{path}"
        info.is_embedded, info.color_scheme = False, "light"
        return state

    async def _send_and_wait(self, kind: str, msg: BackMsg, timeout_s: float) -> Run:
        run = Run(kind=kind, sent=0.0)
        self._current = run
        run.sent = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        try:
            await asyncio.wait_for(run.done.wait(), timeout_s)
        except TimeoutError:
            run.status = "timeout"
        if run.status is None:
            run.status = "closed"
        self._current = None
        self.runs.append(run)
        return run

    async def open_page(self, path: str = "", kind: str | None = None,
                        timeout_s: float = 60) -> Run:
        """Open a page (``""`` is home) as a sidebar link does: its script hash, no widgets."""
        async with self._busy:
            self._stop_fragments()
            msg = BackMsg()
            page_hash = self.pages.get(path, "") if self.pages else ""
            self._client_state(msg, page_hash, path if page_hash else "")
            self.widgets = {}
            run = await self._send_and_wait(kind or f"open /{path}", msg, timeout_s)
            self.page_path = path
            return run

    async def rerun(self, kind: str, values: dict[str, WidgetState],
                    timeout_s: float = 60) -> Run:
        """Rerun the current page with every widget at its default except ``values``
        (keyed by the widget's user key), as the page does after a widget changes."""
        async with self._busy:
            msg = BackMsg()
            state = self._client_state(msg, self.page_hash, self.page_path)
            for key, (wkind, proto) in self.widgets.items():
                if key in values:
                    continue
                default = default_state(wkind, proto)
                if default is not None:
                    state.widget_states.widgets.append(default)
            for key, value in values.items():
                if key not in self.widgets:
                    raise KeyError(f"no widget {key!r} on /{self.page_path}; "
                                   f"seen: {sorted(self.widgets)}")
                value.id = self.widgets[key][1].id
                state.widget_states.widgets.append(value)
            return await self._send_and_wait(kind, msg, timeout_s)

    async def draw(self, points: list[tuple[float, float]], width: int = 18,
                   timeout_s: float = 60) -> Run:
        """Send a one-stroke drawing on /draw (canvas pixels) and wait for the answer."""
        value = canvas_json(render_stroke_png(points, width), points, width)
        return await self.send_canvas(value, "draw", timeout_s)

    async def clear(self, timeout_s: float = 60) -> Run:
        """Reset the canvas, as its toolbar button does."""
        return await self.send_canvas(canvas_json(empty_png()), "clear", timeout_s)

    async def send_canvas(self, value: str, kind: str = "draw", timeout_s: float = 60) -> Run:
        """Send a canvas ``json_value`` (e.g. one recorded from a browser)."""
        return await self.rerun(kind, {"draw_canvas": WidgetState(json_value=value)},
                                timeout_s)

    # -- fragments

    @property
    def following(self) -> bool:
        """Whether a fragment's timer runs (the page asked for auto-reruns)."""
        return bool(self._fragments)

    def _stop_fragments(self) -> None:
        for task in self._fragments.values():
            task.cancel()
        self._fragments.clear()

    def _follow_fragment(self, fragment_id: str, interval_s: float) -> None:
        if fragment_id in self._fragments or self.closed:
            return
        self._fragments[fragment_id] = asyncio.get_running_loop().create_task(
            self._tick(fragment_id, interval_s))

    async def _tick(self, fragment_id: str, interval_s: float) -> None:
        while not self.closed:
            await asyncio.sleep(interval_s)
            if self._busy.locked():
                continue  # the page is running something: skip this tick, as a page does
            async with self._busy:
                msg = BackMsg()
                state = self._client_state(msg, self.page_hash, self.page_path)
                state.fragment_id = fragment_id
                state.is_auto_rerun = True
                await self._send_and_wait("fragment", msg, 60)
