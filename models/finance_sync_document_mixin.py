import json
from collections import namedtuple
from decimal import Decimal

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, format_datetime

from .. import const
from ..engine import classify
from ..engine import payload as payload_lib
from ..engine.messages import DETAIL
from ..utils import NO_CAPTURE, render_message, switched_on
from . import finance_sync_outbox as outbox

# Job states that make a document's sync status "failed" or "held" (unless a person settled them).
FAILED_STATES = ("failed", "dead")
HELD_STATES = ("blocked",)  # waiting for a missing mapping

# What a backend last heard of a document: its last event not cancelled (``job_id``, its type) and
# the payload members the document names in ``_finance_sync_last_heard_members`` (``blocks``, as
# read back from the outbox).
Heard = namedtuple("Heard", "job_id event_type blocks")

SYNC_STATUSES = [
    ("not_synced", "Not synced"),
    ("pending", "Pending"),
    ("synced", "Synced"),
    ("held", "Held"),
    ("failed", "Failed"),
]


class FinanceSyncDocumentMixin(models.AbstractModel):
    """What invoices and payments share: capturing events into the outbox, the sync status
    shown on the document, and the payload blocks common to both (company, partner)."""

    _name = "finance.sync.document.mixin"
    _description = "Finance Sync Document"

    finance_sync_status = fields.Selection(
        SYNC_STATUSES,
        string="Sync status",
        compute="_compute_finance_sync_status",
        search="_search_finance_sync_status",
        groups="finance_sync.finance_sync_group_user",
    )
    finance_sync_job_count = fields.Integer(
        "Sync jobs", compute="_compute_finance_sync_status", groups="finance_sync.finance_sync_group_user"
    )
    finance_sync_problem_ids = fields.Many2many(
        "finance.sync.exception",
        string="Open sync problems",
        compute="_compute_finance_sync_problem",
        groups="finance_sync.finance_sync_group_user",
    )
    finance_sync_problem = fields.Text(
        "Why it is not synced",
        compute="_compute_finance_sync_problem",
        groups="finance_sync.finance_sync_group_user",
        help="The open exceptions of this document, in words.",
    )
    finance_sync_waiting = fields.Text(
        "Waiting for the platform",
        compute="_compute_finance_sync_waiting",
        groups="finance_sync.finance_sync_group_user",
        help="Why this document's pending events wait: the platform's latest failure, since when, the next "
        "automatic try and what to do.",
    )
    finance_sync_enabled = fields.Boolean(
        compute="_compute_finance_sync_enabled",
        groups="finance_sync.finance_sync_group_user",
        help="A backend is set up (not draft): the document's sync information is worth showing.",
    )

    # === COMPUTE METHODS === #

    def _finance_sync_job_field(self):
        raise NotImplementedError

    def _compute_finance_sync_status(self):
        states = {}
        self.env["finance.sync.job"].flush_model()
        self.env["finance.sync.exception"].flush_model(["state", "job_ids"])
        self.env["finance.sync.backend"].flush_model(["active"])
        self.env.cr.execute(
            SQL(
                "SELECT job.doc_id, job.state, count(*) FROM (%s) job WHERE job.doc_id IN %s GROUP BY 1, 2",
                self._finance_sync_job_states(),
                tuple(self.ids) or (None,),
            )
        )
        for record_id, state, count in self.env.cr.fetchall():
            states.setdefault(record_id, {})[state] = count
        for record in self:
            counts = states.get(record.id, {})
            record.finance_sync_job_count = sum(counts.values())
            record.finance_sync_status = self._finance_sync_status_from(counts)

    def _compute_finance_sync_problem(self):
        field = self._finance_sync_job_field()
        problems = self.env["finance.sync.exception"].search(
            [(field, "in", self.ids), ("state", "in", const.EXCEPTION_OPEN_STATES)]
        )
        by_record = problems.grouped(field)
        for record in self:
            mine = by_record.get(record, problems.browse())
            record.finance_sync_problem_ids = mine
            record.finance_sync_problem = (
                "\n".join(f"{e.backend_id.name}: {e.message or e.name}" for e in mine) or False
            )

    def _compute_finance_sync_waiting(self):
        """For each document with pending events for a platform that fails (its latest attempt did
        not reach it, or this event's own latest try failed): the cause, since when, the next
        automatic try and what to do, one line per backend. A fixed number of queries."""
        field = self._finance_sync_job_field()
        jobs = (
            self.env["finance.sync.job"]
            .sudo()
            .search([(field, "in", self.ids), ("state", "=", "pending")], order="next_attempt_at desc, id")
        )
        now = fields.Datetime.now()
        tz = self.env.context.get("tz")
        lines = {}
        for job in jobs:
            backend = job.backend_id  # computed once for all of them (prefetched together)
            key = (job[field].id, backend.id)
            if key in lines:
                continue  # the latest due of the document's events for this backend comes first
            if backend.failure_cause:
                cause, since = backend.failure_cause, backend.failing_since
                advice = backend.failure_advice
            elif job.attempt_count and job.last_error_code in classify.RETRIED_CAUSES:
                # The platform takes other events, not this one for now (e.g. HTTP 503 once).
                params = {k: v for k, v in (job.last_error_params or {}).items() if k != DETAIL}
                cause = render_message(self.env, job.last_error_code, params)
                since = job.write_date
                advice = render_message(self.env, classify.advice_for(job.last_error_code), {})
            else:
                continue
            due = max(t for t in (now, job.next_attempt_at, backend.circuit_open_until, backend.paced_until) if t)
            lines[key] = render_message(
                self.env,
                "waiting_for_platform",
                {
                    "backend": backend.name,
                    "cause": cause,
                    "since": format_datetime(self.env, since, tz=tz, dt_format="short"),
                    "next": format_datetime(self.env, due, tz=tz, dt_format="short"),
                    "advice": advice,
                },
            ).strip()
        by_record = {}
        for (record_id, _backend_id), line in lines.items():
            by_record.setdefault(record_id, []).append(line)
        for record in self:
            record.finance_sync_waiting = "\n".join(by_record.get(record.id, ())) or False

    def _compute_finance_sync_enabled(self):
        enabled = bool(self.env["finance.sync.backend"].search_count([("state", "!=", "draft")], limit=1))
        for record in self:
            record.finance_sync_enabled = enabled

    @staticmethod
    def _finance_sync_status_from(counts):
        if any(counts.get(s) for s in FAILED_STATES):
            return "failed"
        if any(counts.get(s) for s in HELD_STATES):
            return "held"
        if counts.get("pending"):
            return "pending"
        if counts.get("done"):
            return "synced"
        return "not_synced"

    def _finance_sync_job_states(self):
        """SQL: (doc_id, state) of the documents' jobs, as their sync status reads them. Jobs of
        archived backends read as ``archived`` (no status); a failed, dead or blocked job whose
        problem a person closed (its exceptions ignored or resolved, none open) reads as
        ``settled``, not as a failure."""
        return outbox.document_states(self._finance_sync_job_field())

    def _search_finance_sync_status(self, operator, value):
        if operator not in ("in", "not in"):
            return NotImplemented
        jobs = self._finance_sync_job_states()

        def having(states):
            """Documents with at least one job in ``states``, and those without."""
            sub = SQL("SELECT job.doc_id FROM (%s) job WHERE job.state IN %s", jobs, tuple(states))
            return Domain("id", "any!", sub), Domain("id", "not any!", sub)

        failed, not_failed = having(FAILED_STATES)
        held, not_held = having(HELD_STATES)
        pending, not_pending = having(("pending",))
        done, not_done = having(("done",))
        no_problem = not_failed & not_held
        parts = {
            "failed": failed,
            "held": held & not_failed,
            "pending": pending & no_problem,
            "synced": done & not_pending & no_problem,
            "not_synced": not_done & not_pending & no_problem,
        }
        domain = Domain.OR(parts[v] for v in set(value) if v in parts)
        return domain if operator == "in" else ~domain

    # === ACTIONS === #

    def action_finance_sync_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_job_action")
        action["domain"] = [(self._finance_sync_job_field(), "=", self.id)]
        action["context"] = {}  # a document has a few jobs: listed flat, not in folded groups
        return action

    def action_finance_sync_open_problems(self):
        """The document's open sync exceptions (the one itself when there is one)."""
        self.ensure_one()
        problems = self.finance_sync_problem_ids
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_exception_action")
        if len(problems) == 1:
            action.update(view_mode="form", views=[(False, "form")], res_id=problems.id)
        else:
            action["domain"] = [("id", "in", problems.ids)]
        return action

    def action_finance_sync_retry(self):
        """Retry the document's failed or held events now (through its open exceptions)."""
        self.ensure_one()
        problems = self.finance_sync_problem_ids
        if not problems:
            raise UserError(self.env._("Nothing to retry: this document has no open sync problem."))
        return problems.action_retry()

    def action_finance_sync_preview(self):
        """Preview what the backends in scope would receive for this document (the first one
        shown; the others are listed in the preview to switch to)."""
        self.ensure_one()
        backends = self._finance_sync_backends_in_scope()
        if not backends:
            raise UserError(self.env._("No Finance Sync backend receives this document."))
        return backends[:1]._action_preview(self)

    def _finance_sync_backends_in_scope(self):
        """Backends (not draft) this document is sent to, among those the user may read."""
        self.ensure_one()
        company, journal, date, move_type, payment_type = self._finance_sync_scope()
        backends = self.env["finance.sync.backend"].search([("state", "!=", "draft")])
        return backends.filtered(
            lambda b: b._in_scope(company, journal, date, move_type=move_type, payment_type=payment_type)
        )

    # === CAPTURE === #

    def _finance_sync_scope(self):
        """(company, journal, date, move_type, payment_type) deciding which backends want it."""
        raise NotImplementedError

    def _finance_sync_payloads(self):
        """{record id: canonical payload (without envelope ids)}, the blocks the records share
        rendered once."""
        blocks = PayloadBlocks()
        self._finance_sync_prefetch()
        return {record.id: record._finance_sync_payload(blocks) for record in self}

    def _finance_sync_prefetch(self):
        """Read at once, for all these records, what their payloads read record by record that
        the ORM would not prefetch (a chunk of a backfill renders a thousand documents)."""
        return None

    def _finance_sync_payload(self, blocks):
        """Canonical payload of one record (without envelope ids).

        :param PayloadBlocks blocks: the blocks of the capture this record belongs to
        """
        raise NotImplementedError

    def _finance_sync_capture(self, event_type, only_if_sent=False, wants=None, payloads=None):
        """Write one outbox job per interested backend, in the current transaction.

        :param only_if_sent: only for backends that already received an event of the document
            (a reset or cancellation of something the platform never saw is not news to it).
        :param wants: optional ``wants(backend, record) -> bool`` narrowing the backends further.
        :param payloads: optional {record id: canonical payload} rendered already (as its
            company), for the records that have one
        """
        if not self or switched_on(self.env, NO_CAPTURE):
            # Importing historical documents that platforms already have, by code only
            # (``utils.without_capture``): a context value sent over RPC never turns capture off.
            return
        backends = self.env["finance.sync.backend"].sudo().search([("state", "in", ("active", "paused"))])
        if not backends:
            return
        sent = set()
        if only_if_sent:
            sent = {
                (backend.id, res_id)
                for backend, res_id in self.env["finance.sync.job"]
                .sudo()
                ._read_group(
                    [("res_model", "=", self._name), ("res_id", "in", self.ids), ("backend_id", "in", backends.ids)],
                    ["backend_id", "res_id"],
                )
            }
        checks = [(backend, backend._scope_check()) for backend in backends]
        by_record = {}
        for record in self:
            company, journal, date, move_type, payment_type = record._finance_sync_scope()
            wanted = backends.browse(
                b.id
                for b, in_scope in checks
                if in_scope(company, journal, date, move_type=move_type, payment_type=payment_type)
                and (not only_if_sent or (b.id, record.id) in sent)
                and (wants is None or wants(b, record))
            )
            if wanted:
                by_record[record.id] = wanted
        if not by_record:
            return
        records = self.browse(list(by_record))
        rendered, payloads = payloads or {}, {}
        for company, company_records in records.grouped("company_id").items():
            # Codes (accounts, journals) are company-dependent: read them as the document's company.
            missing = company_records.filtered(lambda r: r.id not in rendered)
            payloads.update(missing.with_company(company)._finance_sync_payloads())
            payloads.update({r.id: rendered[r.id] for r in company_records - missing})
        depends_on = records._finance_sync_partners_first(by_record)
        self.env["finance.sync.job"]._enqueue(event_type, records, payloads, by_record, depends_on=depends_on)

    def _finance_sync_partners_first(self, by_record):
        """Master data: backends that receive partners get each document's partner before the
        document. Captures the partner's event where the backend never had one and returns
        {(record id, backend id): partner id}, the partner each document's event waits for."""
        depends_on, pairs_by_company = {}, {}
        for record in self:
            partner = record.partner_id.commercial_partner_id
            backends = by_record[record.id].filtered("send_master_data")
            if not partner or not backends:
                continue
            for backend in backends:
                pairs_by_company.setdefault(record.company_id, set()).add((backend, partner))
                depends_on[(record.id, backend.id)] = partner.id
        for company, pairs in pairs_by_company.items():
            self.env["res.partner"].sudo()._finance_sync_partners_first(pairs, company)
        return depends_on

    def _finance_sync_last_events(self):
        """What each backend last heard of each record: {(backend id, record id): (event type,
        document block of that event)}; cancelled jobs do not count (they were never sent)."""
        if not self:
            return {}
        rows = outbox.last_events(self.env, self._name, self.ids, ["document"])
        return {(bid, rid): (event_type, document or {}) for bid, rid, _job_id, event_type, document in rows}

    def _finance_sync_last_heard_members(self):
        """The payload members whose change is news about a document already sent (see
        ``_finance_sync_last_heard``)."""
        return ("document",)

    def _finance_sync_last_heard(self):
        """What each backend last heard of each record, pending events included:
        {(backend id, record id): Heard}; cancelled jobs do not count (they were never sent)."""
        if not self:
            return {}
        members = self._finance_sync_last_heard_members()
        rows = outbox.last_events(self.env, self._name, self.ids, members)
        return {
            (backend_id, res_id): Heard(
                job_id, event_type, payload_lib.normalised(dict(zip(members, values, strict=True)))
            )
            for backend_id, res_id, job_id, event_type, *values in rows
        }

    def _finance_sync_refresh_uncommitted(self, payloads, news):
        """Give the latest figures to the events of these records that this transaction
        captured and that are still each backend's last one, rather than capturing another:
        one event per net change per transaction, however many times the pre-commit hooks run
        (Odoo runs them at every flushing savepoint too). Such an event is not committed, so no
        worker can have claimed it; it keeps its type, id, sequence and time.

        :param payloads: {record id: canonical payload now}
        :param news: {(backend id, record id): id of the backend's last event of the record}
        :return: the keys of ``news`` whose event was refreshed
        """
        uncommitted = self.env.cr.postcommit.data.get(const.TRANSACTION_JOBS) or {}
        candidates = {job_id: key for key, job_id in news.items() if uncommitted.get((self._name, *key)) == job_id}
        if not candidates:
            return set()
        members = {job_id: json.dumps(payloads[key[1]], ensure_ascii=False) for job_id, key in candidates.items()}
        return {candidates[job_id] for job_id in outbox.refresh_payloads(self.env, members, ("pending", "blocked"))}


