"""CSV tables: sizes checked before parsing, column kinds, the task a target implies, the
encoder fitted on training rows only, a seeded split, and nothing stored for a bad CSV."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest

from dashcore.datasets.catalog import list_datasets, load_dataset
from dashcore.errors import UserError
from dashcore.settings import Limits, Settings
from dashcore.tables.columns import BINARY, CATEGORY, DATE, MULTICLASS, NUMBER, REGRESSION, TEXT
from dashcore.tables.encoding import DROP
from dashcore.tables.importing import TableOptions, build_table, import_table, inspect_csv
from dashcore.tables.reading import read_csv
from tests.helpers.datasets import churn_csv, houses_csv


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def test_column_kinds_and_missing_counts_are_read_from_the_cells() -> None:
    data = houses_csv().replace(b"\n50.", b"\n,", 1)  # at most one area cell emptied
    preview = inspect_csv(houses_csv(), Limits())
    kinds = {c.name: c.kind for c in preview.columns}
    assert kinds == {"area": NUMBER, "rooms": NUMBER, "city": CATEGORY, "built": DATE,
                     "note": TEXT, "price": NUMBER}
    text = b"a,b,c\n" + b"".join(b"%d,NA,x\n" % i for i in range(12)) + b",2,y\n"
    counts = {c.name: c.missing for c in inspect_csv(text, Limits()).columns}
    assert counts == {"a": 1, "b": 12, "c": 0}
    assert data  # the helper still makes a table


def test_the_target_decides_the_task() -> None:
    preview = inspect_csv(houses_csv(), Limits())
    assert preview.suggested_task("price") == REGRESSION
    assert preview.suggested_task("city") == MULTICLASS
    assert inspect_csv(churn_csv(), Limits()).suggested_task("churned") == BINARY
    with pytest.raises(UserError, match="cannot be the target"):
        preview.suggested_task("note")


def test_standardisation_uses_the_training_rows_only_and_the_split_follows_the_seed() -> None:
    preview = inspect_csv(houses_csv(), Limits())
    dataset = build_table(preview, TableOptions(target="price", seed=3))
    table = dataset.table
    area = table.encoder.features[0]
    train_area = table.raw_train["area"].astype(float).to_numpy()
    assert area.name == "area" and area.mean == pytest.approx(train_area.mean())
    all_area = preview.frame["area"].astype(float).to_numpy()
    assert area.mean != pytest.approx(all_area.mean(), abs=1e-9)  # test rows did not count
    assert dataset.x_train[:, 0].mean() == pytest.approx(0, abs=1e-5)
    assert [f.name for f in table.encoder.features] == ["area", "rooms", "city"]
    again = build_table(preview, TableOptions(target="price", seed=3))
    other = build_table(preview, TableOptions(target="price", seed=4))
    assert np.array_equal(again.x_test, dataset.x_test)
    assert not np.array_equal(other.x_test, dataset.x_test)
    assert len(dataset.x_test) == 24 and dataset.y_train.dtype == np.float32
    assert any("'note' is left out" in note for note in table.notes)


def test_a_binary_split_keeps_both_classes_on_each_side() -> None:
    dataset = build_table(inspect_csv(churn_csv(), Limits()), TableOptions(target="churned"))
    assert dataset.class_names == ("no", "yes")
    assert set(dataset.y_test.tolist()) == {0, 1} and set(dataset.y_train.tolist()) == {0, 1}
    assert dataset.input_shape == (3,)  # months, plan = basic, plan = pro


def test_missing_values_are_filled_or_their_rows_left_out() -> None:
    text = houses_csv().decode().splitlines()
    text[1] = "," + text[1].split(",", 1)[1]
    data = ("\n".join(text) + "\n").encode()
    filled = build_table(inspect_csv(data, Limits()), TableOptions(target="price"))
    dropped = build_table(inspect_csv(data, Limits()),
                          TableOptions(target="price", missing=DROP))
    assert len(filled.x_train) + len(filled.x_test) == 120
    assert len(dropped.x_train) + len(dropped.x_test) == 119
    assert any("training mean" in note for note in filled.table.notes)
    assert any("1 row(s) with a missing feature" in note for note in dropped.table.notes)


def test_a_stored_table_comes_back_from_the_catalogue(settings: Settings) -> None:
    stored = import_table("houses", houses_csv(), TableOptions(target="price"), settings)
    assert "upload:houses" in list_datasets(settings)
    loaded = load_dataset("upload:houses", settings)
    assert loaded.is_table and loaded.table.target == "price"
    assert np.array_equal(loaded.x_test, stored.x_test)
    assert list(loaded.table.raw_test.columns) == list(stored.table.raw_test.columns)
    assert loaded.table.encoder.to_dict() == stored.table.encoder.to_dict()


@pytest.mark.parametrize(("data", "sentence"), [
    (b"name,city\n" + b"".join(b"n%d,c%d\n" % (i, i % 3) for i in range(20)),
     "No column holds numbers"),
    (b"a,b\n1,2\n", "1 data row;"),
    (b",".join(b"c%d" % i for i in range(50_000)) + b"\n" + b",".join([b"1"] * 50_000),
     "The header names 50,000 columns"),
    (b"", "The file is empty"),
    (b"a,b\n" + b"1,2\n" * 5 + b"1,2,3\n" * 20, "same number of values as the header"),
    (b"x,x,y\n" + b"1,2,3\n" * 20, "'x' appears more than once"),
    (b"a\x1b[31m,b\n" + b"1,2\n" * 20, "control character"),
])
def test_a_bad_csv_gets_a_sentence_and_nothing_is_stored(settings: Settings, data: bytes,
                                                          sentence: str) -> None:
    with pytest.raises(UserError, match=sentence):
        import_table("bad", data, TableOptions(target="b"), settings)
    assert list_datasets(settings) == ["MNIST", "Fashion-MNIST"]


def two_gb_zip() -> bytes:
    """A zip whose directory claims a 2 GB CSV (the header is patched; nothing that big)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"a,b\n" + b"1,2\n" * 100)
    raw = bytearray(buffer.getvalue())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (2_000_000_000).to_bytes(4, "little")
    return bytes(raw)


