"""Apply migrations/NNNN_name.sql in order, each in its own transaction, under an advisory lock.

Each applied migration's checksum is recorded; a file changed after it was applied is refused at start-up
(forward-only: a change belongs in a new migration), because the database no longer matches the code.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from agentmem.core.errors import ConfigurationError

log = logging.getLogger("agentmem.core.migrate")

# Any constant works; all replicas must agree on it. ("agentmem" in ASCII.)
MIGRATION_LOCK_ID = 0x6167656E746D656D
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        """SHA-256 of the text with line endings normalised (a checkout with CRLF is the same file)."""
        return hashlib.sha256(self.sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


class MigrationChanged(ConfigurationError):
    """An applied migration's file differs from what was applied: refuse to run on a schema we cannot vouch for."""


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("agentmem.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {versions}")
    return found


def migrate(url: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Bring the database up to date; returns the migrations this call applied. `migrations`: the files
    to apply (default: the package's)."""
    applied: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            # Databases migrated before checksums were kept: the files of today are taken as what was applied.
            conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
            available = available_migrations() if migrations is None else migrations
            _record_missing_checksums(conn, available)
            done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            check_unchanged(available, done)
            for migration in available:
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied


def _record_missing_checksums(conn: psycopg.Connection[Any], available: list[Migration]) -> None:
    for migration in available:
        conn.execute("UPDATE schema_migrations SET checksum = %s WHERE version = %s AND checksum IS NULL",
                     (migration.checksum, migration.version))


def check_unchanged(available: list[Migration], applied: dict[int, str | None]) -> None:
    """Raise MigrationChanged, saying what to do, when a file differs from the one that was applied."""
    changed = [m for m in available if m.version in applied and applied[m.version] not in (None, m.checksum)]
    if changed:
        names = ", ".join(f"migrations/{m.file_name}" for m in changed)
        raise MigrationChanged(
            f"{names} changed after being applied to this database (checksums differ). Migrations are "
            "forward-only: restore the file as it was (e.g. `git log -p -- migrations/`) and put the change in a "
            "new migration; or, for a throwaway development database, remove it (AGENTMEM_DATA_DIR or "
            "DATABASE_URL) and start again."
        )


def applied_versions(conn: psycopg.Connection[Any]) -> list[int]:
    return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
