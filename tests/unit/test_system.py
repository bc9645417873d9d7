"""The System panel reports what the tutorials' keras.json sets and where the disk goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.backend import package_version
from dashcore.settings import get_settings
from dashcore.system import disk_use, human_bytes, system_info

pytestmark = pytest.mark.backends  # CI runs it on JAX without TensorFlow too


def test_versions_and_keras_backend_settings_are_reported(settings) -> None:
    import keras

    backend = keras.backend.backend()
    info = system_info(settings)
    assert info.versions["keras"] == keras.__version__
    assert info.versions[backend] == package_version(backend) != "not installed"
    assert info.keras_config == {"backend": backend, "floatx": keras.backend.floatx(),
                                 "epsilon": repr(keras.backend.epsilon()),
                                 "image_data_format": keras.backend.image_data_format()}
    assert info.devices[0] == "CPU"
    assert info.cpu_count >= 1 and info.disk_total >= info.disk_free > 0


def test_disk_use_is_counted_per_data_folder(dashcore_home: Path) -> None:
    settings = get_settings().ensure_dirs()
    (settings.models_dir / "a.keras").write_bytes(b"x" * 3000)
    (settings.models_dir / "a.json").write_bytes(b"{}")
    (settings.uploads_dir / "nested").mkdir()
    (settings.uploads_dir / "nested" / "b.bin").write_bytes(b"y" * 100)
    use = disk_use(settings)
    assert use["models/"] == 3002 and use["uploads/"] == 100 and use["runs/"] == 0
    assert list(use)[0] == "models/"  # largest first
    info = system_info(settings)
    assert info.data_dir == str(dashcore_home) and info.disk_use["models/"] == 3002


def test_a_missing_data_folder_reports_nothing_used(settings) -> None:
    assert disk_use(settings) == {}
    assert system_info(settings).disk_free > 0


def test_sizes_read_the_way_people_read_them() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(5 * 2**30) == "5.0 GB"
