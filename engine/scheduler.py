"""The dispatcher's scheduler: which claimed job goes out when, and what an answer comes to.

Plain Python, no ORM, cursor or environment: the dispatcher model (``finance.sync.dispatcher``)
reads the backends and the outbox, then drives these objects:

- :class:`Claim`: a job leased by this worker, as the claim query returned it;
- :class:`Channel`: one backend while a worker runs (settings, circuit, pacing, the jobs queued
  for it and the requests in flight);
- :class:`Run`: one run of a worker (its channels, the sending threads, the answers not yet
  recorded);
- :class:`Outcome` and :func:`transition`: what one attempt came to, masked for storage, and the
  job transition it calls for, which the job model applies (``finance.sync.job._apply_outcome``,
  which also takes the :class:`Unrendered` jobs a freeze could not render);
- the commit policies: :func:`own_transactions` (a worker cron owns its cursor) and
  :func:`caller_transactions` (a request or shell lends its transaction).
"""

import collections
import concurrent.futures
import dataclasses
import time
from datetime import datetime, timedelta

from . import backoff, classify, redact
from .circuit import Circuit
from .messages import Message
from .transport import TransportResult

# Pace of a worker (const.py names them for the Odoo side).
PACE_429_SECONDS = 5  # a 429 without Retry-After holds the whole backend this long
MAX_THREADS = 64  # sending threads of one worker, all backends together
POLL_SECONDS = 0.5  # longest wait for an answer before looking for new work
STALLED_SECONDS = 1.0  # an answer this late frees its request slot (see Channel.busy)
QUEUE_AHEAD = 3  # jobs leased ahead per backend, in multiples of its concurrency
ROUND_SECONDS = 0.05  # outcomes wait at most this long to be recorded together
FREEZE_BATCH = 50  # bodies rendered and committed at once, per backend (more for a transport with batches)

# The job transitions an outcome calls for (see :func:`transition`).
DONE = "done"
RETRY = "retry"
FAILED = "failed"
DEAD = "dead"
PAUSED = "paused"


def now():
    """The current UTC time to the second, as Odoo stores datetimes (``fields.Datetime.now()``)."""
    return datetime.now().replace(microsecond=0)


# === TRANSACTIONS === #


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


def caller_transactions(cr, may_commit):
    """(commit, rollback) for a run inside a request's or a shell's transaction: it commits (so
    that bodies are frozen before they are sent) and rolls back only when ``may_commit`` (never
    under tests, whose transaction is the test's); ``rollback()`` says whether it could."""

    def commit(synchronous=True):
        if may_commit:
            # Bodies are frozen (committed) before they are sent.
            cr.commit()  # pylint: disable=invalid-commit

    def rollback():
        if may_commit:
            cr.rollback()
        return may_commit

    return commit, rollback


