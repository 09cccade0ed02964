"""What a backend's platform may decide in Odoo: its authorities, who may grant them, and which
inbound events only an authority may send.

One table says what each authority depends on (``AUTHORITY_FIELDS``), one guard applies it on
every path (``_check_authority_fields``: create, write and the inverses of the write-only secrets,
copy, renewing the webhook token, revealing a secret), and one question (``_may_receive``) says
whether a platform may send an event; the webhook asks it before anything is stored and the event
asks it again when it is applied. The flags of the document source and of the credit authority
are declared with the rest of those features (finance_sync_backend_document_source.py and
finance_sync_backend_master_data.py); the payment authority's are here."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .. import const
from ..engine.messages import message
from .finance_sync_backend import move_types
from .finance_sync_backend_account_source import ACCOUNT_FIELDS, ACCOUNT_FLAGS
from .finance_sync_backend_secrets import SECRET_FIELDS

# A platform's word moves money (payment authority), writes documents into the ledger (document
# source) or sets customers' credit (credit authority) only when its backend is that authority.
# Making it one, and everything its word then depends on, is an accounting administrator's
# decision: a Finance Sync administrator configures connections, never authority.
PAYMENT, DOCUMENTS, CREDIT = "payment", "documents", "credit"
ACCOUNTS = "accounts"  # account source: its platform creates and updates customers and suppliers
ORDERS = "orders"  # an Order source: its platform creates sales orders (finance_sync_backend_order_source.py)
AUTHORITIES = (PAYMENT, DOCUMENTS, CREDIT, ACCOUNTS, ORDERS)
# What makes a backend each authority: these flags, which only accounting administrators set,
# and nothing else (no computed or stored copy of them).
AUTHORITY_FLAGS = {
    PAYMENT: ("payment_authority",),
    DOCUMENTS: ("document_source_invoices", "document_source_bills"),
    CREDIT: ("credit_authority",),
    ACCOUNTS: ACCOUNT_FLAGS,
    ORDERS: ("order_source",),
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
    "order_source": ORDERS,
    "order_confirm_policy": ORDERS,
    "signing_secret": AUTHORITIES,
    "signing_overlap_hours": AUTHORITIES,
    "auth_username": AUTHORITIES,
    "auth_secret": AUTHORITIES,
    "webhook_token": AUTHORITIES,
    "company_ids": AUTHORITIES,
    "mapping_set_id": (DOCUMENTS, CREDIT, ACCOUNTS, ORDERS),
    # account source: its flags, the fields its platform owns and what a conflict does
    **dict.fromkeys(ACCOUNT_FIELDS, ACCOUNTS),
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
    const.INBOUND_PARTNER_UPSERT: (ACCOUNTS, AUTHORITY_FLAGS[ACCOUNTS]),
    const.INBOUND_ORDER_CREATE: (ORDERS, AUTHORITY_FLAGS[ORDERS]),
    const.INBOUND_DEALS_REPORT: (ORDERS, AUTHORITY_FLAGS[ORDERS]),
}
# Events about sales orders: refused (422, nothing stored) while Odoo's Sales app is not installed.
SALES_EVENTS = (const.INBOUND_ORDER_CREATE, const.INBOUND_DEALS_REPORT)
ACCOUNTING_ADMIN_GROUP = "account.group_account_manager"


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

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

    # === CONSTRAINTS === #

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

    # === COMPUTE METHODS === #

    @api.depends_context("uid")
    def _compute_can_manage_payment_authority(self):
        self.can_manage_payment_authority = self._may_manage_payment_authority()

    @api.depends(*(flag for flags in AUTHORITY_FLAGS.values() for flag in flags))
    def _compute_is_authority(self):
        for backend in self:
            backend.is_authority = bool(backend._authorities())

    # === CRUD METHODS === #

    def _post_created_authorities(self, changes):
        """Tell of the backends just created that are an authority, or that were created with what
        an authority depends on changed from its defaults (``changes``: one
        ``_check_authority_fields`` result per backend)."""
        for backend, changed in zip(self, changes, strict=True):
            authorities = [authority for authority in AUTHORITIES if authority in backend._authorities()]
            if authorities:
                backend._post_security_change(self.env._("created this backend"), authorities)
            elif changed:
                backend._post_security_change(self.env._("created this backend"), list(changed))

    def _post_authority_changes(self, changes):
        """Tell of the changes a write made to what an authority depends on (``changes``: the
        result of ``_check_authority_fields``)."""
        for backend, changed in changes.items():
            labels = list(dict.fromkeys(label for labels in changed.values() for label in labels))
            backend._post_security_change(self.env._("changed %s", ", ".join(labels)), list(changed))

    # === BUSINESS METHODS === #

    def _get_payment_authority_move_types(self):
        """The kinds of documents whose payments this backend's platform registers in Odoo."""
        self.ensure_one()
        if not self.payment_authority:
            return []
        return move_types(self.payment_authority_invoices, self.payment_authority_bills, self.payment_authority_refunds)

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
            ACCOUNTS: self.env._(
                "Only accounting administrators (who are also Finance Sync administrators) may make a platform an "
                "account source, choose the fields it owns, or change the secrets, webhook token, companies or "
                "mapping set of an account source (and that set's mappings and policies)."
            ),
            ORDERS: self.env._(
                "Only accounting administrators (who are also Finance Sync administrators) may make a platform an "
                "order source, choose whether its orders are confirmed, or change the secrets, webhook token, "
                "companies or mapping set of an order source (and that set's mappings and policies)."
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
            ACCOUNTS: self.env._("Account source"),
            ORDERS: self.env._("Order source"),
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
        if event_type in SALES_EVENTS and "sale.order" not in self.env:
            # Asked of the registry itself: the model exists only while the Sales app is installed.
            return "sales_not_installed", message("order_sales_not_installed", backend=self.name)
        authority, flags = INBOUND_AUTHORITIES.get(event_type, (None, ()))
        if not authority or any(self[flag] for flag in flags):
            return None
        if authority == ORDERS:
            return "not_order_source", message("order_source_off", backend=self.name)
        if authority == CREDIT:
            return "not_credit_authority", message("credit_authority_off", backend=self.name)
        if authority == ACCOUNTS:
            return "not_account_source", message(
                "account_source_off", backend=self.name, kinds="customers or suppliers"
            )
        kinds = {
            const.INBOUND_INVOICE_CREATE: "customer invoices",
            const.INBOUND_BILL_CREATE: "vendor bills",
        }.get(event_type, "documents")
        return "not_document_source", message("document_source_off", backend=self.name, kinds=kinds)
