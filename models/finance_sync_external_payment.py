from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError

from .. import const
from ..engine import inbound
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, internal


class FinanceSyncExternalPayment(models.Model):
    """A payment a platform reported for an invoice (``payment.status`` events), one per
    (backend, platform reference). When the backend is the payment authority, the payment it
    registered in Odoo is linked here: that link is what makes registration happen once, so
    only the processing of inbound events writes these records."""

    _name = "finance.sync.external.payment"
    _description = "Finance Sync External Payment"
    _order = "date desc, id desc"
    _rec_name = "reference"
    _check_company_auto = True

    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, readonly=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    move_id = fields.Many2one("account.move", "Invoice", required=True, readonly=True, index=True, ondelete="cascade")
    reference = fields.Char("Platform reference", required=True, readonly=True)
    status = fields.Selection(const.EXTERNAL_PAYMENT_STATUSES, required=True, readonly=True)
    status_at = fields.Datetime("Status time", readonly=True, help="When the platform reported the latest status.")
    amount = fields.Monetary(currency_field="currency_id", readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    date = fields.Date(readonly=True)
    message = fields.Text(readonly=True)
    payment_id = fields.Many2one(
        "account.payment",
        "Registered payment",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        check_company=True,
    )

    _reference_uniq = models.UniqueIndex(
        "(backend_id, reference)", "A platform payment reference is recorded once per backend."
    )

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    @api.model
    def _create_once(self, vals):
        """Create the record of a new reference. When a concurrent transaction created the same
        one first, its row is invisible to this snapshot: let Odoo retry the whole transaction."""
        try:
            with self.env.cr.savepoint():
                record = self.create(vals)
                record.flush_recordset()
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name != type(self)._reference_uniq.full_name(self):
                raise
            raise ConcurrencyError(f"payment reference {vals['reference']} recorded concurrently") from exc
        return record

    # === BUSINESS METHODS === #

    def _register_payment(self, amount, currency, date):
        """Register this platform payment in Odoo, once: the standard way (payment register) on
        its invoice, reconciled, after checking it fits, and link it here; raise InboundRefusal
        (conflict) otherwise. The backend must be the payment authority for this kind of
        document, and the payment goes the document's way (const.PAYMENT_DIRECTIONS)."""
        self.ensure_one()
        invoice, reference = self.move_id, self.reference
        journal = self.backend_id.payment_journal_id

        def conflict(message):
            return InboundRefusal("conflict", message, document=invoice, fingerprint_key=f"payment:{reference}")

        if not journal:
            raise InboundRefusal(
                "inbound_invalid",
                self.env._("The backend is the payment authority but has no payment journal."),
                document=invoice,
            )
        if invoice.move_type not in self.backend_id._get_payment_authority_move_types():
            kind = dict(invoice._fields["move_type"]._description_selection(self.env))[invoice.move_type]
            raise conflict(
                self.env._(
                    "%(backend)s is not the payment authority for documents of type %(kind)s: "
                    "no payment was registered for %(doc)s.",
                    backend=self.backend_id.name,
                    kind=kind,
                    doc=invoice.display_name,
                )
            )
        if journal.company_id not in invoice.company_id.parent_ids:
            raise conflict(
                self.env._("Payment journal %s belongs to another company than the invoice.", journal.display_name)
            )
        if invoice.state != "posted":
            raise conflict(self.env._("Invoice %s is not posted.", invoice.display_name))
        if currency != invoice.currency_id:
            raise conflict(
                self.env._(
                    "Payment in %(paid)s for an invoice in %(inv)s.", paid=currency.name, inv=invoice.currency_id.name
                )
            )
        value = float(amount)
        if inbound.excess_decimals(amount, currency.decimal_places) or amount <= 0:
            raise conflict(
                self.env._("Amount %(amount)s is not a valid %(cur)s amount.", amount=amount, cur=currency.name)
            )
        residual = invoice.amount_residual
        if invoice.payment_state in ("paid", "in_payment", "reversed") or currency.is_zero(residual):
            raise conflict(self.env._("Invoice %s is already paid.", invoice.display_name))
        if currency.compare_amounts(value, residual) > 0:
            raise conflict(
                self.env._(
                    "Payment of %(amount)s %(cur)s exceeds the amount due on %(inv)s (%(due)s).",
                    amount=amount,
                    cur=currency.name,
                    inv=invoice.display_name,
                    due=currency.round(residual),
                )
            )
        locks = invoice.company_id._get_violated_lock_dates(date, False, journal)
        if locks:
            raise conflict(
                self.env._(
                    "The payment date %(date)s is in a locked period (until %(lock)s).", date=date, lock=locks[-1][0]
                )
            )
        wizard = (
            self.env["account.payment.register"]
            .with_company(invoice.company_id)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "payment_date": date,
                    "journal_id": journal.id,
                    "amount": value,
                    "currency_id": currency.id,
                    "communication": reference,
                    "payment_difference_handling": "open",
                }
            )
        )
        if (wizard.payment_type, wizard.partner_type) != const.PAYMENT_DIRECTIONS[invoice.move_type]:
            raise conflict(self.env._("The payment would not go the way %s is settled.", invoice.display_name))
        payment = wizard._create_payments().with_env(self.env)
        internal(self).write({"payment_id": payment.id})
        return payment
