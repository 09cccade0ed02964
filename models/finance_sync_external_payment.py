from decimal import Decimal

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError

from .. import const
from ..engine import inbound
from ..engine.messages import message, selection
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, internal


class FinanceSyncExternalPayment(models.Model):
    """A payment a platform reported for an invoice (``payment.status`` events), one per
    (backend, platform reference). When the backend is the payment authority, the payment it
    registered in Odoo is linked here: that link is what makes registration happen once, so
    only the processing of inbound events writes these records (``_apply_inbound_status``)."""

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

    # === INBOUND: payment.status === #

    @api.model
    def _apply_inbound_status(self, event, data):
        """Apply a ``payment.status`` event (``event``, a ``finance.sync.inbound.event``): record
        the platform's payment of the invoice, and register it in Odoo once when the backend is
        the payment authority and the payment succeeded. :return: the inbound handler's
        (state, message); raise InboundRefusal"""
        try:
            invoice = event._find_invoice(data["invoice"])
        except InboundRefusal as refusal:
            if refusal.category != "inbound_unknown_reference" or data["status"] != "succeeded":
                raise
            # Money the platform collected that names no invoice Odoo knows: a business finding
            # with the platform's reference, resolved once the event is applied (reprocessed).
            ref = data["invoice"]
            raise InboundRefusal(
                "business",
                message(
                    "finding_payment_without_invoice",
                    reference=data["reference"],
                    amount=data["amount"],
                    currency=data["currency"],
                    date=data["date"],
                    invoice=ref.get("number") or ref.get("external_id"),
                ),
                fingerprint_key=f"finding:payment:{data['reference']}",
            ) from None
        backend = event.backend_id
        currency = event._find_currency(data["currency"])
        if not currency:
            raise InboundRefusal(
                "inbound_invalid", message("inbound_unknown_currency", currency=data["currency"]), document=invoice
            )
        amount = Decimal(data["amount"])
        external = self.search([("backend_id", "=", backend.id), ("reference", "=", data["reference"])])
        if external and external.move_id != invoice:
            raise InboundRefusal(
                "conflict",
                message(
                    "inbound_payment_moved",
                    reference=data["reference"],
                    other=external.move_id.display_name,
                    this=invoice.display_name,
                ),
                document=invoice,
                fingerprint_key=f"payment:{data['reference']}",
            )
        if external and external.status_at and event.occurred_at and event.occurred_at < external.status_at:
            internal(event).write({"external_payment_id": external.id})
            return "ignored", message("inbound_payment_older", status=external.status)
        vals = {
            "status": data["status"],
            "amount": float(amount),
            "currency_id": currency.id,
            "date": data["date"],
            "status_at": event.occurred_at or fields.Datetime.now(),
            "message": data.get("message") or False,
        }
        if external:
            internal(external).write(vals)
        else:
            external = self._create_once(
                {**vals, "backend_id": backend.id, "reference": data["reference"], "move_id": invoice.id}
            )
        internal(event).write({"external_payment_id": external.id})
        result = message("inbound_payment_status", reference=data["reference"], status=data["status"])
        if data["status"] == "succeeded" and backend.payment_authority and not external.payment_id:
            payment = external._register_payment(amount, currency, fields.Date.to_date(data["date"]))
            internal(event).write({"payment_id": payment.id})
            result = message("inbound_payment_registered", reference=data["reference"], payment=payment.display_name)
        elif data["status"] == "succeeded" and external.payment_id:
            result = message(
                "inbound_payment_already_registered",
                reference=data["reference"],
                payment=external.payment_id.display_name,
            )
        elif data["status"] in ("refunded", "failed") and external.payment_id:
            # Odoo never undoes an accounting entry on its own: a person reverses it.
            event._warn(
                "conflict",
                message(
                    "inbound_payment_contradicted",
                    reference=data["reference"],
                    status=data["status"],
                    payment=external.payment_id.display_name,
                ),
                document=invoice,
                fingerprint_key=f"payment:{data['reference']}",
            )
        invoice.message_post(
            body=self.env._(
                "%(backend)s: payment %(ref)s of %(amount)s %(currency)s on %(date)s %(status)s.",
                backend=backend.name,
                ref=data["reference"],
                amount=data["amount"],
                currency=currency.name,
                date=data["date"],
                status=dict(const.EXTERNAL_PAYMENT_STATUSES)[data["status"]].lower(),
            ),
            subtype_xmlid="mail.mt_note",
        )
        return "processed", result

    # === BUSINESS METHODS === #

    def _register_payment(self, amount, currency, date):
        """Register this platform payment in Odoo, once: the standard way (payment register) on
        its invoice, reconciled, after checking it fits, and link it here; raise InboundRefusal
        (conflict) otherwise. The backend must be the payment authority for this kind of
        document, and the payment goes the document's way (const.PAYMENT_DIRECTIONS)."""
        self.ensure_one()
        invoice, reference = self.move_id, self.reference
        journal = self.backend_id.payment_journal_id

        def conflict(code, /, **params):
            return InboundRefusal(
                "conflict", message(code, **params), document=invoice, fingerprint_key=f"payment:{reference}"
            )

        if not journal:
            raise InboundRefusal(
                "inbound_invalid",
                message("payment_no_journal"),
                document=invoice,
            )
        if invoice.move_type not in self.backend_id._get_payment_authority_move_types():
            raise conflict(
                "payment_not_authority",
                backend=self.backend_id.name,
                kind=selection("account.move", "move_type", invoice.move_type),
                document=invoice.display_name,
            )
        if journal.company_id not in invoice.company_id.parent_ids:
            raise conflict("payment_journal_company", journal=journal.display_name)
        if invoice.state != "posted":
            raise conflict("payment_invoice_not_posted", invoice=invoice.display_name)
        if currency != invoice.currency_id:
            raise conflict("payment_currency", paid=currency.name, invoiced=invoice.currency_id.name)
        value = float(amount)
        if inbound.excess_decimals(amount, currency.decimal_places) or amount <= 0:
            raise conflict("payment_amount_invalid", amount=str(amount), currency=currency.name)
        residual = invoice.amount_residual
        if invoice.payment_state in ("paid", "in_payment", "reversed") or currency.is_zero(residual):
            raise conflict("payment_invoice_paid", invoice=invoice.display_name)
        if currency.compare_amounts(value, residual) > 0:
            raise conflict(
                "payment_exceeds_due",
                amount=str(amount),
                currency=currency.name,
                invoice=invoice.display_name,
                due=currency.round(residual),
            )
        locks = invoice.company_id._get_violated_lock_dates(date, False, journal)
        if locks:
            raise conflict("payment_date_locked", date=str(date), lock=str(locks[-1][0]))
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
            raise conflict("payment_direction", invoice=invoice.display_name)
        payment = wizard._create_payments().with_env(self.env)
        internal(self).write({"payment_id": payment.id})
        return payment
