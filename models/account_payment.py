from odoo import api, fields, models

from .. import const
from ..engine import payload as payload_lib
from ..utils import action_result

PRECOMMIT_KEY = "finance_sync.payments_touched"
# A payment in these states is confirmed: what it settles and its status are news to a platform
# that heard it posted.
CONFIRMED_STATES = ("in_process", "paid", "rejected")
# The events after which a backend knows the payment as confirmed.
CONFIRMED_EVENTS = (const.EVENT_PAYMENT_POSTED, const.EVENT_PAYMENT_UPDATED)


class AccountPayment(models.Model):
    _name = "account.payment"
    _inherit = ["account.payment", "finance.sync.document.mixin"]

    finance_sync_job_ids = fields.One2many(
        "finance.sync.job", "payment_id", string="Finance sync jobs", groups="finance_sync.finance_sync_group_user"
    )
    finance_sync_binding_ids = fields.One2many(
        "finance.sync.binding", "payment_id", string="External ids", groups="finance_sync.finance_sync_group_user"
    )

    # === COMPUTE METHODS === #

    def _compute_state(self):
        # in process -> paid (and back) follows the reconciliation: noted for the end of the
        # transaction (see _finance_sync_note_changes).
        res = super()._compute_state()
        self._finance_sync_note_changes()
        return res

    def _compute_reconciliation_status(self):
        res = super()._compute_reconciliation_status()
        self._finance_sync_note_changes()
        return res

    # === CRUD METHODS === #

    def write(self, vals):
        if "state" in vals:  # action_validate, action_reject and others set it directly
            self._finance_sync_note_changes()
        return super().write(vals)

    # === HOOKS === #

    def action_post(self):
        # The payment may already read "in process" before action_post (its state is computed
        # from its entry), so compare with what each platform last heard instead. What the
        # payment settles is known only once the transaction reconciled it (the register wizard
        # posts, then reconciles): the event captured here gets the payment's final figures just
        # before the commit (_finance_sync_flush_payments).
        res = super().action_post()
        posted = self.filtered(lambda p: p.state in ("in_process", "paid"))
        last = posted._finance_sync_last_events()
        posted._finance_sync_capture(
            const.EVENT_PAYMENT_POSTED,
            wants=lambda backend, pay: last.get((backend.id, pay.id), (None,))[0] != const.EVENT_PAYMENT_POSTED,
        )
        posted._finance_sync_note_changes()
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

    # === STATUS AND SETTLEMENT: ONE EVENT PER NET CHANGE, AT THE END OF THE TRANSACTION === #

    def _finance_sync_note_changes(self):
        """Note these payments: just before the transaction commits, each backend that knows
        one of them as confirmed and last heard another status or settlement gets one
        ``payment.updated`` (or the event this transaction captured gets the final figures)."""
        ids = [p.id for p in self if isinstance(p.id, int)]
        if not ids:
            return
        data = self.env.cr.precommit.data
        if PRECOMMIT_KEY not in data:
            self.env.cr.precommit.add(self.env["account.payment"]._finance_sync_flush_payments)
        data.setdefault(PRECOMMIT_KEY, set()).update(ids)

    @api.model
    def _finance_sync_flush_payments(self):
        ids = self.env.cr.precommit.data.pop(PRECOMMIT_KEY, set())
        payments = self.env["account.payment"].sudo().browse(ids).exists()
        payments = payments.filtered(lambda p: p.state in CONFIRMED_STATES)
        if not payments:
            return
        heard = {
            key: event
            for key, event in payments._finance_sync_last_heard().items()
            if event.event_type in CONFIRMED_EVENTS
        }
        if not heard:
            return
        payments = payments.browse(sorted({payment_id for _backend_id, payment_id in heard}))
        payloads = {}
        for company, company_payments in payments.grouped("company_id").items():
            payloads.update(company_payments.with_company(company)._finance_sync_payloads())
        news = {
            key: event.job_id for key, event in heard.items() if event.blocks != _settlement_blocks(payloads[key[1]])
        }
        refreshed = payments._finance_sync_refresh_uncommitted(payloads, news)
        to_send = set(news) - refreshed
        if to_send:
            payments.browse(sorted({pid for _bid, pid in to_send}))._finance_sync_capture(
                const.EVENT_PAYMENT_UPDATED,
                only_if_sent=True,
                wants=lambda backend, pay: (backend.id, pay.id) in to_send,
                payloads=payloads,
            )
        self.env.flush_all()

    def _finance_sync_last_heard_members(self):
        return ("document", "reconciliation")

    # === CAPTURE HELPERS === #

    def _finance_sync_job_field(self):
        return "payment_id"

    def _finance_sync_scope(self):
        self.ensure_one()
        return self.company_id, self.journal_id, self.date, None, self.payment_type

    def _finance_sync_prefetch(self):
        # As for invoices: the reconciliations of every payment's lines at once.
        self.move_id.line_ids.fetch(["matched_debit_ids", "matched_credit_ids"])

    def _finance_sync_payload(self, blocks):
        self.ensure_one()
        method = self.payment_method_line_id
        lines = blocks.receivable_payable(self.move_id.line_ids)
        reconciliation, _payments = blocks.reconciliation(lines)
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
                "invoices": self._finance_sync_allocations(blocks, lines),
            },
            "partner": blocks.partner(self.partner_id),
            "reconciliation": reconciliation,
        }

    def _finance_sync_allocations(self, blocks, lines):
        """What the payment settles: each invoice, bill or credit note Odoo counts as reconciled
        with it (``reconciled_invoice_ids``, ``reconciled_bill_ids``), in id order, with the
        part of the payment applied to it, in the payment's currency, the document's and the
        company's (sums of the partial reconciliations between them, each in its currency's
        precision; null for a document linked to the payment without a reconciliation)."""
        self.ensure_one()
        settled = blocks.settlements(lines)
        allocations = []
        for move in (self.reconciled_invoice_ids | self.reconciled_bill_ids).sorted("id"):
            amount, invoice_amount, company_amount = settled.get(move.id, (None, None, None))
            allocations.append(
                {
                    "model": "account.move",
                    "id": move.id,
                    "number": move.name or None,
                    "amount": amount,
                    "currency": self.currency_id.name,
                    "invoice_amount": invoice_amount,
                    "invoice_currency": move.currency_id.name,
                    "amount_company_currency": company_amount,
                }
            )
        return allocations


def _settlement_blocks(payload):
    """The blocks of a payment's payload a platform must hear again when they change."""
    return payload_lib.normalised({member: payload.get(member) for member in ("document", "reconciliation")})
