"""Connecting to a warehouse and creating or migrating its schema.

Migrations are the files ``migrations/NNNN_name.sql``, numbered from 1, applied in order and
never changed once released; ``{schema}`` in them stands for the target schema (quoted as an
identifier). Each applied version is a row of ``<schema>.schema_migrations``. A warehouse whose
schema is newer than the newest migration known here is refused: this code could write rows
a newer schema no longer expects.
"""

import dataclasses
import functools
import ipaddress
import pathlib
import re
import socket

import psycopg2
from psycopg2 import sql

from .. import url_guard
from ..messages import MessageError, message

MIGRATIONS_DIR = pathlib.Path(__file__).parent / "migrations"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SSLMODES = ("disable", "require", "verify-ca", "verify-full")
CONNECT_TIMEOUT = 5  # seconds, as for webhooks: a server that does not accept by then is down
APPLICATION_NAME = "finance_sync"
# A database's default schema holds whatever else the database holds: never the warehouse's.
RESERVED_SCHEMAS = frozenset({"public"})
DEFAULT_PG_PORT = 5432
# Host names of the machine itself (besides loopback addresses and socket directories).
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class SchemaError(MessageError):
    """The warehouse's schema is missing, outdated or newer than this code: nothing is applied."""


class TargetRefused(MessageError):
    """Odoo does not connect to this warehouse as it is set (connection policy): the note says what
    must change first. Nothing was sent."""


@dataclasses.dataclass(frozen=True)
class OdooDatabase:
    """Odoo's own database, which is never a warehouse: its name, where Odoo connects to it (its
    ``db_host``, empty for the local socket, and port) and the identifier of its PostgreSQL cluster
    (``pg_control_system()``, None when unknown), which tells the same server under any name."""

    name: str
    host: str | None = None
    port: int = DEFAULT_PG_PORT
    cluster: str | None = None

    def named_by(self, target, resolver=socket.getaddrinfo) -> bool:
        """Whether ``target``'s settings name this database: the same database name on the same
        port of this machine (loopback addresses, ``localhost``, a socket directory, this
        machine's names and addresses) or of Odoo's own database host."""
        if target.database != self.name or int(target.port or DEFAULT_PG_PORT) != int(self.port or DEFAULT_PG_PORT):
            return False
        return same_server(target.host, self.host, resolver)

    def is_connected_to(self, conn) -> bool:
        """Whether ``conn`` is a connection to this database (same cluster, same database name),
        whatever host name or address led there. Unknown (False) when the cluster's identifier
        cannot be read on either side."""
        if not self.cluster:
            return False
        with conn.cursor() as cr:
            try:
                cr.execute("SELECT current_database(), (SELECT system_identifier::text FROM pg_control_system())")
                database, cluster = cr.fetchone()
            except psycopg2.Error:
                conn.rollback()
                return False
        conn.rollback()
        return (database, cluster) == (self.name, self.cluster)


def _host_key(host: str | None) -> str:
    return (host or "").strip().lower().rstrip(".")


def _is_local_address(text: str) -> bool:
    """Whether ``text`` is a loopback or unspecified address (IPv4 inside IPv6 included)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return any(a.is_loopback or a.is_unspecified for a in (address, *url_guard.embedded_ipv4(address)))


def _addresses(host: str, resolver) -> set[str]:
    """The addresses ``host`` resolves to (none when it does not)."""
    try:
        infos = resolver(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return set()
    return {str(info[4][0]).split("%", 1)[0] for info in infos or ()}


_THIS_MACHINE = "this machine"


def same_server(host: str | None, odoo_host: str | None, resolver=socket.getaddrinfo) -> bool:
    """Whether the PostgreSQL host setting ``host`` reaches the server of Odoo's own database, which
    Odoo reaches at ``odoo_host`` (empty: the local socket). This machine has many names: an empty
    host, a socket directory, ``localhost``, loopback and unspecified addresses, its host names and
    whatever resolves to one of those; any other host is the same server when it is written like
    ``odoo_host`` or resolves to one of its addresses."""
    machine = {"", *LOCAL_NAMES, _host_key(socket.gethostname()), _host_key(socket.getfqdn())}
    machine_addresses = _addresses(socket.gethostname(), resolver)

    def where(value):
        """The places a host setting designates: this machine, or the addresses it resolves to."""
        if value in machine or value.startswith("/") or value.endswith(".localhost") or _is_local_address(value):
            return {_THIS_MACHINE}
        try:
            addresses = {str(ipaddress.ip_address(value.strip("[]").split("%", 1)[0]))}
        except ValueError:
            addresses = _addresses(value, resolver)
        if any(_is_local_address(address) for address in addresses) or addresses & machine_addresses:
            return {_THIS_MACHINE}
        return addresses | {value}

    key, odoo_key = _host_key(host), _host_key(odoo_host)
    return key == odoo_key or bool(where(key) & where(odoo_key))


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the warehouse is: connection settings and the schema the tables live in.

    ``hostaddr`` is the address the host was vetted at (the SSRF guard): the connection goes
    there while TLS still checks ``host``. The connection policy travels with the target and is
    checked on every connection (:meth:`check_policy`): ``require_tls`` refuses ``sslmode``
    disable (only servers set up for private endpoints lift it), ``odoo_database`` is Odoo's own
    database, never a warehouse."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = dataclasses.field(default=None, repr=False)
    sslmode: str = "require"
    schema: str = "finance_sync"
    hostaddr: str | None = None
    require_tls: bool = True
    odoo_database: OdooDatabase | None = None

    def check_policy(self, resolver=socket.getaddrinfo) -> None:
        """Raise :class:`TargetRefused` when these settings break the connection policy: control or
        white space characters in the host, the ``public`` schema, an unencrypted connection where
        encryption is required, or Odoo's own database by its name."""
        found = url_guard.unsafe_character(self.host)
        if found:
            raise TargetRefused(message("url_unsafe_character", position=found[0], character=found[1]))
        if self.schema in RESERVED_SCHEMAS:
            raise TargetRefused(message("warehouse_reserved_schema", schema=self.schema))
        if self.require_tls and self.sslmode == "disable":
            raise TargetRefused(message("warehouse_tls_required"))
        if self.odoo_database and self.odoo_database.named_by(self, resolver):
            raise TargetRefused(message("warehouse_is_odoo", target=self.describe()))

    def connect(self):
        """A new connection (not in autocommit: each event is one transaction), once the policy
        allows it (:meth:`check_policy`); a connection that reached Odoo's own database under
        another name is closed and refused."""
        check_schema_name(self.schema)
        self.check_policy()
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
        conn = psycopg2.connect(**params)
        try:
            if self.odoo_database and self.odoo_database.is_connected_to(conn):
                raise TargetRefused(message("warehouse_is_odoo", target=self.describe()))
        except BaseException:
            conn.close()
            raise
        return conn

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
