"""The outbox's common ground (not a model), shared by the job model (``finance.sync.job``), the
dispatcher and the documents that read the outbox:

- every SQL statement and predicate over the ``finance_sync_job`` table, written once (the
  *stream* of an event, *first of its stream*, *partner first*, *due*, the *held* states, a
  record's *last event*, ...); each function flushes what it reads and invalidates what it
  writes. Nothing else reads or writes the table behind the ORM's back;
- rendering a captured event into the body a backend receives (frozen by the dispatcher,
  shown by the preview), and waking the dispatcher's worker crons.
"""

from odoo.tools import SQL

from .. import const
from ..engine import payload as payload_lib
from ..engine import profile as profile_lib

JOB = "finance.sync.job"

# A job in one of these states waits for a person (retry, mapping, cancel): it holds the events
# of its stream behind it, and a partner's event in them holds that partner's documents.
HELD_STATES = ("blocked", "failed", "dead")

# === PREDICATES (the job being judged is aliased ``job``) === #


def stream_of(event_type):
    """SQL: a row of the table is in the stream of ``event_type`` events of its record. A
    partner's credit exposure is a state sent on its own schedule, not a change: its events have
    their own stream (own sequence, own order), apart from the partner's master data events, so
    that a delayed exposure (coalescing interval) never holds the partner, nor the partner's
    documents behind it."""
    return SQL("(event_type = %s) = %s", const.EVENT_PARTNER_EXPOSURE, event_type == const.EVENT_PARTNER_EXPOSURE)


def same_stream(other):
    """SQL: the job aliased ``other`` is in the same stream of its record as ``job``."""
    return SQL(
        "(%s = %s) = (job.event_type = %s)",
        SQL.identifier(other, "event_type"),
        const.EVENT_PARTNER_EXPOSURE,
        const.EVENT_PARTNER_EXPOSURE,
    )


def first_of_stream():
    """SQL: no earlier event of ``job``'s stream is still open on its backend (per-document
    order). Only the earliest open event of a document can ever be due, so two events of one
    document are never in flight together, whichever worker or server claims them."""
    return SQL(
        """NOT EXISTS (
            SELECT 1
              FROM finance_sync_job prev
             WHERE prev.backend_id = job.backend_id
               AND prev.res_model = job.res_model
               AND prev.res_id = job.res_id
               AND prev.sequence < job.sequence
               AND prev.state IN %s
               AND %s)""",
        const.JOB_OPEN_STATES,
        same_stream("prev"),
    )


def partner_ahead(states):
    """SQL: ``job`` waits for a ``partner.upserted`` event of its partner (``depends_on_partner``)
    captured before it on the same backend and in one of ``states``.

    Master data: an event that depends on a partner is not due while such an event is open.
    Like the per-document order it reads committed states only: the partner's event is open
    until the transaction recording its delivery commits, whichever worker sent it, and a crash
    leaves it open (pending with an expired lease), so the document never overtakes it. The
    partner is a plain id, which a merge of partners does not re-point: a document of a merged
    partner still waits for that partner's own events."""
    return SQL(
        """EXISTS (
            SELECT 1
              FROM finance_sync_job dep
             WHERE job.depends_on_partner IS NOT NULL
               AND dep.backend_id = job.backend_id
               AND dep.res_model = 'res.partner'
               AND dep.res_id = job.depends_on_partner
               AND dep.event_type = %s
               AND dep.id < job.id
               AND dep.state IN %s)""",
        const.EVENT_PARTNER_UPSERTED,
        tuple(states),
    )


def in_line():
    """SQL: nothing captured before ``job`` holds it: it is first of its stream, and its
    partner's earlier events are delivered (or cancelled)."""
    return SQL("%s AND NOT %s", first_of_stream(), partner_ahead(const.JOB_OPEN_STATES))


