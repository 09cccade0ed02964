"""Business findings across systems: facts on which a platform and Odoo disagree, each a
``finance.sync.exception`` of category ``business`` that shows the records on both sides (the
Odoo record it is linked to, the platform's reference in its message) and that closes itself
once both sides agree.

- *Paid on the platform, unpaid in Odoo*: a platform reported a succeeded payment of an invoice
  that is still unpaid in Odoo past its due date (found by the daily cron below).
- *Payment without an invoice*: a succeeded ``payment.status`` naming no invoice Odoo knows
  (found when it arrives, finance_sync_external_payment.py; resolved when the event is applied).
- *Deal without an order*: a won deal of a platform's ``deals.report`` with no sales order in
  Odoo (found when the report arrives, finance_sync_inbound_order.py).
"""

import logging

from odoo import api, fields, models
from odoo.fields import Domain

from ..engine.messages import message

_logger = logging.getLogger(__name__)

# Invoices Odoo counts as settled (or about to be, a payment in the bank's hands).
SETTLED_PAYMENT_STATES = ("paid", "in_payment", "reversed")
UNPAID_KEY = "finding:unpaid:"


class FinanceSyncExternalPayment(models.Model):
    _inherit = "finance.sync.external.payment"

    @api.model
    def _cron_business_findings(self):
        """Open a finding for each invoice a platform reported paid that is still unpaid in
        Odoo past its due date, and resolve those whose invoice is settled since (or whose
        payment the platform no longer reports as succeeded)."""
        today = fields.Date.context_today(self)
        reported = self.sudo().search(
            Domain("status", "=", "succeeded")
            & Domain("move_id.state", "=", "posted")
            & Domain("move_id.payment_state", "not in", SETTLED_PAYMENT_STATES)
            & Domain("move_id.invoice_date_due", "<", today)
        )
        Exception_ = self.env["finance.sync.exception"].sudo()
        for payment in reported:
            invoice = payment.move_id
            Exception_._open_or_bump(
                backend=payment.backend_id,
                category="business",
                message=message(
                    "finding_paid_unpaid_invoice",
                    invoice=invoice.display_name,
                    amount=str(invoice.currency_id.round(payment.amount)),
                    currency=payment.currency_id.name,
                    reference=payment.reference,
                    date=str(payment.date or "-"),
                    due=str(invoice.invoice_date_due),
                ),
                document=invoice,
                fingerprint_key=f"{UNPAID_KEY}{invoice.id}",
            )
        still = {f"{p.backend_id.id}|business|{UNPAID_KEY}{p.move_id.id}" for p in reported}
        open_findings = Exception_.search(
            [
                ("category", "=", "business"),
                ("fingerprint", "like", f"%|business|{UNPAID_KEY}%"),
                ("state", "in", ("new", "in_progress")),
            ]
        )
        gone = open_findings.filtered(lambda finding: finding.fingerprint not in still)
        for finding in gone:
            finding._close("resolved")
            finding.message_post(body=self.env._("Resolved automatically: the records on both sides agree now."))
        _logger.info("finance_sync: %s unpaid invoice findings open, %s resolved", len(reported), len(gone))
        return True
