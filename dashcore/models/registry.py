"""The model registry: saved ``.keras`` models, each with a JSON model card.

Layout in ``<DASHCORE_HOME>/models`` (or ``<DASHCORE_ARTIFACTS>/models``, a shared path or an
object store such as ``s3://bucket/prefix``): ``<model_id>.keras`` and ``<model_id>.json``.
The package also ships one small default model (``dashcore/assets/default_model.*``)
so /draw predicts on a fresh install; it is listed with id ``builtin-default`` and
cannot be renamed or deleted. Writes are atomic; a broken file shows up as an
entry with an ``error`` rather than breaking the listing.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dashcore.access.auth import User, authorize
from dashcore.artifacts import ArtifactFolder, LocalFolder, artifact_folder
from dashcore.errors import NotFoundError, PermissionDenied, UserError
from dashcore.models.cards import ModelCard
from dashcore.settings import Settings
from dashcore.text import check_name

BUILTIN_ID = "builtin-default"
MAX_MODEL_NAME = 80  # characters in a model's display name
DEFAULT_POINTER = "_default.json"  # which model /draw uses unless the user picks another
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


@dataclass(frozen=True)
class ModelEntry:
    """One row of the registry: its card, where the file is, and any problem reading it."""

    model_id: str
    location: Path | str  # the model file: a local path, or a URL in the artefact store
    card: dict[str, Any]
    error: str | None = None
    # the artefact folder a remote ``location`` is read through (it knows its cache)
    folder: ArtifactFolder | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> Path:
        """A local file Keras can load: the file itself, or a cached copy of a remote one."""
        if isinstance(self.location, Path):
            return self.location
        if self.folder is None:
            raise UserError(f"Model {self.model_id!r} is remote but its entry names no folder "
                            "to fetch it through.")
        return self.folder.local_path(f"{self.model_id}.keras")

    @property
    def name(self) -> str:
        """Display name (falls back to the id)."""
        return str(self.card.get("name") or self.model_id)

    @property
    def info(self) -> ModelCard:
        """The card as a typed :class:`ModelCard` (tolerant of old and damaged cards)."""
        return ModelCard.from_dict(self.card)

    @property
    def builtin(self) -> bool:
        """True for the model shipped with the package."""
        return self.model_id == BUILTIN_ID


def builtin_paths() -> tuple[Path, Path]:
    """(model file, card file) of the default model shipped in the package."""
    assets = Path(str(resources.files("dashcore").joinpath("assets")))
    return assets / "default_model.keras", assets / "default_model.json"


def check_model_id(model_id: str) -> str:
    """Refuse ids that could escape the models folder (``../x``, ``/etc``, ``a/b``)."""
    if model_id == BUILTIN_ID or _ID_RE.match(model_id or ""):
        return model_id
    raise UserError(f"{model_id!r} is not a valid model id: use lower-case letters, digits "
                    "and '-' only.")


def new_model_id(name: str) -> str:
    """A unique, filesystem-safe id derived from a display name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "model"
    return f"{slug}-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def models_folder(settings: Settings) -> ArtifactFolder:
    """Where saved models live: ``models`` under the artefact root (local by default)."""
    return artifact_folder(settings.artifacts_url, "models", settings.home / "cache",
                           settings.limits.artifact_cache_mb)


def _folder_of(model_id: str, settings: Settings) -> ArtifactFolder:
    """The built-in model's package folder, or the registry's."""
    if model_id == BUILTIN_ID:
        return LocalFolder(builtin_paths()[0].parent)
    return models_folder(settings)


def _names(model_id: str) -> tuple[str, str]:
    """(model file, card file) names inside the folder."""
    if check_model_id(model_id) == BUILTIN_ID:
        model_path, card_path = builtin_paths()
        return model_path.name, card_path.name
    return f"{model_id}.keras", f"{model_id}.json"


def model_file(model_id: str, settings: Settings) -> Path:
    """Path of a model's ``.keras`` file in a local registry (does not check it exists)."""
    if check_model_id(model_id) == BUILTIN_ID:
        return builtin_paths()[0]
    return settings.models_dir / f"{model_id}.keras"


