"""Disk quota per person: what one signed-in user's things take, and the check before more.

Counted per owner: model files and cards in the registry, uploaded datasets, saved
drawings (the 28×28 image and the canvas PNG) and run folders (checkpoints, TensorBoard
logs, config). The limit is ``DASHCORE_USER_DISK_MB``; a refusal says how much the person
uses, of how much, and what to delete. Things without an owner (made with access off,
or by scripts) count against nobody, and trusted callers (no user) are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashcore.access.auth import User
from dashcore.errors import UserError
from dashcore.settings import Settings, limit_setting
from dashcore.system import folder_size, human_bytes

DRAWING_IMAGE_BYTES = 28 * 28  # one saved 28×28 uint8 image (before compression)


@dataclass(frozen=True)
class DiskUse:
    """Bytes one owner's things take, by kind, and the quota they count against."""

    owner: str
    models: int
    datasets: int
    drawings: int
    runs: int
    limit: int

    @property
    def total(self) -> int:
        """All of it together."""
        return self.models + self.datasets + self.drawings + self.runs

    def line(self) -> str:
        """"You use 1.2 MB of 2.0 GB (models …, datasets …, drawings …, runs …)." """
        parts = ", ".join(f"{kind} {human_bytes(size)}" for kind, size in (
            ("models", self.models), ("datasets", self.datasets),
            ("drawings", self.drawings), ("runs", self.runs)))
        return f"You use {human_bytes(self.total)} of {human_bytes(self.limit)} ({parts})."


def _size(path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def disk_use(owner: str, settings: Settings) -> DiskUse:
    """What ``owner``'s models, datasets, drawings and runs take on disk now."""
    from dashcore.artifacts import datasets_folder
    from dashcore.datasets.drawings import list_drawings
    from dashcore.datasets.uploads import UPLOAD_PREFIX, dataset_owner
    from dashcore.models.registry import list_models, models_folder

    # Sizes come from the artefact folder (a stat, or an object store's listing): nothing is
    # downloaded to count it.
    folder = models_folder(settings)
    models = sum(folder.size(f"{entry.model_id}.keras") + folder.size(f"{entry.model_id}.json")
                 for entry in list_models(settings, include_builtin=False)
                 if entry.card.get("owner") == owner)
    datasets = 0
    uploaded = datasets_folder(settings)
    for name in uploaded.names(".npz"):
        if not name.startswith(".") and \
                dataset_owner(UPLOAD_PREFIX + name[:-len(".npz")], settings) == owner:
            datasets += uploaded.size(name)
    drawings = 0
    try:
        mine = [d for d in list_drawings(settings) if d.owner == owner]
    except UserError:  # a damaged drawings file: counted as nothing until it is fixed
        mine = []
    canvas = settings.drawings_dir / "canvas"
    for drawing in mine:
        drawings += DRAWING_IMAGE_BYTES + _size(canvas / f"{drawing.drawing_id}.png")
    runs = 0
    if settings.db or settings.store_path.exists():
        from dashcore.store.factory import open_store

        for run in open_store(settings).list_runs():
            if run.owner == owner:
                runs += folder_size(settings.runs_dir / run.run_id)
    return DiskUse(owner, models, datasets, drawings, runs,
                   settings.limits.user_disk_mb * 1024 * 1024)


def check_quota(user: User | None, settings: Settings, adding: int = 0,
                what: str = "this") -> DiskUse | None:
    """Refuse when ``user``'s things plus ``adding`` bytes would pass their disk quota.

    ``adding`` 0 (a run about to be queued, whose size is not known yet) refuses only when
    the quota is already used up. Returns the use, or None for a trusted caller.

    Raises:
        UserError: over the quota, saying how much is used of how much, and the fix.
    """
    if user is None or not user.name:
        return None
    use = disk_use(user.name, settings)
    if use.total + adding <= use.limit and (adding or use.total < use.limit):
        return use
    fix = ("Delete models, datasets, drawings or runs of yours you no longer need. "
           f"{limit_setting('user_disk_mb')}")
    if adding:
        raise UserError(f"You use {human_bytes(use.total)} of your {human_bytes(use.limit)} "
                        f"disk quota, and {what} ({human_bytes(adding)}) would take you over "
                        f"it. {fix}")
    raise UserError(f"You use {human_bytes(use.total)} of your {human_bytes(use.limit)} disk "
                    f"quota, so {what} cannot be started: it needs room for its checkpoints, "
                    f"logs and model. {fix}")
