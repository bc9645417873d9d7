"""A CSV's bytes → a frame of strings, with its size known before it is parsed.

The order matters on a shared server: the byte count first (and, for a ``.zip`` or
``.gz``, the size it *claims* to unpack to, from its directory or trailer, before anything
is decompressed), then the header's column count from its first line alone, then the row
count from counting line ends, and only then the full parse. Every cell is kept as text
(``dtype=str``): :mod:`dashcore.tables.columns` decides what each column is.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import pandas as pd

from dashcore.errors import UserError
from dashcore.settings import Limits, limit_setting
from dashcore.text import name_problem

MIN_ROWS = 10  # fewer data rows than this cannot be split into training and test rows
MAX_COLUMN_NAME = 60  # characters in a column name (shown on every chart and form)
HEADER_PROBE = 1_000_000  # bytes read to find the header line and the delimiter
DELIMITERS = ",;\t|"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class CsvText:
    """A CSV file decoded to text, with what was learnt about it before parsing."""

    text: str
    delimiter: str
    columns: int  # in the header line
    rows: int  # data rows, counted from line ends (a quoted line break counts too)
    encoding: str


def _limit_bytes(limits: Limits) -> int:
    return limits.upload_mb * 1_000_000


def _human(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def _too_big(what: str, size: int, limits: Limits) -> UserError:
    return UserError(f"{what} {_human(size)}; a table may be at most "
                     f"{_human(_limit_bytes(limits))}. Upload fewer rows or columns. "
                     f"{limit_setting('upload_mb')}")


def _unzip(data: bytes, limits: Limits) -> bytes:
    """The one CSV inside a ``.zip``, after checking the size its directory claims."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UserError("The file starts like a .zip but cannot be opened: it may be "
                        "truncated. Upload the .csv itself, or zip it again.") from None
    members = [m for m in archive.infolist() if not m.is_dir()
               and not m.filename.startswith("__MACOSX/")]
    if len(members) != 1:
        raise UserError(f"The .zip holds {len(members)} files; it must hold exactly one "
                        ".csv file.")
    member = members[0]
    if member.file_size > _limit_bytes(limits):
        raise _too_big("The CSV inside the .zip says it unpacks to", member.file_size, limits)
    if member.flag_bits & 0x1:
        raise UserError("The .zip is password-protected: upload the .csv without a password.")
    with archive.open(member) as handle:
        out = handle.read(_limit_bytes(limits) + 1)  # never more than the limit, whatever it says
    if len(out) > _limit_bytes(limits):
        raise _too_big("The CSV inside the .zip unpacks to more than", len(out), limits)
    return out


def _gunzip(data: bytes, limits: Limits) -> bytes:
    """A ``.gz`` CSV, after checking the size its trailer claims; decompressed with a cap."""
    if len(data) >= 18:
        claimed = struct.unpack("<I", data[-4:])[0]  # the size modulo 4 GiB, as gzip keeps it
        if claimed > _limit_bytes(limits):
            raise _too_big("The .gz file says it unpacks to", claimed, limits)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, _limit_bytes(limits) + 1)
    except zlib.error:
        raise UserError("The .gz file is damaged or truncated: upload the .csv itself.") from None
    if len(out) > _limit_bytes(limits):
        raise _too_big("The .gz file unpacks to more than", len(out), limits)
    return out


