from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import const

# A backfill runs in the request that asks for it: beyond this many documents, narrow the dates.
BACKFILL_MAX = 20000
BACKFILL_CHUNK = 1000  # documents captured per outbox INSERT


class FinanceSyncBackfill(models.TransientModel):
    """Send a backend the documents it never received: those posted before it existed, while
    it was a draft, or with capture turned off. Each is captured as a 'posted' event of its
    current state, oldest first, for this backend only."""

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
            invoices, payments = wizard._documents()
            wizard.invoice_count, wizard.payment_count = len(invoices), len(payments)

    def _documents(self):
        """(invoices, payments) in the backend's scope and the dates, posted, that have no
        event for this backend yet (cancelled ones never left Odoo), oldest first."""
        self.ensure_one()
        Move, Payment = self.env["account.move"], self.env["account.payment"]
        backend = self.backend_id
        if not (backend and self.date_from and self.date_to) or self.date_from > self.date_to:
            return Move, Payment
        common = [
            ("company_id", "in", backend.company_ids.ids),
            ("date", ">=", self.date_from),
            ("date", "<=", self.date_to),
        ]
        if backend.journal_ids:
            common.append(("journal_id", "in", backend.journal_ids.ids))
        if backend.start_date:
            common.append(("date", ">=", backend.start_date))
        heard = [("backend_id", "=", backend.id), ("state", "!=", "cancelled")]
        invoices = Move.search(
            [
                *common,
                ("state", "=", "posted"),
                ("move_type", "in", backend._get_scope_move_types()),
                ("finance_sync_job_ids", "not any", heard),
            ],
            order="date, id",
        )
        payments = Payment.search(
            [
                *common,
                ("state", "in", ("in_process", "paid")),
                ("payment_type", "in", backend._get_scope_payment_types()),
                ("finance_sync_job_ids", "not any", heard),
            ],
            order="date, id",
        )
        return invoices, payments

    def action_confirm(self):
        self.ensure_one()
        backend = self.backend_id
        backend.check_access("write")  # whoever may configure the backend
        if backend.state not in ("active", "paused"):
            raise UserError(self.env._("Activate the backend first: a draft backend receives nothing."))
        invoices, payments = self._documents()
        if not invoices and not payments:
            raise UserError(self.env._("Every document of these dates has already been sent to this backend."))
        if len(invoices) + len(payments) > BACKFILL_MAX:
            raise UserError(
                self.env._(
                    "%(count)s documents at once is more than %(max)s: choose a shorter period.",
                    count=len(invoices) + len(payments),
                    max=BACKFILL_MAX,
                )
            )

        def only_this(candidate, _record):
            return candidate.id == backend.id

        for records, event in ((invoices, const.EVENT_INVOICE_POSTED), (payments, const.EVENT_PAYMENT_POSTED)):
            for start in range(0, len(records), BACKFILL_CHUNK):
                records[start : start + BACKFILL_CHUNK]._finance_sync_capture(event, wants=only_this)
        backend.message_post(
            body=self.env._(
                "%(user)s sent the existing documents dated %(start)s to %(end)s: "
                "%(invoices)s invoices or credit notes, %(payments)s payments.",
                user=self.env.user.name,
                start=self.date_from,
                end=self.date_to,
                invoices=len(invoices),
                payments=len(payments),
            )
        )
        return backend.action_view_jobs()
