from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .finance_sync_mapping_set import MAPPING_KINDS

# kind -> (field on the mapping, Odoo model)
KIND_FIELDS = {
    "account": ("account_id", "account.account"),
    "tax": ("tax_id", "account.tax"),
    "journal": ("journal_id", "account.journal"),
    "partner": ("partner_id", "res.partner"),
    "currency": ("currency_id", "res.currency"),
    "analytic": ("analytic_account_id", "account.analytic.account"),
    "company": ("mapped_company_id", "res.company"),
    "payment_method": ("payment_method_line_id", "account.payment.method.line"),
}


class FinanceSyncMapping(models.Model):
    """One Odoo record and the code a platform knows it by."""

    _name = "finance.sync.mapping"
    _description = "Finance Sync Mapping"
    _order = "set_id, kind, id"

    set_id = fields.Many2one("finance.sync.mapping.set", "Mapping set", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(MAPPING_KINDS, required=True)
    # One column per kind: imports (CSV/XLSX) then take names or external ids, as everywhere in Odoo.
    account_id = fields.Many2one("account.account", ondelete="cascade")
    tax_id = fields.Many2one("account.tax", ondelete="cascade")
    journal_id = fields.Many2one("account.journal", ondelete="cascade")
    partner_id = fields.Many2one("res.partner", ondelete="cascade")
    currency_id = fields.Many2one("res.currency", ondelete="cascade")
    analytic_account_id = fields.Many2one("account.analytic.account", ondelete="cascade")
    mapped_company_id = fields.Many2one("res.company", "Company (mapped)", ondelete="cascade")
    payment_method_line_id = fields.Many2one("account.payment.method.line", ondelete="cascade")
    res_id = fields.Integer("Record ID", compute="_compute_res_id", store=True, index=True)
    record_name = fields.Char("Odoo record", compute="_compute_res_id", store=True)
    external_code = fields.Char(help="The code the platform uses. Empty: a draft line to fill in.")
    label = fields.Char()
    is_missing = fields.Boolean("Code missing", compute="_compute_is_missing", store=True)

    _record_uniq = models.UniqueIndex("(set_id, kind, res_id)", "This record is mapped already in this set.")

    @api.depends(*(f for f, _m in KIND_FIELDS.values()), "kind")
    def _compute_res_id(self):
        for mapping in self:
            record = mapping[KIND_FIELDS[mapping.kind][0]] if mapping.kind else None
            mapping.res_id = record.id if record else 0
            mapping.record_name = record.display_name if record else False

    @api.depends("external_code")
    def _compute_is_missing(self):
        for mapping in self:
            mapping.is_missing = not (mapping.external_code or "").strip()

    @api.constrains("kind", "res_id")
    def _check_record(self):
        for mapping in self:
            if not mapping.res_id:
                raise ValidationError(_("Mapping of kind %s needs its Odoo record.", dict(MAPPING_KINDS)[mapping.kind]))

    @api.model_create_multi
    def create(self, vals_list):
        mappings = super().create(vals_list)
        for mapping_set, lines in mappings.grouped("set_id").items():
            mapping_set.message_post(
                body=Markup("<br/>").join(
                    _(
                        "Mapping added: %(kind)s %(record)s → %(code)s",
                        kind=dict(MAPPING_KINDS)[m.kind],
                        record=m.record_name,
                        code=m.external_code or "—",
                    )
                    for m in lines
                )
            )
        mappings._release_blocked_jobs()
        return mappings

    def write(self, vals):
        before = {m.id: m.external_code for m in self} if "external_code" in vals else {}
        res = super().write(vals)
        for mapping in self.filtered(lambda m: m.id in before and before[m.id] != m.external_code):
            mapping.set_id.message_post(
                body=_(
                    "Mapping changed: %(kind)s %(record)s: %(old)s → %(new)s",
                    kind=dict(MAPPING_KINDS)[mapping.kind],
                    record=mapping.record_name,
                    old=before[mapping.id] or "—",
                    new=mapping.external_code or "—",
                )
            )
        if before:
            self._release_blocked_jobs()
        return res

    def unlink(self):
        for mapping in self:
            mapping.set_id.message_post(
                body=_(
                    "Mapping removed: %(kind)s %(record)s (%(code)s)",
                    kind=dict(MAPPING_KINDS)[mapping.kind],
                    record=mapping.record_name,
                    code=mapping.external_code or "—",
                )
            )
        return super().unlink()

    def _release_blocked_jobs(self):
        """Send again, without anyone pressing retry, the jobs held back for these mappings."""
        complete = self.filtered(lambda m: not m.is_missing)
        if not complete:
            return
        backends = complete.set_id.backend_ids
        keys = [
            f"{backend.id}|missing_mapping|mapping:{m.kind}:{m.res_id}"
            for m in complete
            for backend in backends
            if backend.mapping_set_id == m.set_id
        ]
        exceptions = (
            self.env["finance.sync.exception"]
            .sudo()
            .search([("fingerprint", "in", keys), ("state", "in", ("new", "in_progress"))])
        )
        jobs = exceptions.job_ids.filtered(lambda j: j.state == "blocked")
        if jobs:
            jobs.write({"state": "pending", "next_attempt_at": fields.Datetime.now()})
            exceptions.message_post(body=_("Mapping added: the held documents are sent again."))
            jobs._send_now()