def unpack(data: bytes, limits: Limits) -> bytes:
    """The CSV's own bytes: as given, or out of a ``.zip`` or ``.gz``, sizes checked first."""
    if len(data) > _limit_bytes(limits):
        raise _too_big("The file is", len(data), limits)
    if not data.strip():
        raise UserError("The file is empty: upload a CSV with a header line and rows.")
    if data[:4] == b"PK\x03\x04":
        return _unzip(data, limits)
    if data[:2] == b"\x1f\x8b":
        return _gunzip(data, limits)
    return data


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (with or without a BOM), else Windows-1252."""
    if b"\x00" in data[:HEADER_PROBE]:
        raise UserError("This file holds binary data, not text: save the sheet as CSV "
                        "(comma-separated values) and upload that.")
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Windows-1252"


def _header_line(text: str) -> str:
    end = text.find("\n", 0, HEADER_PROBE)
    if end < 0 and len(text) > HEADER_PROBE:
        raise UserError(f"The first line is longer than {HEADER_PROBE:,} characters: that is "
                        "not a header a table can have. Check that the file is a CSV.")
    return text[:end if end >= 0 else len(text)].rstrip("\r")


def sniff(text: str, limits: Limits) -> CsvText:
    """Delimiter, column count and row count from the header line and line ends alone."""
    header = _header_line(text)
    delimiter = max(DELIMITERS, key=header.count)
    if header.count(delimiter) == 0:
        delimiter = ","
    columns = header.count(delimiter) + 1  # an upper bound: quoted delimiters count too
    if columns > limits.table_columns:
        exact = len(next(csv.reader([header], delimiter=delimiter)))
        if exact > limits.table_columns:
            raise UserError(f"The header names {exact:,} columns; a table may have at most "
                            f"{limits.table_columns:,}. Keep the columns you need. "
                            f"{limit_setting('table_columns')}")
    rows = text.count("\n") - (1 if text.endswith("\n") else 0)
    if rows > limits.table_rows:
        raise UserError(f"The file has about {rows:,} rows; a table may have at most "
                        f"{limits.table_rows:,}. Upload a sample of the rows. "
                        f"{limit_setting('table_rows')}")
    return CsvText(text=text, delimiter=delimiter, columns=columns, rows=rows, encoding="")


def _check_header(names: list[str]) -> list[str]:
    """Column names stripped and checked: shown to others, so plain one-line text."""
    clean: list[str] = []
    for number, raw in enumerate(names, start=1):
        name = str(raw).strip() or f"column {number}"
        problem = name_problem(name)
        if problem:
            raise UserError(f"Column {number}'s name contains {problem}: column names are "
                            "shown on one line, exactly as written. Rename it and upload "
                            "again.")
        if len(name) > MAX_COLUMN_NAME:
            raise UserError(f"Column {number}'s name has {len(name)} characters; at most "
                            f"{MAX_COLUMN_NAME} are allowed. Shorten it and upload again.")
        clean.append(name)
    seen: set[str] = set()
    twice = [n for n in clean if n in seen or seen.add(n)]
    if twice:
        raise UserError(f"Column name {twice[0]!r} appears more than once: give every column "
                        "its own name.")
    return clean


def read_csv(data: bytes, limits: Limits) -> pd.DataFrame:
    """Bytes of a CSV (or a ``.zip``/``.gz`` of one) → a frame of strings; writes nothing.

    Raises:
        UserError: over a limit (bytes, claimed size, columns, rows), not text, not a
            table, a bad or repeated column name, fewer than :data:`MIN_ROWS` rows.
    """
    return read_csv_rows(data, limits, MIN_ROWS, min_columns=2)


def read_csv_rows(data: bytes, limits: Limits, min_rows: int = 1,
                  min_columns: int = 1) -> pd.DataFrame:
    """:func:`read_csv` with other minimums: new rows to predict need only one."""
    text, _encoding = decode(unpack(data, limits))
    sniffed = sniff(text, limits)
    try:
        # header=None: pandas would rename a repeated column ("a", "a.1") before we saw it
        frame = pd.read_csv(io.StringIO(text), sep=sniffed.delimiter, dtype=str, header=None,
                            keep_default_na=False, na_filter=False, skip_blank_lines=True,
                            engine="c")
    except pd.errors.ParserError as exc:
        line = str(exc).strip().splitlines()[0][:200]
        raise UserError(f"The CSV could not be read as a table ({line}). Every row needs the "
                        "same number of values as the header.") from None
    except pd.errors.EmptyDataError:
        raise UserError("The file has no header line: the first line must name the "
                        "columns.") from None
    names = [str(n) for n in frame.iloc[0]]
    frame = frame.iloc[1:].reset_index(drop=True)
    if frame.shape[1] < min_columns:
        raise UserError(f"Only one column was found (delimiter {sniffed.delimiter!r}): a table "
                        "needs a target column and at least one feature column, separated "
                        "by commas, semicolons or tabs.")
    if len(frame) < min_rows:
        raise UserError(f"The CSV has {len(frame)} data row{'s' if len(frame) != 1 else ''}; "
                        f"a model needs at least {min_rows} to learn from some and test on "
                        "others." if min_rows > 1 else "The CSV has no data rows: add the "
                        "rows to predict below the header.")
    frame.columns = _check_header(names)
    return frame
