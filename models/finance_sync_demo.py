"""The demo's story, played once when the demo data is loaded (demo/*.xml calls ``_load_story``):
what docs/screens.md shows, with real documents, real events and what their platforms answered.

No platform listens at the demo's addresses: the answers are handed to the job model as the
dispatcher would hand them (``finance.sync.job._apply_outcome``), so that every state a person
meets is there without a receiver, and every button acts on real records. Nothing here runs
outside the demo."""

import logging
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.fields import Command
from odoo.tools import SQL

from ..engine import classify, scheduler
from ..engine import payload as payload_lib
from ..engine.messages import message
from ..utils import allow_private_endpoints
from . import finance_sync_outbox as outbox

_logger = logging.getLogger(__name__)

# Where each demo connection sends: this machine, where nothing listens.
ADDRESSES = {
    "ledger": "http://127.0.0.1:9701/events",
    "warehouse": "http://127.0.0.1:9702/events",
    "treasury": "http://127.0.0.1:9703/events",
    "payments_hub": "http://127.0.0.1:9704/events",
    "billing": "http://127.0.0.1:9705/events",
    "expenses": "http://127.0.0.1:9706/events",
}
# The record whose xml id says the story was played (it is played once).
PLAYED = "finance_sync.demo_invoice_held"
BUSY = '{"error": "Service unavailable: end-of-day batch running"}'
REFUSED = '{"error": "unknown cost centre", "field": "lines[0].analytic"}'


