import dataclasses
import logging
import os
import secrets as pysecrets
import uuid
from datetime import timedelta

import psycopg2
from markupsafe import Markup
from psycopg2 import errors

from odoo import api, fields, models, sql_db
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tools import config

from .. import const
from ..engine import budget, classify, redact, signing, url_guard
from ..engine import payload as payload_lib
from ..engine.circuit import Circuit
from ..engine.messages import DETAIL, MessageError, message
from ..engine.sender import Sender
from ..engine.transport import DEFAULT_TIMEOUT, TransportResult, get_transport
from ..engine.warehouse import schema as warehouse_schema
from ..engine.warehouse.transport import judge as judge_warehouse_error
from ..utils import (
    allow_private_endpoints,
    check_access_after_move,
    check_guarded_fields,
    internal,
    render_message,
    secret_box,
    without_context_defaults,
)

_logger = logging.getLogger(__name__)

SECRET_FIELDS = {
    # write-only UI field -> encrypted stored field
    "auth_secret": "auth_secret_encrypted",
    "signing_secret": "signing_secret_encrypted",
    "warehouse_password": "warehouse_password_encrypted",
}
# Written only by the module's own methods (secret storage and rotation, regenerate token,
# pacing, circuit reset): a typed token or a rotation stamp in the future would keep an old
# secret or a guessable URL valid.
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
    "is_document_source",  # computed from the document source flags, never written
}

# --- Authorities -------------------------------------------------------------------------------
# A platform's word moves money (payment authority), writes documents into the ledger (document
# source) or sets customers' credit (credit authority) only when its backend is that authority.
# Making it one, and everything its word then depends on, is an accounting administrator's
# decision: a Finance Sync administrator configures connections, never authority.
PAYMENT, DOCUMENTS, CREDIT = "payment", "documents", "credit"
AUTHORITIES = (PAYMENT, DOCUMENTS, CREDIT)
# What makes a backend each authority: these flags, which only accounting administrators set,
# and nothing else (no computed or stored copy of them).
AUTHORITY_FLAGS = {
    PAYMENT: ("payment_authority",),
    DOCUMENTS: ("document_source_invoices", "document_source_bills"),
    CREDIT: ("credit_authority",),
}
# {field: authority}: what each authority depends on, in one place. ``_check_authority_fields``
# applies it on every path (create, write, the inverses of the write-only secrets, copy, and the
# actions that renew the webhook token or reveal a secret). A field of one authority (a string)
# makes it or says what its word does: changing it needs accounting administrator rights on every
# backend. A field of several (a tuple) needs them while the backend is, or becomes, one of those:
# whoever knows its secrets or its webhook token speaks in its name; its companies and its mapping
# set decide where its documents are booked and whose credit it decides.
AUTHORITY_FIELDS = {
    "payment_authority": PAYMENT,
    "payment_journal_id": PAYMENT,
    "payment_authority_invoices": PAYMENT,
    "payment_authority_bills": PAYMENT,
    "payment_authority_refunds": PAYMENT,
    "document_source_invoices": DOCUMENTS,
    "document_source_bills": DOCUMENTS,
    "document_posting_policy": DOCUMENTS,
    "document_sale_journal_id": DOCUMENTS,
    "document_purchase_journal_id": DOCUMENTS,
    "credit_authority": CREDIT,
    "signing_secret": AUTHORITIES,
    "signing_overlap_hours": AUTHORITIES,
    "auth_username": AUTHORITIES,
    "auth_secret": AUTHORITIES,
    "webhook_token": AUTHORITIES,
    "company_ids": AUTHORITIES,
    "mapping_set_id": (DOCUMENTS, CREDIT),
}
# Inbound events only an authority may send: {event type: (authority, flags of which one must be
# set)}. Any other event may come from any backend: a payment.status is recorded from every
# platform, and only a payment authority's succeeded payments are registered, for the kinds of
# documents it pays (finance.sync.external.payment._register_payment).
INBOUND_AUTHORITIES = {
    const.INBOUND_INVOICE_CREATE: (DOCUMENTS, ("document_source_invoices",)),
    const.INBOUND_BILL_CREATE: (DOCUMENTS, ("document_source_bills",)),
    const.INBOUND_APPROVAL_STATUS: (DOCUMENTS, AUTHORITY_FLAGS[DOCUMENTS]),
    const.INBOUND_PARTNER_CREDIT: (CREDIT, AUTHORITY_FLAGS[CREDIT]),
}
# Where the backend connects: never with a control, invisible or white space character in them.
ADDRESS_FIELDS = ("endpoint_url", "warehouse_host")
ACCOUNTING_ADMIN_GROUP = "account.group_account_manager"


