import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command

from .. import const
from ..engine import payload as payload_lib
from ..utils import action_result, check_guarded_fields, credit_override_of, without_context_defaults

_logger = logging.getLogger(__name__)

PRECOMMIT_KEY = "finance_sync.payment_state_before"
# What a platform that created the document told Odoo: written only by the inbound processing
# (the origin decides which platform's external id the document's events carry).
ORIGIN_FIELDS = (
    "finance_sync_origin_backend_id",
    "finance_sync_origin_external_id",
    "finance_sync_approval_state",
    "finance_sync_approved_by",
    "finance_sync_approved_at",
    "finance_sync_approval_ref",
    "finance_sync_cost_center",
    # who posted the document before its platform approved it (models/account_move_approval.py)
    "finance_sync_approval_override_uid",
    "finance_sync_approval_override_at",
)


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "finance.sync.document.mixin"]

    finance_sync_job_ids = fields.One2many(
        "finance.sync.job", "move_id", string="Finance sync jobs", groups="finance_sync.finance_sync_group_user"
    )
    # --- told by platforms (inbound webhooks) ------------------------------------------------
    finance_sync_external_status = fields.Char(
        "External status",
        tracking=True,
        index="btree_not_null",
        copy=False,
        help="The platform's own status of this invoice (e.g. disputed, in_collection), from its webhooks.",
    )
    finance_sync_external_status_label = fields.Char("External status label", tracking=True, copy=False)
    finance_sync_external_status_at = fields.Datetime("External status time", copy=False, readonly=True)
    finance_sync_binding_ids = fields.One2many(
        "finance.sync.binding", "move_id", string="External ids", groups="finance_sync.finance_sync_group_user"
    )
    finance_sync_external_payment_ids = fields.One2many(
        "finance.sync.external.payment",
        "move_id",
        string="Platform payments",
        groups="finance_sync.finance_sync_group_user",
    )
    # --- created by a platform (inbound invoice.create / bill.create) ------------------------
    finance_sync_origin_backend_id = fields.Many2one(
        "finance.sync.backend",
        "Created by platform",
        readonly=True,
        copy=False,
        index="btree_not_null",
        tracking=True,
        help="The platform that created this document; its own events carry the platform's external id.",
    )
    finance_sync_origin_external_id = fields.Char("Platform's external id", readonly=True, copy=False, tracking=True)
    finance_sync_approval_state = fields.Selection(
        const.APPROVAL_STATES, "Platform approval", readonly=True, copy=False, tracking=True
    )
    finance_sync_approved_by = fields.Char("Approved by", readonly=True, copy=False, tracking=True)
    finance_sync_approved_at = fields.Datetime("Approval time", readonly=True, copy=False)
    finance_sync_approval_ref = fields.Char("Approval reference", readonly=True, copy=False)
    finance_sync_cost_center = fields.Char("Cost center", readonly=True, copy=False)

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        # A context default never sets what only the inbound processing records (see create).
        return super(AccountMove, without_context_defaults(self, ORIGIN_FIELDS)).default_get(fields)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_guarded_fields(self, vals, ORIGIN_FIELDS)
        return super().create(vals_list)

    def write(self, vals):
        check_guarded_fields(self, vals, ORIGIN_FIELDS)
        if vals.get("state") == "posted":
            # Odoo lets a write post a draft outright, past _post: the hold applies there too.
            self._finance_sync_check_credit_hold()
        return super().write(vals)

    finance_sync_credit_hold = fields.Boolean(
        "Customer on credit hold",
        related="commercial_partner_id.finance_sync_credit_hold",
        help="A platform with credit authority put this customer on hold.",
    )
    finance_sync_credit_hold_reason = fields.Char(related="commercial_partner_id.finance_sync_credit_hold_reason")

    # === ACTIONS === #

    def action_post(self):
        """Posting a customer invoice of a customer on credit hold asks for a reason first (the
        override wizard), whoever posts: the reason and who gave it go to the invoice's chatter."""
        if self._finance_sync_credit_held() and not credit_override_of(self.env):
            return self._finance_sync_credit_hold_action(self)
        return action_result(super().action_post())

    def action_validate_moves_with_confirmation(self):
        """The list's *Confirm entries*: with invoices of customers on credit hold among them,
        the override wizard asks for the reason before anything is posted."""
        draft = self.filtered(lambda m: m.state == "draft" and m.line_ids)
        if draft._finance_sync_credit_held() and not credit_override_of(self.env):
            return self._finance_sync_credit_hold_action(draft)
        return super().action_validate_moves_with_confirmation()

    def _finance_sync_credit_held(self):
        """The draft customer invoices among these whose customer is on credit hold."""
        return self.filtered(
            lambda m: m.state == "draft" and m.move_type == "out_invoice" and m.finance_sync_credit_hold
        )

    @api.model
    def _finance_sync_credit_hold_action(self, moves, validate_wizard=None):
        """The override wizard for ``moves`` (and the *Confirm entries* wizard to finish with)."""
        context = {"default_move_ids": [Command.set(moves.ids)]}
        if validate_wizard:
            context["default_validate_wizard_id"] = validate_wizard.id
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Customer on credit hold"),
            "res_model": "finance.sync.credit.hold.override",
            "view_mode": "form",
            "target": "new",
            "context": context,
        }

    # === CREDIT HOLD: every posting passes here === #

    def _finance_sync_check_credit_hold(self):
        """Raise UserError for invoices of customers on credit hold, unless the override wizard
        granted the posting (``utils.credit_override``: a decision no context key can forge).
        :return: the held invoices among these, to record the override on once posted."""
        held = self._finance_sync_credit_held()
        if held and not credit_override_of(self.env):
            raise UserError(
                self.env._(
                    "Not posted: the customer of these invoices is on credit hold.\n%(invoices)s\n"
                    "Open the invoice and press Confirm: it asks why the hold is overridden and records your "
                    "reason in the invoice's chatter. Or wait until the credit platform lifts the hold.",
                    invoices="\n".join(
                        f"- {move.display_name}, {move.commercial_partner_id.display_name}, "
                        f"{move.currency_id.format(move.amount_total)}: {move.finance_sync_credit_hold_reason or '-'}"
                        for move in held
                    ),
                )
            )
        return held

    def _finance_sync_note_credit_override(self):
        """Record on these invoices, just posted although their customer is on credit hold, who
        overrode the hold and why; their credit hold exceptions are settled."""
        override = credit_override_of(self.env)
        for move in self:
            move.message_post(
                body=Markup("%s<br/>%s")
                % (
                    self.env._(
                        "%(user)s posted this invoice although %(customer)s is on credit hold (%(hold)s).",
                        user=self.env.user.name,
                        customer=move.commercial_partner_id.display_name,
                        hold=move.finance_sync_credit_hold_reason or self.env._("no reason given"),
                    ),
                    self.env._("Reason: %s", override.reason),
                ),
                subtype_xmlid="mail.mt_note",
            )
        for exc in self._finance_sync_open_exceptions("credit_hold"):
            exc._close("resolved")
            exc.message_post(
                body=self.env._(
                    "Resolved: %(user)s posted %(document)s with a recorded override of the credit hold.",
                    user=self.env.user.name,
                    document=exc.move_id.display_name,
                )
            )

    @api.model
    def _autopost_draft_entries(self, batch_size=100):
        """Odoo's auto-post cron: invoices of customers on credit hold are not posted (see
        ``_finance_sync_hold_autopost``), the others as usual."""
        self._finance_sync_hold_autopost()
        return super()._autopost_draft_entries(batch_size=batch_size)

    @api.model
    def _finance_sync_hold_autopost(self):
        """Take the invoices of customers on credit hold that the auto-post cron would post out
        of its queue: each stays draft, its auto-post is turned off (else the cron would pick it
        again on every run, ahead of the others), its chatter says why and its salesperson (else
        its creator, else the Finance Sync default responsible) gets a to-do to post it with a
        reason or leave it."""
        held = self.search(
            [
                ("state", "=", "draft"),
                ("date", "<=", fields.Date.context_today(self)),
                ("auto_post", "!=", "no"),
                ("move_type", "=", "out_invoice"),
                ("commercial_partner_id.finance_sync_credit_hold", "=", True),
            ]
        )
        labels = dict(self._fields["auto_post"]._description_selection(self.env))
        fallback = self.env["finance.sync.exception"]._default_responsible()
        for move in held:
            was = labels.get(move.auto_post, move.auto_post)
            move.auto_post = "no"
            note = self.env._(
                "Not posted automatically: %(customer)s is on credit hold (%(hold)s). Auto-post (%(was)s) was "
                "turned off. Press Confirm to post it anyway: you are asked why, and your reason is recorded here.",
                customer=move.commercial_partner_id.display_name,
                hold=move.finance_sync_credit_hold_reason or self.env._("no reason given"),
                was=was,
            )
            move.message_post(body=note, subtype_xmlid="mail.mt_note")
            user = move._finance_sync_poster(fallback)
            if user:
                move.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=self.env._("Customer on credit hold: not posted automatically"),
                    note=note,
                    user_id=user.id,
                )
        if held:
            _logger.info("finance_sync: %s invoices of customers on credit hold left out of auto-post", len(held))

    def _finance_sync_open_exceptions(self, category):
        """The open exceptions of ``category`` on these documents."""
        return (
            self.env["finance.sync.exception"]
            .sudo()
            .search(
                [
                    ("move_id", "in", self.ids),
                    ("category", "=", category),
                    ("state", "in", const.EXCEPTION_OPEN_STATES),
                ]
            )
        )

    def _finance_sync_poster(self, fallback):
        """Who is asked to post this held invoice: its salesperson, else its creator, else
        ``fallback``; the first one that is an active internal user of its company who may post
        invoices (or no user)."""
        self.ensure_one()
        for user in (self.invoice_user_id, self.create_uid, fallback):
            if (
                user
                and user.active
                and not user.share
                and self.company_id in user.company_ids
                and user.has_group("account.group_account_invoice")
            ):
                return user
        return self.env["res.users"]

    # === HOOKS: every change a platform must hear about === #

    def _post(self, soft=True):
        held = self._finance_sync_check_credit_hold()
        posted = super()._post(soft=soft)
        (posted & held)._finance_sync_note_credit_override()
        posted._finance_sync_invoices()._finance_sync_capture(const.EVENT_INVOICE_POSTED)
        posted._finance_sync_note_exposure()
        return posted

    def button_draft(self):
        was_posted = self._finance_sync_invoices().filtered(lambda m: m.state == "posted")
        receivables = self.filtered(lambda m: m.state == "posted")
        res = super().button_draft()
        was_posted._finance_sync_capture(const.EVENT_INVOICE_DRAFT, only_if_sent=True)
        receivables._finance_sync_note_exposure()
        return res

    def button_cancel(self):
        invoices = self._finance_sync_invoices()
        res = super().button_cancel()
        invoices.filtered(lambda m: m.state == "cancel")._finance_sync_capture(
            const.EVENT_INVOICE_CANCELLED, only_if_sent=True
        )
        return res

    def _compute_payment_state(self):
        # payment_state is computed, never written, and recomputed whenever the residual moves.
        # Note which invoices were recomputed and, just before the transaction commits, tell
        # each platform whose last event shows another status or residual: one event per net
        # change, none for flips within the transaction.
        res = super()._compute_payment_state()
        touched = [m.id for m in self._finance_sync_invoices() if isinstance(m.id, int) and m.state == "posted"]
        if touched:
            data = self.env.cr.precommit.data
            if PRECOMMIT_KEY not in data:
                self.env.cr.precommit.add(self._finance_sync_flush_payment_states)
            data.setdefault(PRECOMMIT_KEY, set()).update(touched)
        return res

    def _finance_sync_flush_payment_states(self):
        ids = self.env.cr.precommit.data.pop(PRECOMMIT_KEY, set())
        moves = self.env["account.move"].sudo().browse(ids).exists().filtered(lambda m: m.state == "posted")
        if not moves:
            return
        now = {move.id: move._finance_sync_settlement() for move in moves}
        news = {}
        for key, heard in moves._finance_sync_last_heard().items():
            document = heard.blocks.get("document") or {}
            if document.get("payment_state") is not None and settlement_of(document) != now[key[1]]:
                news[key] = heard.job_id
        if not news:
            return
        changed = moves.browse(sorted({move_id for _backend_id, move_id in news}))
        payloads = {}
        for company, company_moves in changed.grouped("company_id").items():
            payloads.update(company_moves.with_company(company)._finance_sync_payloads())
        to_send = set(news) - changed._finance_sync_refresh_uncommitted(payloads, news)
        if to_send:
            changed._finance_sync_capture(
                const.EVENT_INVOICE_PAYMENT_STATE,
                only_if_sent=True,
                wants=lambda backend, move: (backend.id, move.id) in to_send,
                payloads=payloads,
            )
        self.env.flush_all()

    def _finance_sync_settlement(self):
        """(payment status, residual, residual in the company's currency) as the invoice's
        events carry them (see ``settlement_of``)."""
        self.ensure_one()
        sign = -1 if self.move_type in ("out_refund", "in_invoice") else 1
        return (
            self.payment_state or "not_paid",
            payload_lib.money(self.amount_residual, self.currency_id.decimal_places),
            payload_lib.money(sign * self.amount_residual_signed, self.company_currency_id.decimal_places),
        )

    def _finance_sync_note_exposure(self):
        """Master data: the customers whose receivables these entries move (exposure events)."""
        if not self or not self.env["res.partner"]._finance_sync_master_data_enabled():
            return
        lines = self.line_ids.filtered(lambda line: line.account_id.account_type == "asset_receivable")
        lines.partner_id._finance_sync_note_exposure()

    # === CAPTURE HELPERS === #

    def _finance_sync_invoices(self):
        return self.filtered(lambda m: m.move_type in const.MOVE_KINDS)

    def _finance_sync_job_field(self):
        return "move_id"

    def _finance_sync_scope(self):
        self.ensure_one()
        return self.company_id, self.journal_id, self.date, self.move_type, None

    def _finance_sync_prefetch(self):
        # A document's lines prefetch only among themselves: their reconciliations, read
        # line by line, would cost two queries per document.
        self.line_ids.fetch(["matched_debit_ids", "matched_credit_ids"])

    def _finance_sync_payload(self, blocks):
        """Canonical v1 body of an invoice event (envelope ids are added by the job)."""
        self.ensure_one()
        cur, ccur = self.currency_id, self.company_currency_id
        sign = -1 if self.move_type in ("out_refund", "in_invoice") else 1
        money = blocks.money

        def amounts(untaxed, tax, total, residual, currency):
            return {
                "untaxed": money(untaxed, currency),
                "tax": money(tax, currency),
                "total": money(total, currency),
                "residual": money(residual, currency),
            }

        reconciliation, payments = blocks.reconciliation(blocks.receivable_payable(self.line_ids))
        reversed_entry = self.reversed_entry_id
        return {
            "company": blocks.company(self.company_id),
            "document": {
                "model": "account.move",
                "id": self.id,
                "number": self.name or "",
                "kind": const.MOVE_KINDS[self.move_type],
                "move_type": self.move_type,
                "state": self.state,
                "payment_state": self.payment_state or "not_paid",
                "date": payload_lib.iso_date(self.date),
                "invoice_date": payload_lib.iso_date(self.invoice_date),
                "due_date": payload_lib.iso_date(self.invoice_date_due),
                "ref": self.ref or None,
                "bank_account": self.partner_bank_id.acc_number or None,
                "currency": cur.name,
                "journal": blocks.ref(self.journal_id, "code"),
                "amounts": amounts(self.amount_untaxed, self.amount_tax, self.amount_total, self.amount_residual, cur),
                "amounts_company_currency": amounts(
                    sign * self.amount_untaxed_signed,
                    sign * self.amount_tax_signed,
                    sign * self.amount_total_signed,
                    sign * self.amount_residual_signed,
                    ccur,
                ),
                "reversed_entry": {"model": "account.move", "id": reversed_entry.id, "number": reversed_entry.name}
                if reversed_entry
                else None,
                "reversal_entries": [
                    {"model": "account.move", "id": r.id, "number": r.name} for r in self.reversal_move_ids
                ],
            },
            "partner": blocks.partner(self.partner_id),
            "lines": [
                line_payload(blocks, line, cur) for line in self.invoice_line_ids if line.display_type == "product"
            ],
            "payments": [
                {
                    "id": pay.id,
                    "number": pay.name or None,
                    "date": payload_lib.iso_date(pay.date),
                    "amount": money(pay.amount, pay.currency_id),
                    "currency": pay.currency_id.name,
                }
                for pay in payments
            ],
            "reconciliation": reconciliation,
        }


