"""Load /draw's default model when the server starts, in the background.

TensorFlow and the model take seconds to load (~3 s on a quiet 2-core box, far more when it
is busy). Loading them on the first drawing made that drawing slow, and a page could settle
before its answer came. The router starts the load once per server process, after the first
page has been sent, so that page paints first; /draw waits for a load in flight
(``dashcore.inference.predictor.get_predictor``) and says "Getting the model ready…".
"""

from __future__ import annotations

import threading

from dashcore.inference.predictor import preload
from dashcore.models import registry
from dashcore.settings import Settings

_started = threading.Event()


def preload_default_model_once(settings: Settings) -> None:
    """Start loading the default model's shared predictor; later calls do nothing."""
    if _started.is_set():
        return
    _started.set()
    try:
        model_id = registry.default_model_id(settings)
        if model_id is not None:
            preload(registry.model_file(model_id, settings))
    except Exception:  # noqa: BLE001 - wrong settings, a missing or damaged model: the
        pass  # router's settings check and /draw explain those when someone opens them
