"""A backend: one connection to an external platform, its configuration and its lifecycle.

The model is one, its concerns live in rooms of their own, each an extension of this model:

- finance_sync_backend.py: what it is, where it sends, what it sends (profile and scope), its
  lifecycle (draft, active, paused) and the one create/write, which calls each room's checks;
- finance_sync_backend_secrets.py: credentials, signing secret, warehouse password, webhook token;
- finance_sync_backend_warehouse.py: the PostgreSQL warehouse's connection and schema;
- finance_sync_backend_broker.py: the message broker's connection, exchange and consumers' queues;
- finance_sync_backend_authority.py: the authorities, their one guard and ``_may_receive``;
- finance_sync_backend_document_source.py, finance_sync_backend_master_data.py: the document
  source, master data and the credit authority;
- finance_sync_backend_health.py: delivery limits, pacing, circuit breaker and health;
- finance_sync_backend_monitoring.py: reconciliation, late deliveries and metrics;
- finance_sync_backend_sender.py: the sender and transport, connection test, preview, backfill.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Command

from ..engine import url_guard
from ..utils import (
    allow_private_endpoints,
    check_access_after_move,
    check_guarded_fields,
    internal,
    render_message,
    without_context_defaults,
)

_logger = logging.getLogger(__name__)

# Written only by the module's own methods of every room (secret storage and rotation,
# regenerate token, pacing, circuit reset), guarded by the one create and write: a typed token
# or a rotation stamp in the future would keep an old secret or a guessable URL valid.
INTERNAL_FIELDS = {
    "webhook_token",
    "signing_secret_rotated_at",
    "auth_secret_encrypted",
    "signing_secret_encrypted",
    "signing_secret_previous_encrypted",
    "paced_until",
    "circuit_reset_at",
    "signing_secret_unseen",
    "warehouse_password_encrypted",
    "broker_password_encrypted",
    "is_document_source",  # computed from the document source flags, never written
    "connection_test_state",  # the latest connection test's outcome (Activate reads it)
    "connection_tested_at",
}
# Where the backend connects: never with a control, invisible or white space character in them.
ADDRESS_FIELDS = ("endpoint_url", "warehouse_host", "broker_url")

# Search filters of the jobs' view that buttons may open them with (the stat buttons' counts).
JOB_SEARCH_FILTERS = ("filter_pending", "filter_need_action")


def move_types(customer_invoices, vendor_bills, refunds):
    """The account.move types of these document kinds."""
    types = []
    if customer_invoices:
        types.append("out_invoice")
    if vendor_bills:
        types.append("in_invoice")
    if refunds:
        types += ["out_refund", "in_refund"]
    return types


class FinanceSyncBackend(models.Model):
    """A connection to one external platform (BI warehouse, treasury engine, billing
    or payment platform, middleware) that receives this company's finance events."""

    _name = "finance.sync.backend"
    _description = "Finance Sync Backend"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "sequence, name, id"
    _check_company_auto = True
    _check_company_domain = models.check_companies_domain_parent_of

    # === FIELDS === #

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_ids = fields.Many2many(
        "res.company",
        string="Companies",
        required=True,
        default=lambda self: self.env.company,
        tracking=True,
        help="Documents of these companies are sent to this platform; no other company's.",
    )
    environment = fields.Selection(
        [("production", "Production"), ("staging", "Staging"), ("test", "Test")],
        required=True,
        default="test",
        tracking=True,
        help="Which of the platform's environments this connection reaches. Test and staging backends wear a "
        "ribbon, so nobody mistakes them for the production connection.",
    )
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("paused", "Paused")],
        required=True,
        default="draft",
        tracking=True,
        copy=False,
        help="Draft: configured, sends and receives nothing. Active: events are captured and sent. "
        "Paused: events are captured and kept until it is resumed.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        domain="[('share', '=', False)]",
        tracking=True,
        help="Gets an activity when a blocking sync exception is raised for this backend (an internal user).",
    )

    # --- transport --------------------------------------------------------------------
    transport = fields.Selection(
        [("webhook", "Webhook (HTTPS JSON)"), ("warehouse", "PostgreSQL warehouse"), ("broker", "Message broker")],
        required=True,
        default="webhook",
        help="How events reach the platform: JSON posted to a webhook, or rows written into a PostgreSQL "
        "database that BI tools read (a star schema, see the module's documentation), or messages published to "
        "an AMQP broker (RabbitMQ) that each consumer reads from a queue of its own.",
    )
    endpoint_url = fields.Char(
        "Endpoint URL", tracking=True, help="HTTPS address the platform receives events on (JSON POST)."
    )
    inbound_event_count = fields.Integer(compute="_compute_inbound_event_count")

    mapping_set_id = fields.Many2one(
        "finance.sync.mapping.set",
        string="Mapping set",
        tracking=True,
        check_company=True,
        help="Codes this platform uses for Odoo's accounts, taxes, partners, ...; Odoo's own codes without one.",
    )

    # --- payload profile (data minimisation) --------------------------------------------
    profile_lines = fields.Boolean(
        "Send invoice lines", default=True, tracking=True, help="Each line: product, account, taxes, amounts."
    )
    profile_analytic = fields.Boolean(
        "Send analytic distribution", default=True, tracking=True, help="The analytic accounts of each line."
    )
    profile_partner_details = fields.Boolean(
        "Send partner details", default=True, tracking=True, help="VAT, country, reference and e-mail of partners."
    )
    profile_reconciliation = fields.Boolean(
        "Send payments and reconciliation",
        default=True,
        tracking=True,
        help="The payments and reconciliations of invoices, and the invoices paid by payments.",
    )
    profile_partner_vat = fields.Selection(
        [("send", "Send"), ("mask", "Mask"), ("omit", "Leave out")],
        "Partner VAT",
        default="send",
        required=True,
        tracking=True,
        help="Mask keeps the last characters only; leave out sends nothing.",
    )
    profile_partner_email = fields.Selection(
        [("send", "Send"), ("mask", "Mask"), ("omit", "Leave out")],
        "Partner e-mail",
        default="omit",
        required=True,
        tracking=True,
        help="Personal data: sent only if the platform needs it.",
    )
    profile_bank_account = fields.Selection(
        [("send", "Send"), ("mask", "Mask"), ("omit", "Leave out")],
        "Bank account numbers",
        default="mask",
        required=True,
        tracking=True,
        help="Mask keeps the last characters only; leave out sends nothing.",
    )

    # --- scope ------------------------------------------------------------------------
    send_customer_invoices = fields.Boolean(
        string="Send customer invoices",
        default=True,
        tracking=True,
        help="Posted customer invoices, and what happens to them afterwards.",
    )
    send_vendor_bills = fields.Boolean(
        string="Send vendor bills",
        default=True,
        tracking=True,
        help="Posted vendor bills, and what happens to them afterwards.",
    )
    send_credit_notes = fields.Boolean(
        "Send credit notes / refunds",
        default=True,
        tracking=True,
        help="Customer credit notes and vendor refunds, of the kinds sent above.",
    )
    send_customer_payments = fields.Boolean(
        string="Send customer payments", default=True, tracking=True, help="Payments received from customers."
    )
    send_vendor_payments = fields.Boolean(
        string="Send vendor payments", default=True, tracking=True, help="Payments made to vendors."
    )
    journal_ids = fields.Many2many(
        "account.journal",
        string="Journals",
        check_company=True,
        help="Only documents of these journals; all journals when empty.",
    )
    start_date = fields.Date(string="Start date", help="Documents dated before this day are not sent.", tracking=True)

    job_ids = fields.One2many("finance.sync.job", "backend_id")

    # === CONSTRAINTS === #

    _positive_settings = models.Constraint(
        "CHECK(timeout > 0 AND max_concurrent > 0 AND max_attempts > 0 AND circuit_threshold > 0 "
        "AND circuit_cooldown >= 0 AND signing_overlap_hours >= 0)",
        "Timeout, concurrent requests, max attempts and circuit threshold must be positive.",
    )

    @api.constrains("endpoint_url")
    def _check_endpoint_url(self):
        for backend in self.filtered("endpoint_url"):
            try:
                url_guard.check_endpoint_url(backend.endpoint_url, allow_private=allow_private_endpoints())
            except url_guard.UnsafeURLError as exc:
                reason = render_message(self.env, exc.note.code, exc.note.params)
                raise ValidationError(
                    self.env._("Endpoint URL of %(name)s refused: %(reason)s", name=backend.name, reason=reason)
                ) from None

    @api.constrains("user_id")
    def _check_user_id(self):
        for backend in self:
            if backend.user_id.share:
                raise ValidationError(
                    self.env._(
                        "The responsible of %(backend)s must be an internal user; %(user)s is not.",
                        backend=backend.name,
                        user=backend.user_id.name,
                    )
                )

    @api.constrains("state", "endpoint_url", "transport")
    def _check_active_has_endpoint(self):
        for backend in self:
            if backend.state == "active" and backend.transport == "webhook" and not backend.endpoint_url:
                raise ValidationError(
                    self.env._("Backend %s needs an endpoint URL before it can be activated.", backend.name)
                )

    # === COMPUTE METHODS === #

    def _compute_inbound_event_count(self):
        counts = dict(
            self.env["finance.sync.inbound.event"]._read_group(
                [("backend_id", "in", self.ids)], ["backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.inbound_event_count = counts.get(backend, 0)

    # === CRUD METHODS === #

    # One create and one write for the whole model: each room's checks and consequences are
    # methods of that room, called from here, so that no room overrides them again.

    @api.model
    def default_get(self, fields):
        # A context default never sets what only the module sets (what an authority depends on
        # is given or not: _check_authority_fields counts defaults as given).
        return super(FinanceSyncBackend, without_context_defaults(self, INTERNAL_FIELDS)).default_get(fields)

    @api.model_create_multi
    def create(self, vals_list):
        generated, changes = [], []
        for vals in vals_list:
            check_guarded_fields(self, vals, INTERNAL_FIELDS)
            self._check_address_characters(vals)
            changes.append(self._check_authority_fields(vals, create=True)[self.browse()])
            generated.append(self._generate_signing_secret(vals))
        backends = super().create(vals_list)
        backends._mark_generated_secrets(generated)
        backends._grant_inbound_user_companies()
        backends._post_created_authorities(changes)
        return backends

    def write(self, vals):
        check_guarded_fields(self, vals, INTERNAL_FIELDS)
        self._check_address_characters(vals)
        changes = self._check_authority_fields(vals)
        res = super().write(vals)
        self._forget_connection_test(vals)
        # A company added is one whose documents the backend will receive: the user works there too.
        check_access_after_move(self, vals, ("company_ids",))
        self._post_authority_changes(changes)
        if "company_ids" in vals:
            self._grant_inbound_user_companies()
        if "mapping_set_id" in vals or any(key.startswith("profile_") for key in vals):
            # Another set, or fewer blocks sent, may need fewer codes: render the held jobs again
            # (those still lacking one are held again and their exceptions stay open).
            self.env["finance.sync.mapping"]._release_held_jobs([("backend_id", "in", self.ids)], resolve=False)
        return res

    @api.model
    def _check_address_characters(self, vals):
        """Refuse, before anything is stored, a URL or host holding a control, invisible or white
        space character (a NUL could not even be stored): the constraints check the rest of the
        address when it is saved."""
        for fname in ADDRESS_FIELDS:
            if vals.get(fname):
                try:
                    url_guard.check_characters(vals[fname])
                except url_guard.UnsafeURLError as exc:
                    reason = render_message(self.env, exc.note.code, exc.note.params)
                    raise ValidationError(
                        self.env._("%(field)s refused: %(reason)s", field=self._fields[fname].string, reason=reason)
                    ) from None

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        return [
            dict(vals, name=self.env._("%s (copy)", backend.name))
            for backend, vals in zip(self, vals_list, strict=True)
        ]

    # === ACTION METHODS === #

    # Every action returns what XML-RPC can carry (True or an action), never None: scripts set
    # backends up over RPC (tests/test_actions.py checks every action_* method).

    def action_activate(self):
        self.write({"state": "active"})
        internal(self).write({"paced_until": False})
        self.env["finance.sync.job"]._trigger_dispatch()
        return True

    action_resume = action_activate

    def action_pause(self):
        self.state = "paused"
        return True

    def action_view_jobs(self):
        """This backend's jobs; a button may narrow them to one of the jobs' search filters
        (context key ``finance_sync_jobs_filter``, e.g. ``filter_pending``)."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_job_action")
        action["domain"] = [("backend_id", "=", self.id)]
        action["context"] = {"default_backend_id": self.id}
        job_filter = self.env.context.get("finance_sync_jobs_filter")
        if job_filter in JOB_SEARCH_FILTERS:
            action["context"][f"search_default_{job_filter}"] = 1
        return action

    def action_view_inbound_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_inbound_event_action")
        action["domain"] = [("backend_id", "=", self.id)]
        action["context"] = {}
        return action

    # === BUSINESS METHODS === #

    def _get_profile(self):
        """The payload profile as engine.profile expects it."""
        self.ensure_one()
        return {
            "lines": self.profile_lines,
            "analytic": self.profile_analytic,
            "partner_details": self.profile_partner_details,
            "reconciliation": self.profile_reconciliation,
            "partner_vat": self.profile_partner_vat,
            "partner_email": self.profile_partner_email,
            "bank_account": self.profile_bank_account,
        }

    def _get_scope_move_types(self):
        self.ensure_one()
        return move_types(self.send_customer_invoices, self.send_vendor_bills, self.send_credit_notes)

    def _get_scope_payment_types(self):
        self.ensure_one()
        return [
            t for t, on in (("inbound", self.send_customer_payments), ("outbound", self.send_vendor_payments)) if on
        ]

    def _in_scope(self, company, journal, doc_date, move_type=None, payment_type=None):
        """Whether a document with these attributes is sent to this backend."""
        return self._scope_check()(company, journal, doc_date, move_type=move_type, payment_type=payment_type)

    def _scope_check(self):
        """This backend's scope, read once, as a function of a document's attributes (for
        captures that test many documents)."""
        self.ensure_one()
        company_ids = set(self.company_ids.ids)
        journal_ids = set(self.journal_ids.ids)
        scope_move_types = set(self._get_scope_move_types())
        payment_types = set(self._get_scope_payment_types())
        start = self.start_date

        def in_scope(company, journal, doc_date, move_type=None, payment_type=None):
            return (
                company.id in company_ids
                and (not move_type or move_type in scope_move_types)
                and (not payment_type or payment_type in payment_types)
                and (not journal_ids or journal.id in journal_ids)
                and not (start and doc_date and doc_date < start)
            )

        return in_scope

    # --- the technical user inbound events are applied as -------------------------------------

    @api.model
    def _get_inbound_user(self):
        """The technical user that applies inbound events (never the superuser)."""
        return self.env.ref("finance_sync.user_inbound").sudo()

    def _inbound_env(self, records):
        """``records`` as the inbound technical user, in this backend's companies."""
        self.ensure_one()
        user = self._get_inbound_user()
        if self.company_ids - user.company_ids:
            self._grant_inbound_user_companies()
        return records.with_user(user).with_context(allowed_company_ids=self.company_ids.ids)

    def _grant_inbound_user_companies(self):
        """Give the inbound technical user access to the companies these backends serve."""
        user = self.env.ref("finance_sync.user_inbound", raise_if_not_found=False)
        companies = self.sudo().company_ids
        if user and companies - user.sudo().company_ids:
            user.sudo().write({"company_ids": [Command.link(c.id) for c in companies]})

    @api.model
    def _grant_inbound_user_all_companies(self):
        """At install and update: every existing backend's companies."""
        # All of them: a handful of configuration records.
        self.sudo().with_context(active_test=False).search([])._grant_inbound_user_companies()  # pylint: disable=no-search-all

    # --- lifecycle ----------------------------------------------------------------------------

    def _pause_gone(self, event_id):
        """The platform answered 410 Gone: pause the backend and say why in its chatter."""
        self.ensure_one()
        self.state = "paused"
        self.message_post(body=self.env._("Paused: the platform answered 410 Gone for event %s.", event_id))