def due(at):
    """SQL: ``job`` is *due* at ``at``: pending, its time has come, no worker holds it (lease)
    and nothing captured before it holds it (see ``in_line``)."""
    return SQL(
        """job.state = 'pending'
           AND job.next_attempt_at <= %(at)s
           AND (job.lease_until IS NULL OR job.lease_until < %(at)s)
           AND %(in_line)s""",
        at=at,
        in_line=in_line(),
    )


# === CAPTURE === #


def next_sequences(env, model, res_ids, backend_ids, event_type):
    """{(backend id, record id): last sequence} in the stream of ``event_type`` events of these
    records, for the records that have one."""
    env[JOB].flush_model(["res_model", "res_id", "backend_id", "event_type", "sequence"])
    env.cr.execute(
        SQL(
            """SELECT backend_id, res_id, max(sequence) FROM finance_sync_job
                WHERE res_model = %s AND res_id IN %s AND backend_id IN %s AND %s
                GROUP BY backend_id, res_id""",
            model,
            tuple(res_ids),
            tuple(backend_ids),
            stream_of(event_type),
        )
    )
    return {(bid, rid): seq for bid, rid, seq in env.cr.fetchall()}


def insert_jobs(env, event_type, model, documents, envelopes, at):
    """Write the outbox rows of one capture in one statement: each document's snapshot once per
    variant, each row its envelope joined to its snapshot, in the order of ``envelopes``.

    :param documents: [(res_id, variant, company_id, document_ref, document_number, members,
        amount, document_date, currency_id)], ``members`` the snapshot's JSON members as text
    :param envelopes: [(position, res_id, variant, backend_id, event_uuid, sequence, members,
        depends_on partner id or None)]
    :return: [(job id, backend id, res id)] in the order of ``envelopes``
    """
    env.cr.execute(
        SQL(
            """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id,
                    move_id, payment_id, document_ref, document_number, sequence, state, attempt_count,
                    next_attempt_at, payload, amount, document_date, currency_id, depends_on_partner,
                    create_uid, create_date, write_uid, write_date)
               SELECT e.backend_id, d.company_id, e.event_uuid, %(event_type)s, %(model)s, d.res_id,
                      %(move_id)s, %(payment_id)s, d.document_ref, d.document_number, e.sequence, 'pending', 0,
                      %(now)s,
                      ('{' || concat_ws(',', nullif(e.members, ''), nullif(d.members, '')) || '}')::json,
                      d.amount::numeric, d.document_date::date, d.currency_id::int4, e.depends_on,
                      %(uid)s, %(now)s, %(uid)s, %(now)s
                 FROM (VALUES %(envelopes)s)
                      AS e(position, res_id, variant, backend_id, event_uuid, sequence, members, depends_on)
                 JOIN (VALUES %(documents)s)
                      AS d(res_id, variant, company_id, document_ref, document_number, members, amount,
                           document_date, currency_id)
                      ON d.res_id = e.res_id AND d.variant = e.variant
                ORDER BY e.position
               RETURNING id, backend_id, res_id""",
            event_type=event_type,
            model=model,
            move_id=SQL("d.res_id" if model == "account.move" else "NULL::int4"),
            payment_id=SQL("d.res_id" if model == "account.payment" else "NULL::int4"),
            now=at,
            uid=env.uid,
            envelopes=SQL(", ").join(SQL("(%s, %s, %s, %s, %s, %s, %s, %s::int4)", *row) for row in envelopes),
            documents=SQL(", ").join(SQL("(%s, %s, %s, %s, %s, %s, %s, %s, %s)", *row) for row in documents),
        )
    )
    return env.cr.fetchall()


