from odoo import api, fields, models
from odoo.tools import SQL

from ..engine.messages import message
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, internal


class FinanceSyncBinding(models.Model):
    """The id a platform gave one of Odoo's documents (told by a ``delivery.acknowledged``
    event), or the id of a document the platform created (``invoice.create``, ``bill.create``):
    one per (backend, document) and one document per (backend, external id). Written by the
    module alone, never by hand; a wrong acknowledgement binding is deleted, and the next
    acknowledgement binds again.

    Bindings are made here only (``_bind``, ``_bind_created``), and a document is found by its
    external id here only (``_find_move``)."""

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
    external_updated_at = fields.Datetime(
        "Platform's last change",
        readonly=True,
        help="An account a platform sends (partner.upsert): when the platform last changed it, as applied. "
        "An older change never overwrites a newer one.",
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
        # platform created, ``_bind_created``, which checks the same guard).
        # Whatever the values (context defaults fill them too), creating one is binding.
        check_guarded_fields(self, {"backend_id", "external_id"} | {fname for vals in vals_list for fname in vals})
        return super().create(vals_list)

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    def unlink(self):
        # The binding of a document a platform created is what makes its creation happen once:
        # without it, the next delivery of the same external id would create the document again.
        # Every sales order binding is one a platform created (order.create).
        created = self.sudo().filtered(
            lambda b: (
                (b.move_id and b.move_id.finance_sync_origin_backend_id == b.backend_id) or b.res_model == "sale.order"
            )
        )
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

    @api.model
    def _bind_created(self, backend, move, external_id):
        """Bind ``move``, which ``backend``'s platform just created, to (backend, external id).
        The unique index decides between concurrent deliveries: a conflicting row committed
        meanwhile makes this transaction fail with a serialization error, retried by Odoo on a
        fresh snapshot (which then finds the document).

        The row is inserted in SQL, past ``create``: the same guard applies here, so only the
        module's own methods (``internal()``) bind. :return: the binding"""
        row_id = self._insert_binding(backend, move, external_id, move.company_id)
        if not row_id:
            # The platform's id designates another document already: one it did not create (an
            # invoice Odoo sent, acknowledged under that id), or one bound in this very
            # transaction (cannot happen through the endpoint).
            other = self.sudo().search(self._external_id_domain(backend, "account.move", external_id), limit=1)
            raise InboundRefusal(
                "conflict",
                message(
                    "binding_external_id_taken",
                    external_id=external_id,
                    other=(other._get_document().display_name if other else move.display_name),
                ),
                fingerprint_key=f"document:{external_id}",
            )
        move.invalidate_recordset(["finance_sync_binding_ids"])
        return self.browse(row_id)

    @api.model
    def _bind_partner(self, backend, partner, external_id, updated_at):
        """Bind ``partner`` to the account ``backend``'s platform knows as ``external_id``
        (inbound ``partner.upsert``), as ``_bind_created`` binds documents: the unique indexes
        decide between concurrent deliveries (a row committed meanwhile makes this transaction
        fail with a serialization error, retried by Odoo on a fresh snapshot, which finds the
        binding); a visible one is a conflict. :return: the binding"""
        # Any unique index: a partner already bound under another external id is a conflict too.
        row_id = self._insert_binding(
            backend,
            partner,
            external_id,
            partner.company_id or backend.company_ids[:1],
            updated_at=updated_at,
            any_conflict=True,
        )
        if not row_id:
            other = self.sudo().search(self._external_id_domain(backend, "res.partner", external_id), limit=1)
            note = (
                message("binding_external_id_taken", external_id=external_id, other=other._get_document().display_name)
                if other
                else message(
                    "binding_document_known",
                    document=partner.display_name,
                    external_id=self.sudo()
                    .search([("backend_id", "=", backend.id), ("res_model", "=", "res.partner"),
                             ("res_id", "=", partner.id)], limit=1)
                    .external_id,
                )
            )  # fmt: skip
            raise InboundRefusal("conflict", note, fingerprint_key=f"account:{external_id}")
        return self.browse(row_id)

    @api.model
    def _bind_created_order(self, backend, order, external_id):
        """Bind the sales ``order`` that ``backend``'s platform just created (``order.create``) to
        (backend, external id), as ``_bind_created`` does for documents: the unique index decides
        between concurrent deliveries (a conflicting row committed meanwhile makes this
        transaction fail with a serialization error, retried by Odoo on a fresh snapshot).
        :return: the binding"""
        row_id = self._insert_binding(backend, order, external_id, order.company_id)
        if not row_id:
            # Only reachable within one transaction (a concurrent one fails on the index first).
            raise InboundRefusal(
                "conflict",
                message("binding_external_id_taken", external_id=external_id, other=order.display_name),
                fingerprint_key=f"order:{external_id}",
            )
        return self.browse(row_id)

    def _insert_binding(self, backend, record, external_id, company, updated_at=None, any_conflict=False):
        """Insert the binding of ``record`` (a document, partner or order a platform sent) in SQL,
        past ``create``: the same guard applies here, so only the module's own methods
        (``internal()``) bind. The unique indexes decide between concurrent deliveries: a
        conflicting row committed meanwhile makes this transaction fail with a serialization
        error, retried by Odoo on a fresh snapshot. ``any_conflict``: every unique index, not
        only the external id's, leaves the row out. :return: the new binding's id, or None when a
        visible binding conflicts"""
        check_guarded_fields(self, ["backend_id", "res_model", "res_id", "external_id"])
        record.flush_recordset()
        self.env.cr.execute(
            SQL(
                """INSERT INTO finance_sync_binding (backend_id, company_id, res_model, res_id, move_id, external_id,
                                                     external_updated_at, create_uid, create_date, write_uid,
                                                     write_date)
                   VALUES (%(backend)s, %(company)s, %(model)s, %(res_id)s, %(move)s, %(external_id)s,
                           %(updated_at)s, %(uid)s, %(now)s, %(uid)s, %(now)s)
              ON CONFLICT %(target)s DO NOTHING
                RETURNING id""",
                backend=backend.id,
                company=company.id,
                model=record._name,
                res_id=record.id,
                move=record.id if record._name == "account.move" else None,
                external_id=external_id,
                updated_at=updated_at,
                uid=self.env.uid,
                now=fields.Datetime.now(),
                target=SQL() if any_conflict else SQL("(backend_id, res_model, external_id)"),
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            self.invalidate_model()
        return row and row[0]

    # === FINDING === #

    @api.model
    def _find_order(self, backend, external_id):
        """The sales order ``backend``'s platform created as ``external_id`` (an empty recordset
        when there is none, or when Odoo's Sales app is not installed)."""
        if "sale.order" not in self.env:
            return None
        binding = self.sudo().search(self._external_id_domain(backend, "sale.order", external_id), limit=1)
        return self.env["sale.order"].sudo().browse(binding.res_id).exists()

    @api.model
    def _find_partner_binding(self, backend, external_id):
        """The binding of the account ``backend``'s platform knows as ``external_id`` (any user)."""
        return self.sudo().search(self._external_id_domain(backend, "res.partner", external_id), limit=1)

    @api.model
    def _bound_partner_ids(self, backend):
        """Ids of the partners ``backend``'s platform knows by an external id."""
        self.flush_model(["backend_id", "res_model", "res_id"])
        self.env.cr.execute(
            SQL(
                "SELECT res_id FROM finance_sync_binding WHERE backend_id = %s AND res_model = 'res.partner'",
                backend.id,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _external_id_domain(self, backend, res_model, external_id):
        """The domain of the binding of ``external_id`` among ``backend``'s ``res_model`` ones."""
        return [("backend_id", "=", backend.id), ("res_model", "=", res_model), ("external_id", "=", external_id)]

    @api.model
    def _find_move(self, backend, external_id, created=False):
        """The invoice or bill ``backend`` knows as ``external_id``, in this environment (an
        empty recordset when there is none).

        :param created: only a document the backend created as a document source (its origin),
            whichever bindings the user may read. An invoice Odoo sent that the platform
            acknowledged is bound too, but the platform created nothing: no approval or repeated
            creation ever applies to it.
        """
        domain = self._external_id_domain(backend, "account.move", external_id)
        bindings = self
        if created:
            domain.append(("move_id.finance_sync_origin_backend_id", "=", backend.id))
            bindings = self.sudo()
        return self.env["account.move"].browse(bindings.search(domain, limit=1).move_id.id)
