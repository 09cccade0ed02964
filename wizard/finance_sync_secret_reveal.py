from odoo import api, fields, models

from ..utils import secret_box


class FinanceSyncSecretReveal(models.TransientModel):
    """Shows a generated signing secret once. The secret is kept encrypted, like the backend's,
    and the record goes as soon as it is closed (only its creator can read it meanwhile)."""

    _name = "finance.sync.secret.reveal"
    _description = "Finance Sync Signing Secret, Shown Once"

    backend_id = fields.Many2one("finance.sync.backend", required=True, readonly=True, ondelete="cascade")
    secret_encrypted = fields.Char(readonly=True)
    secret = fields.Char(
        "Signing secret",
        compute="_compute_secret",
        help="Give it to the platform now: it verifies each event's signature with it. It is not shown again.",
    )

    @api.depends("secret_encrypted")
    def _compute_secret(self):
        box = secret_box(self.env)
        for reveal in self:
            reveal.secret = reveal.secret_encrypted and box.decrypt(reveal.secret_encrypted)

    def action_done(self):
        self.unlink()
        return {"type": "ir.actions.act_window_close"}
