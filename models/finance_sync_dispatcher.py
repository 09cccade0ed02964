import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from datetime import timedelta

from psycopg2.extensions import TransactionRollbackError

from odoo import api, fields, models, modules
from odoo.tools import SQL, config

from .. import const
from ..engine import backoff, budget, classify, redact
from ..engine.circuit import Circuit
from ..engine.transport import TransportResult
from ..utils import message_vals

_logger = logging.getLogger(__name__)

# A job is *due* when it is pending, its time has come, no worker holds it (lease) and no
# earlier event of the same document is still open on that backend (per-document order).
# Only the earliest open event of a document can ever be due, so two events of one document
# are never in flight together, whichever worker or server claims them.
DUE_CONDITION = """
       job.state = 'pending'
   AND job.next_attempt_at <= %(now)s
   AND (job.lease_until IS NULL OR job.lease_until < %(now)s)
   AND NOT EXISTS (
        SELECT 1
          FROM finance_sync_job prev
         WHERE prev.backend_id = job.backend_id
           AND prev.res_model = job.res_model
           AND prev.res_id = job.res_id
           AND prev.sequence < job.sequence
           AND prev.state IN %(open_states)s
           AND %(same_stream)s)
   AND %(waits_for_partner)s
"""

# Master data: an event that depends on a partner (``depends_on_partner``) is not due while a
# ``partner.upserted`` event of that partner captured before it is still open on the same backend.
# Like the per-document order it reads committed states only: the partner's event is open until
# the transaction recording its delivery commits, whichever worker sent it, and a crash leaves it
# open (pending with an expired lease), so the document never overtakes it. The partner is a plain
# id, which a merge of partners does not re-point: a document of a merged partner still waits for
# that partner's own events.
PARTNER_FIRST_CONDITION = """
       NOT EXISTS (
        SELECT 1
          FROM finance_sync_job dep
         WHERE job.depends_on_partner IS NOT NULL
           AND dep.backend_id = job.backend_id
           AND dep.res_model = 'res.partner'
           AND dep.res_id = job.depends_on_partner
           AND dep.event_type = %(partner_event)s
           AND dep.id < job.id
           AND dep.state IN %(open_states)s)
"""


# A partner's credit exposure is a state, not a change: its events keep their own order (and their
# own sequence, see finance.sync.job._stream), apart from the partner's master data events, so
# that a delayed exposure (coalescing interval) never holds the partner, nor the partner's
# documents behind it.
SAME_STREAM_CONDITION = "(prev.event_type = %(exposure)s) = (job.event_type = %(exposure)s)"


def same_stream():
    """SQL: ``prev`` and ``job`` are in the same ordered stream of their record."""
    return SQL(SAME_STREAM_CONDITION, exposure=const.EVENT_PARTNER_EXPOSURE)


def partner_first():
    """SQL: the partner-first condition on ``job`` (see PARTNER_FIRST_CONDITION)."""
    return SQL(PARTNER_FIRST_CONDITION, partner_event=const.EVENT_PARTNER_UPSERTED, open_states=const.JOB_OPEN_STATES)


def own_transactions(cr):
    """(commit, rollback) for a dispatcher run that owns ``cr``, as a cron worker does: each
    freeze commits (synchronously) before sending; claims and outcomes commit as they happen,
    asynchronously (losing one in a crash of the database only means sending the same id and
    body again).

    Asynchronous commit is set once for the connection's session rather than before every
    commit (one statement less per round); a synchronous commit overrides it for its own
    transaction. Odoo resets a pooled connection before lending it again; ``commit.reset()`` ends
    it at once."""
    session = {"async": False, "pending": False}  # set and committed / set in this transaction

    def commit(synchronous=True):
        if synchronous:
            if session["async"] or session["pending"]:
                cr.execute("SET LOCAL synchronous_commit TO ON")
        elif not (session["async"] or session["pending"]):
            cr.execute("SET synchronous_commit TO OFF")
            session["pending"] = True
        # The worker owns its cursor: bodies are frozen before sending.
        cr.commit()  # pylint: disable=invalid-commit
        session["async"] = session["async"] or session["pending"]
        session["pending"] = False

    def rollback():
        cr.rollback()
        session["pending"] = False  # a SET in a rolled back transaction is undone with it
        return True

    def reset():
        if session["async"] or session["pending"]:
            cr.execute("RESET synchronous_commit")
            session["async"] = session["pending"] = False

    commit.reset = reset
    return commit, rollback


