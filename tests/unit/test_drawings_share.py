""""Your drawings" is shared: one person's drawings cannot fill its class or drawing limits
for everyone, and an admin can clear one person's drawings."""

from __future__ import annotations

import numpy as np
import pytest

from dashcore.access.auth import User
from dashcore.datasets import drawings
from dashcore.errors import PermissionDenied, UserError
from dashcore.settings import get_settings

ANN, BOB, ADMIN = User("ann"), User("bob"), User("alice", is_admin=True)
IMAGE = np.zeros((28, 28), np.uint8)


def test_ninety_junk_classes_from_one_person_leave_room_for_everyone_elses() -> None:
    settings = get_settings()
    saved = 0
    with pytest.raises(UserError) as refused:
        for i in range(90):
            drawings.save_drawing(IMAGE, f"junk{i}", settings=settings, user=ANN)
            saved += 1
    assert saved == 20
    assert str(refused.value) == (
        "You have drawings in 20 classes of your own, your share of 'Your drawings' (20): draw "
        "one of the classes it has, or delete your drawings of a class you no longer need. "
        "This server's limit is set by DASHCORE_DRAWING_CLASSES_PER_USER.")
    drawings.save_drawing(IMAGE, "junk3", settings=settings, user=ANN)  # a class she has
    drawings.save_drawing(IMAGE, "circle", settings=settings, user=BOB)  # bob's new class
    assert "circle" in drawings.class_names_in_use(settings)


def test_one_persons_drawings_stop_at_their_share_of_the_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHCORE_DRAWINGS_PER_USER", "5")
    settings = get_settings()
    for _ in range(5):
        drawings.save_drawing(IMAGE, 3, settings=settings, user=ANN)
    with pytest.raises(UserError, match=r"You have saved 5 drawings to 'Your drawings', your "
                                        r"share of it \(5\): delete some of yours"):
        drawings.save_drawing(IMAGE, 3, settings=settings, user=ANN)
    drawings.save_drawing(IMAGE, 3, settings=settings, user=BOB)
    assert drawings.count_drawings(settings) == 6


def test_an_admin_clears_one_persons_drawings_and_keeps_everyone_elses() -> None:
    settings = get_settings()
    png = drawings_png()
    for _ in range(3):
        drawings.save_drawing(IMAGE, "junk", png, settings=settings, user=ANN)
    kept = drawings.save_drawing(IMAGE, 7, png, settings=settings, user=BOB)
    assert drawings.owners_of_drawings(settings) == {"ann": 3, "bob": 1}
    with pytest.raises(PermissionDenied, match="Only an admin can change the drawings of 'ann'"):
        drawings.delete_drawings_of("ann", settings, user=BOB)
    assert drawings.delete_drawings_of("ann", settings, user=ADMIN) == 3
    assert [d.drawing_id for d in drawings.list_drawings(settings)] == [kept.drawing_id]
    assert [p.stem for p in (settings.drawings_dir / "canvas").glob("*.png")] == [
        kept.drawing_id]


def drawings_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280)).save(buffer, "PNG")
    return buffer.getvalue()
