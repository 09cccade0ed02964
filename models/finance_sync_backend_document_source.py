"""A backend as a *document source*: its platform creates customer invoices or vendor bills in
Odoo (``invoice.create``, ``bill.create``, ``approval.status`` inbound events).

Segregation of duties, as for the payment authority: whoever configures a connection (Finance
Sync administrator) must not thereby be able to create documents in the ledger. Enabling a kind
of documents, choosing the posting policy or the journals, and, while the backend is a document
source, changing its secrets or webhook token need accounting administrator rights."""

from odoo import api, fields, models

from .. import const
from ..utils import without_context_defaults

# Whoever sets these decides which documents a platform writes into the ledger, and whether
# they are posted.
DOCUMENT_SOURCE_FIELDS = (
    "document_source_invoices",
    "document_source_bills",
    "document_posting_policy",
    "document_sale_journal_id",
    "document_purchase_journal_id",
)
# Whoever knows these can sign a document the platform creates.


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    document_source_invoices = fields.Boolean(
        "Creates customer invoices",
        tracking=True,
        help="The platform (a billing or subscription platform) may create customer invoices and credit notes "
        "in Odoo (invoice.create), once per external id. Only accounting administrators may change this.",
    )
    document_source_bills = fields.Boolean(
        "Creates vendor bills",
        tracking=True,
        help="The platform (an expense or procurement platform) may create vendor bills, refunds and employee "
        "expenses in Odoo (bill.create), once per external id. Only accounting administrators may change this.",
    )
    is_document_source = fields.Boolean(
        "Document source", compute="_compute_is_document_source", store=True, help="The platform creates documents."
    )
    document_posting_policy = fields.Selection(
        const.DOCUMENT_POSTING_POLICIES,
        "Posting of created documents",
        default="draft",
        required=True,
        tracking=True,
        help="Keep as draft: a person posts them. Post when approved: an approval (in bill.create or a later "
        "approval.status) posts them, a rejection cancels them. Post at once: posted when created. "
        "A document whose totals differ from the platform's, or dated in a locked period, is never posted "
        "automatically: it stays draft with an exception.",
    )
    document_sale_journal_id = fields.Many2one(
        "account.journal",
        "Journal of created invoices",
        domain="[('type', '=', 'sale')]",
        check_company=True,
        tracking=True,
        help="Empty: the company's first sales journal.",
    )
    document_purchase_journal_id = fields.Many2one(
        "account.journal",
        "Journal of created bills",
        domain="[('type', '=', 'purchase')]",
        check_company=True,
        tracking=True,
        help="Empty: the company's first purchase journal.",
    )
    created_document_count = fields.Integer(compute="_compute_created_document_count")

    # === COMPUTE METHODS === #

    @api.depends("document_source_invoices", "document_source_bills")
    def _compute_is_document_source(self):
        for backend in self:
            backend.is_document_source = backend.document_source_invoices or backend.document_source_bills

    def _compute_created_document_count(self):
        counts = dict(
            self.env["account.move"]._read_group(
                [("finance_sync_origin_backend_id", "in", self.ids)], ["finance_sync_origin_backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.created_document_count = counts.get(backend, 0)

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        # A context default never makes a platform a document source (see create).
        return super(FinanceSyncBackend, without_context_defaults(self, DOCUMENT_SOURCE_FIELDS)).default_get(fields)

    @api.model_create_multi
    def create(self, vals_list):
        if any(
            vals.get(fname) for vals in vals_list for fname in ("document_source_invoices", "document_source_bills")
        ):
            self._check_document_source_rights()
        backends = super().create(vals_list)
        for backend in backends.filtered("is_document_source"):
            backend._post_security_change(self.env._("created this backend as a document source"))
        return backends

    def write(self, vals):
        changes = self._get_document_source_changes(vals)
        if changes:
            self._check_document_source_rights()
        res = super().write(vals)
        for backend, labels in changes.items():
            backend._post_security_change(self.env._("Document source: changed %s", ", ".join(labels)))
        return res

    # === ACTION METHODS === #

    def action_view_created_documents(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("account.action_move_journal_line")
        action.update(
            name=self.env._("Documents created by %s", self.name),
            domain=[("finance_sync_origin_backend_id", "=", self.id)],
            context={"create": False},
        )
        return action

    # === BUSINESS METHODS === #

    def _check_document_source_rights(self):
        """Raise AccessError unless the user is an accounting administrator (and a Finance Sync
        administrator): the same people who may make a platform the payment authority."""
        self._check_payment_authority_rights()

    def _get_document_source_changes(self, vals):
        """{backend: [labels]} of the document source settings ``vals`` changes, which need
        accounting administrator rights (a document source's secrets are guarded through
        ``_is_authority``)."""
        changes = {}
        for backend in self:
            fnames = [fname for fname in DOCUMENT_SOURCE_FIELDS if fname in vals and backend._differs(fname, vals)]
            if fnames:
                changes[backend] = [self._fields[fname].string for fname in fnames]
        return changes

    def _is_authority(self, vals=None):
        """Whoever knows a document source's secrets can create invoices or bills in its name."""
        vals = vals or {}
        return (
            super()._is_authority(vals)
            or self.is_document_source
            or bool(vals.get("document_source_invoices") or vals.get("document_source_bills"))
        )

    def _accepts_documents(self, event_type):
        """Whether this backend's platform may create documents of ``event_type``."""
        self.ensure_one()
        if event_type == const.INBOUND_INVOICE_CREATE:
            return self.document_source_invoices
        return event_type == const.INBOUND_BILL_CREATE and self.document_source_bills

    def _get_document_journal(self, move_type, company):
        """The journal of a document this platform creates in ``company``."""
        self.ensure_one()
        sale = move_type.startswith("out_")
        journal = self.document_sale_journal_id if sale else self.document_purchase_journal_id
        if journal and journal.company_id == company:
            return journal
        return self.env["account.journal"].search(
            [
                *self.env["account.journal"]._check_company_domain(company),
                ("type", "=", "sale" if sale else "purchase"),
            ],
            limit=1,
        )