@dataclasses.dataclass
class Claim:
    """A job leased by this worker: what the sending thread needs, read in the claim query."""

    job_id: int
    event_id: str
    body: str
    attempt_count: int
    company_id: int


@dataclasses.dataclass(eq=False)
class Channel:
    """One backend while a worker runs: its settings, the in-memory circuit, its transport, the
    jobs leased and waiting for a free slot, and the requests in flight. Plain data: the sending
    threads only ever see ``sender`` and ``transport``."""

    backend_id: int
    max_concurrent: int
    timeout: int
    max_attempts: int
    circuit: Circuit
    sender: object  # finance.sync.backend _prepare_sender(): builds requests, masks text
    transport: object
    paced_until: object = None  # datetime: the platform asked to slow down until then
    sending: list = dataclasses.field(default_factory=list)  # time.monotonic() each request in flight started
    active: bool = True
    queue: collections.deque = dataclasses.field(default_factory=collections.deque)  # leased Claims
    pace_to_share: object = None  # a pacing not yet written on the backend for the other workers

    def observe(self, result, now):
        """The verdict on one answer, applied at once to what this worker sends next: the
        circuit counts it, a 429 or Retry-After slows the backend down, a 410 stops it."""
        if result.status is not None:
            verdict = classify.classify_status(result.status, result.body_excerpt)
        else:
            verdict = classify.classify_error(result.error)
        self.circuit.record(verdict.outcome, now)
        if verdict.outcome == classify.PAUSE:
            self.active = False
        retry_after = backoff.parse_retry_after(result.retry_after, now)
        if verdict.outcome == classify.RETRY and (retry_after is not None or result.status == 429):
            seconds = const.DEFAULT_429_PACE_SECONDS if retry_after is None else backoff.next_delay(0, retry_after)
            until = now + timedelta(seconds=seconds)
            if not self.paced_until or until > self.paced_until:
                self.paced_until = self.pace_to_share = until
        return verdict

    def allowed(self, now):
        """Requests that may be in flight now (0 while paused, slowed down or the circuit open)."""
        if not self.active or (self.paced_until and now < self.paced_until):
            return 0
        return self.circuit.allowed_in_flight(now, self.max_concurrent)

    def wanted(self, now):
        """Jobs to lease now: enough to fill the free slots and, while the platform is healthy,
        a few times as many queued, so that answers are replaced at once, between database
        rounds."""
        allowed = self.allowed(now)
        healthy = allowed == self.max_concurrent and not self.circuit.failures
        ahead = allowed * const.DISPATCH_QUEUE_AHEAD if healthy else 0
        return max(0, allowed + ahead - self.busy() - len(self.queue))

    def busy(self):
        """Requests in flight that count against the backend's concurrency. One unanswered for
        longer than DISPATCH_STALLED_SECONDS stops counting (the platform is not working on it,
        or slowly): it ends by its own timeout while the others go on, and at most as many
        stalled requests again as the backend's concurrency are ever open."""
        stalled_before = time.monotonic() - const.DISPATCH_STALLED_SECONDS
        answering = sum(1 for started in self.sending if started > stalled_before)
        return max(answering, len(self.sending) - self.max_concurrent)

    def next_stall(self):
        """When the oldest request still counted becomes stalled (``time.monotonic()``)."""
        stalled_before = time.monotonic() - const.DISPATCH_STALLED_SECONDS
        counted = [started for started in self.sending if started > stalled_before]
        return min(counted) + const.DISPATCH_STALLED_SECONDS if counted else None


