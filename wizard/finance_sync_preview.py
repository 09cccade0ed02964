import json
import uuid

from odoo import api, fields, models

from .. import const
from ..engine import payload as payload_lib

PLACEHOLDER_EVENT_ID = "00000000-0000-4000-8000-000000000000"


class FinanceSyncPreview(models.TransientModel):
    """The exact JSON a backend would receive for a document, with mappings applied and the
    missing ones listed; sends nothing and writes no job."""

    _name = "finance.sync.preview"
    _description = "Finance Sync Payload Preview"

    backend_id = fields.Many2one("finance.sync.backend", required=True)
    document_ref = fields.Reference(
        [("account.move", "Invoice / credit note"), ("account.payment", "Payment")], "Document", required=True
    )
    scope_backend_ids = fields.Many2many(
        "finance.sync.backend",
        string="Backends in scope",
        compute="_compute_scope_backend_ids",
        help="The backends this document is sent to; choose one above to see what it receives.",
    )
    out_of_scope = fields.Boolean(compute="_compute_scope_backend_ids")
    source = fields.Char(compute="_compute_preview")
    body = fields.Text("Exact body", compute="_compute_preview", help="The bytes sent and signed, as they are.")
    body_pretty = fields.Text("Payload", compute="_compute_preview", help="The same JSON, indented to read.")
    missing = fields.Text("Missing mappings", compute="_compute_preview")
    errors = fields.Text("Schema errors", compute="_compute_preview")

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        wizards._check_readable()
        return wizards

    def write(self, vals):
        res = super().write(vals)
        self._check_readable()
        return res

    def _check_readable(self):
        """The preview renders as the system: it may only show what its user may read, the
        backend and the document (record rules and companies included)."""
        for wizard in self:
            if wizard.backend_id:
                wizard.backend_id.check_access("read")
            if wizard.document_ref:
                wizard.document_ref.check_access("read")

    # === COMPUTE METHODS === #

    @api.depends("backend_id", "document_ref")
    def _compute_scope_backend_ids(self):
        for wizard in self:
            record = wizard.document_ref
            in_scope = record._finance_sync_backends_in_scope() if record else self.env["finance.sync.backend"]
            wizard.scope_backend_ids = in_scope
            # In the form the wizard is a new record whose backend is too (a NewId): compare ids.
            wizard.out_of_scope = bool(record and wizard.backend_id._origin.id not in in_scope.ids)

    @api.depends("backend_id", "document_ref")
    def _compute_preview(self):
        for wizard in self:
            wizard.source = wizard.body = wizard.body_pretty = wizard.missing = wizard.errors = False
            if not (wizard.backend_id and wizard.document_ref):
                continue
            wizard._check_readable()
            job, source = wizard._get_job()
            if job.body:  # sent already: its body is frozen, resends are byte for byte the same
                body, missing, errors = job.body, [], []
            else:
                body, missing, errors = job._preview(wizard.backend_id.sudo())
            labels = dict(self.env["finance.sync.mapping"]._fields["kind"].selection)
            wizard.source = source
            wizard.body = body
            wizard.body_pretty = json.dumps(json.loads(wizard.body), indent=2, sort_keys=True, ensure_ascii=False)
            wizard.missing = "\n".join(f"{labels[kind]}: {name} (id {rid})" for kind, rid, name in missing) or False
            wizard.errors = "\n".join(errors) or False

    def _get_job(self):
        """The job whose body the preview shows: the document's next unsent job for this backend
        (so the preview is what will be sent), else an unsaved job built from the document now."""
        record = self.document_ref
        Job = self.env["finance.sync.job"].sudo()
        jobs = Job.search(
            [*Job._document_link_domain(record), ("backend_id", "=", self.backend_id.id), ("state", "!=", "cancelled")],
            order="sequence",
        )
        unsent = jobs.filtered(lambda j: not j.body and j.state in ("pending", "blocked"))
        if unsent:
            return unsent[0], self.env._("Next event to send: %s", unsent[0].display_name)
        if jobs and jobs[-1].body:
            return jobs[-1], self.env._("Last event sent: %s", jobs[-1].display_name)
        event_type = const.EVENT_INVOICE_POSTED if record._name == "account.move" else const.EVENT_PAYMENT_POSTED
        payload = record.with_company(record.company_id)._finance_sync_payloads()[record.id]
        payload.update(payload_lib.envelope(PLACEHOLDER_EVENT_ID, event_type, fields.Datetime.now(), sequence=1))
        job = Job.new(
            {
                "backend_id": self.backend_id.id,
                "event_type": event_type,
                "payload": payload,
                "event_uuid": str(uuid.uuid4()),
                **Job._document_link_vals(record),
            }
        )
        return job, self.env._("No event yet: this is what posting it now would send (event id is a placeholder).")