class PayloadBlocks:
    """The payload blocks of one capture, each rendered once.

    Documents captured together share companies, partners, journals, accounts, taxes and
    currencies: each of those is read and shaped once per capture, however many documents (and
    lines) name it; the documents' own fields are read in batch through the ORM's prefetching.
    Blocks are shared between the payloads of a capture, so nobody may change them in place.
    """

    def __init__(self):
        self._memo = {}

    def _once(self, key, build):
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value

    def company(self, company):
        return self._once(
            ("res.company", company.id),
            lambda: {
                "id": company.id,
                "code": company.company_registry or None,
                "name": company.name,
                "vat": company.vat or None,
                "currency": company.currency_id.name,
            },
        )

    def partner(self, partner):
        if not partner:
            return None
        commercial = partner.commercial_partner_id
        return self._once(
            ("res.partner", commercial.id),
            lambda: {
                "id": commercial.id,
                "code": commercial.ref or None,
                "name": commercial.name or "",
                "vat": commercial.vat or None,
                "country": commercial.country_id.code or None,
                "ref": commercial.ref or None,
                "email": commercial.email or None,
            },
        )

    def ref(self, record, code_field=None):
        """``{id, code, name}`` of a record, its code read from ``code_field``."""
        if not record:
            return None
        return self._once(
            (record._name, record.id),
            lambda: {
                "id": record.id,
                "code": (record[code_field] if code_field else None) or None,
                "name": record.display_name,
            },
        )

    def money(self, amount, currency):
        digits = self._once(("digits", currency.id), lambda: currency.decimal_places)
        return payload_lib.money(amount, digits)

    def account_type(self, account):
        return self._once(("account_type", account.id), lambda: account.account_type)

    def receivable_payable(self, lines):
        """The receivable and payable lines among ``lines`` (those reconciled with payments)."""
        return lines.filtered(
            lambda line: self.account_type(line.account_id) in ("asset_receivable", "liability_payable")
        )

    def reconciliation(self, lines):
        """Partial reconciliations of receivable/payable ``lines`` with their counterparts, and
        the payments among those counterparts (as ``account.move._get_reconciled_payments``
        finds them, from the same walk).

        :return: (list of partial blocks, account.payment recordset)
        """
        partials, debit_side, credit_side = [], [], []
        for line in lines:
            for partial in line.matched_debit_ids:
                debit_side.append(partial.debit_move_id)
                partials.append(self._partial(partial, partial.debit_move_id))
            for partial in line.matched_credit_ids:
                credit_side.append(partial.credit_move_id)
                partials.append(self._partial(partial, partial.credit_move_id))
        if not partials:
            return partials, lines.env["account.payment"]
        counterparts = lines.browse().union(*debit_side) + lines.browse().union(*credit_side)
        return partials, counterparts.move_id.origin_payment_id

    def settlements(self, lines):
        """What the partial reconciliations of ``lines`` (one document's receivable or payable
        lines) settle, per counterpart document: {move id: (amount in the lines' currency, in
        the counterpart's currency, in the company's currency)}, each the sum of the partials'
        amounts in that currency's precision, as money strings."""
        sums = {}
        for line in lines:
            for partial in line.matched_debit_ids:  # ``line`` is the credit side
                counterpart = partial.debit_move_id
                own = (partial.credit_amount_currency, partial.credit_currency_id)
                other = (partial.debit_amount_currency, partial.debit_currency_id)
                self._settle(sums, counterpart.move_id.id, own, other, partial)
            for partial in line.matched_credit_ids:  # ``line`` is the debit side
                counterpart = partial.credit_move_id
                own = (partial.debit_amount_currency, partial.debit_currency_id)
                other = (partial.credit_amount_currency, partial.credit_currency_id)
                self._settle(sums, counterpart.move_id.id, own, other, partial)
        return {
            move_id: tuple(self.money(total, currency) for total, currency in amounts)
            for move_id, amounts in sums.items()
        }

    def _settle(self, sums, move_id, own, other, partial):
        shares = (own, other, (partial.amount, partial.company_currency_id))
        totals = sums.setdefault(move_id, [(Decimal(0), currency) for _amount, currency in shares])
        for i, (amount, currency) in enumerate(shares):
            totals[i] = (totals[i][0] + Decimal(self.money(amount, currency)), currency)

    def _partial(self, partial, counterpart_line):
        currency = partial.company_currency_id
        move = counterpart_line.move_id
        return {
            "counterpart": {"model": "account.move", "id": move.id, "number": move.name or None},
            "amount": self.money(partial.amount, currency),
            "currency": currency.name,
            "date": payload_lib.iso_date(partial.max_date),
        }
