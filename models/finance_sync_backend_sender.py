"""How a backend sends: the sender and the transport the dispatcher sends its events with, built
here from the backend's settings and secrets; and what it sends or shows outside the outbox: the
connection test (a signed ping), the payload preview and the backfill of existing documents."""

import uuid

from markupsafe import Markup

from odoo import fields, models
from odoo.exceptions import UserError

from .. import const
from ..engine import classify, redact, url_guard
from ..engine import payload as payload_lib
from ..engine.messages import DETAIL, MessageError, message
from ..engine.sender import Sender
from ..engine.transport import TransportResult, get_transport
from ..utils import allow_private_endpoints, internal, render_message

# Characters of the platform's answer a connection test quotes.
ANSWER_LIMIT = 300
# Settings a passed connection test no longer vouches for once changed.
CONNECTION_SETTINGS = frozenset(
    {
        "endpoint_url",
        "transport",
        "signing_enabled",
        "signing_secret",
        "auth_mode",
        "auth_username",
        "auth_secret",
        "warehouse_host",
        "warehouse_port",
        "warehouse_database",
        "warehouse_user",
        "warehouse_password",
        "warehouse_sslmode",
        "warehouse_schema",
    }
)


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # The latest backfill run and its progress (finance.sync.backfill.run).
    backfill_run_id = fields.Many2one("finance.sync.backfill.run", compute="_compute_backfill")
    backfill_state = fields.Selection(
        [("running", "Running"), ("done", "Done"), ("cancelled", "Cancelled")],
        "Backfill",
        compute="_compute_backfill",
        help="The latest sending of existing documents (Send existing documents): running, done or stopped.",
    )
    backfill_done = fields.Integer(
        "Existing documents sent",
        compute="_compute_backfill",
        help="Documents the latest sending of existing documents captured so far, out of those it has to send.",
    )
    backfill_total = fields.Integer("Existing documents to send", compute="_compute_backfill")
    backfill_rate = fields.Float(
        "Documents per second",
        compute="_compute_backfill",
        digits=(16, 1),
        help="How fast the running sending of existing documents captures them, since it started.",
    )
    backfill_time_left = fields.Char(
        "Time left",
        compute="_compute_backfill",
        help="At the rate so far, how long until every existing document of the running sending is captured.",
    )

    connection_test_state = fields.Selection(
        [("never", "Never run"), ("passed", "Passed"), ("failed", "Failed")],
        "Connection test",
        default="never",
        required=True,
        readonly=True,
        copy=False,
        help="The latest connection test since the connection settings last changed: Activate asks for a "
        "confirmation unless it passed.",
    )
    connection_tested_at = fields.Datetime(
        "Tested on", readonly=True, copy=False, help="When the latest connection test ran."
    )

    # === COMPUTE METHODS === #

    def _compute_backfill(self):
        runs = self.env["finance.sync.backfill.run"].search([("backend_id", "in", self.ids)], order="id desc")
        latest = {}
        for run in runs:
            latest.setdefault(run.backend_id.id, run)
        for backend in self:
            run = latest.get(backend.id, runs.browse())
            backend.backfill_run_id = run
            backend.backfill_state = run.state
            backend.backfill_done = run.done_count
            backend.backfill_total = run.total_count
            backend.backfill_rate = run.rate
            backend.backfill_time_left = run.time_left

    # === ACTION METHODS === #

    def action_test_connection(self):
        """Send a signed ``ping`` event now (outside the outbox) and show the answer: the platform's
        own words (shortened, masked), the credentials it was sent with (by name, never their
        value) and, when the platform refused them, where to look. Only users who may configure
        the backend may make it send anything. The outcome is kept: *Activate* asks for a
        confirmation unless the latest test passed."""
        self.ensure_one()
        self.check_access("write")
        if self.transport == "warehouse":
            return self._action_warehouse(initialize=False)
        if self.transport == "broker":
            return self._action_broker(initialize=False)
        if not self.endpoint_url:
            raise UserError(self.env._("Set an endpoint URL first."))
        event_id = str(uuid.uuid4())
        body = payload_lib.canonical_json(self._prepare_ping_payload(event_id))
        sender = self._prepare_sender()
        request = sender.request(event_id, body)
        with get_transport(self.transport) as transport:
            result = request if isinstance(request, TransportResult) else transport.send(request)
        ok = result.status is not None and 200 <= result.status < 300
        detail = sender.mask(result.body_excerpt)[:500]
        explanation = []
        if result.status is None:
            # What failed in words (refused on host:port, timed out, TLS, …) in the user's language;
            # the raw trace goes to the chatter only.
            note = classify.classify_error(result.error).note.masked(sender.mask)
            summary = self.env._("No answer: %s", render_message(self.env, note.code, note.without_detail().params))
            detail = note.params.get(DETAIL) or ""
        else:
            summary = self.env._("HTTP %(status)s in %(ms)s ms", status=result.status, ms=result.duration_ms)
            if not ok:
                verdict = classify.classify_status(result.status).note
                summary = f"{summary}: {render_message(self.env, verdict.code, verdict.params)}"
            answer = redact.excerpt(detail.strip(), ANSWER_LIMIT)
            explanation.append(
                render_message(self.env, "test_answer", {"body": answer})
                if answer
                else render_message(self.env, "test_answer_empty", {})
            )
            detail = ""  # quoted above
        if not isinstance(request, TransportResult):
            explanation.append(self._connection_test_credentials())
        if result.status in classify.AUTHENTICATION_STATUSES:
            hint = "test_secret_never_shown" if self.signing_enabled and self.signing_secret_unseen else None
            explanation.append(render_message(self.env, hint or "test_check_credentials", {}))
        internal(self).write(
            {"connection_test_state": "passed" if ok else "failed", "connection_tested_at": fields.Datetime.now()}
        )
        text = "\n".join([summary, *explanation])
        return self._notify_connection_test(ok, self.env._("Connection test: %s", summary), text, detail, explanation)

    def _connection_test_credentials(self):
        """Which credentials the test request carried, by name (never their value)."""
        self.ensure_one()
        parts = [render_message(self.env, "test_sent_signed" if self.signing_enabled else "test_sent_unsigned", {})]
        if self.auth_mode == "bearer":
            parts.append(render_message(self.env, "test_sent_bearer", {}))
        elif self.auth_mode == "basic":
            parts.append(render_message(self.env, "test_sent_basic", {"user": self.auth_username or ""}))
        return " ".join(parts) + "."

    def _notify_connection_test(self, ok, headline, summary, detail, explanation=()):
        """Post the outcome of a connection test in the chatter and show it in a notification
        (``ok``: True passed, False failed, None reached but not ready, e.g. a warehouse to initialize)."""
        lines = [headline, *explanation, *([detail] if detail else [])]
        self.message_post(body=Markup("<br/>").join(lines))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": (
                    self.env._("Connection OK")
                    if ok
                    else self.env._("Connected, not ready yet")
                    if ok is None
                    else self.env._("Connection failed")
                ),
                "message": summary,
                "type": "success" if ok else "warning" if ok is None else "danger",
                "sticky": not ok,
            },
        }

    def action_backfill(self):
        """Choose the dates of existing documents to send to this backend (finance.sync.backfill)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send existing documents"),
            "res_model": "finance.sync.backfill",
            "view_mode": "form",
            "target": "new",
            "context": {"default_backend_id": self.id, "default_date_from": self.start_date or False},
        }

    def action_view_backfill_run(self):
        """The latest backfill run of this backend, with its progress."""
        self.ensure_one()
        if not self.backfill_run_id:
            raise UserError(self.env._("No existing documents were sent to this backend yet."))
        return self.backfill_run_id._get_form_action()

    def action_preview_payload(self):
        """Preview the payload of this backend's latest document in scope."""
        self.ensure_one()
        document = self.env["account.move"].search(
            [
                ("company_id", "in", self.company_ids.ids),
                ("state", "=", "posted"),
                ("move_type", "in", self._get_scope_move_types() or ["out_invoice"]),
            ],
            order="date desc, id desc",
            limit=1,
        )
        return self._action_preview(document)

    def _action_preview(self, document):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Payload preview"),
            "res_model": "finance.sync.preview",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_backend_id": self.id,
                "default_document_ref": f"{document._name},{document.id}" if document else False,
            },
        }

    # === BUSINESS METHODS === #

    def _forget_connection_test(self, vals):
        """A test of other connection settings vouches for nothing: tested again before Activate."""
        if CONNECTION_SETTINGS & vals.keys():
            tested = self.filtered(lambda b: b.connection_test_state != "never")
            internal(tested).write({"connection_test_state": "never"})

    def _prepare_ping_payload(self, event_id):
        company = self.company_ids[:1] or self.env.company
        return {
            **payload_lib.envelope(event_id, const.EVENT_PING, fields.Datetime.now()),
            "company": {
                "id": company.id,
                "code": company.company_registry or None,
                "name": company.name,
                "vat": company.vat or None,
                "currency": company.currency_id.name,
            },
            "backend": {"name": self.name, "environment": self.environment},
        }

    def _prepare_sender(self):
        """What the dispatcher needs to send for this backend, read once per refresh: endpoint
        (checked by the URL guard now, not per attempt, and pinned to the address it vetted),
        decrypted secrets, credentials."""
        self.ensure_one()
        if self.transport == "warehouse":
            target, refusal = self._warehouse_target()
            secrets = (target.password,) if target.password else ()
            url = f"postgresql://{target.host}:{target.port}/{target.database}"
            return Sender(url, self.timeout, secrets=secrets, refusal=refusal, address=target.hostaddr)
        if self.transport == "broker":
            return self._prepare_broker_sender()
        refusal = address = None
        try:
            address = url_guard.pin_endpoint(self.endpoint_url, allow_private=allow_private_endpoints()).address
        except url_guard.UnsafeURLError as exc:
            refusal = exc  # a host DNS does not resolve now (UnresolvedHostError) is retried
        signing_secret = self._get_secret("signing") if self.signing_enabled else None
        if self.signing_enabled and not signing_secret:
            refusal = refusal or MessageError(message("no_signing_secret", backend=self.name))
        return Sender.build(
            self.endpoint_url,
            self.timeout,
            signing_secret=signing_secret,
            auth_mode=self.auth_mode,
            username=self.auth_username,
            auth_secret=self._get_secret("auth") if self.auth_mode != "none" else None,
            refusal=refusal,
            address=address,
        )

    def _prepare_broker_sender(self):
        """The broker's sender: the same signed envelopes (Standard Webhooks headers), no HTTP
        credentials (the broker's are the connection's), the broker password masked."""
        target, refusal = self._broker_target()
        signing_secret = self._get_secret("signing") if self.signing_enabled else None
        if self.signing_enabled and not signing_secret:
            refusal = refusal or MessageError(message("no_signing_secret", backend=self.name))
        sender = Sender.build(
            target.describe(), self.timeout, signing_secret=signing_secret, refusal=refusal, address=target.address
        )
        sender.secrets = tuple(s for s in (*sender.secrets, target.password) if s)
        return sender

    def _get_transport(self):
        """A new transport for this backend's events (a warehouse connects on first use)."""
        self.ensure_one()
        if self.transport == "warehouse":
            target, _refusal = self._warehouse_target()  # a refused host sends nothing (see the sender)
            return get_transport(
                "warehouse", target=target, source=self.env.cr.dbname, pool_maxsize=self.max_concurrent
            )
        if self.transport == "broker":
            target, _refusal = self._broker_target()  # a refused host sends nothing (see the sender)
            return get_transport("broker", broker=target, pool_maxsize=self.max_concurrent)
        # One keep-alive connection per sending thread: a backend may have more requests open than
        # its concurrency (those unanswered for a second stop counting, see the dispatcher's
        # Channel.busy), never more than the worker's sending threads; a smaller pool would drop
        # the extra connections as they come back ("Connection pool is full"). Connections are
        # opened as needed, so the size costs nothing until requests are in flight.
        return get_transport(self.transport, pool_maxsize=const.DISPATCH_MAX_THREADS)
