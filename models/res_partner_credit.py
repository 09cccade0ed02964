"""A customer's credit as a platform decides it and as Odoo's ledger shows it.

- Decisions (inbound ``partner.credit``, from a backend with credit authority): Odoo's own credit
  limit of the customer, so that Odoo's credit warnings apply, and the credit hold, tracked with
  the platform's reason. Who may change the hold by hand is checked in ``res_partner.py``'s create
  and write (``CREDIT_HOLD_FIELDS``); posting a held customer's invoice, in ``account_move.py``.
- Exposure (outbound ``partner.exposure``): the customer's open receivables, captured just before
  commit after postings, payments and decisions, coalesced, and read when the event is rendered.
"""

from datetime import timedelta
from decimal import Decimal

from markupsafe import Markup
from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.tools import SQL

from .. import const
from ..engine import inbound
from ..engine import payload as payload_lib
from ..engine.messages import message
from ..errors import InboundRefusal
from ..utils import internal
from . import finance_sync_outbox as outbox
from .finance_sync_document_mixin import PayloadBlocks
from .res_partner import Subjects, _enqueue_partner_events

PRECOMMIT_EXPOSURE = "finance_sync.exposure_partners"


class ResPartner(models.Model):
    _inherit = "res.partner"

    # === FIELDS: told by a platform with credit authority === #

    finance_sync_credit_hold = fields.Boolean(
        "Credit hold",
        tracking=True,
        copy=False,
        help="A platform with credit authority put this customer on hold: posting its invoices needs a reason, "
        "recorded with the poster's name on the invoice; auto-post leaves them draft.",
    )
    finance_sync_credit_hold_reason = fields.Char("Credit hold reason", tracking=True, copy=False)
    finance_sync_credit_decided_at = fields.Datetime(
        "Credit decision time", copy=False, readonly=True, help="When the platform took its latest credit decision."
    )
    finance_sync_credit_reference = fields.Char("Credit decision reference", copy=False, readonly=True)
    finance_sync_credit_backend_id = fields.Many2one(
        "finance.sync.backend", "Credit decided by", copy=False, readonly=True, ondelete="set null"
    )

    # === INBOUND: partner.credit === #

    @api.model
    def _finance_sync_apply_credit_decision(self, event, data):
        """Apply a credit authority's decision (``event``, a ``finance.sync.inbound.event``):
        Odoo's own credit limit of the customer (so that Odoo's credit warnings apply) and the
        credit hold, tracked with the platform's reason. :return: the inbound handler's
        (state, message); raise InboundRefusal"""
        backend = event.backend_id
        partner, company = self._finance_sync_find_credit_partner(backend, data["partner"])
        decided_at = inbound.parse_datetime(data["decided_at"])
        internal(event).write({"res_model": "res.partner", "res_id": partner.id})
        since = partner.finance_sync_credit_decided_at
        if since and decided_at < since:
            return "ignored", message("credit_older", date=str(since))
        if data["currency"] != company.currency_id.name:
            raise InboundRefusal(
                "conflict",
                message("credit_currency", currency=data["currency"], company_currency=company.currency_id.name),
                fingerprint_key=f"credit:{partner.id}",
            )
        limit = Decimal(data["credit_limit"])
        hold = data["hold"]
        reason = (data.get("reason") or "").strip()
        # The backend's credit authority was granted by an accounting administrator; the
        # technical user records the decision (tracking names it) without partner manager rights.
        partner.sudo().with_company(company).write(
            {
                "credit_limit": float(limit),
                "finance_sync_credit_hold": hold,
                "finance_sync_credit_hold_reason": reason if hold else False,
                "finance_sync_credit_decided_at": decided_at,
                "finance_sync_credit_reference": data["reference"],
                "finance_sync_credit_backend_id": backend.id,
            }
        )
        partner.sudo().message_post(
            body=Markup("%s<br/>%s")
            % (
                self.env._(
                    "Credit decision %(reference)s from %(backend)s: limit %(limit)s %(currency)s, %(hold)s.",
                    reference=data["reference"],
                    backend=backend.name,
                    limit=data["credit_limit"],
                    currency=data["currency"],
                    hold=self.env._("on hold") if hold else self.env._("not on hold"),
                ),
                reason or "",
            ),
            subtype_xmlid="mail.mt_note",
        )
        return "processed", message(
            "credit_applied",
            limit=data["credit_limit"],
            currency=data["currency"],
            hold="yes" if hold else "no",
            partner=partner.display_name,
        )

    @api.model
    def _finance_sync_find_credit_partner(self, backend, ref):
        """(commercial partner, company) a credit decision of ``backend`` is about: by Odoo id,
        else by the code the backend's mapping set gives it, else by Odoo's reference; among the
        partners of the backend's companies (or shared)."""
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        company_domain = ["|", ("company_id", "=", False), ("company_id", "in", backend.company_ids.ids)]
        partner = Partner
        if ref.get("id"):
            partner = Partner.search([("id", "=", ref["id"]), *company_domain], limit=1)
        elif ref.get("code"):
            if backend.mapping_set_id:
                mapping = (
                    self.env["finance.sync.mapping"]
                    .sudo()
                    .search(
                        [
                            ("set_id", "=", backend.mapping_set_id.id),
                            ("kind", "=", "partner"),
                            ("external_code", "=", ref["code"]),
                        ],
                        limit=1,
                    )
                )
                partner = Partner.browse(mapping.res_id) if mapping else Partner
            if not partner:
                partner = Partner.search([("ref", "=", ref["code"]), *company_domain], limit=2)
                partner = partner if len(partner) == 1 else Partner
        partner = partner.commercial_partner_id
        if not partner:
            label = str(ref.get("id") or ref.get("code"))
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("credit_unknown_partner", partner=label),
                fingerprint_key=f"partner:{label}",
            )
        company = partner.company_id or backend.company_ids[:1]
        return partner, company

    # === CREDIT EXPOSURE === #

    def _finance_sync_note_exposure(self):
        """These partners' receivables changed: their exposure is captured just before commit."""
        partners = self.commercial_partner_id.filtered(lambda p: isinstance(p.id, int))
        if not partners or not self._finance_sync_master_data_enabled():
            return
        data = self.env.cr.precommit.data
        if PRECOMMIT_EXPOSURE not in data:
            self.env.cr.precommit.add(self._finance_sync_flush_exposure)
        data.setdefault(PRECOMMIT_EXPOSURE, set()).update(partners.ids)

    def _finance_sync_flush_exposure(self):
        ids = self.env.cr.precommit.data.pop(PRECOMMIT_EXPOSURE, set())
        partners = self.env["res.partner"].sudo().with_context(active_test=False).browse(list(ids)).exists()
        customers = partners.filtered("customer_rank")
        if customers:
            customers._finance_sync_capture_exposure()
        self.env.flush_all()

    def _finance_sync_capture_exposure(self):
        """Capture ``partner.exposure`` for these customers, coalesced: nothing when an event not
        yet rendered waits (it will carry the latest figures, read when it is rendered), else one
        due no sooner than the backend's interval after the previous one.

        The dispatcher renders an event in its own transaction, on a snapshot that may predate
        this one's commit. So an event is only counted on once this transaction holds it: its
        row is written (locked until commit), and a dispatcher whose snapshot does not see this
        commit cannot freeze it (PostgreSQL refuses the lock, the dispatcher starts again on a
        fresh snapshot). An event the dispatcher holds or froze meanwhile is not counted on: a
        new one is captured. So whatever the order of the two commits, the last exposure event
        sent carries this transaction's figures."""
        backends_by_partner = self._finance_sync_master_backends()
        if not backends_by_partner:
            return self.env["finance.sync.job"]
        Job = self.env["finance.sync.job"].sudo()
        Job.flush_model()
        pairs = {(backend.id, pid) for pid, backends in backends_by_partner.items() for backend in backends}
        waiting = self._finance_sync_hold_waiting_exposures(pairs)
        previous = outbox.last_captured(self.env, backends_by_partner, const.EVENT_PARTNER_EXPOSURE)
        now = fields.Datetime.now()
        jobs = Job.browse()
        for partner in self.browse(list(backends_by_partner)):
            backends = backends_by_partner[partner.id].filtered(lambda b, p=partner: (b.id, p.id) not in waiting)
            for backend in backends:
                company = partner.company_id or backend.company_ids[:1]
                if self.env.company in backend.company_ids and not partner.company_id:
                    company = self.env.company
                self.env["res.partner"]._finance_sync_partners_first({(backend, partner)}, company)
                record = partner.with_company(company)
                payload = {
                    "company": PayloadBlocks().company(company),
                    "partner": PayloadBlocks().ref(record, "ref"),
                }
                job = _enqueue_partner_events(
                    self.env,
                    const.EVENT_PARTNER_EXPOSURE,
                    Subjects.of(record, company),
                    {partner.id: payload},
                    {partner.id: backend},
                    depends_on={(partner.id, backend.id): partner.id},
                )
                last = previous.get((backend.id, partner.id))
                interval = timedelta(minutes=backend.exposure_interval or 0)
                if last and last + interval > now:
                    job._reschedule(last + interval)
                    Job._trigger_dispatch(last + interval)
                jobs |= job
        return jobs

    @api.model
    def _finance_sync_hold_waiting_exposures(self, pairs):
        """Take hold of the exposure events that wait, not rendered yet, for these (backend id,
        partner id) pairs: each is written (its row stays locked until this transaction ends) so
        that it is rendered after this transaction commits. One that a dispatcher holds or froze
        after this transaction began is left alone. :return: the pairs held."""
        cr = self.env.cr

        def hold(some):
            # A failed statement rolls back to the savepoint; the transaction goes on.
            with cr.savepoint(flush=False):
                return outbox.hold_unrendered(self.env, some, const.EVENT_PARTNER_EXPOSURE, fields.Datetime.now())

        try:
            return hold(pairs)
        except SerializationFailure:
            # A dispatcher froze one of them after this transaction's snapshot: find which.
            held = set()
            for pair in sorted(pairs) if len(pairs) > 1 else ():
                try:
                    held |= hold({pair})
                except SerializationFailure:
                    continue
            return held

    def _finance_sync_exposure(self):
        """{partner id: figures} of these customers' posted receivables in the current company,
        in one SQL aggregate: open balance, overdue amount, oldest overdue days, unpaid
        invoices, in the company's currency."""
        if not self:
            return {}
        company = self.env.company
        today = fields.Date.context_today(self)
        self.env["account.move.line"].flush_model()
        self.env["account.move"].flush_model(["move_type"])
        self.env.cr.execute(
            SQL(
                """SELECT partner.commercial_partner_id,
                          COALESCE(sum(line.amount_residual), 0),
                          COALESCE(sum(line.amount_residual) FILTER (
                              WHERE line.amount_residual > 0
                                AND COALESCE(line.date_maturity, line.date) < %(today)s), 0),
                          max(%(today)s - COALESCE(line.date_maturity, line.date)) FILTER (
                              WHERE line.amount_residual > 0 AND COALESCE(line.date_maturity, line.date) < %(today)s),
                          count(DISTINCT line.move_id) FILTER (
                              WHERE line.amount_residual > 0 AND move.move_type IN ('out_invoice', 'out_receipt'))
                     FROM account_move_line line
                     JOIN account_account account ON account.id = line.account_id
                     JOIN account_move move ON move.id = line.move_id
                     JOIN res_partner partner ON partner.id = line.partner_id
                    WHERE line.parent_state = 'posted'
                      AND account.account_type = 'asset_receivable'
                      AND line.reconciled IS NOT TRUE
                      AND line.company_id = %(company)s
                      AND partner.commercial_partner_id IN %(partners)s
                    GROUP BY partner.commercial_partner_id""",
                today=today,
                company=company.id,
                partners=tuple(self.ids),
            )
        )
        figures = {
            pid: {"open_balance": balance, "overdue": overdue, "oldest_days": oldest or 0, "unpaid": unpaid}
            for pid, balance, overdue, oldest, unpaid in self.env.cr.fetchall()
        }
        empty = {"open_balance": 0.0, "overdue": 0.0, "oldest_days": 0, "unpaid": 0}
        return {partner.id: figures.get(partner.id, empty) for partner in self}

    def _finance_sync_exposure_payload(self, payload):
        """``payload`` (as captured) with the partner's exposure as it is now: an exposure is a
        state, read when the event is rendered, not a history of changes."""
        self.ensure_one()
        company = self.env.company
        currency = company.currency_id
        figures = self.sudo()._finance_sync_exposure()[self.id]
        credit_limit = self.sudo().credit_limit
        return {
            **payload,
            "exposure": {
                "as_of": payload_lib.iso_datetime(fields.Datetime.now()),
                "open_balance": payload_lib.money(figures["open_balance"], currency.decimal_places),
                "overdue_amount": payload_lib.money(figures["overdue"], currency.decimal_places),
                "oldest_overdue_days": figures["oldest_days"],
                "unpaid_invoice_count": figures["unpaid"],
                "credit_limit": payload_lib.money(credit_limit, currency.decimal_places) if credit_limit else None,
                "currency": currency.name,
                "on_hold": bool(self.finance_sync_credit_hold),
            },
        }