# === CLAIMS AND CHANNELS === #


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
    sender: object  # engine.sender.Sender: builds requests, masks text
    transport: object
    paced_until: object = None  # datetime: the platform asked to slow down until then
    sending: list = dataclasses.field(default_factory=list)  # time.monotonic() each request in flight started
    active: bool = True
    queue: collections.deque = dataclasses.field(default_factory=collections.deque)  # leased Claims
    pace_to_share: object = None  # a pacing not yet written on the backend for the other workers

    def observe(self, result, at):
        """The verdict on one answer, applied at once to what this worker sends next: the
        circuit counts it, a 429 or Retry-After slows the backend down, a 410 stops it."""
        if result.status is not None:
            verdict = classify.classify_status(result.status, result.body_excerpt)
        else:
            verdict = classify.classify_error(result.error)
        self.circuit.record(verdict.outcome, at)
        if verdict.outcome == classify.PAUSE:
            self.active = False
        retry_after = backoff.parse_retry_after(result.retry_after, at)
        if verdict.outcome == classify.RETRY and (retry_after is not None or result.status == 429):
            seconds = PACE_429_SECONDS if retry_after is None else backoff.next_delay(0, retry_after)
            until = at + timedelta(seconds=seconds)
            if not self.paced_until or until > self.paced_until:
                self.paced_until = self.pace_to_share = until
        return verdict

    def allowed(self, at):
        """Requests that may be in flight now (0 while paused, slowed down or the circuit open)."""
        if not self.active or (self.paced_until and at < self.paced_until):
            return 0
        return self.circuit.allowed_in_flight(at, self.max_concurrent)

    def batch_size(self):
        """Jobs one request slot takes at once: the transport's batch (1 for a webhook), and one
        while the platform fails, so that the circuit's promise holds per event (a failing
        platform gets at most ``threshold`` events before it opens; a probe risks one)."""
        if self.circuit.failures:
            return 1
        return max(1, int(getattr(self.transport, "max_batch", 1) or 1))

    def freeze_size(self):
        """Bodies to freeze in one go: FREEZE_BATCH, or for a transport with batches enough for a
        full batch in every request slot (frozen bodies are claimed in the same round; fewer
        would split them into small batches, each a warehouse transaction of its own)."""
        return max(FREEZE_BATCH, self.batch_size() * self.max_concurrent)

    def wanted(self, at):
        """Jobs to lease now: enough to fill the free slots (a batch each) and, while the
        platform is healthy, a few times as many queued, so that answers are replaced at once,
        between database rounds."""
        allowed = self.allowed(at)
        healthy = allowed == self.max_concurrent and not self.circuit.failures
        ahead = allowed * QUEUE_AHEAD if healthy else 0
        return max(0, (allowed + ahead - self.busy()) * self.batch_size() - len(self.queue))

    def take(self, allowed):
        """The next claims one free slot sends: one, or for a transport with batches up to a
        batch, the queue shared out between the free slots (in claim order)."""
        size = self.batch_size()
        if size > 1:
            free = max(1, allowed - self.busy())
            size = min(size, -(-len(self.queue) // free))
        return [self.queue.popleft() for _n in range(min(size, len(self.queue)))]

    def busy(self):
        """Requests in flight that count against the backend's concurrency. One unanswered for
        longer than STALLED_SECONDS stops counting (the platform is not working on it, or
        slowly): it ends by its own timeout while the others go on, and at most as many stalled
        requests again as the backend's concurrency are ever open."""
        stalled_before = time.monotonic() - STALLED_SECONDS
        answering = sum(1 for started in self.sending if started > stalled_before)
        return max(answering, len(self.sending) - self.max_concurrent)

    def next_stall(self):
        """When the oldest request still counted becomes stalled (``time.monotonic()``)."""
        stalled_before = time.monotonic() - STALLED_SECONDS
        counted = [started for started in self.sending if started > stalled_before]
        return min(counted) + STALLED_SECONDS if counted else None


# === OUTCOMES === #


@dataclasses.dataclass
class Outcome:
    """What one attempt to deliver a claimed job came to, masked with its backend's secrets: the
    dispatcher hands it to the job model, which records it (attempt log, job transition)."""

    job_id: int
    backend_id: int
    company_id: int
    attempt_count: int  # attempts made, this one included
    max_attempts: int
    started_at: datetime
    status: int  # the HTTP status, 0 without an answer
    duration_ms: int
    retry_after: str | None  # the answer's raw Retry-After header
    verdict: classify.Classification
    error: Message | None  # what went wrong, as the attempt log keeps it (None when delivered)
    summary: Message | None  # the same in words, as the job and its exception say it
    excerpt: str  # the start of the answer, as the attempt log keeps it

    @classmethod
    def of(cls, channel, claim, started_at, result, verdict):
        """The outcome of sending ``claim`` on ``channel``: ``result`` and its ``verdict``."""
        error = verdict.note.masked(channel.sender.mask) if verdict.outcome != classify.DONE else None
        summary = error
        if error is not None and not result.status and error.code:
            # No answer at all: the job and its exception say what failed in words (refused on
            # host:port, timed out after n s, …); the raw trace stays in the attempt log.
            summary = error.without_detail()
        return cls(
            job_id=claim.job_id,
            backend_id=channel.backend_id,
            company_id=claim.company_id,
            attempt_count=claim.attempt_count + 1,
            max_attempts=channel.max_attempts,
            started_at=started_at,
            status=result.status or 0,
            duration_ms=result.duration_ms,
            retry_after=result.retry_after,
            verdict=verdict,
            error=error,
            summary=summary,
            excerpt=channel.sender.mask(result.body_excerpt)[: redact.EXCERPT_LIMIT],
        )


@dataclasses.dataclass
class Unrendered:
    """A job whose body could not be frozen: the required mappings it lacks (it is blocked until
    they exist) or, when it lacks none, the schema errors of its payload (it failed). The
    dispatcher hands it over like an outcome."""

    job_id: int
    missing: list = dataclasses.field(default_factory=list)  # [(kind, record id, name)]
    errors: list = dataclasses.field(default_factory=list)  # schema errors, in words


def transition(outcome, at):
    """The job transition ``outcome`` calls for, with its arguments; jobs with equal ones are moved
    together. One of:

    - ``(DONE, status, attempts)``: delivered;
    - ``(PAUSED, backend id, attempts, error)``: the endpoint is gone (410), its backend is paused;
    - ``(FAILED, status, attempts, error, category)``: refused for good;
    - ``(DEAD, status, attempts, error)``: worth another try but out of attempts;
    - ``(RETRY, status, attempts, error, next attempt at)``: tried again later (backoff, or the
      platform's Retry-After).
    """
    count, status, error = outcome.attempt_count, outcome.status, outcome.summary
    verdict = outcome.verdict
    if verdict.outcome == classify.DONE:
        return (DONE, status, count)
    if verdict.outcome == classify.PAUSE:
        return (PAUSED, outcome.backend_id, count, error)
    if verdict.outcome == classify.FAILED:
        return (FAILED, status, count, error, verdict.category or classify.CATEGORY_REJECTED)
    if count >= outcome.max_attempts:
        return (DEAD, status, count, error)
    retry_after = backoff.parse_retry_after(outcome.retry_after, at)
    delay = backoff.next_delay(count, retry_after=retry_after)
    return (RETRY, status, count, error, at + timedelta(seconds=delay))


# === ONE RUN === #


class Run:
    """The state of one dispatcher run: its channels, the requests in flight and the outcomes
    not yet recorded. The sending threads run ``Transport.send`` (or ``Transport.send_batch``
    for a transport with batches: one slot, one batch, one result per claim) only."""

    def __init__(self, deadline, backend_ids=None, job_ids=None):
        self.deadline = deadline
        self.backend_ids = backend_ids
        self.job_ids = job_ids
        self.channels = {}  # backend id -> Channel
        self.in_flight = {}  # future -> (channel, [claims], started at, time.monotonic() at start)
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

    def start(self, at):
        """Send queued jobs into the free slots of their backends (no database work)."""
        for channel in self.channels.values():
            allowed = channel.allowed(at)
            if channel.queue and not allowed:
                self.released += [claim.job_id for claim in channel.queue]
                channel.queue.clear()
            while channel.queue and channel.busy() < allowed:
                self._submit(channel, channel.take(allowed))

    def _submit(self, channel, claims):
        """Send ``claims`` (in order) in one request slot of ``channel``."""
        if self.pool is None:
            size = min(MAX_THREADS, 2 * self.capacity())  # stalled requests do not count
            self.pool = concurrent.futures.ThreadPoolExecutor(max(1, size), thread_name_prefix="finance_sync_send")
        self.sent += len(claims)
        started = now()
        going, requests = [], []
        for claim in claims:
            request = channel.sender.request(claim.event_id, claim.body.encode("utf-8"))
            if isinstance(request, TransportResult):  # refused before sending (URL guard)
                self.outcomes.append((channel, claim, started, request, channel.observe(request, started)))
            else:
                going.append(claim)
                requests.append(request)
        if not going:
            return
        mark = time.monotonic()
        channel.sending.append(mark)
        if channel.batch_size() > 1:
            future = self.pool.submit(channel.transport.send_batch, requests)
        else:
            future = self.pool.submit(channel.transport.send, requests[0])
        self.in_flight[future] = (channel, going, started, mark)

    def round_due(self):
        """Whether to record and claim now: nothing left in flight, a backend about to run out of
        queued jobs, as many answers as requests may fly, or a short while since the last round
        (outcomes are recorded promptly)."""
        if not self.in_flight or len(self.outcomes) >= 2 * self.capacity():
            return True
        at = now()
        if any(len(c.queue) < c.allowed(at) and c.wanted(at) for c in self.channels.values()):
            return True
        return time.monotonic() - self.round_at >= ROUND_SECONDS

    def wait(self):
        """Until a request ends, or the next round is due (outcomes wait to be recorded), or a
        short while to look for new work."""
        moments = [self.round_at + ROUND_SECONDS] if self.outcomes else []
        moments += [c.next_stall() for c in self.channels.values() if c.queue and c.next_stall()]
        timeout = max(0.0, min([POLL_SECONDS, *(at - time.monotonic() for at in moments)]))
        concurrent.futures.wait(self.in_flight, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)

    def collect(self, wait=False):
        """Move the ended requests (with ``wait``: all of them) to the outcomes to record."""
        futures = list(self.in_flight)
        ended = concurrent.futures.as_completed(futures) if wait else [f for f in futures if f.done()]
        at = now()
        for future in ended:
            channel, claims, started, mark = self.in_flight.pop(future)
            channel.sending.remove(mark)
            results = future.result()
            if isinstance(results, TransportResult):  # send(): one claim
                results = [results]
            for claim, result in zip(claims, results, strict=True):
                self.outcomes.append((channel, claim, started, result, channel.observe(result, at)))

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
