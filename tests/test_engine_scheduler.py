"""The dispatcher's scheduler (engine/scheduler.py): claims, channels, one run, outcomes and the
commit policies, driven with plain objects standing in for the sender, the transport and the
cursor. Pure, no database."""

import threading
import time
from datetime import datetime, timedelta

import pytest
import requests

from odoo.addons.finance_sync.engine import classify, scheduler
from odoo.addons.finance_sync.engine.circuit import Circuit
from odoo.addons.finance_sync.engine.messages import DETAIL, message
from odoo.addons.finance_sync.engine.sender import Sender
from odoo.addons.finance_sync.engine.transport import Transport, TransportResult

NOW = datetime(2026, 3, 1, 10, 0, 0)
SECRET = "whsec_c2NoZWR1bGVyLXRlc3Qtc2VjcmV0"


class Platform(Transport):
    """Answers each request with the status it is told for its event (200 by default), after
    ``delay`` seconds or, for the events in ``held``, once ``release`` is set."""

    def __init__(self, statuses=None, delay=0.0, held=(), body="", headers=None):
        self.statuses = statuses or {}
        self.delay = delay
        self.held = set(held)
        self.release = threading.Event()
        self.body = body
        self.headers = headers or {}
        self.received = []
        self.closed = False

    def send(self, request):
        event_id = request.headers["Idempotency-Key"]
        self.received.append((event_id, request.body))
        if event_id in self.held:
            self.release.wait(5)
        elif self.delay:
            time.sleep(self.delay)
        status = self.statuses.get(event_id, 200)
        return TransportResult(status=status, headers=self.headers, body_excerpt=self.body, duration_ms=7)

    def close(self):
        self.closed = True


def channel(transport=None, max_concurrent=2, max_attempts=3, threshold=5, secrets=(SECRET,), refusal=None):
    sender = Sender.build("https://platform.example/hook", 10, signing_secret=secrets[0], refusal=refusal)
    return scheduler.Channel(
        backend_id=7,
        max_concurrent=max_concurrent,
        timeout=10,
        max_attempts=max_attempts,
        circuit=Circuit(threshold=threshold, cooldown=60),
        sender=sender,
        transport=transport or Platform(),
    )


def claims(count, attempts=0):
    return [
        scheduler.Claim(job_id=n, event_id=f"evt_{n}", body=f'{{"n": {n}}}', attempt_count=attempts, company_id=1)
        for n in range(1, count + 1)
    ]


def a_run(*channels, deadline=60):
    run = scheduler.Run(deadline=time.monotonic() + deadline)
    for chan in channels:
        run.channels[chan.backend_id] = chan
    return run


def result(status=None, body="", headers=None, error=None):
    return TransportResult(status=status, headers=headers or {}, body_excerpt=body, duration_ms=12, error=error)


# === CLAIMS AND CHANNELS === #


def test_a_claim_keeps_the_row_the_claim_query_returned():
    assert scheduler.Claim(*(41, "evt", "{}", 2, 1)) == scheduler.Claim(41, "evt", "{}", 2, 1)


def test_a_healthy_channel_leases_its_free_slots_and_as_many_again_queued_ahead():
    chan = channel(max_concurrent=4)
    assert chan.allowed(NOW) == 4
    assert chan.wanted(NOW) == 4 + 4 * scheduler.QUEUE_AHEAD
    chan.queue.extend(claims(3))
    chan.sending.append(time.monotonic())
    assert chan.wanted(NOW) == 4 + 4 * scheduler.QUEUE_AHEAD - 3 - 1, "what is queued or in flight counts"


def test_a_failure_stops_the_queueing_ahead_and_narrows_the_circuit():
    chan = channel(max_concurrent=4, threshold=3)
    verdict = chan.observe(result(status=503), NOW)
    assert verdict.outcome == classify.RETRY
    assert chan.allowed(NOW) == 2, "the failures the circuit still tolerates"
    assert chan.wanted(NOW) == 2, "no jobs leased ahead while the platform fails"
    chan.observe(result(status=503), NOW)
    chan.observe(result(status=503), NOW)
    assert chan.allowed(NOW) == 0, "open"
    assert chan.allowed(NOW + timedelta(seconds=61)) == 1, "one probe once cooled down"


def test_a_429_paces_the_backend_and_the_pace_is_kept_to_share():
    chan = channel()
    chan.observe(result(status=429), NOW)
    until = NOW + timedelta(seconds=scheduler.PACE_429_SECONDS)
    assert chan.paced_until == chan.pace_to_share == until
    assert chan.allowed(NOW) == 0
    assert chan.allowed(until) == chan.max_concurrent
    chan.observe(result(status=503, headers={"Retry-After": "2"}), NOW)
    assert chan.paced_until == until, "a shorter pace never shortens a longer one"
    chan.observe(result(status=503, headers={"retry-after": "120"}), NOW)
    assert chan.paced_until == NOW + timedelta(seconds=120), "Retry-After, whatever its case"


