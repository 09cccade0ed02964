"""A backend as a *document source*: its platform creates customer invoices or vendor bills in
Odoo (``invoice.create``, ``bill.create``, ``approval.status`` inbound events).

Segregation of duties, as for the payment authority: whoever configures a connection (Finance
Sync administrator) must not thereby be able to create documents in the ledger. What a document
source depends on (its flags, posting policy, journals and, while it is one, its secrets, webhook
token, companies and mapping set) is listed in ``AUTHORITY_FIELDS`` and guarded by the backend's
one guard (``_check_authority_fields``)."""

from odoo import api, fields, models

from .. import const


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
        "Document source",
        compute="_compute_is_document_source",
        store=True,
        help="The platform creates documents. Shown and searched only: what a platform may do follows the flags "
        "above, which only accounting administrators set.",
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

    def _accepts_documents(self, move_type):
        """Whether this backend's platform creates (and decides the approval of) documents of
        ``move_type``: customer invoices and credit notes, or vendor bills and refunds."""
        self.ensure_one()
        return self.document_source_invoices if move_type.startswith("out_") else self.document_source_bills

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