def card_file(model_id: str, settings: Settings) -> Path:
    """Path of a model's card."""
    if check_model_id(model_id) == BUILTIN_ID:
        return builtin_paths()[1]
    return settings.models_dir / f"{model_id}.json"


def save_model(model: Any, card: dict[str, Any], settings: Settings,
               model_id: str | None = None) -> ModelEntry:
    """Save a Keras model and its card atomically; returns the new entry.

    The model file is written before the card, so a card never points at a missing
    or half-written model. If the disk fills, the previous files stay intact.
    """
    settings = settings.ensure_dirs()
    model_id = check_model_id(model_id or new_model_id(card.get("name", "model")))
    if model_id == BUILTIN_ID:
        raise PermissionDenied("The built-in default model cannot be overwritten.")
    full_card = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **card, "id": model_id}
    full_card.setdefault("params", int(model.count_params()))
    return store_model_file(model_id, lambda tmp: model.save(tmp), full_card, settings)


def store_model_file(model_id: str, write: Any, card: dict[str, Any],
                     settings: Settings) -> ModelEntry:
    """Put a model file (``write(tmp_path)`` makes it) and then its card in the registry.

    The model file is written before the card, so a card never points at a missing
    or half-written model. If the disk fills, the previous files stay intact.
    """
    folder = models_folder(settings)
    model_name, card_name = _names(model_id)
    is_new = not folder.exists(model_name)
    folder.write_with(model_name, write, ".keras")
    try:
        folder.write_bytes(card_name, _card_bytes(card))
    except BaseException:
        if is_new:  # e.g. the disk filled between the two files: leave no model without card
            folder.delete(model_name)
        raise
    return ModelEntry(model_id, folder.location(model_name), card, folder=folder)


def _card_bytes(card: dict[str, Any]) -> bytes:
    return json.dumps(card, indent=2, sort_keys=True, default=str).encode("utf-8")


def read_card(model_id: str, settings: Settings) -> dict[str, Any]:
    """A model's card. Raises NotFoundError or UserError (unreadable card)."""
    try:
        raw = _folder_of(model_id, settings).read_bytes(_names(model_id)[1])
    except FileNotFoundError:
        raise NotFoundError(f"Model {model_id!r} does not exist (it may have been deleted).") \
            from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"The card of model {model_id!r} is damaged ({type(exc).__name__}); "
                        "delete the model or restore its .json file.") from None


def get_entry(model_id: str, settings: Settings) -> ModelEntry:
    """One registry entry by id."""
    card = read_card(model_id, settings)
    folder, name = _folder_of(model_id, settings), _names(model_id)[0]
    if not folder.exists(name):
        raise NotFoundError(f"The file of model {model_id!r} is missing.")
    return ModelEntry(model_id, folder.location(name), card, folder=folder)


def list_models(settings: Settings, include_builtin: bool = True
                ) -> list[ModelEntry]:
    """Every model, newest first, the built-in one last; broken ones carry ``error``."""
    entries: list[ModelEntry] = []
    folder = models_folder(settings)
    model_files = set(folder.names(".keras"))
    for card_name in folder.names(".json"):
        model_id = card_name[:-len(".json")]
        if card_name.startswith("_") or not _ID_RE.match(model_id):
            continue
        model_name = f"{model_id}.keras"
        try:
            card = json.loads(folder.read_bytes(card_name).decode("utf-8"))
            error = None if model_name in model_files else "model file is missing"
        except (OSError, ValueError) as exc:
            card, error = {"name": model_id}, f"card is damaged ({type(exc).__name__})"
        entries.append(ModelEntry(model_id, folder.location(model_name), card, error,
                                  folder=folder))
    entries.sort(key=lambda e: str(e.card.get("created", "")), reverse=True)
    if include_builtin:
        model_path, card_path = builtin_paths()
        if model_path.is_file() and card_path.is_file():
            entries.append(ModelEntry(BUILTIN_ID, model_path,
                                      json.loads(card_path.read_text("utf-8"))))
    return entries


