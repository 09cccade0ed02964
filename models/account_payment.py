from odoo import fields, models

from .. import const
from ..engine import payload as payload_lib


class AccountPayment(models.Model):
    _name = "account.payment"
    _inherit = ["account.payment", "finance.sync.document.mixin"]

    finance_sync_job_ids = fields.One2many(
        "finance.sync.job", "payment_id", string="Finance sync jobs", groups="finance_sync.finance_sync_group_user"
    )
    finance_sync_binding_ids = fields.One2many(
        "finance.sync.binding", "payment_id", string="External ids", groups="finance_sync.finance_sync_group_user"
    )

    # === HOOKS === #

    def action_post(self):
        # The payment may already read "in process" before action_post (its state is computed
        # from its entry), so compare with what each platform last heard instead.
        res = super().action_post()
        posted = self.filtered(lambda p: p.state in ("in_process", "paid"))
        last = posted._finance_sync_last_events()
        posted._finance_sync_capture(
            const.EVENT_PAYMENT_POSTED,
            wants=lambda backend, pay: last.get((backend.id, pay.id), (None,))[0] != const.EVENT_PAYMENT_POSTED,
        )
        return res

    def action_draft(self):
        confirmed = self.filtered(lambda p: p.state in ("in_process", "paid"))
        res = super().action_draft()
        confirmed._finance_sync_capture(const.EVENT_PAYMENT_DRAFT, only_if_sent=True)
        return res

    def action_cancel(self):
        res = super().action_cancel()
        self.filtered(lambda p: p.state == "canceled")._finance_sync_capture(
            const.EVENT_PAYMENT_CANCELLED, only_if_sent=True
        )
        return res

    # === CAPTURE HELPERS === #

    def _finance_sync_job_field(self):
        return "payment_id"

    def _finance_sync_scope(self):
        self.ensure_one()
        return self.company_id, self.journal_id, self.date, None, self.payment_type

    def _finance_sync_payloads(self):
        return {payment.id: payment._finance_sync_payload() for payment in self}

    def _finance_sync_payload(self):
        self.ensure_one()
        method = self.payment_method_line_id
        counterpart_lines = self.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type in ("asset_receivable", "liability_payable")
        )
        return {
            "company": self._finance_sync_company_block(self.company_id),
            "document": {
                "model": "account.payment",
                "id": self.id,
                "number": self.name or None,
                "kind": const.PAYMENT_KINDS[self.payment_type],
                "state": self.state,
                "date": payload_lib.iso_date(self.date),
                "amount": self._finance_sync_money(self.amount, self.currency_id),
                "amount_company_currency": self._finance_sync_money(
                    abs(self.amount_company_currency_signed), self.company_currency_id
                ),
                "currency": self.currency_id.name,
                "journal": self._finance_sync_ref(self.journal_id, self.journal_id.code),
                "payment_method": self._finance_sync_ref(method, method.code) if method else None,
                "memo": self.memo or None,
                "bank_account": self.partner_bank_id.acc_number or None,
                "is_reconciled": bool(self.is_reconciled),
                "invoices": [
                    {"model": "account.move", "id": inv.id, "number": inv.name} for inv in self.reconciled_invoice_ids
                ],
            },
            "partner": self._finance_sync_partner_block(self.partner_id),
            "reconciliation": self._finance_sync_reconciliation(counterpart_lines),
        }
