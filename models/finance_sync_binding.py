from odoo import api, fields, models

from ..engine.messages import message
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, internal


class FinanceSyncBinding(models.Model):
    """The id a platform gave one of Odoo's documents (told by a ``delivery.acknowledged``
    event), or the id of a document the platform created (``invoice.create``, ``bill.create``):
    one per (backend, document) and one document per (backend, external id). Written by the
    module alone, never by hand; a wrong acknowledgement binding is deleted, and the next
    acknowledgement binds again."""

    _name = "finance.sync.binding"
    _inherit = ["finance.sync.document.link"]
    _description = "Finance Sync Binding"
    _order = "id desc"
    _rec_name = "external_id"
    _check_company_auto = True

    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, readonly=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    res_model = fields.Char(required=True)
    res_id = fields.Many2oneReference(required=True)
    external_id = fields.Char("External ID", required=True, readonly=True)
    move_id = fields.Many2one(ondelete="cascade")
    payment_id = fields.Many2one(ondelete="cascade")
    job_id = fields.Many2one(
        "finance.sync.job", "Acknowledged event", readonly=True, ondelete="set null", check_company=True
    )

    _document_uniq = models.UniqueIndex(
        "(backend_id, res_model, res_id)", "A document has one external id per backend."
    )
    _external_uniq = models.UniqueIndex(
        "(backend_id, res_model, external_id)", "An external id designates one document per backend."
    )

    @api.model_create_multi
    def create(self, vals_list):
        # A binding says which document a platform's id designates: what its payments pay, what
        # its approvals post. Only the module binds (``_bind``, and the SQL insert of a document a
        # platform created, which checks the same guard).
        # Whatever the values (context defaults fill them too), creating one is binding.
        check_guarded_fields(self, {"backend_id", "external_id"} | {fname for vals in vals_list for fname in vals})
        return super().create(vals_list)

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    def unlink(self):
        # The binding of a document a platform created is what makes its creation happen once:
        # without it, the next delivery of the same external id would create the document again.
        created = self.sudo().filtered(lambda b: b.move_id and b.move_id.finance_sync_origin_backend_id == b.backend_id)
        if created:
            check_guarded_fields(created, ["external_id"])
        return super().unlink()

    @api.model
    def _bind(self, backend, document, external_id, job=None):
        """Record that ``backend`` knows ``document`` as ``external_id``; refuse (conflict) a
        second id for the document or a second document for the id."""
        bindings = self.search(
            [
                ("backend_id", "=", backend.id),
                ("res_model", "=", document._name),
                "|",
                ("res_id", "=", document.id),
                ("external_id", "=", external_id),
            ]
        )
        for binding in bindings:
            if binding.res_id == document.id and binding.external_id == external_id:
                return binding
            other = binding._get_document().display_name
            note = (
                message("binding_document_known", document=document.display_name, external_id=binding.external_id)
                if binding.res_id == document.id
                else message("binding_external_id_taken", external_id=external_id, other=other)
            )
            raise InboundRefusal(
                "conflict", note, document=document, job=job, fingerprint_key=f"{document._name},{document.id}"
            )
        binding = internal(self).create(
            {
                "backend_id": backend.id,
                "company_id": ("company_id" in document and document.company_id.id) or backend.company_ids[:1].id,
                **self._document_link_vals(document),
                "external_id": external_id,
                "job_id": job.id if job else False,
            }
        )
        return binding.with_env(self.env)  # without the right to write guarded fields
