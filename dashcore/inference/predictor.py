"""Fast, shared prediction: one loaded model per file per process, safe across sessions.

Every Streamlit session in a server process shares the same :class:`SharedPredictor`
for a given model file (keyed by path and modification time, so a replaced file is
reloaded). Calls are serialised with a lock because Keras on TensorFlow is not
thread-safe. Images go through the model's forward pass compiled once for the backend
(:func:`_compile_forward`: a ``tf.function`` on TensorFlow, about 1–2 ms for one drawing
here; ``jax.jit`` of ``stateless_call`` on JAX; an eager call without autograd on
PyTorch), falling back to ``model(x, training=False)`` (~6 ms on TensorFlow, eager); never
``model.predict``, which builds a data pipeline on every call (~65 ms for one image).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dashcore.errors import UserError
from dashcore.inference.calibration import apply_temperature

_CACHE_SIZE = 6  # models kept loaded per process; a shared server rarely needs more
# Below this top probability /draw says it is not sure, for a model whose card has no
# calibrated threshold of its own (a card's "calibration.threshold" wins: see
# card_threshold and dashcore.inference.calibration).
CONFIDENCE_THRESHOLD = 0.75
_cache: OrderedDict[tuple[str, int], SharedPredictor] = OrderedDict()
_cache_lock = threading.Lock()
# Loads in flight, by the same key: a second caller (a drawing made while the server's
# background load of the default model runs) waits for that load instead of starting its own.
_loading: dict[tuple[str, int], Future] = {}


def model_io_shapes(model: Any) -> tuple[tuple[int | None, ...], int]:
    """(input shape without batch, number of outputs) of a single-input Keras model."""
    input_shape = model.inputs[0].shape if model.inputs else model.input_shape
    output_shape = model.outputs[0].shape if model.outputs else model.output_shape
    return tuple(input_shape[1:]), int(output_shape[-1])


def fit_input(images: np.ndarray, input_shape: tuple[int | None, ...]) -> np.ndarray:
    """uint8 or [0,1] float images → float32 batch shaped for the model.

    Grey images ``(N, H, W)`` (or ``N×H×W×1``) fit ``(H, W, 1)``, ``(H, W)`` (row-by-row
    recurrent models) and flat ``(H*W,)`` inputs; colour ``(N, H, W, 3)`` fits ``(H, W, 3)``,
    ``(H, W*3)`` rows and flat ``(H*W*3,)``. Raises a :class:`UserError` naming both shapes
    when they cannot fit.
    """
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise UserError(f"Expected grey images N×H×W or colour N×H×W×3, got an array of shape "
                        f"{x.shape}.")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) * np.float32(1.0 / 255.0)
    else:
        x = x.astype(np.float32, copy=False)
    n, height, width = x.shape[:3]
    channels = x.shape[3] if x.ndim == 4 else 1
    dims = tuple(input_shape)
    if dims in ((height, width, channels), (None, None, channels)):
        return x if x.ndim == 4 else x[..., np.newaxis]
    if dims in ((height, width * channels), (None, width * channels)):
        return x.reshape(n, height, width * channels)
    if dims == (height * width * channels,):
        return x.reshape(n, height * width * channels)
    wanted = "×".join("?" if d is None else str(d) for d in dims)
    kind = "grey (1 channel)" if channels == 1 else "colour (3 channels)"
    raise UserError(f"This model expects inputs of shape {wanted}, but the images are "
                    f"{height}×{width} {kind}. Pick a model trained on "
                    f"{height}×{width} {kind.split(' ')[0]} images, or a dataset the model was "
                    "made for.")


def _compile_forward(model: Any, input_shape: tuple[int | None, ...]
                     ) -> Callable[[np.ndarray], Any] | None:
    """The forward pass made fast once per model for the Keras backend, or ``None``.

    TensorFlow: one ``tf.function`` with the batch dimension left open (one trace serves
    one drawing and 1,024-image batches alike). JAX: ``jax.jit`` of the model's
    ``stateless_call`` on its weights (one compile per batch shape). PyTorch: the eager
    call under ``torch.inference_mode`` (no autograd bookkeeping; ``torch.compile`` would
    cost long compiles and a C compiler for a few milliseconds).
    """
    try:
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            signature = [tf.TensorSpec((None, *input_shape), tf.float32)]
            return tf.function(lambda x: model(x, training=False), input_signature=signature)
        if backend == "jax":
            import jax

            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            forward = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x,
                                                                      training=False)[0])
            return lambda x: forward(trainable, non_trainable, x)
        if backend == "torch":
            import torch

            def eager(x: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return keras.ops.convert_to_numpy(model(x, training=False))

            return eager
    except Exception:  # noqa: BLE001 - any problem: the eager call still works
        return None
    return None


def _to_numpy(outputs: Any) -> np.ndarray:
    """Any backend's tensor (on any device) as a NumPy array."""
    if isinstance(outputs, np.ndarray):
        return outputs
    import keras

    return np.asarray(keras.ops.convert_to_numpy(outputs))


