"""The dispatcher under Odoo's real cron runner: separate ``odoo-bin`` servers on the test
database, a real receiver on 127.0.0.1, committed data (removed afterwards).

- a short cron time limit and a platform that stalls every request: runs end within their
  budget, nothing is killed, nothing is sent twice without its outcome being recorded;
- retries on time: a ``Retry-After: 2`` is honoured within 2 + 5 s, and delivery resumes within
  the circuit's cool-down + 5 s after an outage, while a worker runs;
- scale-out: two servers, two dispatcher workers, 2,000 events, one server SIGKILLed mid-run and
  restarted: every event delivered, per-document order kept, repeats only as the same id and bytes.
"""

import collections
import logging
import re
import time

from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import signing
from .common import create_ping_jobs
from .servers import OdooServer, Recorder, committed_env, wake_dispatchers

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestDispatcherUnderOdooCronRunner(BaseCase):
    def setUp(self):
        super().setUp()
        self.db = get_db_name()
        self.servers = []
        self.backend_ids = []
        self.partner_ids = []
        self.addCleanup(self._cleanup)

    # --- helpers ------------------------------------------------------------------------

    def start_server(self, *options):
        server = OdooServer(self.db, *options).start()
        self.servers.append(server)
        return server

    def make_backend(self, env, url, **vals):
        backend = env["finance.sync.backend"].create(
            {
                "name": f"Cron runner {len(self.backend_ids) + 1}",
                "endpoint_url": url,
                "signing_secret": signing.generate_secret(),
                "company_ids": [(6, 0, env.ref("base.main_company").ids)],
                "state": "active",
                "circuit_threshold": 1000,
                **vals,
            }
        )
        self.backend_ids.append(backend.id)
        return backend

    def make_partners(self, env, count):
        partners = env["res.partner"].create([{"name": f"Cron runner {i}"} for i in range(count)])
        self.partner_ids += partners.ids
        return partners

    def wait_until(self, condition, timeout, message, server_logs=True):
        """Poll ``condition`` (waking the crons now and then) until true or ``timeout`` s."""
        deadline = time.monotonic() + timeout
        woken = 0.0
        while time.monotonic() < deadline:
            if condition():
                return
            if time.monotonic() - woken > 5:
                wake_dispatchers(self.db)
                woken = time.monotonic()
            time.sleep(0.2)
        logs = "\n".join(server.output()[-4000:] for server in self.servers) if server_logs else ""
        self.fail(f"{message}\n{logs}")

    def job_states(self, backend_id):
        with committed_env(self.db) as env:
            env.cr.execute(
                "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", [backend_id]
            )
            return dict(env.cr.fetchall())

    def attempts_per_event(self, backend_id):
        with committed_env(self.db) as env:
            env.cr.execute(
                """SELECT job.event_uuid, count(attempt.id) FROM finance_sync_job job
                     LEFT JOIN finance_sync_attempt attempt ON attempt.job_id = job.id
                    WHERE job.backend_id = %s GROUP BY job.event_uuid""",
                [backend_id],
            )
            return dict(env.cr.fetchall())

    def _cleanup(self):
        for server in self.servers:
            server.stop()
        with committed_env(self.db) as env:
            cr = env.cr
            if self.backend_ids:
                ids = tuple(self.backend_ids)
                cr.execute(
                    "DELETE FROM finance_sync_exception WHERE backend_id IN %s", [ids]
                )  # jobs and attempts cascade below
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id IN %s", [ids])
                cr.execute("DELETE FROM mail_activity WHERE res_model = 'finance.sync.backend' AND res_id IN %s", [ids])
                cr.execute("DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id IN %s", [ids])
                cr.execute("DELETE FROM finance_sync_backend WHERE id IN %s", [ids])
            if self.partner_ids:
                cr.execute("DELETE FROM res_partner WHERE id IN %s", [tuple(self.partner_ids)])
            env["finance.sync.dispatcher"]._set_worker_count(1)

    # --- time budget ----------------------------------------------------------------------

    def test_stalling_platform_never_makes_a_run_repeat_under_a_short_cron_limit(self):
        """Prefork cron worker, 24 s limit (a run's budget: 14 s), a platform that answers
        every request only after the backend's 5 s timeout: 16 events at 4 at a time take
        longer than one run. Runs stop claiming as their budget nears and hand over; Odoo's
        watchdog never kills one; every request the platform saw has its attempt recorded."""
        with Recorder(lambda request, seen: (200, {}, 6)) as platform:
            with committed_env(self.db) as env:
                backend = self.make_backend(env, platform.url("/stall"), timeout=5, max_concurrent=4)
                create_ping_jobs(env, backend, self.make_partners(env, 16))
                backend_id = backend.id
            self.start_server(
                "--workers",
                "1",
                "--max-cron-threads",
                "1",
                "--limit-time-real-cron",
                "24",
                "--limit-time-real",
                "24",
            )
            self.wait_until(
                lambda: all(self.attempts_per_event(backend_id).values()),
                120,
                "not every event was attempted",
            )
            # Stop the backend, let the requests in flight end and be recorded, then compare.
            with committed_env(self.db) as env:
                env["finance.sync.backend"].browse(backend_id).state = "paused"
            time.sleep(11)  # the worker sees the pause within 5 s; requests end within 5 s
            received = collections.Counter(entry[2] for entry in platform.requests)
            self.assertEqual(received, collections.Counter(self.attempts_per_event(backend_id)))
        log = self.servers[0].output()
        self.assertNotIn("timeout after", log, "the watchdog killed a cron worker")
        self.assertNotIn("virtual real time limit", log)
        runs = len(re.findall(r"Job 'Finance Sync: send pending events' \(\d+\) starting", log))
        self.assertGreaterEqual(runs, 2, "the work was spread over several runs")

    # --- retries on time ----------------------------------------------------------------

    def test_retry_after_and_outage_recovery_are_on_time(self):
        def answer(request, seen):
            if request.path == "/slow-down":
                return (429, {"Retry-After": "2"}, None) if not seen else (200, {}, None)
            # /outage: down for the first three requests, then back.
            with platform.lock:
                failures = sum(1 for entry in platform.requests if entry[1] == "/outage")
            return (503, {}, None) if failures <= 3 else (200, {}, None)

        with Recorder(answer) as platform:
            with committed_env(self.db) as env:
                paced = self.make_backend(env, platform.url("/slow-down"), max_concurrent=3)
                create_ping_jobs(env, paced, self.make_partners(env, 3))
                outage = self.make_backend(
                    env, platform.url("/outage"), max_concurrent=1, circuit_threshold=3, circuit_cooldown=10
                )
                create_ping_jobs(env, outage, self.make_partners(env, 6))
                paced_id, outage_id = paced.id, outage.id
            self.start_server("--max-cron-threads", "1")
            # The three requests that met the outage are retried after their backoff (30 s): what
            # matters here is when the others go, right after the cool-down.
            self.wait_until(
                lambda: self.job_states(paced_id) == {"done": 3} and self.job_states(outage_id).get("done") == 3,
                120,
                "not delivered",
            )
        by_event = collections.defaultdict(list)
        for at, path, event_id, _digest, _body in platform.requests:
            if path == "/slow-down":
                by_event[event_id].append(at)
        for event_id, times in by_event.items():
            self.assertEqual(len(times), 2, event_id)
            self.assertLessEqual(times[1] - times[0], 2 + 5, "Retry-After: 2 honoured within 2 + 5 s")
        outage_times = [(at, i) for i, (at, path, *_rest) in enumerate(platform.requests) if path == "/outage"]
        last_failure, first_success = outage_times[2][0], outage_times[3][0]
        self.assertGreaterEqual(first_success - last_failure, 10 - 1, "the circuit held during its cool-down")
        self.assertLessEqual(first_success - last_failure, 10 + 5, "delivery resumed within cool-down + 5 s")

    # --- scale-out ------------------------------------------------------------------------

    def test_two_servers_one_killed_deliver_every_event_in_order(self):
        with Recorder() as platform:
            with committed_env(self.db) as env:
                env["finance.sync.dispatcher"]._set_worker_count(2)
                backend = self.make_backend(env, platform.url("/scale"), timeout=3)
                index = create_ping_jobs(env, backend, self.make_partners(env, 500), events_per_partner=4)
                backend_id = backend.id
            first = self.start_server("--max-cron-threads", "2")
            self.start_server("--max-cron-threads", "2")
            self.wait_until(lambda: platform.count() >= 400, 120, "delivery did not start")
            first.kill()
            time.sleep(1)
            first.start()
            self.wait_until(lambda: self.job_states(backend_id) == {"done": 2000}, 240, "not every event delivered")
        self.assertEqual({entry[2] for entry in platform.requests}, set(index))
        bodies = collections.defaultdict(set)
        heard = collections.defaultdict(int)  # document -> highest sequence received so far
        for _at, _path, event_id, digest, _body in platform.requests:
            bodies[event_id].add(digest)
            document, sequence = index[event_id]
            self.assertLessEqual(sequence, heard[document] + 1, "an event arrived before its document's earlier one")
            heard[document] = max(heard[document], sequence)
        self.assertEqual([e for e, digests in bodies.items() if len(digests) > 1], [], "a repeat with another body")
        repeats = len(platform.requests) - len(index)
        _logger.info("two servers, one killed: %s events, %s re-sent (same id and bytes)", len(index), repeats)