def refresh_payloads(env, members, states):
    """Merge fresh payload members into jobs not frozen yet and in one of ``states``, and return
    the ids of those refreshed.

    :param members: {job id: JSON object text of the members to replace}
    """
    env[JOB].flush_model()
    env.cr.execute(
        SQL(
            """UPDATE finance_sync_job job SET payload = (job.payload::jsonb || fresh.members::jsonb)::json
                 FROM (VALUES %s) AS fresh(id, members)
                WHERE job.id = fresh.id AND job.state IN %s AND job.frozen_at IS NULL
            RETURNING job.id""",
            SQL(", ").join(SQL("(%s, %s)", job_id, text) for job_id, text in members.items()),
            tuple(states),
        )
    )
    refreshed = {row[0] for row in env.cr.fetchall()}
    env[JOB].invalidate_model(["payload"])
    return refreshed


# === DISPATCH === #


def _due_ids(backend_id, at, limit, job_ids, frozen):
    """SQL: ids of the due jobs of ``backend_id`` with (``frozen``) or without a body, oldest due
    first, locked (skipping those another transaction holds)."""
    return SQL(
        """SELECT job.id
             FROM finance_sync_job job
            WHERE job.backend_id = %(backend_id)s
              AND job.body IS %(frozen)s NULL
              AND %(due)s
              AND %(only)s
            ORDER BY job.next_attempt_at, job.id
            LIMIT %(limit)s
              FOR UPDATE OF job SKIP LOCKED""",
        backend_id=backend_id,
        frozen=SQL("NOT") if frozen else SQL(""),
        due=due(at),
        only=SQL("job.id IN %s", tuple(job_ids)) if job_ids else SQL("TRUE"),
        limit=limit,
    )


def claim(env, backend_id, limit, at, lease_until, job_ids=None):
    """Lease up to ``limit`` due, frozen jobs of ``backend_id`` until ``lease_until``; return
    [(id, event id, body, attempts, company id)] in id order."""
    env[JOB].flush_model()
    # The due jobs are chosen and locked once, in a materialized CTE: under ``upd.id IN (...)``
    # the planner may rescan the locking subquery once per row of the table it updates, which
    # turns a claim into minutes of work on a large outbox.
    env.cr.execute(
        SQL(
            """WITH due AS MATERIALIZED (%(due)s)
               UPDATE finance_sync_job upd
                  SET lease_until = %(lease_until)s, sent_at = COALESCE(upd.sent_at, %(now)s)
                 FROM due
                WHERE upd.id = due.id
            RETURNING upd.id, upd.event_uuid, upd.body, COALESCE(upd.attempt_count, 0), upd.company_id""",
            lease_until=lease_until,
            now=at,
            due=_due_ids(backend_id, at, limit, job_ids, frozen=True),
        ),
        log_exceptions=False,
    )
    rows = sorted(env.cr.fetchall())
    env[JOB].invalidate_model(["lease_until", "sent_at"], flush=False)
    return rows


def due_unfrozen(env, backend_id, at, limit, job_ids=None):
    """The due jobs of ``backend_id`` without a body yet (at most ``limit``), locked, oldest due
    first, with what rendering them needs: [(id, company id, event type, record id, captured
    payload)], in one statement. The payload is parsed from its column once and is the caller's
    to change: read through the ORM it would also be copied into the cache, then deep-copied
    out of it, which cost more than rendering, validating and serialising it."""
    env[JOB].flush_model()
    env.cr.execute(
        SQL(
            """WITH due AS MATERIALIZED (%s)
               SELECT job.id, job.company_id, job.event_type, job.res_id, job.payload
                 FROM finance_sync_job job
                 JOIN due ON due.id = job.id
                ORDER BY job.next_attempt_at, job.id""",
            _due_ids(backend_id, at, limit, job_ids, frozen=False),
        ),
        log_exceptions=False,
    )
    return env.cr.fetchall()


