"""Artefact folders: where saved models (and their cards) live, local or in an object store.

``DASHCORE_ARTIFACTS`` unset (the default) or a plain path: a local folder, written
atomically (temp file + ``os.replace``), as always; a shared path (NFS) works the same way.
``s3://bucket/prefix`` (or any fsspec URL): the object store, so a worker on another host
writes where the web server reads. An object PUT is atomic (readers see the old object or
the whole new one), so a file is written locally first and then uploaded in one piece.
Readers get a *local* copy (:meth:`ArtifactFolder.local_path`), cached by the object's
ETag, because Keras loads from a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from dashcore.atomic import atomic_write_bytes, atomic_write_with
from dashcore.errors import UserError


def is_remote(location: str) -> bool:
    """True for an fsspec URL other than a local path (``s3://…``, ``gs://…``, ``memory://``)."""
    return "://" in location and not location.startswith("file://")


class ArtifactFolder(Protocol):
    """A flat folder of named files (``<id>.keras``, ``<id>.json``)."""

    def location(self, name: str) -> Path | str:
        """Where ``name`` lives: a local path, or a URL."""

    def exists(self, name: str) -> bool:
        """Is there a file called ``name``?"""

    def read_bytes(self, name: str) -> bytes:
        """Its bytes; raises FileNotFoundError."""

    def write_bytes(self, name: str, data: bytes) -> None:
        """Replace it atomically with ``data``."""

    def write_with(self, name: str, write: Callable[[Path], None], suffix: str) -> None:
        """Have ``write(tmp)`` produce a local file, then put it in place atomically."""

    def names(self, suffix: str) -> list[str]:
        """Names ending in ``suffix``."""

    def delete(self, name: str) -> None:
        """Remove it (no error if absent)."""

    def size(self, name: str) -> int:
        """Its size in bytes (0 if absent), without downloading it."""

    def local_path(self, name: str) -> Path:
        """A local file with its contents (the file itself, or a cached download)."""


class LocalFolder:
    """A folder on this machine (or a shared mount)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def location(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def read_bytes(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.root / name, data)

    def write_with(self, name: str, write: Callable[[Path], None], suffix: str) -> None:
        atomic_write_with(self.root / name, write, suffix=suffix)

    def names(self, suffix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob(f"*{suffix}"))

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def size(self, name: str) -> int:
        try:
            return (self.root / name).stat().st_size
        except OSError:
            return 0

    def local_path(self, name: str) -> Path:
        return self.root / name


class RemoteFolder:
    """A prefix in an object store through fsspec, with a local download cache."""

    def __init__(self, url: str, cache: Path, cache_bytes: int) -> None:
        try:
            import fsspec

            self.fs, self.root = fsspec.core.url_to_fs(url.rstrip("/"),
                                                       use_listings_cache=False)
        except ImportError as exc:  # e.g. s3fs missing for s3://
            raise UserError(f"DASHCORE_ARTIFACTS={url} needs its fsspec driver on this host: "
                            f"pip install -e \".[s3]\" ({exc}).") from exc
        self.url = url.rstrip("/")
        self.cache = Path(cache)
        self.cache_bytes = cache_bytes  # the cache is pruned to this after each download

    def _key(self, name: str) -> str:
        return f"{self.root}/{name}"

    def location(self, name: str) -> str:
        return f"{self.url}/{name}"

    def _problem(self, exc: BaseException, doing: str) -> UserError:
        return UserError(f"The artefact store {self.url} could not be used while {doing} "
                         f"({type(exc).__name__}: {str(exc)[:200]}). Check DASHCORE_ARTIFACTS, "
                         "the credentials and that the bucket exists.")

    def exists(self, name: str) -> bool:
        try:
            return bool(self.fs.isfile(self._key(name)))
        except FileNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001 - network, credentials
            raise self._problem(exc, f"looking for {name}") from exc

    def read_bytes(self, name: str) -> bytes:
        try:
            return self.fs.cat_file(self._key(name))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, f"reading {name}") from exc

    def write_bytes(self, name: str, data: bytes) -> None:
        try:
            self.fs.pipe_file(self._key(name), data)  # one PUT: whole or not at all
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, f"saving {name}") from exc

    def write_with(self, name: str, write: Callable[[Path], None], suffix: str) -> None:
        with tempfile.TemporaryDirectory(prefix="dashcore-upload-") as folder:
            tmp = Path(folder) / f"file{suffix}"
            write(tmp)
            try:
                self.fs.put_file(str(tmp), self._key(name))
            except Exception as exc:  # noqa: BLE001
                raise self._problem(exc, f"saving {name}") from exc

    def names(self, suffix: str) -> list[str]:
        try:
            self.fs.invalidate_cache(self.root)
            listed = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, "listing saved models") from exc
        return sorted(n.rsplit("/", 1)[-1] for n in listed if n.endswith(suffix))

    def delete(self, name: str) -> None:
        try:
            self.fs.rm_file(self._key(name))
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, f"deleting {name}") from exc

    def size(self, name: str) -> int:
        try:
            return int(self.fs.info(self._key(name)).get("size") or 0)
        except FileNotFoundError:
            return 0
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, f"reading the size of {name}") from exc

    def local_path(self, name: str) -> Path:
        """Download once per version (ETag or size+time) into the cache, atomically."""
        try:
            info: dict[str, Any] = self.fs.info(self._key(name))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._problem(exc, f"reading {name}") from exc
        version = str(info.get("ETag") or (info.get("size"), info.get("LastModified")))
        digest = hashlib.sha256(f"{self.url}/{name}|{version}".encode()).hexdigest()[:16]
        stem, dot, ext = name.rpartition(".")
        target = self.cache / f"{stem}-{digest}{dot}{ext}"
        if not target.is_file():
            self.cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache, prefix=".dl-", suffix=f"{dot}{ext}")
            os.close(fd)
            try:
                self.fs.get_file(self._key(name), tmp)
                os.replace(tmp, target)
            except Exception as exc:  # noqa: BLE001
                Path(tmp).unlink(missing_ok=True)
                raise self._problem(exc, f"downloading {name}") from exc
            self._prune(keep=target, stale=f"{stem}-")
        else:
            os.utime(target)  # used now: the last to be pruned
        return target

    def _prune(self, keep: Path, stale: str) -> None:
        """Drop older versions of the file just downloaded, then the least recently used
        copies until the cache is within ``cache_bytes`` (never the one just fetched; a
        reader holding a dropped file open keeps reading it)."""
        files = []
        for path in self.cache.iterdir():
            if path == keep or path.name.startswith(".dl-") or not path.is_file():
                continue
            if path.name.startswith(stale) and path.suffix == keep.suffix:
                path.unlink(missing_ok=True)
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _mtime, size, _path in files) + keep.stat().st_size
        for _mtime, size, path in sorted(files):
            if total <= self.cache_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def artifact_folder(root: str | Path, sub: str, cache: Path, cache_mb: int) -> ArtifactFolder:
    """The ``sub`` folder of an artefact root (a local path or an fsspec URL); a remote one
    keeps at most ``cache_mb`` megabytes of local copies."""
    root = str(root)
    if is_remote(root):
        return RemoteFolder(f"{root.rstrip('/')}/{sub}", cache / sub, cache_mb * 1_000_000)
    return LocalFolder(Path(root.removeprefix("file://")) / sub)


def datasets_folder(settings: Any) -> ArtifactFolder:
    """Where uploaded datasets live (beside the models), so remote workers can read them."""
    return artifact_folder(settings.artifacts_url, "datasets", settings.home / "cache",
                           settings.limits.artifact_cache_mb)
