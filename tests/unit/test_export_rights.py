"""Starting an export costs seconds of CPU and disk: visitors may not, signed-in people may."""

from __future__ import annotations

import pytest

from dashcore.access.auth import User
from dashcore.errors import PermissionDenied
from dashcore.models import export_formats, registry
from dashcore.settings import get_settings

VISITOR = User(name=None, read_only=True)


def test_a_visitor_cannot_start_an_export_and_nothing_is_written() -> None:
    settings = get_settings()
    entry = registry.get_entry(registry.BUILTIN_ID, settings)
    with pytest.raises(PermissionDenied, match="read-only for visitors"):
        export_formats.prepare(entry, "tflite", settings, user=VISITOR)
    assert not (settings.home / "exports").exists()
