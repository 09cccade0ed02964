import logging
import threading
import time
from datetime import timedelta

from psycopg2.extensions import TransactionRollbackError

from odoo import api, fields, models, modules
from odoo.tools import config

from .. import const
from ..engine import budget, scheduler
from ..engine import payload as payload_lib
from ..engine.circuit import Circuit
from ..engine.scheduler import Channel, Run, caller_transactions, own_transactions
from . import finance_sync_outbox as outbox

_logger = logging.getLogger(__name__)


class FinanceSyncDispatcher(models.AbstractModel):
    """Delivers the outbox: claims due jobs, freezes their bodies, sends them concurrently and
    records the outcomes.

    Each run of a worker cron loops within a time budget derived from the server's cron limits:

    1. *freeze* — due jobs without a body are rendered (profile, mappings), validated and their
       exact body stored; that transaction commits (synchronously) before any byte leaves, so an
       event id is only ever sent with one body;
    2. *claim* — due frozen jobs are leased (``lease_until``) with ``FOR UPDATE SKIP LOCKED``, as
       many per backend as it has free request slots and, while it is healthy, as many again
       queued in memory; the leases are committed;
    3. *send* — worker threads POST the bodies on pooled keep-alive connections (HTTP only: no
       ORM, cursor or environment there); each answer is judged at once (circuit, pacing) and
       its slot refilled from the queue; a request unanswered for a second frees its slot;
    4. *record* — this thread hands the outcomes over in rounds (half the requests answered, or
       50 ms) to the job model, which records them (attempt log, named job transitions,
       exceptions), shares the backend's pacing, then claims more and commits.

    The scheduling itself (claims, channels, the run, commit policies, what an answer calls for)
    is plain Python in ``engine/scheduler.py``; the SQL over the outbox is in
    ``finance_sync_outbox.py``.

    A worker that dies leaves leases that expire after the backend's timeout plus a margin: its
    jobs are then due again and resent with the same id and the same bytes, which the platform's
    dedupe makes exactly-once in effect.
    """

    _name = "finance.sync.dispatcher"
    _description = "Finance Sync Dispatcher"

    # === CRON === #

    @api.model
    def _cron_dispatch(self, worker=1):
        """One dispatcher worker (there are *Dispatcher workers* of them, see Settings): send
        while there is due work, within the run's budget, then hand the cron thread back."""
        if not self.env.context.get("cron_id"):  # by hand (shell): one pass in the caller's transaction
            return self._dispatch()
        commit, rollback = own_transactions(self.env.cr)
        # Under tests the cron runs in the test's transaction: no waiting for work coming due.
        idle_wait = not (config["test_enable"] or modules.module.current_test)
        sent, more = self._run(self._deadline(), commit, rollback, idle_wait=idle_wait)
        commit.reset()  # what the cron commits next (progress, wake-up) commits synchronously
        self.env["ir.cron"]._commit_progress(sent)
        self._schedule_wakeup(more)
        _logger.debug("finance_sync: dispatcher worker %s sent %s events", worker, sent)
        return sent

    @api.model
    def _dispatch(self, backends=None, job_ids=None):
        """Send what is due now (optionally only ``backends`` or the jobs ``job_ids``) in this
        request or shell, then return how many attempts were made. Freezes are committed first
        when the transaction may be committed (never under tests)."""
        can_commit = not (config["test_enable"] or modules.module.current_test)
        commit, rollback = caller_transactions(self.env.cr, can_commit)
        backend_ids = backends.ids if backends is not None else None
        sent, _more = self._run(self._deadline(), commit, rollback, backend_ids=backend_ids, job_ids=job_ids)
        return sent

    # === THE LOOP === #

    @api.model
    def _run(self, deadline, commit, rollback, backend_ids=None, job_ids=None, idle_wait=False):
        """Claim, send and record until nothing is due (or, with ``idle_wait``, until nothing
        comes due soon) or the ``deadline`` (``time.monotonic()``) nears.

        ``commit(synchronous)`` ends a transaction; ``rollback()`` undoes one after a
        serialization conflict and says whether it could (never under tests).

        :return: (attempts made, whether due work was left for the next run)
        """
        self = self.sudo()  # noqa: PLW0642 - the system sends: crons, and buttons after their access check
        run = Run(deadline=deadline, backend_ids=backend_ids, job_ids=job_ids)
        try:
            while True:
                self._refresh_run(run)
                run.collect()
                run.start(fields.Datetime.now())
                if run.round_due() and not self._round(run, commit, rollback):
                    continue
                if run.in_flight:
                    run.wait()
                    continue
                if run.outcomes or run.queued():  # nothing in flight: the next round is due at once
                    continue
                if run.closing:
                    return run.sent, True
                if not idle_wait or not self._wait_for_work(run):
                    return run.sent, run.closing
        finally:
            # Requests in flight end within their timeout; their outcomes are recorded, and the
            # leases of queued jobs lifted. When the loop broke on an error the transaction may
            # be unusable: the leases then expire.
            run.collect(wait=True)
            run.close()
            try:
                if run.outcomes or run.released:
                    self._record(run.outcomes)
                    self._release(run.released)
                    commit(synchronous=False)
            except Exception:
                _logger.exception("finance_sync: %s outcomes not recorded; those jobs go again", len(run.outcomes))

    @api.model
    def _round(self, run, commit, rollback):
        """One database round: record the outcomes, lift unused leases, claim (and freeze) more,
        commit, then start what was claimed. False when a conflict rolled it back."""
        try:
            self._record(run.outcomes)
            self._share_pacing(run.channels.values())  # and what a previous round could not write
            self._release(run.released)
            claims, froze = self._claim_all(run)
            commit(synchronous=froze)
        except TransactionRollbackError:
            # Another worker committed rows this snapshot still saw as due. Nothing was sent from
            # this transaction: the outcomes are recorded again on a fresh snapshot.
            if not rollback():
                raise
            self.env.invalidate_all()
            return False
        run.outcomes, run.released, run.round_at = [], [], time.monotonic()
        for channel, claim in claims:
            channel.queue.append(claim)
        run.start(fields.Datetime.now())
        return True

    @api.model
    def _refresh_run(self, run):
        """Read the backends again every few seconds (see ``_refresh_channels``)."""
        if time.monotonic() - run.refreshed_at > const.DISPATCH_REFRESH_SECONDS:
            # Jobs held behind a partner event that no longer needs a person go again. The
            # transitions release them as they happen; this catches a document captured while
            # another transaction was recording its partner's delivery (each saw the other's rows
            # as they were before).
            stale = outbox.stale_holds(self.env)
            if stale:
                stale._mark_pending()
            self._refresh_channels(run.channels, run.backend_ids)
            run.refreshed_at = time.monotonic()

    @api.model
    def _wait_for_work(self, run):
        """Nothing in flight and nothing claimable: sleep a little when a job comes due soon
        (a retry, the end of a pause or cool-down) and there is time left to send it; return
        False when the run should end instead (``run.closing`` tells whether work is left)."""
        next_due = self._next_due(run.channels)
        if next_due is None:
            return False
        wait = (next_due - fields.Datetime.now()).total_seconds()
        if wait > min(const.DISPATCH_IDLE_WAIT_SECONDS, run.time_left() - const.DISPATCH_MIN_SLICE_SECONDS):
            run.closing = wait <= 0  # due now but no time left: the next run takes it
            return False
        time.sleep(min(max(wait, 0.05), scheduler.POLL_SECONDS))
        return True

    @api.model
    def _deadline(self):
        """``time.monotonic()`` by which this run must be over: the server's cron (or request)
        limit less a margin, counted from the start of the cron thread's current pass when Odoo
        tells it (one pass may have run other crons before this one), else shared between the
        worker crons (all of them may run one after the other in one pass)."""
        prefork = bool(config["workers"])
        limit = budget.server_limit(
            config["limit_time_real_cron"], config["limit_time_real"], config["limit_time_cpu"], prefork
        )
        run_budget = budget.run_budget(limit)
        started = getattr(threading.current_thread(), "start_time", None)
        if started:  # threaded server: the limit counts from the start of the thread's pass
            return time.monotonic() + run_budget - max(0.0, time.time() - started)
        # Prefork: the pass's start is not known, and every worker cron may run in one pass.
        return time.monotonic() + run_budget / max(1, len(self._get_worker_crons()))

    # === CHANNELS === #

    @api.model
    def _refresh_channels(self, channels, backend_ids=None):
        """(Re)read the active backends: settings, circuit from the attempt log, pacing. Runs at
        start and every few seconds, so a backend paused or changed meanwhile is followed."""
        domain = [("state", "=", "active")]
        if backend_ids is not None:
            domain.append(("id", "in", backend_ids))
        backends = self.env["finance.sync.backend"].sudo().search(domain)
        facts = self.env["finance.sync.attempt"]._circuit_facts(backends)
        for channel in channels.values():
            channel.active = channel.backend_id in backends.ids
        for backend in backends:
            circuit = Circuit(backend.circuit_threshold, backend.circuit_cooldown, *facts[backend.id][:2])
            channel = channels.get(backend.id)
            if channel is None:
                channels[backend.id] = Channel(
                    backend_id=backend.id,
                    max_concurrent=backend.max_concurrent,
                    timeout=backend.timeout,
                    max_attempts=backend.max_attempts,
                    circuit=circuit,
                    sender=backend._prepare_sender(),
                    transport=backend._get_transport(),
                    paced_until=backend.paced_until or None,
                )
            else:
                channel.circuit = circuit
                channel.max_concurrent = backend.max_concurrent
                channel.max_attempts = backend.max_attempts
                channel.sender = backend._prepare_sender()  # secrets may have changed
                channel.paced_until = max(filter(None, (channel.paced_until, backend.paced_until)), default=None)

    # === CLAIM === #

    @api.model
    def _claim_all(self, run):
        """Lease due jobs for every backend that wants some, freezing bodies first where needed.
        Once the deadline is too near for a request to end before it, claim nothing more.

        :return: ([(channel, claim)], whether bodies were frozen in this transaction)
        """
        claims, froze = [], False
        now = fields.Datetime.now()
        for channel in run.channels.values():
            wanted = channel.wanted(now)
            if not wanted:
                continue
            if run.time_left() < channel.timeout + const.DISPATCH_MIN_SLICE_SECONDS:
                run.closing = True  # a request started now could outlive the run
                continue
            got = self._claim(channel, wanted, now, run.job_ids)
            if len(got) < wanted:
                # The bodies frozen now are leased by the statement that stores them.
                frozen, fresh = self._freeze(channel, now, run.job_ids, lease=wanted - len(got))
                froze = froze or frozen
                got += fresh
            claims += [(channel, claim) for claim in got]
        return claims, froze

    @api.model
    def _release(self, job_ids):
        """Lift the leases of jobs claimed but not sent (backend paused, circuit opened, run over)."""
        if job_ids:
            outbox.release_leases(self.env, job_ids)

    @api.model
    def _lease_until(self, channel, now):
        """Until when a job claimed at ``now`` is leased: connecting may take up to the timeout
        (at most 5 s), then reading the answer the timeout."""
        return now + timedelta(seconds=2 * channel.timeout + const.DISPATCH_LEASE_MARGIN_SECONDS)

    @api.model
    def _claim(self, channel, limit, now, job_ids=None):
        """Lease up to ``limit`` due, frozen jobs of ``channel``'s backend to this worker."""
        rows = outbox.claim(self.env, channel.backend_id, limit, now, self._lease_until(channel, now), job_ids)
        return [scheduler.Claim(*row) for row in rows]

    @api.model
    def _freeze(self, channel, now, job_ids=None, lease=0):
        """Render, validate and store the exact body of a batch of due jobs without one (the
        caller commits before sending), and lease the first ``lease`` of them (oldest due first)
        to this worker in the same statement. The jobs missing a required mapping or failing
        their schema are handed to the job model instead (blocked, failed).

        Set-based: one statement reads the batch's payloads (past the ORM, see
        ``outbox.due_unfrozen``), one stores and leases its bodies; the backend's profile is read
        once for the batch.

        :return: (whether any job was frozen, blocked or failed, [Claim] leased)"""
        rows = outbox.due_unfrozen(self.env, channel.backend_id, now, channel.freeze_size(), job_ids)
        if not rows:
            return False, []
        backend = self.env["finance.sync.backend"].browse(channel.backend_id)
        profile = backend._get_profile()
        bodies, unrendered = [], {}
        for job_id, company_id, event_type, res_id, captured in rows:  # oldest due first
            payload, missing = outbox.render_payload(backend, captured or {}, event_type, res_id, company_id, profile)
            errors = [] if missing else payload_lib.validate(payload, event_type)
            if missing or errors:
                unrendered.setdefault(company_id, []).append(scheduler.Unrendered(job_id, missing, errors))
            else:
                bodies.append((job_id, payload_lib.canonical_json(payload).decode("utf-8")))
        for company_id, company_unrendered in unrendered.items():
            self.env["finance.sync.job"].with_company(company_id)._apply_outcome(company_unrendered)
        leased = []
        if bodies:  # one statement for the whole batch: every body differs
            lease_until = self._lease_until(channel, now) if lease else None
            rows = outbox.store_bodies(self.env, bodies, fields.Datetime.now(), lease, lease_until, now)
            leased = [scheduler.Claim(*row) for row in rows]
        return True, leased

    # === RECORD === #

    @api.model
    def _record(self, outcomes):
        """Hand what came back for each (channel, claim, started at, result, verdict) to the job
        model, which records it (``finance.sync.job._apply_outcome``), then share the pacing the
        other workers must follow."""
        if not outcomes:
            return
        self.env["finance.sync.job"].sudo()._apply_outcome([scheduler.Outcome.of(*outcome) for outcome in outcomes])
        self._share_pacing({outcome[0] for outcome in outcomes})

    @api.model
    def _share_pacing(self, channels):
        """Write on their backends the pacing these channels were asked for, for the other workers
        and servers. One that another server's pacing kept from being written now (``_pace``) is
        written at a later round."""
        for channel in channels:
            if channel.pace_to_share and self.env["finance.sync.backend"].sudo().browse(channel.backend_id)._pace(
                channel.pace_to_share
            ):
                channel.pace_to_share = None

    # === WAKE-UPS === #

    @api.model
    def _next_due(self, channels):
        """When the next job could come due on the active backends (None: nothing waits).

        Every document's earliest open event counts, not only the earliest pending job: a job
        waiting behind its document's earlier event comes due when that one does. A paced or
        cooling-down backend comes due at the end of its pause.
        """
        if not channels:
            return None
        moments = []
        for backend_id, at in outbox.next_due(self.env, channels):
            channel = channels[backend_id]
            if not channel.active:
                continue
            moments.append(max(filter(None, (at, channel.paced_until, channel.circuit.open_until()))))
        return min(moments, default=None)

    @api.model
    def _schedule_wakeup(self, more):
        """After a run: more due work goes to the next run at once (another cron pass, so other
        crons get their turn); otherwise wake up when the next job comes due."""
        if more:
            outbox.wake(self.env)
            return
        channels = {}
        self._refresh_channels(channels)
        try:
            next_due = self._next_due(channels)
        finally:
            for channel in channels.values():
                channel.transport.close()
        if next_due:
            outbox.wake(self.env, max(next_due, fields.Datetime.now()))

    # === WORKERS === #

    @api.model
    def _get_worker_crons(self):
        """The dispatcher worker crons: the module's own, then those added in Settings."""
        return outbox.worker_crons(self.env)

    @api.model
    def _set_worker_count(self, count):
        """Have ``count`` dispatcher worker crons (at least 1). They run in parallel in any Odoo
        server's cron threads on this database; each claims with SKIP LOCKED."""
        count = max(1, min(int(count or 1), const.DISPATCH_MAX_WORKERS))
        crons = self._get_worker_crons()
        first, extra = crons[:1], crons[1:]
        if not first:
            return
        wanted = count - 1
        if len(extra) > wanted:
            extra[wanted:].unlink()
        for number in range(len(extra) + 2, count + 1):
            first.copy(
                {
                    "name": self.env._("Finance Sync: send pending events (worker %s)", number),
                    "code": f"model._cron_dispatch(worker={number})",
                    "active": True,
                }
            )
