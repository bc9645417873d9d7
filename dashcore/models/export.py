"""Model downloads: the ``.keras`` file, a legacy ``.h5`` copy, and the card as JSON.

Called lazily (only when the user asks for a download), because converting to ``.h5``
loads the model and takes a second or two. Every file produced here loads with plain
``keras.saving.load_model`` and predicts exactly what the registry copy predicts.

Example:
    >>> data = h5_bytes(get_entry("cnn-20250101-abc123", settings))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from dashcore.errors import UserError
from dashcore.models.registry import ModelEntry, load_keras_model


def download_name(entry: ModelEntry, suffix: str) -> str:
    """A safe file name for a download, from the model's display name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", entry.name).strip("._") or entry.model_id
    return f"{stem[:60]}{suffix}"


def file_problem(path: Path) -> str | None:
    """Why a registry model file is unusable, or None; cheap (reads the zip directory only).

    Lets the models page flag a damaged file on its own row without loading every model.
    """
    path = Path(path)
    if not path.is_file():
        return "the model file is missing"
    if path.stat().st_size == 0:
        return "the model file is empty"
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                return "the model file has no config.json (not a Keras model)"
    except (zipfile.BadZipFile, OSError):
        return "the model file is damaged or truncated (not a readable .keras archive)"
    return None


def _require_usable(entry: ModelEntry) -> None:
    problem = entry.error or file_problem(entry.path)
    if problem:
        raise UserError(f"Model {entry.name!r} cannot be downloaded: {problem}. Delete it, "
                        "or restore the file from a backup.")


def keras_bytes(entry: ModelEntry) -> bytes:
    """The registry's ``.keras`` file as is (it was written by Keras itself)."""
    _require_usable(entry)
    return entry.path.read_bytes()


def h5_bytes(entry: ModelEntry) -> bytes:
    """The model in legacy HDF5 format, as the tutorials' ``model.save('model.h5')`` writes.

    Loads a private copy (the shared predictor's model is not touched from this thread)
    and saves it to a temporary ``.h5`` file, whose bytes are returned.
    """
    import keras

    _require_usable(entry)
    model = load_keras_model(entry.path)
    with tempfile.TemporaryDirectory(prefix="dashcore-export-") as folder:
        target = Path(folder) / "model.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns that HDF5 is legacy: the user asked
            keras.saving.save_model(model, str(target))
        return target.read_bytes()


def card_json(entry: ModelEntry) -> str:
    """The model card as pretty, stable JSON."""
    card: dict[str, Any] = {**entry.card, "id": entry.model_id}
    return json.dumps(card, indent=2, sort_keys=True, default=str)
