"""The local copies of object-store artefacts are bounded: older versions and the least
recently used copies are pruned after each download."""

from __future__ import annotations

import secrets
from pathlib import Path

from dashcore.artifacts import artifact_folder


def _cached(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def test_the_download_cache_stays_within_its_size_and_keeps_the_latest(tmp_path: Path) -> None:
    root = f"memory://cache-test-{secrets.token_hex(4)}"
    folder = artifact_folder(root, "models", tmp_path / "cache", cache_mb=1)
    for name in ("a.keras", "b.keras", "c.keras"):
        folder.write_bytes(name, bytes(600_000))
        assert folder.local_path(name).read_bytes() == bytes(600_000)
    kept = _cached(tmp_path / "cache")
    assert len(kept) == 1 and kept[0].startswith("c-")  # 2 × 600 kB would pass 1 MB
    folder.write_bytes("c.keras", b"a new version")
    assert folder.local_path("c.keras").read_bytes() == b"a new version"
    assert len(_cached(tmp_path / "cache")) == 1  # the old version went with it
