"""Connecting to a warehouse and creating or migrating its schema.

Migrations are the files ``migrations/NNNN_name.sql``, numbered from 1, applied in order and
never changed once released; ``{schema}`` in them stands for the target schema (quoted as an
identifier). Each applied version is a row of ``<schema>.schema_migrations``. A warehouse whose
schema is newer than the newest migration known here is refused: this code could write rows
a newer schema no longer expects.
"""

import dataclasses
import functools
import pathlib
import re

import psycopg2
from psycopg2 import sql

from ..messages import MessageError, message

MIGRATIONS_DIR = pathlib.Path(__file__).parent / "migrations"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SSLMODES = ("disable", "require", "verify-ca", "verify-full")
CONNECT_TIMEOUT = 5  # seconds, as for webhooks: a server that does not accept by then is down
APPLICATION_NAME = "finance_sync"


class SchemaError(MessageError):
    """The warehouse's schema is missing, outdated or newer than this code: nothing is applied."""


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the warehouse is: connection settings and the schema the tables live in.

    ``hostaddr`` is the address the host was vetted at (the SSRF guard): the connection goes
    there while TLS still checks ``host``."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = dataclasses.field(default=None, repr=False)
    sslmode: str = "require"
    schema: str = "finance_sync"
    hostaddr: str | None = None

    def connect(self):
        """A new connection (not in autocommit: each event is one transaction)."""
        check_schema_name(self.schema)
        params = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": APPLICATION_NAME,
        }
        if self.password:
            params["password"] = self.password
        if self.hostaddr:
            params["hostaddr"] = self.hostaddr
        return psycopg2.connect(**params)

    def describe(self) -> str:
        """``user@host:port/database`` (no password), for messages."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def check_schema_name(name: str) -> str:
    """``name`` if it is a plain lower-case SQL identifier (not a system schema); else ValueError."""
    if not isinstance(name, str) or not SCHEMA_NAME.fullmatch(name) or name.startswith("pg_"):
        raise ValueError(
            f"invalid schema name {name!r}: use lower-case letters, digits and underscores (at most 63), "
            "starting with a letter or an underscore, not pg_"
        )
    return name


@functools.cache
def migrations() -> tuple:
    """((version, name, SQL text), …) of every migration file, in order; numbers must run 1..n."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        number, _sep, name = path.stem.partition("_")
        found.append((int(number), name, path.read_text(encoding="utf-8")))
    versions = [version for version, _name, _text in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"warehouse migrations must be numbered 1..n without gaps, found {versions}")
    return tuple(found)


def latest_version() -> int:
    """The newest schema version this code writes."""
    return len(migrations())


def _format(text: str, schema: str) -> sql.Composed:
    return sql.SQL(text).format(schema=sql.Identifier(check_schema_name(schema)))


def current_version(cr, schema: str) -> int | None:
    """The warehouse's schema version: None without a ``schema_migrations`` table, else the
    highest version recorded (0 when none is)."""
    cr.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'schema_migrations'",
        [schema],
    )
    if cr.fetchone() is None:
        return None
    cr.execute(_format("SELECT COALESCE(max(version), 0) FROM {schema}.schema_migrations", schema))
    return cr.fetchone()[0]


def check_version(cr, schema: str) -> int:
    """The warehouse's schema version when it is the one this code writes; else SchemaError."""
    version = current_version(cr, schema)
    latest = latest_version()
    if version is None or version < latest:
        raise SchemaError(_not_initialized(schema, version or 0))
    if version > latest:
        raise SchemaError(_newer(schema, version))
    return version


def migrate(conn, schema: str) -> tuple[int, int]:
    """Create or bring the schema up to date, in one transaction, and return (version before,
    version after). Concurrent calls wait for each other (an advisory lock per schema). A schema
    newer than this code is refused (SchemaError) and left untouched."""
    with conn, conn.cursor() as cr:
        cr.execute("SELECT pg_advisory_xact_lock(hashtext('finance_sync.migrate'), hashtext(%s))", [schema])
        cr.execute(_format("CREATE SCHEMA IF NOT EXISTS {schema}", schema))
        cr.execute(
            _format(
                """CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())""",
                schema,
            )
        )
        before = current_version(cr, schema) or 0
        if before > latest_version():
            raise SchemaError(_newer(schema, before))
        for version, name, text in migrations()[before:]:
            cr.execute(_format(text, schema))
            cr.execute(
                _format("INSERT INTO {schema}.schema_migrations (version, name) VALUES (%s, %s)", schema),
                [version, name],
            )
    return before, latest_version()


def _not_initialized(schema, found):
    return message("warehouse_not_initialized", schema=schema, found=found, expected=latest_version())


def _newer(schema, found):
    return message("warehouse_newer", schema=schema, found=found, expected=latest_version())


@dataclasses.dataclass(frozen=True)
class Inspection:
    """What a connection test found: the schema's version and what the user may do there."""

    user: str
    version: int | None  # None: no schema_migrations table (not initialized)
    latest: int
    may_create: bool  # may create the schema (database CREATE) or objects in it (schema CREATE)
    may_write: bool  # may insert and update the tables (initialized schemas only)


def inspect(cr, schema: str) -> Inspection:
    """The schema version found in the warehouse and the user's rights there."""
    check_schema_name(schema)
    cr.execute(
        """SELECT current_user,
                  CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE')
                       ELSE has_schema_privilege(n.oid, 'CREATE') END
             FROM (SELECT 1) one
             LEFT JOIN pg_namespace n ON n.nspname = %s""",
        [schema],
    )
    user, may_create = cr.fetchone()
    version = current_version(cr, schema)
    may_write = False
    if version:
        cr.execute(
            """SELECT bool_and(has_table_privilege(c.oid, 'INSERT') AND has_table_privilege(c.oid, 'UPDATE'))
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> 'schema_migrations'""",
            [schema],
        )
        may_write = bool(cr.fetchone()[0])
    return Inspection(user, version, latest_version(), bool(may_create), may_write)
