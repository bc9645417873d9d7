"""Record what a real Chromium sends to the Streamlit server, so the protocol client matches it.

    python -m benchmarks.capture_browser_frames            # writes benchmarks/frames/browser.json

Starts the app on a free loopback port with a temporary data folder, opens / then /draw in
Debian's Chromium, draws one stroke, waits for the prediction, resets the canvas, opens
/train, and records:

- the websocket handshake (URL, request headers with cookie *values* replaced by their
  length, the Sec-WebSocket-Protocol entries' roles),
- every BackMsg the page sent (decoded to JSON with protobuf's ``MessageToDict``, the canvas
  component's JSON value decoded too, its image data shortened),
- the kinds of ForwardMsg the server sent back.

``benchmarks/protocol_client.py`` is written from this record; re-run this after a
Streamlit or streamlit-drawable-canvas upgrade and diff the JSON. Bounded (~1 min);
stops the server and the browser it started.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.common import fresh_home, running_app
from tests.helpers.harness import CHROMIUM, CHROMIUM_ARGS, wait_for_app

REPO = Path(__file__).resolve().parents[1]

OUT = REPO / "benchmarks" / "frames" / "browser.json"
STROKE = [(0.52, 0.15), (0.51, 0.5), (0.5, 0.85)]  # a "1", fractions of the canvas


def shorten(value: Any, limit: int = 200) -> Any:
    """Long strings (image data) cut to ``limit`` characters, with their length noted."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}…<{len(value)} chars>"
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > 50:
            return [shorten(v, limit) for v in value[:10]] + [f"…<{len(value)} items>"]
        return [shorten(v, limit) for v in value]
    return value


def decode_back(payload: bytes) -> dict:
    """A BackMsg as JSON, with JSON-valued widget states decoded for reading."""
    from google.protobuf.json_format import MessageToDict
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.ParseFromString(payload)
    as_dict = MessageToDict(msg)
    widgets = as_dict.get("rerunScript", {}).get("widgetStates", {}).get("widgets", [])
    for widget in widgets:
        for key in ("jsonValue", "jsonTriggerValue"):
            if key in widget:
                try:
                    widget[key + "Decoded"] = shorten(json.loads(widget[key]))
                except ValueError:
                    pass
                widget[key] = shorten(widget[key])
    return {"bytes": len(payload), "type": msg.WhichOneof("type"), "msg": shorten(as_dict)}


def forward_kind(payload: bytes) -> str:
    """The ForwardMsg's type, with the script-finished status spelled out."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    msg.ParseFromString(payload)
    kind = msg.WhichOneof("type") or "?"
    if kind == "script_finished":
        return f"script_finished:{ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)}"
    if kind == "delta":
        return f"delta:{msg.delta.WhichOneof('type')}"
    return kind


def capture(out: Path) -> dict:
    """Drive one browser journey and return the record (also written to ``out``)."""
    from playwright.sync_api import sync_playwright

    record: dict[str, Any] = {"handshakes": [], "events": []}
    t0 = time.monotonic()

    def note(kind: str, **data: Any) -> None:
        record["events"].append({"t": round(time.monotonic() - t0, 3), "kind": kind, **data})

    with (fresh_home("capture-") as home, running_app(home) as app,
          sync_playwright() as playwright):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")

        def handshake(params: dict) -> None:
            headers = dict(params["request"]["headers"])
            for name in list(headers):
                if name.lower() == "cookie":
                    headers[name] = "; ".join(
                        f"{c.split('=', 1)[0]}=<{len(c.split('=', 1)[-1])} chars>"
                        for c in headers[name].split("; "))
            protocols = headers.get("Sec-WebSocket-Protocol", "")
            record["handshakes"].append({
                "url": params.get("url") or "", "headers": headers,
                "subprotocol_entries": [
                    p if i == 0 else f"<{len(p.strip())} chars>"
                    for i, p in enumerate(protocols.split(","))]})

        cdp.on("Network.webSocketWillSendHandshakeRequest", handshake)

        def on_ws(ws) -> None:
            note("ws_open", url=ws.url)
            ws.on("framesent", lambda payload: note(
                "sent", **decode_back(payload if isinstance(payload, bytes)
                                      else payload.encode())))
            ws.on("framereceived", lambda payload: note(
                "received", type=forward_kind(payload) if isinstance(payload, bytes)
                else "text"))

        page.on("websocket", on_ws)
        page.goto(f"{app.url}/")
        wait_for_app(page)
        note("step", name="home loaded")
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Draw").click()
        page.get_by_role("heading", name="Draw", exact=True).wait_for()
        wait_for_app(page)
        canvas = page.locator("canvas").last
        canvas.wait_for(state="visible")
        note("step", name="draw loaded")
        box = canvas.bounding_box()
        xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
              for fx, fy in STROKE]
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y, steps=8)
        page.mouse.up()
        note("step", name="stroke drawn")
        page.get_by_text("Prediction:", exact=False).first.wait_for()
        note("step", name="prediction shown: "
             + page.get_by_text("Prediction:", exact=False).first.inner_text())
        canvas.hover()
        page.get_by_role("button", name="Reset canvas & history").click()
        page.get_by_text("Draw a digit", exact=True).first.wait_for()
        note("step", name="canvas reset")
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Train").click()
        page.get_by_role("heading", name="Train", exact=True).wait_for()
        wait_for_app(page)
        page.wait_for_timeout(2500)
        note("step", name="train loaded")
        record["cookies"] = [{"name": c["name"], "path": c["path"],
                              "httpOnly": c["httpOnly"], "sameSite": c["sameSite"]}
                             for c in context.cookies()]
        context.close()
        browser.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON record ({OUT})")
    args = parser.parse_args(argv)
    record = capture(args.out)
    sent = [e for e in record["events"] if e["kind"] == "sent"]
    print(f"{len(record['handshakes'])} handshake(s), {len(sent)} frames sent, "
          f"{len(record['events']) - len(sent)} other events -> {args.out}")


if __name__ == "__main__":
    main()
