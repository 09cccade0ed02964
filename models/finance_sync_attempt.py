from odoo import fields, models


class FinanceSyncAttempt(models.Model):
    """One delivery attempt of a job: when, how long, what the platform answered.
    Response excerpts are stored with secrets and personal data masked."""

    _name = "finance.sync.attempt"
    _description = "Finance Sync Delivery Attempt"
    _order = "started_at desc, id desc"

    job_id = fields.Many2one("finance.sync.job", required=True, ondelete="cascade", index=True, readonly=True)
    backend_id = fields.Many2one(related="job_id.backend_id", store=True, index=True)
    company_id = fields.Many2one(related="job_id.company_id", store=True)
    started_at = fields.Datetime(required=True, readonly=True)
    duration_ms = fields.Integer("Duration (ms)", readonly=True)
    status_code = fields.Integer("HTTP status", readonly=True, help="0 when no HTTP answer was received.")
    outcome = fields.Selection(
        [("done", "Delivered"), ("retry", "Will retry"), ("failed", "Refused"), ("pause", "Endpoint gone")],
        readonly=True,
    )
    response_excerpt = fields.Text(readonly=True)
    error = fields.Text(readonly=True)

    _backend_recent_idx = models.Index("(backend_id, started_at DESC, id DESC)")
