"""Bad input: zips of class folders (images).

Each row: the input, the exact sentence, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.corpus import (
    Case,
    an_existing_dataset,
    check_case,
    duplicated_class,
    encrypted_member,
    one_class,
    symlink_member,
    zip_upload,
)
from tests.helpers.datasets import big_pngs_zip, make_zip, picture, shapes_zip

CASES: dict[str, Case] = {
    "zip-not-a-zip": Case("data", zip_upload(b"circle,square\n"),
                          ("This is not a .zip file", "one folder per class")),
    "zip-empty": Case("data", zip_upload(b""), ("The file is empty",)),
    "zip-truncated": Case("data", zip_upload(lambda: shapes_zip()[:3_000]),
                          ("starts like a .zip but is incomplete",)),
    "zip-path-traversal": Case("data", zip_upload(lambda: make_zip(
        {"circle/a.png": picture(), "../../evil/b.png": picture(seed=1)})),
        ("climbs out of its folder", "'../../evil/b.png'")),
    "zip-absolute-path": Case("data", zip_upload(lambda: make_zip(
        {"circle/a.png": picture(), "/etc/cron.d/x.png": picture(seed=1)})),
        ("an absolute path", "'/etc/cron.d/x.png'")),
    "zip-symlink": Case("data", zip_upload(symlink_member),
                        ("symbolic link", "'circle/link.png'")),
    "zip-encrypted": Case("data", zip_upload(encrypted_member), ("password-protected",)),
    "zip-one-class": Case("data", zip_upload(one_class),
                          ("Only 1 usable class found", "at least two class folders")),
    "zip-no-class-folders": Case("data", zip_upload(lambda: make_zip(
        {"a.png": picture(), "b.png": picture(seed=1)})),
        ("Only 0 usable classes found", "a.png: not inside a class folder")),
    "zip-no-images": Case("data", zip_upload(lambda: make_zip(
        {"circle/notes.txt": b"hello", "square/list.csv": b"1,2"})),
        ("Only 0 usable classes", "not an image (PNG, JPEG, GIF, BMP or WebP)")),
    "zip-only-duplicates": Case("data", zip_upload(duplicated_class),
                                ("Only 1 usable class", "the same file as circle/0.png")),
    "zip-every-image-too-large": Case("data", zip_upload(lambda: shapes_zip(per_class=2)),
                                      ("Only 0 usable classes", "images up to 0.0001 megapixels"),
                                      env={"DASHCORE_MAX_IMAGE_PIXELS": "100"}),
    "zip-class-names-with-control-characters": Case("data", zip_upload(lambda: make_zip(
        {f"{name}/{i}.png": picture(seed=i + 9 * k) for k, name in
         enumerate(("a\u202eb", "c\x07d")) for i in range(2)})),
        ("Only 0 usable classes", "invisible or control character")),
    "zip-test-without-train": Case("data", zip_upload(lambda: make_zip(
        {f"test/{name}/{i}.png": picture(seed=i + 9 * k) for k, name in
         enumerate(("circle", "square")) for i in range(2)})),
        ("a test/ folder but no train/ folder",)),
    "zip-unknown-colour-mode": Case("data", zip_upload(shapes_zip, colour="cmyk"),
                                    ("Colour mode 'cmyk' is not offered", "'grey' or 'rgb'")),
    "zip-absurd-size": Case("data", zip_upload(shapes_zip, side=4096),
                            ("Image size 4096 is not allowed", "8 to 256")),
    "zip-name-taken": Case("data", zip_upload(shapes_zip, name="digits"),
                           ("A dataset named 'digits' already exists",),
                           setup=an_existing_dataset),
    # a zip's CPU: cheap checks first, in order of cost, before any image is decoded
    "zip-101-class-folders-of-big-images": Case("data", zip_upload(
        lambda: big_pngs_zip(classes=101, per_class=2), side=28, colour="grey"),
        ("The zip has 101 class folders; at most 100 classes are supported.",)),
    "zip-images-over-the-summed-pixel-budget": Case("data", zip_upload(
        lambda: big_pngs_zip(classes=2, per_class=3), side=28, colour="grey"),
        ("The images hold over 150 megapixels together; at most 100 megapixels",
         "DASHCORE_IMPORT_MEGAPIXELS"), env={"DASHCORE_IMPORT_MEGAPIXELS": "100"}),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_gets_a_clear_message_and_leaves_nothing_behind(
        case_id: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
        dashcore_home: Path) -> None:
    check_case(CASES[case_id], request, monkeypatch, dashcore_home)