class Run:
    """The state of one dispatcher run: its channels, the requests in flight and the outcomes
    not yet recorded. The sending threads run ``Transport.send`` only."""

    def __init__(self, deadline, backend_ids=None, job_ids=None):
        self.deadline = deadline
        self.backend_ids = backend_ids
        self.job_ids = job_ids
        self.channels = {}  # backend id -> Channel
        self.in_flight = {}  # future -> (channel, claim, started at, time.monotonic() at start)
        self.outcomes = []  # (channel, claim, started at, result, verdict) not yet committed
        self.released = []  # job ids leased but not sent: their leases are lifted at the next round
        self.sent = 0
        self.refreshed_at = float("-inf")
        self.round_at = float("-inf")
        self.closing = False  # no more claims: the deadline is near
        self.pool = None

    def time_left(self):
        return self.deadline - time.monotonic()

    def capacity(self):
        return sum(channel.max_concurrent for channel in self.channels.values())

    def start(self, now):
        """Send queued jobs into the free slots of their backends (no database work)."""
        for channel in self.channels.values():
            allowed = channel.allowed(now)
            if channel.queue and not allowed:
                self.released += [claim.job_id for claim in channel.queue]
                channel.queue.clear()
            while channel.queue and channel.busy() < allowed:
                self._submit(channel, channel.queue.popleft())

    def _submit(self, channel, claim):
        if self.pool is None:
            size = min(const.DISPATCH_MAX_THREADS, 2 * self.capacity())  # stalled requests do not count
            self.pool = concurrent.futures.ThreadPoolExecutor(max(1, size), thread_name_prefix="finance_sync_send")
        self.sent += 1
        started = fields.Datetime.now()
        request = channel.sender.request(claim.event_id, claim.body.encode("utf-8"))
        if isinstance(request, TransportResult):  # refused before sending (URL guard)
            self.outcomes.append((channel, claim, started, request, channel.observe(request, started)))
            return
        mark = time.monotonic()
        channel.sending.append(mark)
        self.in_flight[self.pool.submit(channel.transport.send, request)] = (channel, claim, started, mark)

    def round_due(self):
        """Whether to record and claim now: nothing left in flight, a backend about to run out of
        queued jobs, as many answers as requests may fly, or a short while since the last round
        (outcomes are recorded promptly)."""
        if not self.in_flight or len(self.outcomes) >= 2 * self.capacity():
            return True
        now = fields.Datetime.now()
        if any(len(c.queue) < c.allowed(now) and c.wanted(now) for c in self.channels.values()):
            return True
        return time.monotonic() - self.round_at >= const.DISPATCH_ROUND_SECONDS

    def wait(self):
        """Until a request ends, or the next round is due (outcomes wait to be recorded), or a
        short while to look for new work."""
        moments = [self.round_at + const.DISPATCH_ROUND_SECONDS] if self.outcomes else []
        moments += [c.next_stall() for c in self.channels.values() if c.queue and c.next_stall()]
        timeout = max(0.0, min([const.DISPATCH_POLL_SECONDS, *(at - time.monotonic() for at in moments)]))
        concurrent.futures.wait(self.in_flight, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)

    def collect(self, wait=False):
        """Move the ended requests (with ``wait``: all of them) to the outcomes to record."""
        futures = list(self.in_flight)
        ended = concurrent.futures.as_completed(futures) if wait else [f for f in futures if f.done()]
        now = fields.Datetime.now()
        for future in ended:
            channel, claim, started, mark = self.in_flight.pop(future)
            channel.sending.remove(mark)
            result = future.result()
            self.outcomes.append((channel, claim, started, result, channel.observe(result, now)))

    def queued(self):
        return any(channel.queue for channel in self.channels.values())

    def close(self):
        for channel in self.channels.values():
            self.released += [claim.job_id for claim in channel.queue]
            channel.queue.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        for channel in self.channels.values():
            channel.transport.close()


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
    4. *record* — this thread records the outcomes in rounds (half the requests answered, or
       50 ms): attempt log, named job transitions, exceptions, backend pacing, then claims more
       and commits.

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
        cr = self.env.cr
        can_commit = not (config["test_enable"] or modules.module.current_test)

        def commit(synchronous=True):
            if can_commit:
                # Bodies are frozen (committed) before they are sent.
                cr.commit()  # pylint: disable=invalid-commit

        def rollback():
            if can_commit:
                cr.rollback()
            return can_commit

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
            self.env["finance.sync.job"]._release_stale_holds()
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
        time.sleep(min(max(wait, 0.05), const.DISPATCH_POLL_SECONDS))
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
            if len(got) < wanted and self._freeze(channel, now, run.job_ids):
                froze = True
                got += self._claim(channel, wanted - len(got), now, run.job_ids)
            claims += [(channel, claim) for claim in got]
        return claims, froze

    @api.model
    def _release(self, job_ids):
        """Lift the leases of jobs claimed but not sent (backend paused, circuit opened, run over)."""
        if job_ids:
            self.env["finance.sync.job"].flush_model(["lease_until"])
            self.env.cr.execute(
                "UPDATE finance_sync_job SET lease_until = NULL WHERE id IN %s AND state = 'pending'",
                [tuple(job_ids)],
            )
            self.env["finance.sync.job"].invalidate_model(["lease_until"])

    @api.model
    def _due_query(self, select, backend_id, now, limit, job_ids, frozen):
        query = SQL(
            """SELECT %(select)s
                 FROM finance_sync_job job
                WHERE job.backend_id = %(backend_id)s
                  AND job.body IS %(frozen)s NULL
                  AND %(due)s
                  AND %(only)s
                ORDER BY job.next_attempt_at, job.id
                LIMIT %(limit)s
                  FOR UPDATE OF job SKIP LOCKED""",
            select=select,
            backend_id=backend_id,
            frozen=SQL("NOT") if frozen else SQL(""),
            due=SQL(
                DUE_CONDITION,
                now=now,
                open_states=const.JOB_OPEN_STATES,
                same_stream=same_stream(),
                waits_for_partner=partner_first(),
            ),
            only=SQL("job.id IN %s", tuple(job_ids)) if job_ids else SQL("TRUE"),
            limit=limit,
        )
        return query

    @api.model
    def _claim(self, channel, limit, now, job_ids=None):
        """Lease up to ``limit`` due, frozen jobs of ``channel``'s backend to this worker."""
        self.env["finance.sync.job"].flush_model()
        # Connecting may take up to the timeout (at most 5 s), then reading the answer the timeout.
        lease_until = now + timedelta(seconds=2 * channel.timeout + const.DISPATCH_LEASE_MARGIN_SECONDS)
        self.env.cr.execute(
            SQL(
                """UPDATE finance_sync_job upd
                      SET lease_until = %(lease_until)s, sent_at = COALESCE(upd.sent_at, %(now)s)
                    WHERE upd.id IN (%(due)s)
                RETURNING upd.id, upd.event_uuid, upd.body, COALESCE(upd.attempt_count, 0), upd.company_id""",
                lease_until=lease_until,
                now=now,
                due=self._due_query(SQL("job.id"), channel.backend_id, now, limit, job_ids, frozen=True),
            ),
            log_exceptions=False,
        )
        rows = sorted(self.env.cr.fetchall())
        self.env["finance.sync.job"].invalidate_model(["lease_until", "sent_at"], flush=False)
        return [Claim(*row) for row in rows]

    @api.model
    def _freeze(self, channel, now, job_ids=None):
        """Render, validate and store the exact body of a batch of due jobs without one. Jobs
        missing a required mapping are blocked and jobs failing their schema failed instead.
        :return: whether any job was frozen, blocked or failed (the caller commits)."""
        self.env.cr.execute(
            self._due_query(SQL("job.id"), channel.backend_id, now, const.DISPATCH_FREEZE_BATCH, job_ids, False),
            log_exceptions=False,
        )
        jobs = self.env["finance.sync.job"].sudo().browse(row[0] for row in self.env.cr.fetchall())
        if not jobs:
            return False
        backend = jobs.backend_id
        for company, company_jobs in jobs.grouped("company_id").items():
            company_jobs.with_company(company)._freeze(backend)
        return True

    # === RECORD === #

    @api.model
    def _record(self, outcomes):
        """Record what came back for each (channel, claim, started at, result, verdict): the
        attempt log, then the jobs' named transitions, grouped so that a round of deliveries costs
        a handful of queries whatever its size, and the pacing the other workers must follow."""
        if not outcomes:
            return
        attempts, transitions = [], {}
        now = fields.Datetime.now()
        for channel, claim, started, result, verdict in outcomes:
            error = verdict.note.masked(channel.sender.mask) if verdict.outcome != classify.DONE else None
            summary = error
            if error is not None and not result.status and error.code:
                # No answer at all: the job and its exception say what failed in words (refused on
                # host:port, timed out after n s, …); the raw trace stays in the attempt log.
                summary = error.without_detail()
            key = self._transition(channel, claim, result, verdict, summary, now)
            transitions.setdefault(key, []).append(claim.job_id)
            attempts.append(
                {
                    "job_id": claim.job_id,
                    "backend_id": channel.backend_id,
                    "company_id": claim.company_id,
                    "started_at": started,
                    "duration_ms": result.duration_ms,
                    "status_code": result.status or 0,
                    # The last try of a job that runs out of attempts gave up: it will not retry.
                    "outcome": classify.GAVE_UP if key[0] == "_mark_dead" else verdict.outcome,
                    "response_excerpt": channel.sender.mask(result.body_excerpt)[: redact.EXCERPT_LIMIT],
                    **message_vals("error", error),
                }
            )
        self.env["finance.sync.attempt"]._log(attempts)
        Job = self.env["finance.sync.job"].sudo()
        for (method, *args), ids in transitions.items():
            jobs = Job.browse(ids)
            if method == "_pause_gone":  # 410 Gone: the backend is paused, its jobs wait for it
                backend_id, count, error = args
                self.env["finance.sync.backend"].sudo().browse(backend_id)._pause_gone(jobs[:1].event_uuid)
                jobs._mark_paused(count, error)
            else:
                getattr(jobs, method)(*args)
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

    @api.model
    def _transition(self, channel, claim, result, verdict, error, now):
        """(job transition method, its arguments) for one outcome; jobs with equal ones are
        moved together."""
        count = claim.attempt_count + 1
        status = result.status or 0
        if verdict.outcome == classify.DONE:
            return ("_mark_done", status, count)
        if verdict.outcome == classify.PAUSE:
            return ("_pause_gone", channel.backend_id, count, error)
        if verdict.outcome == classify.FAILED:
            return ("_mark_failed", status, count, error, verdict.category or "rejected")
        if count >= channel.max_attempts:
            return ("_mark_dead", status, count, error)
        retry_after = backoff.parse_retry_after(result.retry_after, now)
        delay = backoff.next_delay(count, retry_after=retry_after)
        return ("_mark_retry", status, count, error, now + timedelta(seconds=delay))

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
        self.env["finance.sync.job"].flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT job.backend_id,
                          min(GREATEST(job.next_attempt_at, COALESCE(job.lease_until, job.next_attempt_at)))
                     FROM finance_sync_job job
                    WHERE job.backend_id IN %(backend_ids)s
                      AND job.state = 'pending'
                      AND NOT EXISTS (
                           SELECT 1 FROM finance_sync_job prev
                            WHERE prev.backend_id = job.backend_id
                              AND prev.res_model = job.res_model
                              AND prev.res_id = job.res_id
                              AND prev.sequence < job.sequence
                              AND prev.state IN %(open_states)s
                              AND %(same_stream)s)
                      AND %(waits_for_partner)s
                    GROUP BY job.backend_id""",
                backend_ids=tuple(channels),
                open_states=const.JOB_OPEN_STATES,
                same_stream=same_stream(),
                waits_for_partner=partner_first(),
            )
        )
        moments = []
        for backend_id, at in self.env.cr.fetchall():
            channel = channels[backend_id]
            if not channel.active:
                continue
            moments.append(max(filter(None, (at, channel.paced_until, channel.circuit.open_until()))))
        return min(moments, default=None)

    @api.model
    def _schedule_wakeup(self, more):
        """After a run: more due work goes to the next run at once (another cron pass, so other
        crons get their turn); otherwise wake up when the next job comes due."""
        Job = self.env["finance.sync.job"]
        if more:
            Job._trigger_dispatch()
            return
        channels = {}
        self._refresh_channels(channels)
        try:
            next_due = self._next_due(channels)
        finally:
            for channel in channels.values():
                channel.transport.close()
        if next_due:
            Job._trigger_dispatch(max(next_due, fields.Datetime.now()))

    # === WORKERS === #

    @api.model
    def _get_worker_crons(self):
        """The dispatcher worker crons: the module's own, then those added in Settings."""
        first = self.env.ref("finance_sync.ir_cron_dispatch", raise_if_not_found=False)
        extra = (
            self.env["ir.cron"]
            .sudo()
            .with_context(active_test=False)
            .search([("code", "=like", "model._cron_dispatch(worker=%)")], order="id")
        )
        return (first.sudo() if first else self.env["ir.cron"]) | extra

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
