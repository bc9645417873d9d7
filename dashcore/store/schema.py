"""The run store's tables and their migrations: a small versioned equivalent of Alembic.

Each migration is a list of plain DDL statements that SQLite and PostgreSQL both accept;
``schema_version`` records the highest one applied. :func:`migrate` applies the missing
ones in order, inside one transaction, under a lock (PostgreSQL: an advisory lock; SQLite:
the write lock ``BEGIN IMMEDIATE`` takes), so two servers starting at once migrate once.
A store file written before versioning existed has the version-1 tables already; the
``IF NOT EXISTS`` clauses make version 1 a no-op there.

Why not Alembic: six tables' worth of DDL, no autogenerate needed, and one code path that
runs at every open (workers included) without an ``alembic.ini`` to ship. Add a migration
by appending to :data:`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)

# Versioned DDL. Types are those both databases understand (SQLite maps DOUBLE PRECISION
# to REAL and BIGINT to INTEGER).
MIGRATIONS: list[list[str]] = [
    [  # 1: runs, per-batch and per-epoch points (the schema of the first SQLite store)
        """CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            config TEXT NOT NULL,
            dataset TEXT NOT NULL DEFAULT '',
            architecture TEXT NOT NULL DEFAULT '',
            created DOUBLE PRECISION NOT NULL,
            started DOUBLE PRECISION,
            finished DOUBLE PRECISION,
            reason TEXT,
            pid BIGINT,
            pid_created DOUBLE PRECISION,
            stop_requested INTEGER NOT NULL DEFAULT 0,
            progress TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL DEFAULT '{}',
            owner TEXT)""",
        "CREATE INDEX IF NOT EXISTS runs_status ON runs(status)",
        """CREATE TABLE IF NOT EXISTS batch_points (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, step))""",
        """CREATE TABLE IF NOT EXISTS epoch_points (
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, epoch))""",
    ],
    [  # 2: which job backend started a run (local process or Ray job), and when Stop was
        # pressed (a Ray job that has not stopped itself after a grace period is ended)
        "ALTER TABLE runs ADD COLUMN backend TEXT NOT NULL DEFAULT 'local'",
        "ALTER TABLE runs ADD COLUMN stop_requested_at DOUBLE PRECISION",
        "ALTER TABLE runs ADD COLUMN host TEXT",  # where a local worker runs (its pid's host)
    ],
    [  # 3: wrong-password counts per sign-in key, shared by every server on the database
        """CREATE TABLE IF NOT EXISTS sign_in_failures (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            failures INTEGER NOT NULL,
            locked_until DOUBLE PRECISION NOT NULL,
            last_failure DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (kind, value))""",
        "CREATE INDEX IF NOT EXISTS sign_in_failures_last ON sign_in_failures(last_failure)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

# The tables as SQLAlchemy Core sees them at the newest version (for queries only; the
# DDL above is what creates them).
metadata = MetaData()
runs = Table(
    "runs", metadata,
    Column("run_id", Text, primary_key=True), Column("name", Text), Column("status", Text),
    Column("config", Text), Column("dataset", Text), Column("architecture", Text),
    Column("created", Float), Column("started", Float), Column("finished", Float),
    Column("reason", Text), Column("pid", Integer), Column("pid_created", Float),
    Column("stop_requested", Integer), Column("progress", Text), Column("summary", Text),
    Column("owner", Text), Column("backend", Text), Column("stop_requested_at", Float),
    Column("host", Text),
)
batch_points = Table(
    "batch_points", metadata, Column("run_id", Text, primary_key=True),
    Column("step", Integer, primary_key=True), Column("data", Text))
epoch_points = Table(
    "epoch_points", metadata, Column("run_id", Text, primary_key=True),
    Column("epoch", Integer, primary_key=True), Column("data", Text))

sign_in_failures = Table(
    "sign_in_failures", metadata, Column("kind", Text, primary_key=True),
    Column("value", Text, primary_key=True), Column("failures", Integer),
    Column("locked_until", Float), Column("last_failure", Float))

RUN_COLUMNS = tuple(column.name for column in runs.columns)
JSON_COLUMNS = ("config", "progress", "summary")
_MIGRATION_LOCK = 0x64617368  # "dash": PostgreSQL advisory lock key for migrations


class SchemaTooNew(Exception):
    """The database was migrated by a newer workbench than this one."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def schema_version(conn: Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
    return int(conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
               .scalar_one())


def migrate(conn: Connection) -> int:
    """Apply the missing migrations in order inside the caller's transaction; returns the
    version now in place. Refuses a database written by a newer workbench."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(current)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version - 1]:
            conn.execute(text(statement))
        conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
    return max(current, SCHEMA_VERSION)

