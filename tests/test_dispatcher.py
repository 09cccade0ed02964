"""The dispatcher (models/finance_sync_dispatcher.py): bodies frozen before they leave,
concurrent delivery per backend with per-document order, backend-wide pacing, wake-ups,
workers and the time budget. A real receiver on 127.0.0.1 stands in for the platform."""
# These tests need rows other connections see: they commit, and clean up after.
# pylint: disable=invalid-commit

import collections
import json
import threading
import time
from contextlib import closing
from datetime import timedelta
from unittest.mock import patch

from pytest_httpserver import HTTPServer
from werkzeug import Response

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.exceptions import UserError, ValidationError
from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import signing
from ..engine.scheduler import Run, own_transactions
from ..utils import internal
from .common import FinanceSyncCase, create_ping_jobs


class InFlight:
    """A receiver handler that answers after ``delay`` seconds and records how many requests,
    overall and per document, were in flight at once."""

    def __init__(self, delay=0.2):
        self.delay = delay
        self.lock = threading.Lock()
        self.now, self.most = 0, 0
        self.per_document = collections.Counter()
        self.most_per_document = 0
        self.order = []  # (document id, sequence) as received

    def __call__(self, request):
        body = json.loads(request.get_data())
        document = body["document"]["id"]
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.per_document[document] += 1
            self.most_per_document = max(self.most_per_document, self.per_document[document])
            self.order.append((document, body["sequence"]))
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
            self.per_document[document] -= 1
        return Response("{}", status=200, content_type="application/json")


