from odoo import api, fields, models
from odoo.exceptions import UserError


class FinanceSyncDocumentLink(models.AbstractModel):
    """The invoice or payment a record is about: the generic reference (``res_model``,
    ``res_id``) and, beside it, the typed link of its kind (``move_id`` or ``payment_id``) that
    lists, filters and the documents' smart buttons use. Jobs, exceptions, bindings and inbound
    events inherit it; each model may make the fields required or change what a deleted
    document does to them (``ondelete``)."""

    _name = "finance.sync.document.link"
    _description = "Finance Sync Document Link"

    res_model = fields.Char("Document model", readonly=True)
    res_id = fields.Many2oneReference("Document ID", model_field="res_model", readonly=True)
    move_id = fields.Many2one(
        "account.move", "Invoice", index="btree_not_null", readonly=True, ondelete="set null", check_company=True
    )
    payment_id = fields.Many2one(
        "account.payment", index="btree_not_null", readonly=True, ondelete="set null", check_company=True
    )

    # === ACTION METHODS === #

    def action_open_document(self):
        """Open the payment or invoice linked to this record."""
        self.ensure_one()
        document = self._get_linked_record()
        if not document:
            raise UserError(self.env._("This record is not linked to a document."))
        return document._get_records_action()

    # === BUSINESS METHODS === #

    @api.model
    def _document_link_vals(self, document):
        """The values linking a record to ``document`` (an account.move or account.payment
        record; nothing for an empty one): its generic reference and the typed link of its
        kind. Only the keys of the document's kind are given, so that a record can also keep a
        link of the other kind (an inbound event about an invoice and the payment it made)."""
        if not document:
            return {}
        vals = {"res_model": document._name, "res_id": document.id}
        if document._name == "account.move":
            vals["move_id"] = document.id
        elif document._name == "account.payment":
            vals["payment_id"] = document.id
        return vals

    @api.model
    def _document_link_domain(self, document):
        """The domain of records linked to ``document``, through its typed link."""
        field = "move_id" if document._name == "account.move" else "payment_id"
        return [(field, "=", document.id)]

    def _get_document(self):
        """The document of ``res_model``/``res_id`` (an empty recordset when there is none)."""
        self.ensure_one()
        if not self.res_model:
            return self.env["account.move"]
        return self.env[self.res_model].browse(self.res_id)

    def _get_linked_record(self):
        """What *Open document* opens: the payment, else the invoice, else the referenced
        document if it still exists (an empty recordset when nothing is linked)."""
        self.ensure_one()
        return self.payment_id or self.move_id or self._get_document().exists()