class FinanceSyncDemo(models.AbstractModel):
    _name = "finance.sync.demo"
    _description = "Finance Sync demo story"

    # === BUSINESS METHODS === #

    @api.model
    def _give_addresses(self, ports):
        """Give connections of the later demo files ({backend id: port}) an address on this
        machine, where nothing listens, as the story gives its own (only where private endpoints
        are allowed; elsewhere they stay drafts without an address). Returns True."""
        if allow_private_endpoints():
            for backend_id, port in ports.items():
                self.env["finance.sync.backend"].sudo().browse(
                    backend_id
                ).endpoint_url = f"http://127.0.0.1:{port}/events"
        return True

    @api.model
    def _load_story(self, refs):
        """Play the story with the demo records ``refs`` ({role: id}: the backends, and the
        customers and vendors the documents are for). Returns True."""
        if self.env.ref(PLAYED, raise_if_not_found=False):
            return True
        if not allow_private_endpoints():
            _logger.warning(
                "finance_sync: the demo's connections send to 127.0.0.1; without allow_private_endpoints "
                "in the server's [finance_sync] section they stay drafts without an address"
            )
            return True
        self = self.sudo()  # noqa: PLW0642 - demo data is loaded as the system
        Backend, Partner = self.env["finance.sync.backend"], self.env["res.partner"]
        backends = {role: Backend.browse(refs[role]) for role in ADDRESSES}
        for role, backend in backends.items():
            backend.endpoint_url = ADDRESSES[role]
        partners = {role: Partner.browse(refs[role]) for role in refs if role not in ADDRESSES}
        xmlids = {
            **self._play_customer_invoices(backends, partners),
            **self._play_vendor_bills(backends, partners),
        }
        self._play_payments(backends, partners)
        self.env["ir.model.data"]._update_xmlids(
            [
                {"xml_id": f"finance_sync.{name}", "record": record, "noupdate": True}
                for name, record in xmlids.items()
                if record
            ]
        )
        return True

    def _play_customer_invoices(self, backends, partners):
        """October's and November's customer invoices, delivered to the ledger and the warehouse
        but one the warehouse holds (it has no code for Gemini Furniture); the warehouse's
        reconciliations: October agrees, November lacks one delivered invoice. Returns the
        records to name {xml id: record}."""
        ledger, warehouse = backends["ledger"], backends["warehouse"]
        company = ledger.company_ids[:1]
        azure, deco = partners["azure"], partners["deco"]
        warehouse.mapping_set_id.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        (ledger | warehouse).action_activate()
        month = fields.Date.today().replace(day=1)
        october, november = month - relativedelta(months=2), month - relativedelta(months=1)
        for partner, day, amount in (
            (azure, october + timedelta(days=7), 2418.35),
            (deco, october + timedelta(days=20), 990.07),
            (azure, november + timedelta(days=3), 1234.57),
            (deco, november + timedelta(days=11), 612.10),
            (azure, november + timedelta(days=18), 3050.45),
        ):
            self._post_document(company, "out_invoice", partner, day, amount)
        held = self._post_document(company, "out_invoice", partners["gemini"], november + timedelta(days=25), 1275.30)
        self._deliver(ledger | warehouse, [(200, "")])
        named = {
            "demo_invoice_held": held,
            "demo_exception_held": self.env["finance.sync.exception"].search([("move_id", "=", held.id)], limit=1),
        }
        Reconciliation = self.env["finance.sync.reconciliation"]
        for xmlid, date_from, date_to, lacks in (
            ("demo_reconciliation_matched", october, november - timedelta(days=1), 0),
            ("demo_reconciliation_mismatched", november, month - timedelta(days=1), 1),
        ):
            rec = Reconciliation.create(
                {"backend_id": warehouse.id, "company_id": company.id, "date_from": date_from, "date_to": date_to}
            )
            rec._reconcile(self._report_lacking(rec, lacks))
            named[xmlid] = rec
        return named

    def _play_vendor_bills(self, backends, partners):
        """Vendor bills for the treasury platform: busy until Odoo gave up on two (a person set
        one of them aside), a third refused for good. Returns the records to name."""
        treasury = backends["treasury"]
        company = treasury.company_ids[:1]
        treasury.action_activate()
        three_days_ago = fields.Date.today() - timedelta(days=3)
        gave_up = self._post_document(company, "in_invoice", partners["ready_mat"], three_days_ago, 1450.25)
        set_aside = self._post_document(company, "in_invoice", partners["lumber"], three_days_ago, 380.40)
        refused = self._post_document(company, "in_invoice", partners["wood_corner"], three_days_ago, 96.07)
        busy = (503, BUSY)
        self._deliver(treasury, [busy, busy], gave_up | set_aside)
        self._deliver(treasury, [(422, REFUSED)], refused)
        Exception_ = self.env["finance.sync.exception"]
        set_aside_problem = Exception_.search([("move_id", "=", set_aside.id)])
        set_aside_problem._ignore("Paid by hand at the bank; the treasury platform does not need this bill.")
        return {
            "demo_bill_gave_up": gave_up,
            "demo_bill_set_aside": set_aside,
            "demo_bill_refused": refused,
            "demo_exception_gave_up": Exception_.search([("move_id", "=", gave_up.id)], limit=1),
            "demo_exception_set_aside": set_aside_problem,
            "demo_job_gave_up": self.env["finance.sync.job"].search(
                [("move_id", "=", gave_up.id), ("backend_id", "=", treasury.id)], limit=1
            ),
        }

    def _play_payments(self, backends, partners):
        """Customer payments: the ledger and the warehouse received them, the payments hub never
        did (nothing answers: its circuit opened); the billing platform is paused, today's
        invoice and the payments wait for it."""
        ledger, warehouse, hub, billing = (
            backends[role] for role in ("ledger", "warehouse", "payments_hub", "billing")
        )
        company = hub.company_ids[:1]
        (hub | billing).action_activate()
        for role, amount in (("azure", 500.10), ("deco", 250.07), ("azure", 1020.33)):
            payment = (
                self.env["account.payment"]
                .with_company(company)
                .create(
                    {
                        "payment_type": "inbound",
                        "partner_type": "customer",
                        "partner_id": partners[role].id,
                        "amount": amount,
                    }
                )
            )
            payment.action_post()
        self._post_document(company, "out_invoice", partners["azure"], fields.Date.today(), 640.15)
        billing.action_pause()
        # What a commit would capture (a payment's changes once posted), captured now.
        self.env.flush_all()
        self.env.cr.precommit.run()
        self._deliver(ledger | warehouse, [(200, "")])
        host = ADDRESSES["payments_hub"].split("/")[2]
        self._deliver(hub, [(0, host), (0, host)])

    # === HELPERS === #

    def _post_document(self, company, move_type, partner, day, amount):
        move = (
            self.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": partner.id,
                    "invoice_date": day,
                    "date": day,
                    "invoice_line_ids": [
                        Command.create({"name": "Office furniture", "quantity": 1, "price_unit": amount, "tax_ids": []})
                    ],
                }
            )
        )
        move.action_post()
        return move

    def _deliver(self, backends, answers, documents=None):
        """Freeze the pending events of ``backends`` (of ``documents`` only, when given) as the
        dispatcher does, then record one attempt per answer of ``answers``, [(status, body)], in
        turn (status 0: the connection to the host:port given as body was refused)."""
        domain = [("backend_id", "in", backends.ids), ("state", "=", "pending")]
        if documents is not None:
            domain.append(("move_id", "in", documents.ids))
        Job = self.env["finance.sync.job"]
        jobs = Job.search(domain, order="id")
        self._freeze(jobs)
        started = fields.Datetime.now() - timedelta(minutes=len(answers))
        for index, (status, body) in enumerate(answers):
            jobs = jobs.filtered(lambda j: j.state == "pending")
            if not jobs:
                break
            outcomes = [
                self._outcome(job, status, body, started + timedelta(minutes=index, seconds=position))
                for position, job in enumerate(jobs)
            ]
            Job._apply_outcome(outcomes)
            jobs.invalidate_recordset()

    def _freeze(self, jobs):
        """Store the bodies of ``jobs`` (their payloads as each backend receives them); those
        lacking a required mapping are held, as the dispatcher holds them."""
        bodies, unrendered = [], []
        for job in jobs:
            payload, missing = outbox.render(job.with_company(job.company_id), job.backend_id)
            if missing:
                unrendered.append(scheduler.Unrendered(job.id, missing))
            else:
                bodies.append((job.id, payload_lib.canonical_json(payload).decode("utf-8")))
        if bodies:
            outbox.store_bodies(self.env, bodies, fields.Datetime.now())
        if unrendered:
            self.env["finance.sync.job"]._apply_outcome(unrendered)
            jobs.invalidate_recordset()

    def _outcome(self, job, status, body, started_at):
        """What one attempt of ``job`` came to, as the dispatcher hands it over."""
        if status:
            verdict = classify.classify_status(status, body)
        else:
            detail = f"HTTPConnectionPool(host='{body.split(':')[0]}', port={body.split(':')[1]}): Connection refused"
            verdict = classify.Classification(
                classify.RETRY,
                classify.CATEGORY_TRANSPORT,
                message("connection_refused_at", address=body, detail=detail),
            )
        error = None if verdict.outcome == classify.DONE else verdict.note
        return scheduler.Outcome(
            job_id=job.id,
            backend_id=job.backend_id.id,
            company_id=job.company_id.id,
            attempt_count=job.attempt_count + 1,
            max_attempts=job.backend_id.max_attempts,
            started_at=started_at,
            status=status,
            duration_ms=140 if status else 2,
            retry_after=None,
            verdict=verdict,
            error=error,
            summary=error.without_detail() if error is not None and not status else error,
            excerpt=(body or '{"ok": true}') if status else "",
        )

    def _report_lacking(self, rec, lacks):
        """The report a platform would send for ``rec``'s period, lacking the last ``lacks`` of
        the events Odoo delivered (nor are they in its totals, summed exactly by PostgreSQL)."""
        events = [event_id for event_id, _number in rec._odoo_events()]
        lacking = events[len(events) - lacks :] if lacks else []
        where = rec._delivered_filter()
        if lacking:
            where = SQL("%s AND job.event_uuid NOT IN %s", where, tuple(lacking))
        return {
            "period": {"date_from": str(rec.date_from), "date_to": str(rec.date_to)},
            "totals": [
                {"event_type": event_type, "currency": currency or "", "count": count, "amount": amount}
                for event_type, currency, count, amount in sorted(outbox.delivered_totals(self.env, where))
            ],
            "event_ids": [event_id for event_id in events if event_id not in lacking],
        }