def test_a_410_stops_the_channel():
    chan = channel()
    assert chan.observe(result(status=410), NOW).outcome == classify.PAUSE
    assert not chan.active
    assert chan.allowed(NOW) == 0 and chan.wanted(NOW) == 0


def test_a_stalled_request_stops_counting_against_the_concurrency():
    chan = channel(max_concurrent=2)
    started = time.monotonic()
    chan.sending += [started - scheduler.STALLED_SECONDS - 1, started]
    assert chan.busy() == 1, "the stalled one frees its slot"
    assert chan.next_stall() == pytest.approx(started + scheduler.STALLED_SECONDS)
    chan.sending += [started - 10] * 3
    assert chan.busy() == 3, "never more stalled requests open than the concurrency again"


# === OUTCOMES === #


def test_an_outcome_is_masked_with_the_backends_secrets_and_counts_this_attempt():
    chan = channel()
    claim = claims(1, attempts=2)[0]
    answer = result(status=422, body=f"refused: {SECRET}")
    outcome = scheduler.Outcome.of(chan, claim, NOW, answer, chan.observe(answer, NOW))
    assert (outcome.job_id, outcome.backend_id, outcome.company_id) == (1, 7, 1)
    assert outcome.attempt_count == 3
    assert outcome.max_attempts == 3
    assert outcome.status == 422
    assert SECRET not in outcome.excerpt and "refused" in outcome.excerpt
    assert SECRET not in str(outcome.error) and SECRET not in str(outcome.summary)
    assert outcome.summary == outcome.error, "an answer is quoted as it is"


def test_without_an_answer_the_job_says_what_failed_and_the_log_keeps_the_trace():
    chan = channel()
    answer = result(error=requests.ConnectionError(f"Connection refused to {SECRET}"))
    outcome = scheduler.Outcome.of(chan, claims(1)[0], NOW, answer, chan.observe(answer, NOW))
    assert outcome.status == 0
    assert DETAIL in outcome.error.params and SECRET not in str(outcome.error)
    assert DETAIL not in outcome.summary.params
    assert outcome.summary.code == outcome.error.code


def test_a_delivery_has_no_error():
    chan = channel()
    answer = result(status=202, body='{"ok": true}')
    outcome = scheduler.Outcome.of(chan, claims(1)[0], NOW, answer, chan.observe(answer, NOW))
    assert outcome.error is None and outcome.summary is None
    assert scheduler.transition(outcome, NOW) == (scheduler.DONE, 202, 1)


def outcome_of(status=None, attempts=0, max_attempts=3, headers=None, error=None):
    chan = channel(max_attempts=max_attempts)
    answer = result(status=status, headers=headers, error=error)
    return scheduler.Outcome.of(chan, claims(1, attempts)[0], NOW, answer, chan.observe(answer, NOW))


def test_each_verdict_calls_for_its_transition():
    gone = outcome_of(410)
    assert scheduler.transition(gone, NOW) == (scheduler.PAUSED, 7, 1, gone.summary)
    refused = outcome_of(422)
    assert scheduler.transition(refused, NOW) == (scheduler.FAILED, 422, 1, refused.summary, "rejected")
    denied = outcome_of(401)
    assert scheduler.transition(denied, NOW)[4] == classify.CATEGORY_AUTHENTICATION
    unsafe = outcome_of(error=ValueError("bad URL"))
    assert scheduler.transition(unsafe, NOW)[:2] == (scheduler.FAILED, 0)


def test_a_retry_waits_its_backoff_or_the_platforms_retry_after():
    soon = scheduler.transition(outcome_of(503), NOW)
    assert soon[:3] == (scheduler.RETRY, 503, 1)
    assert NOW + timedelta(seconds=24) <= soon[4] <= NOW + timedelta(seconds=36), "30 s, ±20 %"
    later = scheduler.transition(outcome_of(503, attempts=1), NOW)
    assert NOW + timedelta(seconds=48) <= later[4] <= NOW + timedelta(seconds=72), "doubled"
    asked = scheduler.transition(outcome_of(429, headers={"Retry-After": "90"}), NOW)
    assert asked[4] == NOW + timedelta(seconds=90), "exactly what the platform asked"


def test_the_last_attempt_gives_up_instead_of_retrying():
    dead = outcome_of(503, attempts=2, max_attempts=3)
    assert scheduler.transition(dead, NOW) == (scheduler.DEAD, 503, 3, dead.summary)
    refused = outcome_of(422, attempts=2, max_attempts=3)
    assert scheduler.transition(refused, NOW)[0] == scheduler.FAILED, "a refusal is not a retry run out"


