"""The model card: what the registry knows about a saved model, as one typed object.

Three writers make cards (training, the model upload, the shipped default model) and every
page reads them; :class:`ModelCard` is the one place that says what a card holds and how
to read it. It tolerates old and damaged cards: a missing or wrong-typed field reads as
its default, and unknown keys are kept in ``extra`` so nothing is lost on a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dashcore.backend import BACKEND_NAMES
from dashcore.training.phases import describe_phases

DRAWING_INPUTS = ((28, 28, 1), (28, 28), (784,))  # input shapes a 28×28 drawing can become
_TRAINING_KEYS = ("optimizer", "learning_rate", "peak_learning_rate", "loss", "batch_size",
                  "epochs", "validation_split", "augment", "augment_photo", "seed")


@dataclass(frozen=True)
class ModelCard:
    """A model card's fields; :meth:`from_dict` reads any card, old or new."""

    name: str = ""  # display name
    owner: str | None = None  # who saved it (None while there are no accounts)
    source: str = ""  # "trained", "uploaded" or "builtin"
    dataset: str | None = None  # dataset it was trained on
    input_shape: tuple[int, ...] = (28, 28, 1)  # without the batch axis
    num_classes: int = 10
    class_names: tuple[str, ...] = ()  # empty: the class indices are the names
    params: int | None = None
    test_accuracy: float | None = None  # on the dataset's test split, 0–1
    created: str | None = None  # ISO time the card was written
    spec: dict[str, Any] | None = None  # the ModelSpec dict, when trained here
    epochs_done: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # every other key, kept as written

    @classmethod
    def from_dict(cls, card: Any) -> ModelCard:
        """Read a card dict; fields of the wrong type fall back to their defaults."""
        if not isinstance(card, dict):
            return cls()
        known = {f.name for f in fields(cls)} - {"extra"}
        values: dict[str, Any] = {}

        def text(key: str) -> str | None:
            value = card.get(key)
            return value if isinstance(value, str) else None

        values["name"] = text("name") or ""
        values["owner"] = text("owner")
        values["source"] = text("source") or ""
        values["dataset"] = text("dataset")
        values["created"] = text("created")
        shape = card.get("input_shape")
        if isinstance(shape, list | tuple) and shape and all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
            values["input_shape"] = tuple(shape)
        for key in ("num_classes", "params", "epochs_done"):
            value = card.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                values[key] = value
        names = card.get("class_names")
        if isinstance(names, list | tuple):
            values["class_names"] = tuple(str(n) for n in names)
        accuracy = card.get("test_accuracy")
        if isinstance(accuracy, int | float) and not isinstance(accuracy, bool):
            values["test_accuracy"] = float(accuracy)
        if isinstance(card.get("spec"), dict):
            values["spec"] = card["spec"]
        values["extra"] = {k: v for k, v in card.items() if k not in known}
        return cls(**values)

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names to show: the card's own, else the class indices."""
        if self.class_names and len(self.class_names) == self.num_classes:
            return self.class_names
        return tuple(str(i) for i in range(self.num_classes))

    @property
    def reads_drawings(self) -> bool:
        """True when a 28×28 grey drawing can be this model's input."""
        return tuple(self.input_shape) in DRAWING_INPUTS

    @property
    def runs_in_the_server(self) -> bool:
        """False for an uploaded model: its cost is unknown (eight wide convolutions can hold
        a core), so it runs only in the limited evaluation child, never in the web server's
        shared predictor that /draw uses."""
        return self.source != "uploaded"

    @property
    def reads_digits(self) -> bool:
        """True for a model that reads drawn digits 0–9 (a candidate default for /draw)."""
        return self.reads_drawings and self.num_classes == 10

    def sure_line(self) -> str | None:
        """How often this model's sure answers were right on drawing-like digits, in words
        (None when its card has no calibration measured on them)."""
        calibration = self.extra.get("calibration")
        heldout = calibration.get("heldout") if isinstance(calibration, dict) else None
        try:
            right, share = float(heldout["sure_accuracy"]), float(heldout["coverage"])
            images = int(heldout["images"])
        except (TypeError, KeyError, ValueError):
            return None
        return (f"On {images:,} canvas-like digits it never trained on, this model was sure "
                f"about {share:.1%} of them and right about {right:.1%} of those.")

    def architecture_line(self) -> str:
        """The layer stack in one line (a spec's layer types, or what the card says)."""
        spec = self.spec
        if spec is not None and isinstance(spec.get("layers"), list):
            types = " → ".join(str(layer.get("type", "?")) for layer in spec["layers"]
                               if isinstance(layer, dict))
            return f"{spec.get('name')}: {types}" if spec.get("name") else types
        return str(self.extra.get("architecture") or self.extra.get("preset") or "—")

    def device_line(self) -> str:
        """The Keras backend and device it was trained on (``JAX · CPU · jit``), so a result
        that differs between machines can be traced; ``—`` when the card does not say."""
        device = self.extra.get("device")
        if isinstance(device, str) and device:
            return device
        backend = self.extra.get("backend")
        return BACKEND_NAMES.get(backend, str(backend)) if isinstance(backend, str) else "—"

    def phases_line(self) -> str:
        """Where the training run's time went (``waiting for a worker 0.1 s · loading data
        0.4 s · …``), or ``—`` for a card without phases (uploaded, or older)."""
        phases = self.extra.get("phases")
        if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
            return "—"
        worker = {"spare": " (a warm worker)", "cold": " (a worker started for it)",
                  "reused": " (the worker of the sweep's previous trial)"}.get(
            str(self.extra.get("worker")), "")
        return (describe_phases(phases) + worker) or "—"

    def training_line(self) -> str:
        """One line on how the model was trained, from whatever the card records."""
        if self.source == "uploaded":
            return f"uploaded as {self.extra.get('original_filename', 'a file')}"
        training: dict[str, Any] = self.extra
        for key in ("hyperparameters", "recipe", "training"):
            if isinstance(self.extra.get(key), dict):
                training = self.extra[key]
                break
        parts = [f"{key.replace('_', ' ')} {training[key]}" for key in _TRAINING_KEYS
                 if training.get(key) not in (None, "", False)]
        if self.epochs_done is not None:
            parts.append(f"{self.epochs_done} epochs run")
        return ", ".join(parts) or "—"

    def lineage_line(self) -> str:
        """Where the model came from: the model it fine-tunes, the run it continues, and the
        parts its run was trained in ("—" for a model trained in one go)."""
        extra = self.extra
        parts: list[str] = []
        if extra.get("parent_model"):
            text = (f"fine-tuned from {extra.get('parent_name') or extra['parent_model']}"
                    f" (trained on {extra.get('parent_dataset') or 'another dataset'})")
            before = extra.get("start_test_accuracy")
            if isinstance(before, int | float) and self.test_accuracy is not None:
                text += f": test accuracy {before:.2%} → {self.test_accuracy:.2%}"
            mnist = extra.get("mnist_test_accuracy")
            if isinstance(mnist, int | float) and self.dataset != "MNIST":
                text += f", MNIST test {mnist:.2%}"
            parts.append(text)
        if extra.get("parent_run"):
            parts.append(f"continues run {extra.get('parent_name') or extra['parent_run']}")
        earlier = extra.get("parts")
        if isinstance(earlier, list) and earlier:
            spans = []
            for part in earlier:
                if isinstance(part, dict) and isinstance(part.get("epochs"), list):
                    first, last = part["epochs"][:2]
                    spans.append(f"epochs {first}–{last} ({part.get('status', '?')})")
            start = extra.get("continued_from_epoch")
            if isinstance(start, int) and self.epochs_done:
                spans.append(f"epochs {start + 1}–{self.epochs_done}")
            parts.append("trained in parts: " + ", ".join(spans))
        elif isinstance(extra.get("continued_from_epoch"), int) and not extra.get("parent_run"):
            parts.append(f"continued from epoch {extra['continued_from_epoch']}")
        return "; ".join(parts) or "—"