def store_bodies(env, bodies, at, lease=0, lease_until=None, claimed_at=None):
    """Store the exact text to send of each job, in one statement: ``bodies`` is [(job id,
    body)]; the first ``lease`` of them are also leased until ``lease_until`` as ``claim`` would
    lease them at ``claimed_at`` (the caller chose and locked them as due: one row version per
    job instead of two). :return: the leased jobs as ``claim`` returns them."""
    env[JOB].flush_model(["body", "frozen_at", "lease_until", "sent_at"])
    env.cr.execute(
        SQL(
            """UPDATE finance_sync_job job
                  SET body = frozen.body, frozen_at = %(at)s,
                      lease_until = CASE WHEN frozen.n <= %(lease)s THEN %(lease_until)s ELSE job.lease_until END,
                      sent_at = CASE WHEN frozen.n <= %(lease)s THEN COALESCE(job.sent_at, %(claimed_at)s)
                                     ELSE job.sent_at END
                 FROM unnest(%(ids)s::int4[], %(bodies)s::text[]) WITH ORDINALITY AS frozen(id, body, n)
                WHERE job.id = frozen.id
            RETURNING job.id, job.event_uuid, COALESCE(job.attempt_count, 0), job.company_id, frozen.n <= %(lease)s""",
            at=at,
            lease=lease,
            lease_until=lease_until,
            claimed_at=claimed_at or at,
            ids=[job_id for job_id, _body in bodies],
            bodies=[body for _job_id, body in bodies],
        )
    )
    texts = dict(bodies)
    leased = sorted(
        (job_id, event_id, texts[job_id], attempts, company_id)
        for job_id, event_id, attempts, company_id, is_leased in env.cr.fetchall()
        if is_leased
    )
    env[JOB].browse(texts).invalidate_recordset(["body", "frozen_at", "lease_until", "sent_at"])
    return leased


def release_leases(env, job_ids):
    """Lift the leases of these jobs, when they are still pending."""
    env[JOB].flush_model(["lease_until"])
    env.cr.execute(
        "UPDATE finance_sync_job SET lease_until = NULL WHERE id IN %s AND state = 'pending'", [tuple(job_ids)]
    )
    env[JOB].invalidate_model(["lease_until"])


def next_due(env, backend_ids):
    """[(backend id, when its next job could come due)]: the earliest pending job that nothing
    captured before it holds (a job behind its document's earlier event comes due when that one
    does), counted from the end of its lease."""
    env[JOB].flush_model()
    env.cr.execute(
        SQL(
            """SELECT job.backend_id,
                      min(GREATEST(job.next_attempt_at, COALESCE(job.lease_until, job.next_attempt_at)))
                 FROM finance_sync_job job
                WHERE job.backend_id IN %s
                  AND job.state = 'pending'
                  AND %s
                GROUP BY job.backend_id""",
            tuple(backend_ids),
            in_line(),
        )
    )
    return env.cr.fetchall()


def stale_holds(env):
    """Jobs held behind a partner event that no longer needs a person (delivered, cancelled or
    retried)."""
    env[JOB].flush_model(["state", "last_error_code", "depends_on_partner"])
    env.cr.execute(
        SQL(
            """SELECT job.id FROM finance_sync_job job
                WHERE job.state = 'blocked' AND job.last_error_code = 'waiting_for_partner' AND NOT %s""",
            partner_ahead(HELD_STATES),
        )
    )
    return env[JOB].sudo().browse(row[0] for row in env.cr.fetchall())


def worker_crons(env):
    """The dispatcher's worker crons: the module's own, then those added in Settings."""
    first = env.ref("finance_sync.ir_cron_dispatch", raise_if_not_found=False)
    extra = (
        env["ir.cron"]
        .sudo()
        .with_context(active_test=False)
        .search([("code", "=like", "model._cron_dispatch(worker=%)")], order="id")
    )
    return (first.sudo() if first else env["ir.cron"]) | extra


def wake(env, at=None):
    """Wake every dispatcher worker (after commit), now or ``at``."""
    for cron in worker_crons(env):
        cron._trigger(at)


# === OUTCOMES === #


