"""The stores that hold a person's bytes, each with how it counts them: the disk quota's list.

The stores call :func:`dashcore.access.quota.check_quota` before they write, so the quota
cannot import them; this module, above both, tells it where to look. Entry points (the
router, the worker, tests, benchmarks) call :func:`count_every_store` once, next to resolving
the settings. A new store of a person's bytes adds its line here.
"""

from __future__ import annotations

from dashcore.access.quota import count_with
from dashcore.datasets.drawings import drawing_bytes
from dashcore.datasets.uploads import dataset_bytes
from dashcore.models.export_formats import export_bytes_of
from dashcore.models.registry import model_bytes
from dashcore.store.factory import run_bytes


def count_every_store() -> None:
    """Register every store of a person's bytes with the disk quota (again is harmless)."""
    count_with({"models": model_bytes, "exports": export_bytes_of, "datasets": dataset_bytes,
                "drawings": drawing_bytes, "runs": run_bytes})