@tagged("post_install", "-at_install")
class TestDispatcher(FinanceSyncCase):
    def test_requests_go_out_concurrently_up_to_the_backend_limit(self):
        self.backend.max_concurrent = 3
        handler = InFlight()
        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)
        invoices = [self._create_invoice(post=True) for _i in range(7)]
        self.assertEqual(self.dispatch(), 7)
        self.assertEqual(handler.most, 3, "three at a time, never more")
        jobs = self.Job.search([("move_id", "in", [inv.id for inv in invoices])])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertFalse(any(jobs.mapped("lease_until")), "leases end with the outcome")

    def test_events_of_one_document_are_never_in_flight_together(self):
        handler = InFlight(delay=0.1)
        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)
        invoice = self._create_invoice(post=True)
        invoice.button_draft()
        invoice.action_post()
        invoice.button_draft()
        others = [self._create_invoice(post=True) for _i in range(4)]
        self.dispatch()
        self.assertEqual(handler.most_per_document, 1)
        self.assertGreater(handler.most, 1, "other documents went meanwhile")
        sequences = [seq for doc, seq in handler.order if doc == invoice.id]
        self.assertEqual(sequences, [1, 2, 3, 4])
        self.assertEqual(len(handler.order), 4 + len(others))

    def test_a_stalled_request_frees_its_slot_for_the_others(self):
        """One request at a time, the first one unanswered for 3 s: after a second the others go
        while it still waits (it ends by its own timeout or answer, nothing else waits for it)."""
        self.backend.max_concurrent = 1
        arrivals = []

        def handler(request):
            arrivals.append(time.monotonic())
            if len(arrivals) == 1:
                time.sleep(3)
            return Response("{}", status=200, content_type="application/json")

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)
        for _i in range(4):
            self._create_invoice(post=True)
        self.assertEqual(self.dispatch(), 4)
        self.assertEqual(len(arrivals), 4)
        self.assertLess(arrivals[-1] - arrivals[0], 3, "the others did not wait for the stalled one")
        self.assertGreaterEqual(arrivals[1] - arrivals[0], 0.9, "it counted for the concurrency until it stalled")

    def test_429_slows_down_the_whole_backend(self):
        self.backend.max_concurrent = 1
        first, second = self._create_invoice(post=True), self._create_invoice(post=True)
        self.respond(429, headers={"Retry-After": "120"}, once=True)
        self.respond(200)
        before = fields.Datetime.now()
        self.assertEqual(self.dispatch(), 1, "nothing more goes once the platform asked to slow down")
        self.assertGreaterEqual(self.backend.paced_until, before + timedelta(seconds=119))
        self.assertEqual(self.jobs_of(second).attempt_count + self.jobs_of(first).attempt_count, 1)
        self.backend.action_resume()  # resuming by hand lifts the pause
        self.assertFalse(self.backend.paced_until)

    def test_frozen_body_is_stored_before_sending(self):
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        self.assertFalse(job.body)
        self.respond(500)
        self.dispatch()
        self.assertTrue(job.frozen_at and job.body)
        self.assertEqual(self.received()[0][2].decode(), job.body)

    def test_timeout_must_fit_the_dispatcher_time_budget(self):
        # Default server limits: 120 s, a run lasts at most 90 s, two rounds of 45 s.
        with self.assertRaises(ValidationError) as caught:
            self.backend.timeout = 46
            self.backend.flush_recordset()
        self.assertIn("time budget", str(caught.exception))
        self.backend.timeout = 45
        self.backend.flush_recordset()
        with self.assertRaises(ValidationError):
            self.backend.max_concurrent = 65
            self.backend.flush_recordset()

    def test_dispatcher_workers_setting_adds_and_removes_worker_crons(self):
        Dispatcher = self.env["finance.sync.dispatcher"]
        settings = self.env["res.config.settings"].create({"finance_sync_dispatcher_workers": 3})
        settings.execute()
        crons = Dispatcher._get_worker_crons()
        self.assertEqual(len(crons), 3)
        self.assertEqual(crons[0], self.env.ref("finance_sync.ir_cron_dispatch"))
        self.assertEqual(crons[1:].mapped("code"), ["model._cron_dispatch(worker=2)", "model._cron_dispatch(worker=3)"])
        self.assertEqual(self.env["res.config.settings"].create({}).finance_sync_dispatcher_workers, 3)
        before = self.env["ir.cron.trigger"].search_count([("cron_id", "in", crons.ids)])
        self.Job._trigger_dispatch()
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "in", crons.ids)]), before + 3)
        self.env["res.config.settings"].create({"finance_sync_dispatcher_workers": 1}).execute()
        self.assertEqual(Dispatcher._get_worker_crons(), crons[0])
        self.assertFalse(crons[1:].exists())

    def test_wake_up_follows_documents_waiting_behind_an_earlier_event(self):
        """The earliest pending job waits behind its document's failed event and is never due;
        the wake-up is scheduled from the job that can actually come due."""
        blocked_doc = self._create_invoice(post=True)
        self.respond(400, once=True)
        self.dispatch()
        blocked_doc.button_draft()  # its second event waits behind the failed first
        retry_doc = self._create_invoice(post=True)
        retry_job = self.jobs_of(retry_doc)
        later = fields.Datetime.now() + timedelta(seconds=40)
        retry_job._reschedule(later)
        self.jobs_of(blocked_doc)[1]._reschedule(fields.Datetime.now() - timedelta(minutes=5))
        cron = self.env.ref("finance_sync.ir_cron_dispatch")
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        self.env["finance.sync.dispatcher"]._schedule_wakeup(False)
        calls = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).mapped("call_at")
        self.assertEqual(calls, [later])

    def test_each_transition_starts_only_from_its_states_and_outcomes_are_recorded_whatever_the_state(self):
        """A job goes through a named transition only from the states it lists: one asked of a
        job in another state is refused and changes nothing. What the platform answered is
        recorded even for a job a person cancelled while its request was in flight."""
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "pending")
        with self.assertRaisesRegex(UserError, "cannot go through the transition _mark_pending"):
            job._mark_pending()
        with self.assertRaisesRegex(UserError, "_mark_sent_again"):
            job._check_transition("_mark_sent_again")
        job._cancel("A person cancels it while it is in flight")
        self.assertEqual(job.state, "cancelled")
        for refused in ("_mark_pending", "_mark_blocked", "_hold_behind", "_mark_cancelled"):
            with self.assertRaisesRegex(UserError, refused):
                job._check_transition(refused)
        with self.assertRaises(UserError):
            job._hold_behind(job)
        self.assertEqual(job.state, "cancelled", "a refused transition changes nothing")
        job._mark_done(200, 1)  # the platform had the event already
        self.assertEqual((job.state, job.last_status_code, job.attempt_count), ("done", 200, 1))
        job._mark_pending()  # sent again
        self.assertEqual(job.state, "pending")

    def test_a_freeze_reads_its_batch_and_stores_and_leases_its_bodies_in_one_statement_each(self):
        """A round that finds nothing frozen reads the due jobs with their payloads in one
        statement and stores their bodies in another, which also leases the oldest due of them
        (as many as the backend wants): whatever the batch's size, no statement per job, and no
        second claim for what was just frozen."""
        self.backend.max_concurrent = 1  # wants 1 in flight and 3 queued: 4 of the 6
        partners = self.env["res.partner"].create([{"name": f"Frozen {n}"} for n in range(6)])
        create_ping_jobs(self.env(su=True), self.backend, partners)
        jobs = self.Job.search([("backend_id", "=", self.backend.id)], order="id")
        self.assertEqual(len(jobs), 6)
        Dispatcher = self.env["finance.sync.dispatcher"].sudo()
        run = Run(deadline=time.monotonic() + 60, backend_ids=[self.backend.id])
        Dispatcher._refresh_channels(run.channels, run.backend_ids)
        self.env.flush_all()
        self.env.invalidate_all()  # as after the commit that ends each round
        before = self.env.cr.sql_log_count
        claims, froze = Dispatcher._claim_all(run)
        statements = self.env.cr.sql_log_count - before
        self.assertTrue(froze)
        self.assertLessEqual(statements, 4, "claim (nothing frozen), read the batch, the backend, store and lease")
        jobs.invalidate_recordset()
        self.assertTrue(all(jobs.mapped("body")), "every due job of the batch is frozen")
        self.assertEqual([claim.job_id for _channel, claim in claims], jobs[:4].ids, "the oldest due four are leased")
        self.assertEqual([claim.body for _channel, claim in claims], jobs[:4].mapped("body"))
        self.assertEqual([claim.event_id for _channel, claim in claims], jobs[:4].mapped("event_uuid"))
        self.assertEqual([bool(job.lease_until and job.sent_at) for job in jobs], [True] * 4 + [False] * 2)
        for job in jobs:
            self.assertEqual(json.loads(job.body)["event_id"], job.event_uuid)
        # The two frozen but not leased go with the next claim, with the bodies stored.
        more = Dispatcher._claim(run.channels[self.backend.id], 10, fields.Datetime.now())
        self.assertEqual([(c.job_id, c.body) for c in more], [(job.id, job.body) for job in jobs[4:]])