def test_equal_transitions_group_together():
    first, second = outcome_of(503), outcome_of(503)
    assert first.summary == second.summary and hash(first.summary) == hash(second.summary)
    assert scheduler.transition(outcome_of(200), NOW) == scheduler.transition(outcome_of(200), NOW)


def test_an_unrendered_job_says_what_it_lacks():
    blocked = scheduler.Unrendered(5, missing=[("tax", 3, "VAT 21%")])
    invalid = scheduler.Unrendered(6, errors=["document.number: required"])
    assert (blocked.missing, blocked.errors) == ([("tax", 3, "VAT 21%")], [])
    assert (invalid.missing, invalid.errors) == ([], ["document.number: required"])


# === ONE RUN === #


def test_a_run_sends_each_claim_once_into_the_free_slots_and_collects_every_answer():
    platform = Platform(delay=0.01)
    chan = channel(platform, max_concurrent=2)
    run = a_run(chan)
    chan.queue.extend(claims(5))
    run.start(scheduler.now())
    assert len(run.in_flight) == 2 and len(chan.queue) == 3, "no more than the concurrency at once"
    while run.in_flight or chan.queue:
        run.wait()
        run.collect()
        run.start(scheduler.now())
    run.close()
    assert sorted(event for event, _body in platform.received) == [f"evt_{n}" for n in range(1, 6)]
    assert sorted(outcome[1].job_id for outcome in run.outcomes) == [1, 2, 3, 4, 5]
    assert all(outcome[4].outcome == classify.DONE for outcome in run.outcomes)
    assert run.sent == 5 and not chan.sending
    assert platform.closed, "closing the run closes its transports"


def test_a_run_sends_the_frozen_body_signed():
    platform = Platform()
    chan = channel(platform)
    run = a_run(chan)
    chan.queue.extend(claims(1))
    run.start(scheduler.now())
    run.collect(wait=True)
    run.close()
    assert platform.received == [("evt_1", b'{"n": 1}')]


def test_a_refused_endpoint_is_an_outcome_without_a_request():
    platform = Platform()
    refusal = classify.ClassifiedError(
        classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, message("send_refused", detail="x"))
    )
    chan = channel(platform, refusal=refusal)
    run = a_run(chan)
    chan.queue.extend(claims(1))
    run.start(scheduler.now())
    assert not run.in_flight and not platform.received
    [(_chan, claim, _started, answer, verdict)] = run.outcomes
    assert claim.job_id == 1 and answer.error is refusal and verdict.outcome == classify.FAILED
    run.close()


def test_a_paused_or_paced_channel_releases_what_it_queued():
    chan = channel()
    run = a_run(chan)
    chan.queue.extend(claims(3))
    chan.paced_until = scheduler.now() + timedelta(minutes=1)
    run.start(scheduler.now())
    assert run.released == [1, 2, 3] and not chan.queue and not run.in_flight
    run.close()


def test_closing_a_run_waits_for_the_requests_in_flight_and_releases_the_queue():
    platform = Platform(held={"evt_1"})
    chan = channel(platform, max_concurrent=1)
    run = a_run(chan)
    chan.queue.extend(claims(3))
    run.start(scheduler.now())
    assert run.queued() and len(run.in_flight) == 1
    platform.release.set()
    run.collect(wait=True)
    run.close()
    assert [outcome[1].job_id for outcome in run.outcomes] == [1]
    assert run.released == [2, 3]


def test_a_round_is_due_when_nothing_flies_a_queue_runs_low_or_answers_pile_up():
    platform = Platform(held={"evt_1", "evt_2"})
    chan = channel(platform, max_concurrent=2)
    run = a_run(chan)
    assert run.round_due(), "nothing in flight"
    chan.queue.extend(claims(4))
    run.round_at = time.monotonic()
    run.start(scheduler.now())
    assert len(run.in_flight) == 2 and len(chan.queue) == 2
    assert not run.round_due(), "both slots busy, a slot's worth queued, the round just happened"
    run.round_at -= scheduler.ROUND_SECONDS
    assert run.round_due(), "a short while since the last round"
    run.round_at = time.monotonic()
    chan.queue.pop()
    assert run.round_due(), "fewer queued than slots: claim more now"
    chan.queue.append(claims(4)[3])
    run.outcomes = [None] * (2 * run.capacity())
    assert run.round_due(), "as many answers as requests may fly"
    run.outcomes = []
    platform.release.set()
    run.collect(wait=True)
    run.close()
    assert sorted(outcome[1].job_id for outcome in run.outcomes) == [1, 2]
    assert run.released == [3, 4]