def new_webhook_token():
    """An unguessable token for a backend's inbound webhook URL."""
    return pysecrets.token_urlsafe(24)


# Odoo's own database (engine.warehouse.schema.OdooDatabase) per database name, read once.
_ODOO_DATABASES = {}

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
        [("webhook", "Webhook (HTTPS JSON)"), ("warehouse", "PostgreSQL warehouse")],
        required=True,
        default="webhook",
        help="How events reach the platform: JSON posted to a webhook, or rows written into a PostgreSQL "
        "database that BI tools read (a star schema, see the module's documentation).",
    )
    endpoint_url = fields.Char(
        "Endpoint URL", tracking=True, help="HTTPS address the platform receives events on (JSON POST)."
    )
    auth_mode = fields.Selection(
        [("none", "None"), ("bearer", "Bearer token"), ("basic", "Basic (user + password)")],
        string="Authentication",
        required=True,
        default="none",
        tracking=True,
        help="How Odoo proves who it is to the platform, besides the signature of each event.",
    )
    auth_username = fields.Char("User name", tracking=True, help="For Basic authentication.")
    auth_secret = fields.Char(
        "Token / password",
        compute="_compute_write_only_secrets",
        inverse="_inverse_auth_secret",
        readonly=False,
        help="Write-only: stored encrypted, never shown again.",
    )
    auth_secret_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    has_auth_secret = fields.Boolean(
        compute="_compute_has_secrets", help="A token or password is stored (it is never shown)."
    )
    signing_enabled = fields.Boolean(
        "Sign with Standard Webhooks",
        default=True,
        tracking=True,
        help="Adds webhook-id, webhook-timestamp and webhook-signature (HMAC-SHA256) headers.",
    )
    signing_secret = fields.Char(
        "Signing secret",
        compute="_compute_write_only_secrets",
        inverse="_inverse_signing_secret",
        readonly=False,
        help="Write-only whsec_… secret shared with the platform, used to sign outbound and verify inbound events.",
    )
    signing_secret_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    signing_secret_previous_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    signing_secret_rotated_at = fields.Datetime(
        "Secret rotated on", readonly=True, copy=False, help="When the signing secret was last replaced."
    )
    signing_overlap_hours = fields.Integer(
        "Rotation overlap (hours)",
        default=const.DEFAULT_SECRET_OVERLAP_HOURS,
        help="After a rotation the previous secret stays valid this long, so the platform can switch over.",
    )
    signing_secret_unseen = fields.Boolean(
        "Generated secret not shown yet",
        readonly=True,
        copy=False,
        help="Odoo generated the signing secret and nobody has seen it: show it once and give it to the platform.",
    )
    has_signing_secret = fields.Boolean(
        compute="_compute_has_secrets", help="A signing secret is stored (it is never shown)."
    )
    # --- PostgreSQL warehouse (transport "warehouse") --------------------------------------
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
    warehouse_password = fields.Char(
        "Warehouse password",
        compute="_compute_write_only_secrets",
        inverse="_inverse_warehouse_password",
        readonly=False,
        help="Write-only: stored encrypted, never shown again.",
    )
    warehouse_password_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    has_warehouse_password = fields.Boolean(
        compute="_compute_has_secrets", help="A warehouse password is stored (it is never shown)."
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
    webhook_token = fields.Char(
        copy=False,
        readonly=True,
        index="btree_not_null",
        default=lambda self: new_webhook_token(),
        groups="finance_sync.finance_sync_group_admin",
        help="Unguessable part of this backend's inbound webhook URL, generated by Odoo (Regenerate). "
        "Treat it as a secret: anyone who has it can reach the endpoint (signatures are still checked).",
    )
    inbound_url = fields.Char(
        "Inbound webhook URL",
        compute="_compute_inbound_url",
        groups="finance_sync.finance_sync_group_admin",
        help="Where the platform posts its signed status updates (delivery, payment and invoice status).",
    )
    payment_authority = fields.Boolean(
        "Payment authority",
        tracking=True,
        help="The platform collects payments for Odoo's documents: a succeeded payment it reports is "
        "registered in Odoo (once per platform reference) in the payment journal below, for the kinds of "
        "documents chosen below. Only accounting administrators may change this, the journal, the kinds of "
        "documents and, while it is set, the secrets; accounting administrators are told of each change.",
    )
    payment_journal_id = fields.Many2one(
        "account.journal",
        "Payment journal",
        domain="[('type', 'in', ('bank', 'cash', 'credit'))]",
        tracking=True,
        check_company=True,
        help="Journal of the payments registered for this platform.",
    )
    payment_authority_invoices = fields.Boolean(
        "Pays customer invoices",
        default=True,
        tracking=True,
        help="Register the platform's payments of customer invoices (inbound customer payments).",
    )
    payment_authority_bills = fields.Boolean(
        "Pays vendor bills",
        tracking=True,
        help="Register the platform's payments of vendor bills (outbound supplier payments). "
        "Without it, a payment reported for a vendor bill is a conflict and nothing is registered.",
    )
    payment_authority_refunds = fields.Boolean(
        "Pays credit notes",
        tracking=True,
        help="Register the platform's refunds of customer credit notes (outbound customer payments) and of "
        "vendor credit notes (inbound supplier payments). Without it, they are conflicts.",
    )
    can_manage_payment_authority = fields.Boolean(
        compute="_compute_can_manage_payment_authority",
        help="Whether the current user may make a backend an authority (payment, documents, credit) and change "
        "what an authority depends on (its secrets, webhook token, companies, mapping set).",
    )
    is_authority = fields.Boolean(
        compute="_compute_is_authority",
        help="The platform's word moves money, creates documents or sets credit in Odoo: its settings and secrets "
        "are the accounting administrators'.",
    )
    inbound_event_count = fields.Integer(compute="_compute_inbound_event_count")

    mapping_set_id = fields.Many2one(
        "finance.sync.mapping.set",
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
        default=True, tracking=True, help="Posted customer invoices, and what happens to them afterwards."
    )
    send_vendor_bills = fields.Boolean(
        default=True, tracking=True, help="Posted vendor bills, and what happens to them afterwards."
    )
    send_credit_notes = fields.Boolean(
        "Send credit notes / refunds",
        default=True,
        tracking=True,
        help="Customer credit notes and vendor refunds, of the kinds sent above.",
    )
    send_customer_payments = fields.Boolean(default=True, tracking=True, help="Payments received from customers.")
    send_vendor_payments = fields.Boolean(default=True, tracking=True, help="Payments made to vendors.")
    journal_ids = fields.Many2many(
        "account.journal",
        string="Journals",
        check_company=True,
        help="Only documents of these journals; all journals when empty.",
    )
    start_date = fields.Date(help="Documents dated before this day are not sent.", tracking=True)
    timeout = fields.Integer(
        "Timeout (s)",
        default=DEFAULT_TIMEOUT,
        help="How long one request may wait for the platform's answer. It must fit the dispatcher's time budget, "
        "which follows the server's cron time limit.",
    )
    max_concurrent = fields.Integer(
        "Max concurrent requests",
        default=const.DEFAULT_MAX_CONCURRENT,
        help="Requests sent to this platform at the same time by one dispatcher worker (1 = one at a time). "
        "Events of one document always go one after the other, in order.",
    )
    max_attempts = fields.Integer(
        default=const.DEFAULT_MAX_ATTEMPTS,
        help="Tries of one event, with growing waits between them; after the last one the event waits for a "
        "person (an exception tells who and why).",
    )
    paced_until = fields.Datetime(
        "Slowed down until",
        readonly=True,
        copy=False,
        help="The platform answered 429 or sent Retry-After: no request to it starts before this moment.",
    )

    # --- circuit breaker -----------------------------------------------------------------
    # Derived from the attempt log, never written by the dispatcher: two workers sending for
    # the same backend never update a shared row (no serialization failures, no lost counts).
    circuit_state = fields.Selection(
        [("closed", "Delivering"), ("open", "Stopped after failures"), ("half_open", "Trying again")],
        compute="_compute_circuit",
        help="Open: too many consecutive transport failures; nothing is sent until the cool-down passes, "
        "then one job probes the platform.",
    )
    circuit_threshold = fields.Integer(
        "Failures before opening",
        default=const.DEFAULT_CIRCUIT_THRESHOLD,
        help="Consecutive failures to reach the platform after which sending stops for the cool-down.",
    )
    circuit_cooldown = fields.Integer(
        "Cool-down (s)",
        default=const.DEFAULT_CIRCUIT_COOLDOWN,
        help="Seconds without sending after the circuit opens; then one event tries the platform again.",
    )
    circuit_reset_at = fields.Datetime(
        readonly=True, copy=False, help="Failures before this moment no longer count (Close circuit button)."
    )
    consecutive_failures = fields.Integer(
        compute="_compute_circuit", help="Failed requests in a row since the last success."
    )
    circuit_open_until = fields.Datetime(
        "Stopped until", compute="_compute_circuit", help="When the platform is tried again."
    )
    last_success_at = fields.Datetime(compute="_compute_circuit", help="When the platform last accepted an event.")

    job_ids = fields.One2many("finance.sync.job", "backend_id")
    # === CONSTRAINTS === #

    _positive_settings = models.Constraint(
        "CHECK(timeout > 0 AND max_concurrent > 0 AND max_attempts > 0 AND circuit_threshold > 0 "
        "AND circuit_cooldown >= 0 AND signing_overlap_hours >= 0)",
        "Timeout, concurrent requests, max attempts and circuit threshold must be positive.",
    )
    _webhook_token_uniq = models.UniqueIndex("(webhook_token)", "Webhook tokens must be unique.")

    @api.constrains("timeout", "max_concurrent")
    def _check_delivery_settings(self):
        limit = budget.server_limit(
            config["limit_time_real_cron"], config["limit_time_real"], config["limit_time_cpu"], bool(config["workers"])
        )
        for backend in self:
            if not budget.fits(backend.timeout, limit):
                raise ValidationError(
                    self.env._(
                        "The timeout of %(name)s (%(timeout)s s) does not fit the dispatcher's time budget: "
                        "a dispatcher run lasts at most %(budget)s s under this server's cron time limit of "
                        "%(limit)s s (limit_time_real_cron, or limit_time_real), and must have room for two "
                        "rounds of requests. Lower the timeout to %(max)s s or less, or raise the server's limit.",
                        name=backend.name,
                        timeout=backend.timeout,
                        budget=int(budget.run_budget(limit)),
                        limit=int(limit),
                        max=int(budget.run_budget(limit) // 2),
                    )
                )
            if backend.max_concurrent > const.MAX_CONCURRENT_LIMIT:
                raise ValidationError(
                    self.env._(
                        "%(name)s: at most %(max)s concurrent requests per backend.",
                        name=backend.name,
                        max=const.MAX_CONCURRENT_LIMIT,
                    )
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

    @api.constrains(
        "payment_authority",
        "payment_journal_id",
        "company_ids",
        "payment_authority_invoices",
        "payment_authority_bills",
        "payment_authority_refunds",
    )
    def _check_payment_journal(self):
        for backend in self.filtered("payment_authority"):
            if not backend.payment_journal_id:
                raise ValidationError(
                    self.env._("Backend %s is the payment authority: choose its payment journal.", backend.name)
                )
            if not backend._get_payment_authority_move_types():
                raise ValidationError(
                    self.env._("Backend %s is the payment authority: choose the documents it pays.", backend.name)
                )
            if backend.payment_journal_id.company_id not in backend.company_ids:
                raise ValidationError(
                    self.env._("The payment journal of %s must belong to one of its companies.", backend.name)
                )

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

    # === COMPUTE METHODS === #

    def _compute_write_only_secrets(self):
        # Never read back: the form always shows an empty field.
        self.auth_secret = False
        self.signing_secret = False
        self.warehouse_password = False

    @api.depends("auth_mode")
    def _compute_has_secrets(self):
        for backend, stored in zip(self, self.sudo(), strict=True):
            backend.has_auth_secret = bool(stored.auth_secret_encrypted)
            backend.has_signing_secret = bool(stored.signing_secret_encrypted)
            backend.has_warehouse_password = bool(stored.warehouse_password_encrypted)

    @api.depends_context("uid")
    def _compute_can_manage_payment_authority(self):
        self.can_manage_payment_authority = self._may_manage_payment_authority()

    @api.depends(*(flag for flags in AUTHORITY_FLAGS.values() for flag in flags))
    def _compute_is_authority(self):
        for backend in self:
            backend.is_authority = bool(backend._authorities())

    @api.depends("webhook_token")
    def _compute_inbound_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for backend in self:
            token = backend.sudo().webhook_token
            backend.inbound_url = f"{base.rstrip('/')}/finance_sync/webhook/{token}" if token else False

    def _compute_inbound_event_count(self):
        counts = dict(
            self.env["finance.sync.inbound.event"]._read_group(
                [("backend_id", "in", self.ids)], ["backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.inbound_event_count = counts.get(backend, 0)

    def _compute_circuit(self):
        now = fields.Datetime.now()
        facts = self.env["finance.sync.attempt"]._circuit_facts(self._origin)
        for backend in self:
            failures, latest, last_success = facts.get(backend._origin.id) or (0, None, None)
            circuit = Circuit(backend.circuit_threshold, backend.circuit_cooldown, failures, latest)
            backend.circuit_state = circuit.state(now)
            backend.consecutive_failures = failures
            backend.circuit_open_until = circuit.open_until() or False
            backend.last_success_at = last_success or False

    # === INVERSE METHODS === #

    def _inverse_auth_secret(self):
        self._store_secret("auth_secret")

    def _inverse_warehouse_password(self):
        self._store_secret("warehouse_password")

    def _inverse_signing_secret(self):
        for backend in self:
            if backend.signing_secret:
                try:
                    signing.secret_bytes(backend.signing_secret)
                except ValueError as exc:
                    raise ValidationError(self.env._("The signing secret is not valid: %s", exc)) from None
        self._store_secret("signing_secret")

    def _store_secret(self, fname):
        """Encrypt the clear values typed into write-only field ``fname``.

        The values are read before anything is written: a write may drop the cached values of
        the other records being saved together."""
        values = {backend: backend[fname] for backend in self if backend[fname]}
        box = secret_box(self.env)
        for backend, value in values.items():
            stored = backend.sudo()
            target = SECRET_FIELDS[fname]
            vals = {target: box.encrypt(value)}
            if fname == "signing_secret" and stored[target]:
                # Rotation: the previous secret stays valid for the overlap window (inbound).
                vals.update(
                    signing_secret_previous_encrypted=stored[target], signing_secret_rotated_at=fields.Datetime.now()
                )
                backend.message_post(body=self.env._("Signing secret rotated."))
            if fname == "signing_secret":
                vals["signing_secret_unseen"] = False  # typed by a person, who knows it
            internal(stored).write(vals)
        self.invalidate_recordset([fname])  # write-only: never keep the clear text, not even in cache

    # === CRUD METHODS === #

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
            generated.append(vals.get("signing_enabled", True) and not vals.get("signing_secret"))
            if generated[-1]:
                vals["signing_secret"] = signing.generate_secret()
        backends = super().create(vals_list)
        # Generated secrets are shown once, on request (action_reveal_signing_secret).
        unseen = backends.browse(b.id for b, gen in zip(backends, generated, strict=True) if gen)
        internal(unseen.sudo()).write({"signing_secret_unseen": True})
        backends._grant_inbound_user_companies()
        for backend, changed in zip(backends, changes, strict=True):
            authorities = [authority for authority in AUTHORITIES if authority in backend._authorities()]
            if authorities:
                backend._post_security_change(self.env._("created this backend"), authorities)
            elif changed:
                backend._post_security_change(self.env._("created this backend"), list(changed))
        return backends

    def write(self, vals):
        check_guarded_fields(self, vals, INTERNAL_FIELDS)
        self._check_address_characters(vals)
        changes = self._check_authority_fields(vals)
        res = super().write(vals)
        # A company added is one whose documents the backend will receive: the user works there too.
        check_access_after_move(self, vals, ("company_ids",))
        for backend, changed in changes.items():
            labels = list(dict.fromkeys(label for labels in changed.values() for label in labels))
            backend._post_security_change(self.env._("changed %s", ", ".join(labels)), list(changed))
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

    def action_reset_circuit(self):
        self.check_access("write")
        internal(self).write({"circuit_reset_at": fields.Datetime.now()})
        self.message_post(body=self.env._("Circuit closed by hand: earlier failures no longer count."))
        self.env["finance.sync.job"]._trigger_dispatch()
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

    def action_regenerate_webhook_token(self):
        """Give these backends a new inbound webhook URL: the old one stops answering at once, so
        the platform must be given the new one. Tokens are always generated, never typed."""
        self.check_access("write")
        tokens = {backend: new_webhook_token() for backend in self}
        for backend, token in tokens.items():
            backend._check_authority_fields({"webhook_token": token})
        for backend, token in tokens.items():
            internal(backend).write({"webhook_token": token})
            backend._post_security_change(
                self.env._("regenerated the webhook token (the inbound URL changed)"), backend._authorities()
            )
        return True

    def action_test_connection(self):
        """Send a signed ``ping`` event now (outside the outbox) and show the answer. Only users
        who may configure the backend may make it send anything."""
        self.ensure_one()
        self.check_access("write")
        if self.transport == "warehouse":
            return self._action_warehouse(initialize=False)
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
        if result.status is None:
            # What failed in words (refused on host:port, timed out, TLS, …) in the user's language;
            # the raw trace goes to the chatter only.
            note = classify.classify_error(result.error).note.masked(sender.mask)
            summary = self.env._("No answer: %s", render_message(self.env, note.code, note.without_detail().params))
            detail = note.params.get(DETAIL) or ""
        else:
            summary = self.env._("HTTP %(status)s in %(ms)s ms", status=result.status, ms=result.duration_ms)
        return self._notify_connection_test(ok, self.env._("Connection test: %s", summary), summary, detail)

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
        ok, detail = False, ""
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
            note = judge_warehouse_error(exc, target).note
            summary = render_message(self.env, note.code, note.without_detail().params)
            detail = note.params.get(DETAIL) or ""
        if initialize:
            headline = self.env._("Warehouse initialization: %s", summary)
        else:
            headline = self.env._("Connection test: %s", summary)
        return self._notify_connection_test(ok, headline, summary, detail)

    def _warehouse_initialized(self, before, after):
        if before == after:
            return self.env._("The warehouse schema is up to date (version %s).", after)
        return self.env._("Warehouse schema migrated from version %(before)s to %(after)s.", before=before, after=after)

    def _warehouse_inspected(self, found):
        """(whether the warehouse is ready, what the test found in words)."""
        connected = self.env._("Connected as %s.", found.user)
        if found.version is None:
            rights = (
                self.env._("The user may create it.") if found.may_create else self.env._("The user may not create it.")
            )
            return False, " ".join(
                (connected, self.env._("The warehouse is not initialized yet: press Initialize warehouse."), rights)
            )
        version = self.env._(
            "Schema version %(version)s found; this module writes version %(latest)s.",
            version=found.version,
            latest=found.latest,
        )
        if found.version != found.latest:
            return False, f"{connected} {version}"
        if not found.may_write:
            return False, " ".join((connected, version, self.env._("The user may not write the warehouse tables.")))
        return True, " ".join((connected, version, self.env._("The user may write the warehouse tables.")))

    def _notify_connection_test(self, ok, headline, summary, detail):
        """Post the outcome of a connection test in the chatter and show it in a notification."""
        self.message_post(body=Markup("%s<br/>%s") % (headline, detail))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Connection OK") if ok else self.env._("Connection failed"),
                "message": summary,
                "type": "success" if ok else "danger",
                "sticky": not ok,
            },
        }

    def action_reveal_signing_secret(self):
        """Show the signing secret Odoo generated, once, to a person who may configure this
        backend (and, for a payment authority, manage its payments): the platform needs it to
        verify what Odoo sends. The chatter says who saw it."""
        self.ensure_one()
        self.check_access("write")
        # Whoever sees the secret can sign in this backend's name, as whoever chooses it.
        self._check_authority_fields({"signing_secret": "reveal"})
        if not self.signing_secret_unseen:
            raise UserError(
                self.env._(
                    "The signing secret was shown already (or typed by a person). To give the platform a new "
                    "one, type it in Signing secret: the previous one stays valid during the overlap."
                )
            )
        secret = self._get_secret("signing")
        internal(self.sudo()).write({"signing_secret_unseen": False})
        self.message_post(body=self.env._("The generated signing secret was shown to %s.", self.env.user.name))
        reveal = self.env["finance.sync.secret.reveal"].create(
            {"backend_id": self.id, "secret_encrypted": secret_box(self.env).encrypt(secret)}
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Signing secret"),
            "res_model": "finance.sync.secret.reveal",
            "res_id": reveal.id,
            "view_mode": "form",
            "target": "new",
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

    def _get_payment_authority_move_types(self):
        """The kinds of documents whose payments this backend's platform registers in Odoo."""
        self.ensure_one()
        if not self.payment_authority:
            return []
        return move_types(self.payment_authority_invoices, self.payment_authority_bills, self.payment_authority_refunds)

    # --- authorities: segregation of duties ----------------------------------------------------

    def _may_manage_payment_authority(self):
        """Accounting administrators who are also Finance Sync administrators (or the system):
        who may make a backend an authority and change what an authority depends on."""
        user = self.env.user
        return self.env.su or (
            user.has_group(ACCOUNTING_ADMIN_GROUP) and user.has_group("finance_sync.finance_sync_group_admin")
        )

    def _authorities(self, vals=None):
        """The authorities this backend is (``AUTHORITY_FLAGS``), or is once ``vals`` are written;
        an empty recordset is a backend about to be created from ``vals``."""
        vals = vals or {}
        return {
            authority
            for authority, flags in AUTHORITY_FLAGS.items()
            if any(vals[flag] if flag in vals else self[flag] for flag in flags)
        }

    def _check_authority_fields(self, vals, create=False):
        """The one guard of ``AUTHORITY_FIELDS``: raise AccessError, naming each authority
        concerned, unless the user may make every change ``vals`` makes to what an authority
        depends on. ``self`` are the backends written or, with ``create``, nothing yet: a
        backend created from ``vals`` (context defaults included) is compared with one created
        from nothing.

        :return: {backend: {authority: [labels of the fields changed]}}, the changed backends
            only; with ``create``, {empty recordset: {...}}
        """
        if create:
            vals = self._add_missing_default_values(vals)
            changed = self.browse()._authority_changes(vals, before=self._plain_defaults())
            for authority in self.browse()._authorities(vals):  # creating an authority, whatever the defaults
                changed.setdefault(authority, [self._fields[flag].string for flag in AUTHORITY_FLAGS[authority]])
            changes = {self.browse(): changed}
        else:
            changes = {backend: backend._authority_changes(vals) for backend in self}
            changes = {backend: changed for backend, changed in changes.items() if changed}
        concerned = {authority for changed in changes.values() for authority in changed}
        if concerned and not self._may_manage_payment_authority():
            raise AccessError(self._authority_refusal(concerned))
        return changes

    def _authority_changes(self, vals, before=None):
        """{authority: [labels]} of the fields of ``AUTHORITY_FIELDS`` that ``vals`` changes on this
        backend (or, with ``before``, on a new backend whose values would otherwise be ``before``)."""
        held = self._authorities(before) | self._authorities(vals)
        changes = {}
        for fname, owner in AUTHORITY_FIELDS.items():
            if fname not in vals or fname not in self._fields or not self._differs(fname, vals, before):
                continue
            for authority in (owner,) if isinstance(owner, str) else held.intersection(owner):
                changes.setdefault(authority, []).append(self._fields[fname].string)
        return changes

    @api.model
    def _plain_defaults(self):
        """The values of a backend created with nothing given, for the fields of
        ``AUTHORITY_FIELDS``: the fields' own defaults, never a context default nor a default
        a user saved (``ir.default``), which anyone may set for themselves."""
        plain = self.with_context({k: v for k, v in self.env.context.items() if not k.startswith("default_")})
        return {
            fname: field.default(plain) if field.default else False
            for fname, field in ((fname, self._fields.get(fname)) for fname in AUTHORITY_FIELDS)
            if field
        }

    def _differs(self, fname, vals, before=None):
        """Whether writing ``vals[fname]`` changes this backend's value (or ``before[fname]``). A
        write-only secret changes whenever one is given."""
        if fname in SECRET_FIELDS or fname == "webhook_token":
            return bool(vals[fname])
        field = self._fields[fname]
        current = self[fname] if before is None else before.get(fname)
        new = field.convert_to_cache(vals[fname], self, validate=False)
        old = field.convert_to_cache(current, self, validate=False)
        if field.type in ("one2many", "many2many"):
            return set(old) != set(new)
        return (old or False) != (new or False)

    def _authority_refusal(self, authorities):
        """Why the user may not make the changes that concern ``authorities``: one sentence per
        authority, each naming its own."""
        sentences = {
            PAYMENT: self.env._(
                "Only accounting administrators (who are also Finance Sync administrators) may make a platform the "
                "payment authority, choose its journal or the documents it pays, or change the secrets, webhook "
                "token or companies of a payment authority."
            ),
            DOCUMENTS: self.env._(
                "Only accounting administrators (who are also Finance Sync administrators) may make a platform a "
                "document source, choose the documents it creates, their posting and journals, or change the "
                "secrets, webhook token, companies or mapping set of a document source (and that set's mappings "
                "and policies)."
            ),
            CREDIT: self.env._(
                "Only accounting administrators (who are also Finance Sync administrators) may make a platform the "
                "credit authority, or change the secrets, webhook token, companies or mapping set of a credit "
                "authority (and that set's mappings and policies)."
            ),
        }
        return "\n".join(sentences[authority] for authority in AUTHORITIES if authority in authorities)

    def _check_authority_rights(self, authorities):
        """Raise AccessError unless the user may act for ``authorities`` (e.g. change the mapping
        set an authority reads the platform's codes through)."""
        if authorities and not self._may_manage_payment_authority():
            raise AccessError(self._authority_refusal(set(authorities)))

    @api.model
    def _check_mapping_set_rights(self, mapping_sets):
        """Raise AccessError unless the user may change ``mapping_sets`` (their mappings and
        policies): those an authority reads its platform's codes through (the authorities of
        ``mapping_set_id`` in ``AUTHORITY_FIELDS``) are accounting configuration."""
        readers = AUTHORITY_FIELDS["mapping_set_id"]
        backends = mapping_sets.sudo().with_context(active_test=False).backend_ids
        self._check_authority_rights({a for backend in backends for a in backend._authorities() if a in readers})

    def _authority_labels(self, authorities):
        labels = {
            PAYMENT: self.env._("Payment authority"),
            DOCUMENTS: self.env._("Document source"),
            CREDIT: self.env._("Credit authority"),
        }
        return [labels[authority] for authority in AUTHORITIES if authority in authorities]

    def _post_security_change(self, what, authorities):
        """Write a change that concerns ``authorities`` (what the backend is, was or becomes) to
        the chatter, naming them, and notify the accounting administrators of its companies, so
        that nobody changes unseen what a platform's word does in Odoo."""
        self.ensure_one()
        body = self.env._("%(user)s %(what)s.", user=self.env.user.name, what=what)
        partners = self.env["res.partner"]
        labels = self._authority_labels(authorities)
        if labels:
            admins = self.env.ref(ACCOUNTING_ADMIN_GROUP).sudo().all_user_ids
            partners = admins.filtered(
                lambda u: u.active and not u.share and u.company_ids & self.company_ids
            ).partner_id
            body = self.env._("%(authorities)s: %(body)s", authorities=", ".join(labels), body=body)
        self.message_post(body=body, partner_ids=partners.ids, subtype_xmlid="mail.mt_note")

    # --- inbound events only an authority sends ---------------------------------------------------

    def _may_receive(self, event_type):
        """Whether this backend's platform may send ``event_type`` (``INBOUND_AUTHORITIES``): None
        when it may, else (error code, message) naming the authority it lacks. Asked by the
        webhook before anything is stored (422), and again whenever an event is applied."""
        self.ensure_one()
        authority, flags = INBOUND_AUTHORITIES.get(event_type, (None, ()))
        if not authority or any(self[flag] for flag in flags):
            return None
        if authority == CREDIT:
            return "not_credit_authority", message("credit_authority_off", backend=self.name)
        kinds = {
            const.INBOUND_INVOICE_CREATE: "customer invoices",
            const.INBOUND_BILL_CREATE: "vendor bills",
        }.get(event_type, "documents")
        return "not_document_source", message("document_source_off", backend=self.name, kinds=kinds)

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

    def _get_secret(self, kind):
        """Decrypted secret (``auth`` or ``signing``); only for the dispatcher and controller."""
        self.ensure_one()
        token = self.sudo()[f"{kind}_secret_encrypted"]
        return secret_box(self.env).decrypt(token) if token else None

    def _get_inbound_secrets(self):
        """Secrets an inbound signature may use: the current one, and the previous one
        while the rotation overlap window lasts."""
        self.ensure_one()
        result = [self._get_secret("signing")]
        stored = self.sudo()
        if stored.signing_secret_previous_encrypted and self.signing_secret_rotated_at:
            until = self.signing_secret_rotated_at + timedelta(hours=self.signing_overlap_hours)
            if fields.Datetime.now() < until:
                result.append(secret_box(self.env).decrypt(stored.signing_secret_previous_encrypted))
        return [s for s in result if s]

    # --- inbound webhooks ------------------------------------------------------------------

    @api.model
    def _get_by_webhook_token(self, token):
        """The backend an inbound webhook URL designates; archived and draft backends do not
        answer (the caller cannot tell them from unknown tokens)."""
        if not token or len(token) > 128:
            return self.browse()
        return (
            self.sudo()
            .with_context(active_test=True)
            .search([("webhook_token", "=", token), ("state", "in", ("active", "paused"))], limit=1)
        )

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

    def _mask(self, text):
        """Mask this backend's secrets and personal data in text meant for logs and views."""
        return redact.mask_text(text or "", [s for s in (self._get_secret("auth"), self._get_secret("signing")) if s])

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

    def _get_transport(self):
        """A new transport for this backend's events (a warehouse connects on first use)."""
        self.ensure_one()
        if self.transport == "warehouse":
            target, _refusal = self._warehouse_target()  # a refused host sends nothing (see the sender)
            return get_transport(
                "warehouse", target=target, source=self.env.cr.dbname, pool_maxsize=self.max_concurrent
            )
        # One keep-alive connection per sending thread: a backend may have more requests open than
        # its concurrency (those unanswered for a second stop counting, see the dispatcher's
        # Channel.busy), never more than the worker's sending threads; a smaller pool would drop
        # the extra connections as they come back ("Connection pool is full"). Connections are
        # opened as needed, so the size costs nothing until requests are in flight.
        return get_transport(self.transport, pool_maxsize=const.DISPATCH_MAX_THREADS)

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

    def _pace(self, until):
        """No request to this platform starts before ``until`` (it answered 429 / Retry-After).

        Two servers told to slow down at once both write the backend's pacing: under Odoo's
        REPEATABLE READ the later one's update fails (serialization failure) once the first one
        commits. That is no error: the other server's pacing is written, and this worker follows
        its own in memory meanwhile. The update runs in a savepoint, its failure unlogged, and
        :return: whether the pacing was written (False: try again in the next transaction).
        """
        self.ensure_one()
        self.flush_recordset(["paced_until"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """UPDATE finance_sync_backend SET paced_until = GREATEST(COALESCE(paced_until, %s), %s)
                        WHERE id = %s""",
                    (until, until, self.id),
                    log_exceptions=False,
                )
        except errors.SerializationFailure:
            _logger.debug("finance_sync: backend %s paced by another transaction meanwhile; retried later", self.id)
            return False
        finally:
            self.invalidate_recordset(["paced_until"])
        return True

    def _pause_gone(self, event_id):
        """The platform answered 410 Gone: pause the backend and say why in its chatter."""
        self.ensure_one()
        self.state = "paused"
        self.message_post(body=self.env._("Paused: the platform answered 410 Gone for event %s.", event_id))