@tagged("post_install", "-at_install")
class TestFrozenBodiesSurviveRollbacks(BaseCase):
    """Committed data on separate cursors, as the cron sees it."""

    def setUp(self):
        super().setUp()
        self.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.receiver.start()
        self.addCleanup(self.receiver.stop)
        self.receiver.expect_request("/hook", method="POST").respond_with_data("{}", content_type="application/json")
        self.db = get_db_name()

    def cursor(self):
        return closing(sql_db.db_connect(self.db).cursor())

    def test_a_rolled_back_send_then_a_mapping_change_resends_the_same_bytes(self):
        with self.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            mapping_set = env["finance.sync.mapping.set"].create({"name": "Frozen bodies", "company_ids": company.ids})
            mapping = env["finance.sync.mapping"].create(
                {"set_id": mapping_set.id, "kind": "company", "mapped_company_id": company.id, "external_code": "CO-1"}
            )
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Frozen bodies",
                    "endpoint_url": self.receiver.url_for("/hook"),
                    "signing_secret": signing.generate_secret(),
                    "company_ids": [(6, 0, company.ids)],
                    "mapping_set_id": mapping_set.id,
                    "state": "active",
                }
            )
            partner = env["res.partner"].create({"name": "Frozen bodies"})
            (event_id,) = create_ping_jobs(env, backend, partner)
            job = env["finance.sync.job"].search([("event_uuid", "=", event_id)])
            ids = {"set": mapping_set.id, "backend": backend.id, "partner": partner.id, "job": job.id}
            cr.commit()
        try:

            class Killed(BaseException):
                pass

            def commit_then_die(synchronous=True, cr=None):
                # The freeze (and the lease) commit; the worker dies before recording the outcome.
                if not synchronous:
                    raise Killed
                cr.commit()

            with self.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                with self.assertRaises(Killed):
                    env["finance.sync.dispatcher"]._run(
                        time.monotonic() + 60,
                        lambda synchronous=True: commit_then_die(synchronous, cr),
                        lambda: cr.rollback() or True,
                        backend_ids=[ids["backend"]],
                    )
                cr.rollback()
            self.assertEqual(len(self.receiver.log), 1, "the platform received the event")
            with self.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                job = env["finance.sync.job"].browse(ids["job"])
                self.assertEqual((job.state, job.attempt_count), ("pending", 0), "its outcome was lost")
                self.assertIn('"code":"CO-1"', job.body)
                env["finance.sync.mapping"].browse(mapping.id).external_code = "CO-2"
                # The dead worker's lease ran out (time passes: the job's own methods never do this).
                internal(job).write({"lease_until": fields.Datetime.now() - timedelta(seconds=1)})
                cr.commit()
                env["finance.sync.dispatcher"]._run(
                    time.monotonic() + 60,
                    *own_transactions(cr),
                    backend_ids=[ids["backend"]],
                )
                job.invalidate_recordset()
                self.assertEqual(job.state, "done")
            (first, _r1), (second, _r2) = self.receiver.log
            self.assertEqual(first.headers["webhook-id"], second.headers["webhook-id"])
            self.assertEqual(first.get_data(), second.get_data(), "byte-identical under the same event id")
        finally:
            with self.cursor() as cr:
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", [ids["backend"]])
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", [ids["backend"]])
                cr.execute(
                    "DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id = %s", [ids["backend"]]
                )
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", [ids["backend"]])
                cr.execute("DELETE FROM finance_sync_mapping_set WHERE id = %s", [ids["set"]])
                cr.execute("DELETE FROM res_partner WHERE id = %s", [ids["partner"]])
                cr.commit()

    def test_asynchronous_commit_is_set_once_per_session_and_freezes_commit_synchronously(self):
        with self.cursor() as cr:
            commit, rollback = own_transactions(cr)

            def setting():
                cr.execute("SHOW synchronous_commit")
                return cr.fetchone()[0]

            default = setting()
            self.assertNotEqual(default, "off")
            commit(synchronous=False)
            self.assertEqual(setting(), "off", "the outcomes' commits are asynchronous for the whole run")
            with patch.object(cr, "execute", wraps=cr.execute) as execute:
                commit(synchronous=False)
                commit(synchronous=True)
            statements = [call.args[0] for call in execute.call_args_list]
            self.assertEqual(statements, ["SET LOCAL synchronous_commit TO ON"], "no SET before asynchronous commits")
            self.assertEqual(setting(), "off", "a synchronous commit only overrides its own transaction")
            commit.reset()
            self.assertEqual(setting(), default, "what the cron commits after the run is synchronous again")
            rollback()