def settlement_of(document):
    """(payment status, residual, residual in the company's currency) of an invoice event's
    document block: what makes ``invoice.payment_state_changed`` news."""
    return (
        document.get("payment_state"),
        (document.get("amounts") or {}).get("residual"),
        (document.get("amounts_company_currency") or {}).get("residual"),
    )


def line_payload(blocks, line, currency):
    """One invoice line; ``currency`` is its document's."""
    distribution = []
    if line.analytic_distribution:
        Analytic = line.env["account.analytic.account"]
        for key, percentage in line.analytic_distribution.items():
            accounts = Analytic.browse(int(a) for a in str(key).split(","))
            distribution.append(
                {
                    "accounts": [blocks.ref(acc, "code") for acc in accounts],
                    "percentage": payload_lib.quantity(percentage),
                }
            )
    return {
        "id": line.id,
        "name": line.name or None,
        "product": blocks.ref(line.product_id, "default_code"),
        "account": blocks.ref(line.account_id, "code"),
        "taxes": [blocks.ref(tax, "name") for tax in line.tax_ids],
        "analytic_distribution": distribution,
        "quantity": payload_lib.quantity(line.quantity),
        "price_unit": payload_lib.quantity(line.price_unit),
        "discount": payload_lib.quantity(line.discount),
        "subtotal": blocks.money(line.price_subtotal, currency),
        "total": blocks.money(line.price_total, currency),
    }