def test_the_time_left_counts_down_to_the_deadline():
    run = scheduler.Run(deadline=time.monotonic() + 30)
    assert 29 < run.time_left() <= 30
    assert run.capacity() == 0


# === TRANSACTIONS === #


class Cursor:
    """Records what a commit policy asks of its cursor."""

    def __init__(self):
        self.calls = []

    def execute(self, query):
        self.calls.append(query)

    def commit(self):
        self.calls.append("COMMIT")

    def rollback(self):
        self.calls.append("ROLLBACK")


def test_a_worker_sets_asynchronous_commit_once_per_session_and_freezes_commit_synchronously():
    cr = Cursor()
    commit, rollback = scheduler.own_transactions(cr)
    commit(synchronous=False)
    commit(synchronous=False)
    commit(synchronous=True)
    assert cr.calls == [
        "SET synchronous_commit TO OFF",
        "COMMIT",
        "COMMIT",
        "SET LOCAL synchronous_commit TO ON",
        "COMMIT",
    ]
    commit.reset()
    commit.reset()
    assert cr.calls[-1] == "RESET synchronous_commit" and cr.calls.count("RESET synchronous_commit") == 1
    assert rollback() is True


def test_a_setting_rolled_back_with_its_transaction_is_set_again():
    cr = Cursor()
    failing = iter([True])

    def commit_once_fails():
        cr.calls.append("COMMIT")
        if next(failing, False):
            raise RuntimeError("serialization failure")

    cr.commit = commit_once_fails
    commit, rollback = scheduler.own_transactions(cr)
    with pytest.raises(RuntimeError):
        commit(synchronous=False)
    rollback()
    commit(synchronous=False)
    assert cr.calls == [
        "SET synchronous_commit TO OFF",
        "COMMIT",
        "ROLLBACK",
        "SET synchronous_commit TO OFF",
        "COMMIT",
    ]


def test_a_borrowed_transaction_commits_only_when_it_may():
    cr = Cursor()
    commit, rollback = scheduler.caller_transactions(cr, may_commit=False)
    commit()
    assert rollback() is False
    assert cr.calls == [], "under tests nothing is committed nor rolled back"
    commit, rollback = scheduler.caller_transactions(cr, may_commit=True)
    commit(synchronous=False)
    assert rollback() is True
    assert cr.calls == ["COMMIT", "ROLLBACK"]


class Batches(Platform):
    """A platform taking up to ``max_batch`` requests at once; remembers each batch's events."""

    max_batch = 4

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches = []

    def send_batch(self, requests):
        self.batches.append([request.headers["Idempotency-Key"] for request in requests])
        return [self.send(request) for request in requests]


def test_a_transport_with_batches_gets_the_queue_in_batches_in_order_with_one_outcome_per_claim():
    platform = Batches(statuses={"evt_3": 422})
    chan = channel(platform, max_concurrent=2)
    assert chan.wanted(NOW) == (2 + 2 * scheduler.QUEUE_AHEAD) * 4, "a batch per slot, and ahead"
    run = a_run(chan)
    chan.queue.extend(claims(7))
    run.start(scheduler.now())
    assert len(run.in_flight) == 2 and not chan.queue, "the queue shared out between the free slots"
    run.collect(wait=True)
    run.close()
    assert sorted(platform.batches) == [["evt_1", "evt_2", "evt_3", "evt_4"], ["evt_5", "evt_6", "evt_7"]]
    verdicts = {outcome[1].job_id: outcome[4].outcome for outcome in run.outcomes}
    assert verdicts == {1: "done", 2: "done", 3: "failed", 4: "done", 5: "done", 6: "done", 7: "done"}
    assert run.sent == 7 and not chan.sending


def test_a_failing_platform_gets_one_event_at_a_time():
    platform = Batches(statuses={f"evt_{n}": 503 for n in range(1, 7)})
    chan = channel(platform, max_concurrent=2, threshold=10)
    run = a_run(chan)
    chan.queue.extend(claims(1))
    run.start(scheduler.now())
    run.collect(wait=True)
    assert chan.circuit.failures == 1
    assert chan.wanted(NOW) == 2 - len(chan.queue), "no batches leased while it fails"
    chan.queue.extend(claims(6)[1:])
    run.start(scheduler.now())
    while run.in_flight or chan.queue:
        run.wait()
        run.collect()
        run.start(scheduler.now())
    run.close()
    assert platform.batches == [["evt_1"]], "after a failure, one event per request (send)"
    assert sorted(event for event, _body in platform.received) == [f"evt_{n}" for n in range(1, 7)]
    assert chan.circuit.failures == 6
