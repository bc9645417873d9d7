"""PostgreSQL for tests: a throw-away schema on the server ``DASHCORE_TEST_PG`` names.

Tests marked ``postgres`` are skipped when it is not set (the default: no services)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema (search_path), dropped at the end."""
    base = os.environ.get("DASHCORE_TEST_PG", "").strip()
    if not base:
        pytest.skip("DASHCORE_TEST_PG is not set: no PostgreSQL server to test against")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{secrets.token_hex(6)}"
    url = make_url(base).set(drivername="postgresql+psycopg")
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        yield url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.dispose()