def set_done(env, job_ids, status, attempt_count, at):
    """Mark these jobs delivered in one statement; return [(id, whether an exception links it,
    whether it is a partner.upserted event)]."""
    jobs = env[JOB].browse(job_ids)
    jobs.flush_recordset()
    env.cr.execute(
        SQL(
            """UPDATE finance_sync_job job
                  SET state = 'done', done_at = %(now)s, last_status_code = %(status)s,
                      attempt_count = %(count)s, last_error_code = NULL, last_error_params = NULL,
                      lease_until = NULL,
                      write_date = %(now)s, write_uid = %(uid)s
                WHERE job.id IN %(ids)s
            RETURNING job.id,
                      EXISTS (SELECT 1 FROM finance_sync_exception_job_rel rel WHERE rel.job_id = job.id),
                      job.event_type = %(partner_event)s""",
            now=at,
            status=status,
            count=attempt_count,
            uid=env.uid,
            ids=tuple(job_ids),
            partner_event=const.EVENT_PARTNER_UPSERTED,
        )
    )
    rows = env.cr.fetchall()
    jobs.invalidate_recordset(
        [
            "state",
            "done_at",
            "last_status_code",
            "attempt_count",
            "last_error_code",
            "last_error_params",
            "lease_until",
            "write_date",
        ]
    )
    return rows


# === READING THE OUTBOX === #


def document_states(column):
    """SQL: (doc_id, state) of the jobs of documents linked by ``column`` (``move_id``,
    ``payment_id``), as their sync status reads them. Jobs of archived backends read as
    ``archived``; a held job (failed, dead or blocked) whose problem a person closed (its
    exceptions ignored or resolved, none open) reads as ``settled``, not as a failure."""
    column = SQL.identifier(column)
    return SQL(
        """SELECT job.%(column)s AS doc_id,
                  CASE WHEN NOT backend.active THEN 'archived'
                       WHEN job.state IN %(problems)s
                            AND EXISTS (SELECT 1 FROM finance_sync_exception_job_rel rel
                                         WHERE rel.job_id = job.id)
                            AND NOT EXISTS (SELECT 1 FROM finance_sync_exception_job_rel rel
                                              JOIN finance_sync_exception exc ON exc.id = rel.exception_id
                                             WHERE rel.job_id = job.id AND exc.state IN %(open)s)
                       THEN 'settled' ELSE job.state END AS state
             FROM finance_sync_job job
             JOIN finance_sync_backend backend ON backend.id = job.backend_id
            WHERE job.%(column)s IS NOT NULL""",
        column=column,
        problems=HELD_STATES,
        open=const.EXCEPTION_OPEN_STATES,
    )


def last_events(env, model, res_ids, members, event_type=None):
    """[(backend id, record id, job id, event type, *payload members)] of the last event (not
    cancelled: never sent) each backend has of each of these records, optionally among its
    ``event_type`` events; ``members`` names the captured payload's members to read."""
    env[JOB].flush_model()
    env.cr.execute(
        SQL(
            """SELECT DISTINCT ON (backend_id, res_id) backend_id, res_id, id, event_type, %s
                 FROM finance_sync_job
                WHERE res_model = %s AND res_id IN %s AND %s AND state != 'cancelled'
                ORDER BY backend_id, res_id, sequence DESC""",
            SQL(", ").join(SQL("payload->%s", member) for member in members),
            model,
            tuple(res_ids),
            SQL("event_type = %s", event_type) if event_type else SQL("TRUE"),
        )
    )
    return env.cr.fetchall()


def partners_heard(env, partner_ids, backend_ids):
    """{(backend id, partner id)} of these backends that have (or will have) a ``partner.upserted``
    event of these partners."""
    env[JOB].flush_model()
    env.cr.execute(
        """SELECT DISTINCT backend_id, res_id FROM finance_sync_job
            WHERE res_model = 'res.partner' AND res_id IN %s AND backend_id IN %s
              AND event_type = %s AND state != 'cancelled'""",
        (tuple(partner_ids), tuple(backend_ids), const.EVENT_PARTNER_UPSERTED),
    )
    return set(env.cr.fetchall())


