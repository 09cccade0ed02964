from odoo import api, fields, models
from odoo.exceptions import UserError

from ..models.finance_sync_backfill_run import scope_domain


class FinanceSyncBackfill(models.TransientModel):
    """Send a backend the documents it never received: those posted before it existed, while
    it was a draft, or with capture turned off. Each is captured as a 'posted' event of its
    current state, oldest first, for this backend only, by a backfill run
    (``finance.sync.backfill.run``): its first chunk at once, the others by the cron, a chunk
    per transaction, with its progress on the run and on the backend."""

    _name = "finance.sync.backfill"
    _description = "Finance Sync: Send Existing Documents"

    backend_id = fields.Many2one("finance.sync.backend", required=True, readonly=True, ondelete="cascade")
    date_from = fields.Date("From", required=True, help="Documents dated on or after this day.")
    date_to = fields.Date(
        "To", required=True, default=fields.Date.context_today, help="Documents dated on or before this day."
    )
    invoice_count = fields.Integer("Invoices and credit notes", compute="_compute_counts")
    payment_count = fields.Integer("Payments", compute="_compute_counts")

    @api.depends("backend_id", "date_from", "date_to")
    def _compute_counts(self):
        for wizard in self:
            if wizard._dates_valid():
                backend, dates = wizard.backend_id, (wizard.date_from, wizard.date_to)
                Move, Payment = self.env["account.move"], self.env["account.payment"]
                wizard.invoice_count = Move.search_count(scope_domain(backend, "invoice", *dates))
                wizard.payment_count = Payment.search_count(scope_domain(backend, "payment", *dates))
            else:
                wizard.invoice_count = wizard.payment_count = 0

    def _dates_valid(self):
        return bool(self.backend_id and self.date_from and self.date_to) and self.date_from <= self.date_to

    def _documents(self):
        """(invoices, payments) in the backend's scope and the dates, posted, that have no
        event for this backend yet (cancelled ones never left Odoo), oldest first."""
        self.ensure_one()
        Move, Payment = self.env["account.move"], self.env["account.payment"]
        if not self._dates_valid():
            return Move, Payment
        backend, dates = self.backend_id, (self.date_from, self.date_to)
        return (
            Move.search(scope_domain(backend, "invoice", *dates), order="date, id"),
            Payment.search(scope_domain(backend, "payment", *dates), order="date, id"),
        )

    def action_confirm(self):
        self.ensure_one()
        backend = self.backend_id
        backend.check_access("write")  # whoever may configure the backend
        if backend.state not in ("active", "paused"):
            raise UserError(self.env._("Activate the backend first: a draft backend receives nothing."))
        if not self._dates_valid():
            raise UserError(self.env._("Choose a start day on or before the end day."))
        run = self.env["finance.sync.backfill.run"]._start(backend, self.date_from, self.date_to)
        return run._get_form_action()