class SharedPredictor:
    """A loaded model plus a lock; predicts one image or many.

    Example:
        >>> predictor = get_predictor(Path("model.keras"))  # doctest: +SKIP
        >>> probs = predictor.predict_one(image_28x28_uint8)  # doctest: +SKIP
    """

    def __init__(self, model: Any, path: Path | None = None, compiled: bool = True,
                 temperature: float = 1.0, threshold: float = CONFIDENCE_THRESHOLD) -> None:
        self.model = model
        self.path = path
        self.temperature = temperature  # from the model card's calibration; 1 = as trained
        self.threshold = threshold  # "sure" at or above this top probability (card's, else default)
        self.input_shape, self.num_outputs = model_io_shapes(model)
        self._lock = threading.Lock()
        self._forward = _compile_forward(model, self.input_shape) if compiled else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        """One forward pass under the lock; the eager call if the compiled one fails."""
        with self._lock:
            if self._forward is not None:
                try:
                    return self._calibrated(_to_numpy(self._forward(x)))
                except Exception:  # noqa: BLE001 - e.g. a layer that cannot be traced
                    self._forward = None
            return self._calibrated(_to_numpy(self.model(x, training=False)))

    def _calibrated(self, outputs: np.ndarray) -> np.ndarray:
        """Outputs at the card's temperature (unchanged at 1): the top guess never moves."""
        if self.temperature == 1.0:
            return outputs
        return apply_temperature(as_probabilities(outputs), self.temperature).astype(np.float32)

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities for one image ``(H, W)``: a 1-D float array."""
        x = fit_input(np.asarray(image)[np.newaxis], self.input_shape)
        return self._run(x)[0]

    def predict_many(self, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities for many images, in batches (bounded memory)."""
        outputs = [self._run(fit_input(images[start:start + batch_size], self.input_shape))
                   for start in range(0, len(images), batch_size)]
        if not outputs:
            return np.zeros((0, self.num_outputs), dtype=np.float32)
        return np.concatenate(outputs)

    def predict_rows(self, rows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Outputs for encoded table rows ``(N, F)``: a number per row for a regression,
        probabilities otherwise (see :mod:`dashcore.tables`).

        Raises:
            UserError: the rows are not as wide as the model's input.
        """
        x = np.asarray(rows, dtype=np.float32)
        if x.ndim != 2 or tuple(self.input_shape) != (x.shape[1],):
            wanted = "×".join("?" if d is None else str(d) for d in self.input_shape)
            raise UserError(f"This model reads inputs of shape {wanted}, but the table's rows "
                            f"have {x.shape[-1]} values: pick a model trained on this table.")
        outputs = [self._run(x[start:start + batch_size])
                   for start in range(0, len(x), batch_size)]
        return np.concatenate(outputs) if outputs else np.zeros((0, self.num_outputs),
                                                                 dtype=np.float32)

    def warm_up(self) -> SharedPredictor:
        """Run one blank image through the model, so the first real drawing is fast.

        The first call traces the compiled function (hundreds of milliseconds); doing it
        at load time moves that cost off the user's first stroke.
        """
        dims = [d if d is not None else 28 for d in self.input_shape]
        self._run(np.zeros((1, *dims), dtype=np.float32))
        return self


def deleted_sentence(path: Path) -> str:
    """The sentence for a model whose file disappeared (deleted on Models, or moved)."""
    return (f"This model was deleted: its file {path.name} no longer exists. Pick another "
            "model.")


def _key(path: Path) -> tuple[str, int]:
    """The cache key of a model file: its resolved path and modification time."""
    try:
        return str(path.resolve()), path.stat().st_mtime_ns
    except FileNotFoundError:
        raise UserError(deleted_sentence(path)) from None


def get_predictor(path: Path) -> SharedPredictor:
    """The process-wide predictor for a model file, loaded once per (path, mtime).

    A load already in flight for the same file (see :func:`preload`) is waited for, not
    repeated.
    """
    path = Path(path)
    key = _key(path)
    found, pending, owner = _claim(key)
    if found is not None:
        return found
    if not owner:
        return pending.result()
    return _load_claimed(path, key, pending)


def _claim(key: tuple[str, int]) -> tuple[SharedPredictor | None, Future, bool]:
    """(cached predictor or None, the load's future, whether the caller must load it)."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key], Future(), False
        pending = _loading.get(key)
        if pending is not None:
            return None, pending, False
        pending = _loading[key] = Future()
        return None, pending, True


def _load_claimed(path: Path, key: tuple[str, int], pending: Future) -> SharedPredictor:
    """Load a claimed file, cache it and hand the result (or the error) to every waiter."""
    try:
        predictor = _load(path)
    except BaseException as exc:
        with _cache_lock:
            _loading.pop(key, None)
        pending.set_exception(exc)
        raise
    with _cache_lock:
        predictor = _cache.setdefault(key, predictor)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        _loading.pop(key, None)
    pending.set_result(predictor)
    return predictor


def _load(path: Path) -> SharedPredictor:
    """Load, calibrate and warm up one model file; damage becomes a sentence."""
    from dashcore.models.registry import load_keras_model

    try:
        model = load_keras_model(path)
        calibration = card_calibration(path)
        return SharedPredictor(model, path, **calibration).warm_up()
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        if not path.exists():  # deleted while it was being loaded
            raise UserError(deleted_sentence(path)) from None
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"The model file {path.name} cannot be loaded: it is damaged or not a "
                        f"model this workbench can run ({type(exc).__name__}: {detail}). Pick "
                        "another model, and delete or re-upload this one on Models.") from None


def is_loaded(path: Path) -> bool:
    """True when the model file's predictor is loaded and warm (a call returns at once)."""
    try:
        key = _key(Path(path))
    except UserError:
        return False
    with _cache_lock:
        return key in _cache


def preload(path: Path) -> threading.Thread | None:
    """Load a model's predictor in a background thread (the server does this at start).

    Returns the thread, or ``None`` when the model is already loaded or loading. A drawing
    that arrives meanwhile waits for this load in :func:`get_predictor`; a file that cannot
    be loaded is left for that call to explain.
    """
    path = Path(path)
    try:
        key = _key(path)
    except UserError:
        return None
    found, pending, owner = _claim(key)  # claimed here: a drawing from now on waits for it
    if not owner:
        return None

    def load() -> None:
        try:
            _load_claimed(path, key, pending)
        except Exception:  # noqa: BLE001, S110 - the caller that needs it shows the sentence
            pass

    thread = threading.Thread(target=load, name="dashcore-preload", daemon=True)
    thread.start()
    return thread


def card_calibration(path: Path) -> dict[str, float]:
    """``temperature`` and ``threshold`` from the card beside a model file (``x.json``).

    Each falls back on its own (1.0, no change; :data:`CONFIDENCE_THRESHOLD`) when there is
    no card, no calibration on it, or a value out of range (a temperature must be positive,
    a threshold between 0.5 and 1): calibration only ever adjusts confidence, it never
    blocks a model.
    """
    import json

    try:
        calibration = json.loads(Path(path).with_suffix(".json").read_text("utf-8"))[
            "calibration"]
    except (OSError, ValueError, KeyError, TypeError):
        calibration = {}
    out = {"temperature": 1.0, "threshold": CONFIDENCE_THRESHOLD}
    for name, ok in (("temperature", lambda v: v > 0), ("threshold", lambda v: 0.5 <= v <= 1)):
        try:
            value = float(calibration[name])
        except (KeyError, TypeError, ValueError):
            continue
        if np.isfinite(value) and ok(value):
            out[name] = value
    return out


def card_temperature(path: Path) -> float:
    """The calibration temperature on the card beside a model file (``x.keras`` → ``x.json``).

    1.0 (no change) when there is none usable: see :func:`card_calibration`.
    """
    return card_calibration(path)["temperature"]


def card_threshold(path: Path) -> float:
    """The "sure" threshold on the card beside a model file, else :data:`CONFIDENCE_THRESHOLD`.

    Each model's own: fitted with its temperature on its validation drawings (see
    :mod:`dashcore.inference.calibration`).
    """
    return card_calibration(path)["threshold"]


def clear_cache() -> None:
    """Forget every loaded model (tests, and after a model file is deleted)."""
    with _cache_lock:
        _cache.clear()


# ---------------------------------------------------------------- reading the answer


def as_probabilities(outputs: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Model outputs → probabilities along the last axis: kept if they already are, else
    softmaxed (logits). ``dtype`` float32 halves the memory of a whole split's outputs."""
    out = np.asarray(outputs, dtype=dtype)
    if out.size and out.min() >= 0 and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        return out
    shifted = np.exp(out - out.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(dtype, copy=False)


@dataclass(frozen=True)
class Prediction:
    """One image's answer, as /draw shows it.

    Attributes:
        probabilities: one probability per class, summing to 1.
        class_names: display name of each class.
        threshold: top probability below which the answer is "not sure".
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]
    threshold: float = CONFIDENCE_THRESHOLD

    @property
    def index(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probabilities))

    @property
    def label(self) -> str:
        """Name of the most probable class."""
        return self.class_names[self.index]

    @property
    def confidence(self) -> float:
        """Probability of the most probable class."""
        return float(self.probabilities[self.index])

    @property
    def sure(self) -> bool:
        """True when the top probability reaches the threshold."""
        return self.confidence >= self.threshold

    def top(self, k: int = 2) -> list[tuple[str, float]]:
        """The ``k`` most probable classes as (name, probability), best first."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]

    def headline(self) -> str:
        """``Prediction: 7 (98% confident)``, or the two best guesses when not sure."""
        if self.sure:
            return f"Prediction: {self.label} ({percent(self.confidence)} confident)"
        (first, p1), (second, p2) = self.top(2)
        return f"Not sure: maybe {first} ({percent(p1)}) or {second} ({percent(p2)})"


def percent(p: float) -> str:
    """A probability as a whole percentage that never overstates: ``>99%``, not ``100%``."""
    if 0.99 < p < 1.0:
        return ">99%"
    if 0.0 < p < 0.01:
        return "<1%"
    return f"{p:.0%}"


def interpret(outputs: np.ndarray, class_names: Sequence[str] | None = None,
              threshold: float = CONFIDENCE_THRESHOLD, temperature: float = 1.0) -> Prediction:
    """Turn one image's model outputs into a :class:`Prediction`.

    ``temperature`` is for raw outputs (a :class:`SharedPredictor` from
    :func:`get_predictor` has applied its card's already): see
    :mod:`dashcore.inference.calibration`.
    """
    probs = apply_temperature(as_probabilities(np.asarray(outputs).reshape(-1)), temperature)
    names = tuple(class_names) if class_names else tuple(str(i) for i in range(len(probs)))
    if len(names) != len(probs):
        raise UserError(f"The model gives {len(probs)} outputs but {len(names)} class names "
                        "were expected: pick a model made for this dataset.")
    return Prediction(probs, names, threshold)


def predict_drawing(path: Path, image: np.ndarray,
                    class_names: Sequence[str] | None = None) -> Prediction:
    """The shared model at ``path`` applied to one preprocessed 28×28 image, "sure" at the
    threshold on its card."""
    predictor = get_predictor(path)
    return interpret(predictor.predict_one(image), class_names, predictor.threshold)