def last_captured(env, partner_ids, event_type):
    """{(backend id, partner id): when its last ``event_type`` event not cancelled was captured}."""
    env[JOB].flush_model(["res_model", "res_id", "event_type", "state", "backend_id"])
    env.cr.execute(
        """SELECT backend_id, res_id, max(create_date)
             FROM finance_sync_job
            WHERE res_model = 'res.partner' AND res_id IN %s AND event_type = %s AND state != 'cancelled'
            GROUP BY backend_id, res_id""",
        (tuple(partner_ids), event_type),
    )
    return {(bid, pid): last for bid, pid, last in env.cr.fetchall()}


def hold_unrendered(env, pairs, event_type, at):
    """Write the ``event_type`` events of these (backend id, partner id) pairs that wait, not
    rendered yet, and that no other transaction holds (their rows stay locked until this
    transaction ends); return the pairs held. A row another transaction changed after this one's
    snapshot raises ``SerializationFailure``. The caller flushed the outbox (this runs in a
    savepoint that does not flush)."""
    env.cr.execute(
        SQL(
            """WITH waiting AS MATERIALIZED (
                      SELECT id FROM finance_sync_job
                       WHERE res_model = 'res.partner' AND event_type = %(event_type)s
                         AND state = 'pending' AND body IS NULL
                         AND (backend_id, res_id) IN %(pairs)s
                         FOR NO KEY UPDATE SKIP LOCKED)
               UPDATE finance_sync_job job SET write_date = %(now)s, write_uid = %(uid)s
                 FROM waiting
                WHERE job.id = waiting.id
            RETURNING job.backend_id, job.res_id""",
            now=at,
            uid=env.uid,
            event_type=event_type,
            pairs=tuple(sorted(pairs)),
        ),
        log_exceptions=False,
    )
    held = set(env.cr.fetchall())
    env[JOB].invalidate_model(["write_date", "write_uid"])
    return held


def delivered(backend_id, company_id, date_from, date_to):
    """SQL: ``job`` is an event of ``company_id`` delivered to ``backend_id`` whose document's
    accounting date is in the period."""
    return SQL(
        """job.backend_id = %s AND job.company_id = %s AND job.state = 'done'
           AND job.document_date BETWEEN %s AND %s""",
        backend_id,
        company_id,
        date_from,
        date_to,
    )


def delivered_totals(env, where):
    """[(event type, currency code, count, exact sum of amounts as text)] of the jobs ``where``
    (see ``delivered``) selects. The amounts are ``numeric``, summed by PostgreSQL and read as
    text: Odoo's cursor would hand the sum over as a float."""
    env[JOB].flush_model(["backend_id", "company_id", "state", "document_date", "amount", "currency_id"])
    env.cr.execute(
        SQL(
            """SELECT job.event_type, cur.name, count(*), COALESCE(sum(job.amount), 0)::text
                 FROM finance_sync_job job
            LEFT JOIN res_currency cur ON cur.id = job.currency_id
                WHERE %s
             GROUP BY job.event_type, cur.name""",
            where,
        )
    )
    return env.cr.fetchall()


def delivered_events(env, where):
    """[(event id, document number)] of the jobs ``where`` (see ``delivered``) selects, in id order."""
    env[JOB].flush_model(["backend_id", "company_id", "state", "document_date", "document_number", "event_uuid"])
    env.cr.execute(
        SQL("SELECT job.event_uuid, job.document_number FROM finance_sync_job job WHERE %s ORDER BY job.id", where)
    )
    return env.cr.fetchall()


# === RETENTION === #


