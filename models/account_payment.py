from odoo import fields, models

from .. import const
from ..engine import payload as payload_lib
from ..utils import action_result


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
        return action_result(res)

    def action_draft(self):
        confirmed = self.filtered(lambda p: p.state in ("in_process", "paid"))
        res = super().action_draft()
        confirmed._finance_sync_capture(const.EVENT_PAYMENT_DRAFT, only_if_sent=True)
        return action_result(res)

    def action_cancel(self):
        res = super().action_cancel()
        self.filtered(lambda p: p.state == "canceled")._finance_sync_capture(
            const.EVENT_PAYMENT_CANCELLED, only_if_sent=True
        )
        return action_result(res)

    # === CAPTURE HELPERS === #

    def _finance_sync_job_field(self):
        return "payment_id"

    def _finance_sync_scope(self):
        self.ensure_one()
        return self.company_id, self.journal_id, self.date, None, self.payment_type

    def _finance_sync_payload(self, blocks):
        self.ensure_one()
        method = self.payment_method_line_id
        reconciliation, _payments = blocks.reconciliation(blocks.receivable_payable(self.move_id.line_ids))
        return {
            "company": blocks.company(self.company_id),
            "document": {
                "model": "account.payment",
                "id": self.id,
                "number": self.name or None,
                "kind": const.PAYMENT_KINDS[self.payment_type],
                "state": self.state,
                "date": payload_lib.iso_date(self.date),
                "amount": blocks.money(self.amount, self.currency_id),
                "amount_company_currency": blocks.money(
                    abs(self.amount_company_currency_signed), self.company_currency_id
                ),
                "currency": self.currency_id.name,
                "journal": blocks.ref(self.journal_id, "code"),
                "payment_method": blocks.ref(method, "code"),
                "memo": self.memo or None,
                "bank_account": self.partner_bank_id.acc_number or None,
                "is_reconciled": bool(self.is_reconciled),
                "invoices": [
                    {"model": "account.move", "id": inv.id, "number": inv.name} for inv in self.reconciled_invoice_ids
                ],
            },
            "partner": blocks.partner(self.partner_id),
            "reconciliation": reconciliation,
        }
