"""What the System panel shows: library versions, Keras backend settings, devices, disk.

The tutorials mention ``keras.json`` (``floatx``, ``epsilon``, ``image_data_format``,
backend) and whether a GPU is seen; users look for them when results differ between
machines. Disk use per data subfolder tells an administrator what to clean up.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dashcore.backend import device_names, package_version
from dashcore.settings import Settings


@dataclass(frozen=True)
class SystemInfo:
    """A snapshot for the System panel; sizes are in bytes."""

    versions: dict[str, str]  # package → version ("not installed" if absent)
    keras_config: dict[str, str]  # backend, floatx, epsilon, image_data_format
    devices: list[str]  # what the Keras backend sees, e.g. ["CPU", "GPU 0 (NVIDIA H200)"]
    cpu_count: int
    data_dir: str
    disk_use: dict[str, int] = field(default_factory=dict)  # subfolder → bytes
    disk_free: int = 0  # bytes free on the data directory's file system
    disk_total: int = 0


def folder_size(path: Path) -> int:
    """Total bytes of the files under ``path`` (0 if absent); skips links and races."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # deleted while we walked
            total += stat.st_size
    return total


def disk_use(settings: Settings) -> dict[str, int]:
    """Bytes per top-level entry of the data directory (folders summed), largest first."""
    home = settings.home
    sizes: dict[str, int] = {}
    if home.is_dir():
        for child in home.iterdir():
            if child.is_dir() and not child.is_symlink():
                sizes[child.name + "/"] = folder_size(child)
            elif child.is_file():
                sizes[child.name] = child.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def keras_settings() -> dict[str, str]:
    """Keras's backend settings, as ``~/.keras/keras.json`` or the environment set them."""
    import keras

    return {"backend": keras.backend.backend(), "floatx": keras.backend.floatx(),
            "epsilon": repr(keras.backend.epsilon()),
            "image_data_format": keras.backend.image_data_format()}


def system_info(settings: Settings) -> SystemInfo:
    """Everything the System panel shows, gathered in one call."""
    versions = {"Python": platform.python_version()}
    versions.update({name: package_version(name) for name in
                     ("keras", "tensorflow", "jax", "torch", "numpy", "h5py", "streamlit")})
    probe = settings.home if settings.home.exists() else settings.home.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return SystemInfo(versions=versions, keras_config=keras_settings(), devices=device_names(),
                      cpu_count=os.cpu_count() or 1, data_dir=str(settings.home),
                      disk_use=disk_use(settings), disk_free=usage.free,
                      disk_total=usage.total)


def human_bytes(size: float) -> str:
    """``1536`` → ``"1.5 KB"``: sizes the way people read them."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