def superseded(cutoff):
    """SQL: ids of finished (done or cancelled) jobs last written before ``cutoff`` that a later
    event of their stream supersedes (a cancelled job by any later one, a delivered job by a
    later one not cancelled)."""
    return SQL(
        """SELECT job.id FROM finance_sync_job job
            WHERE job.state IN ('done', 'cancelled') AND job.write_date < %s
              AND EXISTS (
                    SELECT 1 FROM finance_sync_job later
                     WHERE later.backend_id = job.backend_id
                       AND later.res_model = job.res_model
                       AND later.res_id = job.res_id
                       AND later.sequence > job.sequence
                       AND %s
                       AND (job.state = 'cancelled' OR later.state != 'cancelled'))""",
        cutoff,
        same_stream("later"),
    )


# === UPGRADES === #


def fill_figures(env):
    """Record the amount, currency and accounting date of jobs captured before the outbox kept
    them, from their captured payloads; return how many jobs were filled."""
    env[JOB].flush_model()
    env.cr.execute(
        """UPDATE finance_sync_job job
              SET amount = COALESCE(job.payload->'document'->'amounts'->>'total',
                                    job.payload->'document'->>'amount')::numeric,
                  document_date = (job.payload->'document'->>'date')::date,
                  currency_id = cur.id
             FROM res_currency cur
            WHERE job.document_date IS NULL
              AND job.payload->'document'->>'date' IS NOT NULL
              AND cur.name = job.payload->'document'->>'currency'"""
    )
    filled = env.cr.rowcount
    env[JOB].invalidate_model(["amount", "document_date", "currency_id"])
    return filled


def fill_numbers(env):
    """Record the document number of jobs captured before the outbox kept it, exactly as their
    events carry it; return how many jobs were filled."""
    env[JOB].flush_model()
    env.cr.execute(
        """UPDATE finance_sync_job
              SET document_number = payload->'document'->>'number'
            WHERE document_number IS NULL
              AND COALESCE(payload->'document'->>'number', '') != ''"""
    )
    filled = env.cr.rowcount
    env[JOB].invalidate_model(["document_number"])
    return filled


# === RENDERING === #


def render(job, backend):
    """The payload of ``job`` as ``backend`` receives it (profile, then mappings) and the required
    mappings it lacks. No side effect: the dispatcher's freeze and the preview share it."""
    # The ORM hands out a deep copy of a Json field's value: the profile and the mappings
    # may change it in place without touching the captured payload.
    return render_payload(backend, job.payload or {}, job.event_type, job.res_id, job.company_id.id)


def render_payload(backend, payload, event_type, res_id, company_id, profile=None):
    """``payload``, a captured event of record ``res_id`` of ``company_id``, as ``backend``
    receives it (profile, then mappings; ``profile``: ``backend._get_profile()`` when read
    already), and the required mappings it lacks. ``payload`` may be changed in place."""
    payload = profile_lib.apply_profile(
        live_payload_of(backend.env, payload, event_type, res_id, company_id),
        backend._get_profile() if profile is None else profile,
    )
    missing = backend.mapping_set_id._apply(payload) if backend.mapping_set_id else []
    return payload, missing


def live_payload(job):
    """The captured payload, completed with what is read when the event is rendered rather than
    captured (a state such as a partner's credit exposure, see ``res.partner``)."""
    return live_payload_of(job.env, job.payload or {}, job.event_type, job.res_id, job.company_id.id)


def live_payload_of(env, payload, event_type, res_id, company_id):
    """``live_payload`` of a job given by its captured ``payload``, type, record and company."""
    if event_type == const.EVENT_PARTNER_EXPOSURE:
        partner = env["res.partner"].browse(res_id).with_company(company_id)
        if partner.exists():  # else its schema refuses it: the partner is gone
            payload = partner._finance_sync_exposure_payload(payload)
    return payload


def preview(job, backend):
    """(exact body that would be sent, missing mappings, schema errors), sending nothing."""
    payload, missing = render(job, backend)
    return payload_lib.canonical_json(payload).decode("utf-8"), missing, payload_lib.validate(payload)
