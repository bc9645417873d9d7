"""The model checker leaves nothing outside the data folder, and a .keras archive is judged
by cheap facts first: its entry count (from the zip's end record), lookup layers that name
files, and Keras's internal errors turned into sentences.

The temp-folder checks count the files in the system temp folder (``tempfile.gettempdir()``,
made private to the test through ``TMPDIR``) before and after a refused and an accepted
upload: Keras extracts a ``.keras`` with more than three members into a temporary folder and
leaves it there when a later member fails its CRC.
"""

from __future__ import annotations

import io
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from dashcore.models import upload
from dashcore.models.archive_check import UploadRefused, check_config, inspect_archive
from dashcore.settings import get_settings

ASSET = bytes(range(256)) * 1024  # 256 KB per extra member


def with_damaged_assets(keras_file: bytes) -> bytes:
    """The same model plus three asset members, the last one failing its CRC."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(keras_file)) as source, \
            zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member))
        for name in ("assets/a.bin", "assets/b.bin", "assets/c.bin"):
            target.writestr(name, ASSET)
    blob = bytearray(buffer.getvalue())
    data = blob.find(b"assets/c.bin") + len("assets/c.bin")  # its local header, then data
    blob[data + 1000: data + 1010] = b"\xff" * 10
    return bytes(blob)


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A system temp folder of our own (TMPDIR), so other processes' files do not count."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert tempfile.gettempdir() == str(folder)
    return folder


def _count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*"))


def test_refused_and_accepted_uploads_leave_no_file_in_the_system_temp_folder(
        files: dict[str, Path], system_tmp: Path, settings) -> None:  # noqa: F811
    before = _count(system_tmp)
    damaged = with_damaged_assets(files["tutorial_cnn.keras"].read_bytes())
    with pytest.raises(UploadRefused) as refused:
        upload.import_model(damaged, "assets.keras", settings=settings)
    assert refused.value.code == "load_failed"
    assert "Traceback" not in str(refused.value)
    entry = upload.import_model(files["tutorial_cnn.keras"].read_bytes(), "cnn.keras",
                                settings=settings)
    assert entry.path.is_file()
    assert _count(system_tmp) == before  # Keras's extraction went with the quarantine
    quarantine = get_settings().uploads_dir / "quarantine"
    assert not any(quarantine.iterdir())  # and the quarantine went too


def _many_members(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", "{}")
        for number in range(count):
            archive.writestr(f"assets/{number}", b"")
    return path


def test_an_archive_of_200000_members_is_refused_from_its_end_record(tmp_path: Path) -> None:
    path = _many_members(tmp_path / "many.keras", 200_000)  # zip64: over 65,535 entries
    tracemalloc.start()
    with pytest.raises(UploadRefused, match="holds 200,001 files"):
        inspect_archive(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000  # zipfile's own directory would take ~100 MB here


def test_an_archive_just_over_the_member_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadRefused, match="holds 1,001 files"):
        inspect_archive(_many_members(tmp_path / "some.keras", 1_000))


def test_a_lookup_layer_reading_a_server_file_is_refused_in_a_sentence() -> None:
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "StringLookup", "module": "keras.layers",
         "config": {"name": "lookup", "vocabulary": "/etc/passwd"}}]}}
    with pytest.raises(UploadRefused, match="reads its vocabulary from a file path") as caught:
        check_config(config)
    assert "'/etc/passwd'" in str(caught.value) and "TypeError" not in str(caught.value)