def test_a_2_gb_claim_is_refused_before_anything_is_unpacked(settings: Settings) -> None:
    with pytest.raises(UserError, match="says it unpacks to 2.0 GB"):
        import_table("big", two_gb_zip(), TableOptions(target="b"), settings)
    gz = bytearray(gzip.compress(b"a,b\n" + b"1,2\n" * 100))
    gz[-4:] = (2_000_000_000).to_bytes(4, "little")
    with pytest.raises(UserError, match="says it unpacks to 2.0 GB"):
        read_csv(bytes(gz), Limits())
    assert list_datasets(settings) == ["MNIST", "Fashion-MNIST"]


def test_rows_and_bytes_are_limited_before_parsing() -> None:
    with pytest.raises(UserError, match="about 30 rows.*at most 20"):
        read_csv(b"a,b\n" + b"1,2\n" * 30, Limits(table_rows=20))
    with pytest.raises(UserError, match="The file is 1.2 MB"):
        read_csv(b"a,b\n" + b"1,2\n" * 300_000, Limits(upload_mb=1))


def test_a_zip_of_one_csv_reads_like_the_csv() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("houses.csv", houses_csv())
    assert read_csv(buffer.getvalue(), Limits()).equals(read_csv(houses_csv(), Limits()))


def test_the_owners_quota_counts_a_table(settings: Settings) -> None:
    from dataclasses import replace

    from dashcore.access.auth import User

    tight = replace(settings, limits=replace(settings.limits, user_disk_mb=0))
    with pytest.raises(UserError, match="disk quota"):
        import_table("houses", houses_csv(), TableOptions(target="price"), tight,
                     user=User(name="ann"))
    assert list_datasets(settings) == ["MNIST", "Fashion-MNIST"]


def test_a_person_runs_one_import_at_a_time(settings: Settings) -> None:
    from dashcore.access.auth import User
    from dashcore.datasets.zip_import import IMPORTS

    with IMPORTS.slot("ann", settings.limits.import_workers):
        with pytest.raises(UserError, match="You already have one import running"):
            import_table("houses", houses_csv(), TableOptions(target="price"), settings,
                         user=User(name="ann"))
    assert list_datasets(settings) == ["MNIST", "Fashion-MNIST"]
