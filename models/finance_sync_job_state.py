"""The states of an outbox job (``finance.sync.job``): the named transitions, each with the
states it may start from; the outcomes the dispatcher hands over (``_apply_outcome``), which
call for them; and the holds of master data (a partner's event travels before its documents).

Nothing else changes a job's state: ``write`` refuses every other caller (see
``finance_sync_job.py``), and the dispatcher only hands over what happened."""

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from .. import const
from ..engine import classify, scheduler
from ..engine.messages import Message, message, selection
from ..utils import internal, message_vals
from . import finance_sync_outbox as outbox

ANY_STATE = tuple(state for state, _label in const.JOB_STATES)


class FinanceSyncJob(models.Model):
    _inherit = "finance.sync.job"

    # === OUTCOMES (handed over by the dispatcher) === #

    @api.model
    def _apply_outcome(self, outcomes):
        """Record what the dispatcher hands over, as the system: for each attempt
        (``scheduler.Outcome``) its entry in the attempt log and the job transition it calls for
        (``scheduler.transition``), jobs with equal ones moved together so that a round of
        deliveries costs a handful of queries whatever its size; for each job whose body could
        not be rendered (``scheduler.Unrendered``), blocked on its missing mappings or failed on
        its schema errors, in the order given."""
        self = self.sudo()  # noqa: PLW0642 - what the platform answered is recorded by the system
        attempts, transitions = [], {}
        now = fields.Datetime.now()
        for outcome in outcomes:
            if isinstance(outcome, scheduler.Unrendered):
                job = self.browse(outcome.job_id)
                if outcome.missing:
                    job._mark_blocked(job.backend_id, outcome.missing)
                else:
                    note = message("payload_invalid", detail="\n".join(outcome.errors[:20]))
                    job._mark_failed(0, job.attempt_count, note, "validation")
                continue
            key = scheduler.transition(outcome, now)
            transitions.setdefault(key, []).append(outcome.job_id)
            attempts.append(
                {
                    "job_id": outcome.job_id,
                    "backend_id": outcome.backend_id,
                    "company_id": outcome.company_id,
                    "started_at": outcome.started_at,
                    "duration_ms": outcome.duration_ms,
                    "status_code": outcome.status,
                    # The last try of a job that runs out of attempts gave up: it will not retry.
                    "outcome": classify.GAVE_UP if key[0] == scheduler.DEAD else outcome.verdict.outcome,
                    "response_excerpt": outcome.excerpt,
                    **message_vals("error", outcome.error),
                }
            )
        if attempts:
            self.env["finance.sync.attempt"]._log(attempts)
        for (name, *args), ids in transitions.items():
            jobs = self.browse(ids)
            if name == scheduler.PAUSED:  # 410 Gone: the backend is paused, its jobs wait for it
                self.env["finance.sync.backend"].browse(args[0])._pause_gone(jobs[:1].event_uuid)
                jobs._mark_paused(*args[1:])
            else:
                getattr(jobs, self._OUTCOME_TRANSITIONS[name])(*args)

    _OUTCOME_TRANSITIONS = {
        scheduler.DONE: "_mark_done",
        scheduler.RETRY: "_mark_retry",
        scheduler.FAILED: "_mark_failed",
        scheduler.DEAD: "_mark_dead",
        scheduler.PAUSED: "_mark_paused",
    }

    # === STATE TRANSITIONS === #

    # Each named transition and the states it may start from; one asked of a job in another
    # state is refused. What an attempt came to is recorded whatever the job's state meanwhile:
    # a person may cancel a job, or another worker record it, while its request is in flight,
    # and what the platform answered stays a fact.
    _TRANSITION_SOURCES = {
        "_mark_pending": ("blocked", "failed", "dead", "done"),  # retried, released, sent again
        "_mark_sent_again": ("done",),
        "_mark_blocked": ("pending",),  # missing mappings, found while freezing
        "_hold_behind": ("pending",),  # behind a partner event that waits for a person
        "_mark_cancelled": const.JOB_OPEN_STATES,
        **dict.fromkeys(_OUTCOME_TRANSITIONS.values(), ANY_STATE),
    }

    def _check_transition(self, name):
        """Refuse transition ``name`` when one of these jobs is in a state it may not start from
        (nothing is read for a transition that may start from any state)."""
        sources = self._TRANSITION_SOURCES[name]
        if sources == ANY_STATE:
            return
        wrong = self.filtered(lambda job: job.state not in sources)
        if wrong:
            states = dict(self._fields["state"]._description_selection(self.env))
            raise UserError(
                self.env._(
                    "%(job)s is %(state)s: it cannot go through the transition %(transition)s.",
                    job=wrong[0].display_name,
                    state=states[wrong[0].state],
                    transition=name,
                )
            )

    def _reschedule(self, at):
        """Due at ``at`` (the dispatcher picks pending jobs once due)."""
        internal(self).write({"next_attempt_at": at})

    def _mark_confirmed(self, external_id):
        """The platform acknowledged processing the event (inbound webhook) under ``external_id``."""
        internal(self).write({"confirmed_at": fields.Datetime.now(), "external_id": external_id})

    def _mark_blocked(self, backend, missing):
        """Hold the job on its missing mappings: one exception per missing record (shared by
        every job it holds), released automatically when the mapping is added."""
        self._check_transition("_mark_blocked")
        labels = dict(self.env["finance.sync.mapping"]._fields["kind"].selection)
        records = [
            message("missing_mapping_record", kind=selection("finance.sync.mapping", "kind", kind), name=name)
            for kind, _rid, name in missing
        ]
        note = message("missing_mappings", records=records)
        internal(self).write({"state": "blocked", **message_vals("last_error", note)})
        self._hold_dependents()
        document = self._get_document()
        for kind, res_id, name in missing:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=backend,
                category="missing_mapping",
                message=message(
                    "missing_mapping",
                    kind=selection("finance.sync.mapping", "kind", kind),
                    name=name,
                    id=res_id,
                    set=backend.mapping_set_id.name,
                ),
                jobs=self,
                document=document,
                mapping=(kind, res_id),
                name=self.env._("Missing mapping: %(kind)s %(name)s", kind=labels[kind], name=name),
            )

    def _mark_done(self, status, attempt_count):
        """Delivered: the platform answered ``status`` (2xx) at attempt ``attempt_count``.

        The dispatcher's most frequent transition: one statement for the whole group, which also
        tells which jobs have exceptions to resolve (most have none)."""
        if not self:
            return
        self._check_transition("_mark_done")
        rows = outbox.set_done(self.env, self.ids, status, attempt_count, fields.Datetime.now())
        with_exceptions = [job_id for job_id, has_exception, _partner in rows if has_exception]
        partner_jobs = self.browse(job_id for job_id, _has_exception, partner in rows if partner)
        self.browse(with_exceptions).exception_ids._resolve_if_fixed()
        partner_jobs._release_dependents()

    def _mark_retry(self, status, attempt_count, error, at):
        """Not delivered, worth another try at ``at`` (same id, same body)."""
        self._check_transition("_mark_retry")
        internal(self).write(
            {
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "next_attempt_at": at,
                "lease_until": False,
            }
        )

    def _mark_paused(self, attempt_count, error):
        """The endpoint is gone (410): the backend is paused and the job waits for it."""
        self._check_transition("_mark_paused")
        internal(self).write(
            {
                "last_status_code": 410,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "next_attempt_at": fields.Datetime.now(),
                "lease_until": False,
            }
        )
        self._open_exception("transport", error)

    def _mark_failed(self, status, attempt_count, error, category):
        """Refused for good (trying again unchanged cannot help): a person must act."""
        self._check_transition("_mark_failed")
        internal(self).write(
            {
                "state": "failed",
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "lease_until": False,
            }
        )
        self._open_exception(category, error)
        self._hold_dependents()

    def _mark_dead(self, status, attempt_count, error):
        """Attempts exhausted."""
        self._check_transition("_mark_dead")
        note = message("gave_up", count=attempt_count, error=error)
        internal(self).write(
            {
                "state": "dead",
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", note),
                "lease_until": False,
            }
        )
        self._open_exception("transport", note)
        self._hold_dependents()

    def _mark_sent_again(self):
        """Done jobs due again now, to deliver their frozen body once more (a person's *Send
        again*): attempts start again; the event id, sequence and body stay."""
        if any(job.state != "done" or not job.body for job in self):
            raise UserError(self.env._("Only delivered (done) events can be sent again."))
        self._check_transition("_mark_sent_again")
        self._mark_pending(reset_attempts=True)

    def _mark_pending(self, reset_attempts=False):
        """Due again now (retry, release of held jobs); wakes the dispatcher after commit."""
        self._check_transition("_mark_pending")
        vals = {"state": "pending", "next_attempt_at": fields.Datetime.now(), "lease_until": False}
        if reset_attempts:
            vals["attempt_count"] = 0
        internal(self).write(vals)
        self._trigger_dispatch()

    def _mark_cancelled(self, reason):
        """Cancelled by a person: never sent; later events of its document may go. ``reason``
        is a ``messages.Message``."""
        self._check_transition("_mark_cancelled")
        internal(self).write({"state": "cancelled", **message_vals("cancel_reason", reason), "lease_until": False})
        self.exception_ids._resolve_if_fixed()
        self._release_dependents()
        self._trigger_dispatch()

    def _open_exception(self, category, note):
        """Open, or bump, the exception of each job's document for ``category``, saying ``note``."""
        for job in self:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=job.backend_id,
                category=category,
                message=note,
                jobs=job,
                document=job._get_document(),
                fingerprint_key=f"{job.res_model},{job.res_id}",
            )

    # === DEPENDENCIES (master data: the partner travels before its documents) === #

    def _dependents(self, states):
        """Jobs in ``states`` that wait for these partner jobs (same backend and partner, captured
        after them)."""
        partner_jobs = self.filtered(lambda j: j.event_type == const.EVENT_PARTNER_UPSERTED)
        if not partner_jobs:
            return self.browse()
        domain = Domain.OR(
            Domain("backend_id", "=", job.backend_id.id)
            & Domain("depends_on_partner", "=", job.res_id)
            & Domain("id", ">", job.id)
            for job in partner_jobs
        )
        return self.sudo().search(domain & Domain("state", "in", states))

    def _hold_dependents(self):
        """A partner event that cannot go (blocked, failed, dead) holds the documents waiting for
        it: they are blocked too, with an exception per document that says why and links the
        partner's job, so that retrying it retries the whole chain."""
        for job in self.filtered(lambda j: j.event_type == const.EVENT_PARTNER_UPSERTED):
            job._dependents(("pending",))._hold_behind(job)

    def _hold_behind(self, partner_job):
        """Block these jobs behind ``partner_job`` (an open partner event that cannot go now)."""
        if not self:
            return
        self._check_transition("_hold_behind")
        state = selection("finance.sync.job", "state", partner_job.state)
        reason = ""
        if partner_job.last_error_code or partner_job.last_error_params:
            reason = Message(partner_job.last_error_code or "", partner_job.last_error_params or {})
        note = message(
            "waiting_for_partner",
            partner=partner_job.document_ref or str(partner_job.res_id),
            state=state,
            reason=reason or "",
        )
        internal(self).write({"state": "blocked", "lease_until": False, **message_vals("last_error", note)})
        for job in self:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=job.backend_id,
                category="dependency",
                message=note,
                jobs=job | partner_job,
                document=job._get_document(),
                fingerprint_key=f"{job.res_model},{job.res_id}",
            )

    def _hold_behind_held_partners(self):
        """Jobs just captured whose partner's event already waits for a person are held at once."""
        waiting = self.filtered("depends_on_partner")
        if not waiting:
            return
        held = self.sudo().search(
            [
                ("event_type", "=", const.EVENT_PARTNER_UPSERTED),
                ("res_model", "=", "res.partner"),
                ("res_id", "in", list(set(waiting.mapped("depends_on_partner")))),
                ("backend_id", "in", waiting.backend_id.ids),
                ("state", "in", outbox.HELD_STATES),
            ]
        )
        for partner_job in held:
            waiting.filtered(
                lambda j, p=partner_job: (
                    j.backend_id == p.backend_id and j.depends_on_partner == p.res_id and j.id > p.id
                )
            )._hold_behind(partner_job)

    def _release_dependents(self):
        """Partner events delivered or cancelled release the documents they held (due now; the
        dispatcher still sends them only once no earlier partner event is open)."""
        held = self._dependents(("blocked",)).filtered(lambda j: j.last_error_code == "waiting_for_partner")
        if held:
            held._mark_pending()