def model_bytes(owner: str, settings: Settings) -> int:
    """What ``owner``'s models (file and card) take, from the folder's sizes: nothing is
    downloaded to count it (the disk quota asks)."""
    folder = models_folder(settings)
    return sum(folder.size(f"{entry.model_id}.keras") + folder.size(f"{entry.model_id}.json")
               for entry in list_models(settings, include_builtin=False)
               if entry.card.get("owner") == owner)


def _check_owner(card: dict[str, Any], user: User | None) -> None:
    """Only the card's owner or an admin may change it (a model without owner: admins)."""
    owner = card.get("owner")
    authorize(user, "manage", owner=str(owner) if owner else None,
              what=f"model {card.get('name', '')!r}")


def rename_model(model_id: str, new_name: str, user: User | None = None,
                 *, settings: Settings) -> dict[str, Any]:
    """Change a model's display name (its id and file stay).

    ``user`` is the signed-in person (pages pass it); ``None`` is a trusted caller such as
    the worker naming the model it just saved.

    Raises:
        PermissionDenied: the built-in model, or ``user`` is neither owner nor admin.
    """
    if model_id == BUILTIN_ID:
        raise PermissionDenied("The built-in default model cannot be renamed.")
    name = check_name("model", new_name, MAX_MODEL_NAME)
    card = read_card(model_id, settings)
    _check_owner(card, user)
    card["name"] = name
    models_folder(settings).write_bytes(_names(model_id)[1], _card_bytes(card))
    return card


def delete_model(model_id: str, user: User | None = None,
                 *, settings: Settings) -> None:
    """Remove a model and its card (the card first, so no orphan card lists a gone file).

    Raises:
        PermissionDenied: the built-in model, or ``user`` is neither owner nor admin (a
            damaged card, whose owner cannot be read, only an admin may remove).
    """
    if model_id == BUILTIN_ID:
        raise PermissionDenied("The built-in default model cannot be deleted.")
    folder = models_folder(settings)
    model_name, card_name = _names(model_id)
    if folder.exists(card_name):
        try:
            card = json.loads(folder.read_bytes(card_name).decode("utf-8"))
        except (OSError, ValueError):
            card = {"name": model_id}  # damaged: owner unknown, so admins only
        _check_owner(card if isinstance(card, dict) else {"name": model_id}, user)
    folder.delete(card_name)
    folder.delete(model_name)
    shutil.rmtree(settings.home / "exports" / model_id, ignore_errors=True)  # its exports
    if default_model_id(settings) == model_id:
        folder.delete(DEFAULT_POINTER)


def set_default_model(model_id: str, settings: Settings,
                      user: User | None = None) -> None:
    """Mark the model /draw uses by default (for everyone, so admins only when signed in)."""
    authorize(user, "admin", what="the default model for /draw")
    settings = settings.ensure_dirs()
    get_entry(model_id, settings)
    models_folder(settings).write_bytes(DEFAULT_POINTER, _card_bytes({"model_id": model_id}))


def default_model_id(settings: Settings) -> str | None:
    """The default model for /draw: the marked one, else best test accuracy, else built-in."""
    folder = models_folder(settings)
    try:
        model_id = json.loads(folder.read_bytes(DEFAULT_POINTER).decode("utf-8"))["model_id"]
        if _folder_of(model_id, settings).exists(_names(model_id)[0]):
            return model_id
    except (OSError, ValueError, KeyError, TypeError, UserError):
        pass
    usable = [e for e in list_models(settings) if e.error is None and e.info.reads_digits]
    if not usable:
        return None
    best = max(usable, key=lambda e: float(e.card.get("test_accuracy") or 0.0))
    return best.model_id


def load_keras_model(path: Path):
    """Load a trusted registry file with Keras's safe mode on (never turned off)."""
    import keras

    return keras.saving.load_model(str(path), compile=False, safe_mode=True)
