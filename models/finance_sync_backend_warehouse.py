"""A backend whose transport is a PostgreSQL warehouse: where the warehouse is, the policy every
connection to it follows (the host as typed and vetted by the address guard, TLS where the
server requires it, a valid schema name, never Odoo's own database), and the actions that test
the connection and create or migrate its schema. The password is one of the backend's secrets
(finance_sync_backend_secrets.py)."""

import dataclasses
import logging
import os

import psycopg2

from odoo import api, fields, models, sql_db
from odoo.exceptions import UserError, ValidationError

from ..engine import url_guard
from ..engine.messages import DETAIL
from ..engine.warehouse import schema as warehouse_schema
from ..engine.warehouse.transport import judge_test as judge_warehouse_test
from ..utils import allow_private_endpoints, internal, render_message, secret_box

_logger = logging.getLogger(__name__)

# Odoo's own database (engine.warehouse.schema.OdooDatabase) per database name, read once.
_ODOO_DATABASES = {}


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    warehouse_host = fields.Char(
        "Warehouse host",
        tracking=True,
        help="Host name or address of the PostgreSQL server of the warehouse (never Odoo's own database).",
    )
    warehouse_port = fields.Integer("Warehouse port", default=5432, tracking=True, help="PostgreSQL port.")
    warehouse_database = fields.Char("Warehouse database", tracking=True, help="Database the warehouse lives in.")
    warehouse_user = fields.Char(
        "Warehouse user",
        tracking=True,
        help="PostgreSQL role Odoo writes as: it must be able to create the schema (Initialize warehouse) "
        "and to insert and update its tables.",
    )
    warehouse_sslmode = fields.Selection(
        [(mode, mode) for mode in warehouse_schema.SSLMODES],
        string="Warehouse SSL mode",
        default="require",
        required=True,
        tracking=True,
        help="TLS to the warehouse: require encrypts, verify-ca and verify-full also check the server's "
        "certificate. disable is accepted only on servers set up for private endpoints (development).",
    )
    warehouse_schema = fields.Char(
        "Warehouse schema",
        default="finance_sync",
        required=True,
        tracking=True,
        help="Schema the warehouse tables are created in (lower-case letters, digits and underscores).",
    )

    # === CONSTRAINTS === #

    @api.constrains(
        "transport",
        "state",
        "warehouse_host",
        "warehouse_port",
        "warehouse_database",
        "warehouse_user",
        "warehouse_sslmode",
        "warehouse_schema",
    )
    def _check_warehouse(self):
        for backend in self.filtered(lambda b: b.transport == "warehouse"):
            try:
                warehouse_schema.check_schema_name(backend.warehouse_schema)
            except ValueError:
                raise ValidationError(
                    self.env._(
                        "Warehouse schema of %(name)s refused: use lower-case letters, digits and underscores "
                        "(at most 63), starting with a letter or an underscore, and not pg_.",
                        name=backend.name,
                    )
                ) from None
            if not 0 < backend.warehouse_port < 65536:
                raise ValidationError(self.env._("The warehouse port of %s must be between 1 and 65535.", backend.name))
            # The connection policy, as every connection checks it again (host as typed, TLS,
            # schema, never Odoo's own database), then the address guard on the host.
            _target, refusal = backend._warehouse_target(decrypt=False)
            if refusal is not None and (isinstance(refusal, warehouse_schema.TargetRefused) or backend.warehouse_host):
                reason = render_message(self.env, refusal.note.code, refusal.note.params)
                raise ValidationError(
                    self.env._("Warehouse of %(name)s refused: %(reason)s", name=backend.name, reason=reason)
                )
            if backend.state == "active" and not (
                backend.warehouse_host and backend.warehouse_database and backend.warehouse_user
            ):
                raise ValidationError(
                    self.env._(
                        "Backend %s needs a warehouse host, database and user before it can be activated.",
                        backend.name,
                    )
                )

    # === ACTION METHODS === #

    def action_initialize_warehouse(self):
        """Create the warehouse schema, or migrate it to the version this module writes."""
        self.ensure_one()
        self.check_access("write")
        if self.transport != "warehouse":
            raise UserError(self.env._("Only PostgreSQL warehouse backends have a warehouse to initialize."))
        return self._action_warehouse(initialize=True)

    def _action_warehouse(self, initialize):
        """Connect to the warehouse, then initialize (migrate) it or report its schema version and
        the user's rights; the outcome goes to the chatter and a notification."""
        target, refusal = self._warehouse_target()
        if not (target.host and target.database and target.user):
            raise UserError(self.env._("Set the warehouse host, database and user first."))
        if refusal is not None:
            raise UserError(render_message(self.env, refusal.note.code, refusal.note.params))
        ok, explanation = False, []
        try:
            conn = target.connect()
            try:
                if initialize:
                    ok, summary = True, self._warehouse_initialized(*warehouse_schema.migrate(conn, target.schema))
                else:
                    with conn, conn.cursor() as cr:
                        ok, summary = self._warehouse_inspected(warehouse_schema.inspect(cr, target.schema))
            finally:
                conn.close()
        except (warehouse_schema.SchemaError, warehouse_schema.TargetRefused) as exc:
            summary = render_message(self.env, exc.note.code, exc.note.params)
        except psycopg2.Error as exc:
            # No event is involved: the outcome in words of its own, with the server's reason.
            note = judge_warehouse_test(exc, target)
            summary = render_message(self.env, note.code, note.without_detail().params)
            reason = note.params.get(DETAIL) or ""
            if reason:
                explanation.append(render_message(self.env, "warehouse_test_said", {"reason": reason}))
        if initialize:
            headline = self.env._("Warehouse initialization: %s", summary)
        else:
            headline = self.env._("Connection test: %s", summary)
            internal(self).write(
                {"connection_test_state": "passed" if ok else "failed", "connection_tested_at": fields.Datetime.now()}
            )
        text = "\n".join([summary, *explanation])
        return self._notify_connection_test(ok, headline, text, "", explanation)

    def _warehouse_initialized(self, before, after):
        if before == after:
            return self.env._("The warehouse schema is up to date (version %s).", after)
        return self.env._("Warehouse schema migrated from version %(before)s to %(after)s.", before=before, after=after)

    def _warehouse_inspected(self, found):
        """(whether the warehouse is ready, what the test found in words)."""
        connected = self.env._("Connected as %s.", found.user)
        if found.version is None:
            # Reached and ready to be set up: not a failure (None: the notification is a warning).
            if found.may_create:
                return None, " ".join(
                    (
                        connected,
                        self.env._("The warehouse is not initialized yet: press Initialize warehouse."),
                        self.env._("The user may create it."),
                    )
                )
            return False, " ".join(
                (
                    connected,
                    self.env._("The warehouse is not initialized yet, and this user may not create its schema:"),
                    self.env._("grant it CREATE on the database, or initialize it as a user who may."),
                )
            )
        version = self.env._(
            "Schema version %(version)s found; this module writes version %(latest)s.",
            version=found.version,
            latest=found.latest,
        )
        if found.version < found.latest:
            return None, " ".join((connected, version, self.env._("Press Initialize warehouse to migrate it.")))
        if found.version != found.latest:
            return False, f"{connected} {version}"
        if not found.may_write:
            return False, " ".join((connected, version, self.env._("The user may not write the warehouse tables.")))
        return True, " ".join((connected, version, self.env._("The user may write the warehouse tables.")))

    # === BUSINESS METHODS === #

    def _warehouse_pin(self):
        """The warehouse host checked by the URL guard, as an endpoint on its port would be."""
        host = self.warehouse_host or ""
        url_guard.check_characters(host)  # as typed: a line break or a space is refused, not trimmed
        host = host.strip()
        literal = f"[{host}]" if ":" in host else host
        return url_guard.pin_endpoint(
            f"https://{literal}:{self.warehouse_port}/", allow_private=allow_private_endpoints()
        )

    def _warehouse_target(self, decrypt=True):
        """(where the warehouse is, with the decrypted password, the vetted address and the
        connection policy; why Odoo refuses to connect there, or None). The policy is the one of
        this server now: checked here, when the dispatcher prepares to send, and again by the
        target on every connection (``Target.connect``)."""
        self.ensure_one()
        token = self.sudo().warehouse_password_encrypted if decrypt else None
        target = warehouse_schema.Target(
            host=(self.warehouse_host or "").strip(),
            port=self.warehouse_port,
            database=self.warehouse_database or "",
            user=self.warehouse_user or "",
            password=secret_box(self.env).decrypt(token) if token else None,
            sslmode=self.warehouse_sslmode,
            schema=self.warehouse_schema,
            require_tls=not allow_private_endpoints(),
            odoo_database=self._odoo_database(),
        )
        try:
            target.check_policy()
            target = dataclasses.replace(target, hostaddr=self._warehouse_pin().address)
        except (warehouse_schema.TargetRefused, url_guard.UnsafeURLError) as exc:
            return target, exc
        return target, None

    @api.model
    def _odoo_database(self):
        """Odoo's own database (name, host, port, cluster), which no warehouse may be; read once per
        database and process."""
        dbname = self.env.cr.dbname
        if dbname not in _ODOO_DATABASES:
            _name, info = sql_db.connection_info_for(dbname)
            self.env.cr.execute("SELECT current_setting('port')::int")
            port = self.env.cr.fetchone()[0]
            cluster = None
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute("SELECT system_identifier::text FROM pg_control_system()", log_exceptions=False)
                    cluster = self.env.cr.fetchone()[0]
            except psycopg2.Error:
                _logger.info("finance_sync: the cluster identifier of this database is not readable")
            _ODOO_DATABASES[dbname] = warehouse_schema.OdooDatabase(
                name=dbname, host=info.get("host") or os.environ.get("PGHOST"), port=port, cluster=cluster
            )
        return _ODOO_DATABASES[dbname]
