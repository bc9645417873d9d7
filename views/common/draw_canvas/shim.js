// Wraps streamlit-drawable-canvas 0.13's frontend (imported unchanged from the installed
// package) and fixes how it loses strokes. See README.md in this folder for why.
const patched = new WeakMap();

function patch(root) {
  const upper = root.querySelector("canvas.upper-canvas");
  if (!upper || patched.has(root)) return;
  let penDown = false; // a stroke is under way on this canvas (Fabric saw its press)

  const onDown = () => { penDown = true; };
  const onUp = () => { penDown = false; };
  // A mouse or pen stroke that starts just outside the square and comes in with the
  // button held: Fabric only draws after a press on the canvas, so the whole stroke was
  // lost. Start it where it enters, as a press there.
  const onEnter = (e) => {
    if (penDown || (e.buttons & 1) !== 1) return;
    penDown = true;
    upper.dispatchEvent(new MouseEvent("mousedown", {
      bubbles: true, cancelable: true, composed: true, view: window, button: 0, buttons: 1,
      clientX: e.clientX, clientY: e.clientY, screenX: e.screenX, screenY: e.screenY,
    }));
  };
  // A touch the browser cancels (a gesture, a long press, the system taking the touch):
  // Fabric only listens for touchend, so the stroke stayed open, its ink never reached the
  // page, and the finger's id blocked the next stroke. End it as a lift, keeping its ink.
  const onCancel = (e) => {
    try {
      upper.dispatchEvent(new TouchEvent("touchend", {
        bubbles: true, cancelable: true, composed: true, touches: [], targetTouches: [],
        changedTouches: Array.from(e.changedTouches),
      }));
    } catch (err) {
      console.warn("draw canvas: could not end a cancelled touch", err);
    }
  };
  upper.addEventListener("mousedown", onDown, true);
  upper.addEventListener("mouseenter", onEnter);
  upper.addEventListener("touchcancel", onCancel);
  window.addEventListener("mouseup", onUp, true);
  patched.set(root, () => {
    upper.removeEventListener("mousedown", onDown, true);
    upper.removeEventListener("mouseenter", onEnter);
    upper.removeEventListener("touchcancel", onCancel);
    window.removeEventListener("mouseup", onUp, true);
  });
}

export default async function (component) {
  const url = new URL(component.data.moduleUrl, window.location.href).href;
  const canvas = await import(url);
  const cleanup = canvas.default(component);
  const root = component.parentElement;
  patch(root);
  return () => {
    const unpatch = patched.get(root);
    if (unpatch) { unpatch(); patched.delete(root); }
    if (typeof cleanup === "function") cleanup();
  };
}
