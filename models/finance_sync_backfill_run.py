"""A backfill run: the existing documents of a period sent to one backend, chunk by chunk.

Years of history are 10^5 to 10^6 documents: more than one request or one transaction should hold.
The wizard (``finance.sync.backfill``) records what to send in a run; the run captures its
documents oldest first, a chunk per transaction, and remembers where it is (the last document's
date and id, per kind) in the same transaction as the chunk's events. A worker killed mid-chunk
leaves that chunk uncommitted: the next cron run starts again from the last committed position.
A document that already has an event for the backend (sent before, captured live meanwhile, or
by an earlier chunk) is never captured again, whatever happened to the run.
"""

import logging

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from .. import const

_logger = logging.getLogger(__name__)

BACKFILL_CHUNK = 1000  # documents captured per transaction (one outbox INSERT)
# The request that starts a run captures up to one chunk of documents (a small backfill is done at
# once); the cron does the rest.

# The two kinds of documents a run sends, in this order: (kind, model, event type).
KINDS = (
    ("invoice", "account.move", const.EVENT_INVOICE_POSTED),
    ("payment", "account.payment", const.EVENT_PAYMENT_POSTED),
)


def scope_domain(backend, kind, date_from, date_to):
    """Domain of the documents of ``kind`` ('invoice' or 'payment') a backfill of ``backend``
    for these dates sends: in the backend's scope, posted, and with no event for this backend yet
    (cancelled ones never left Odoo)."""
    domain = [
        ("company_id", "in", backend.company_ids.ids),
        ("date", ">=", date_from),
        ("date", "<=", date_to),
        ("finance_sync_job_ids", "not any", [("backend_id", "=", backend.id), ("state", "!=", "cancelled")]),
    ]
    if backend.journal_ids:
        domain.append(("journal_id", "in", backend.journal_ids.ids))
    if backend.start_date:
        domain.append(("date", ">=", backend.start_date))
    if kind == "invoice":
        domain += [("state", "=", "posted"), ("move_type", "in", backend._get_scope_move_types())]
    else:
        domain += [("state", "in", ("in_process", "paid")), ("payment_type", "in", backend._get_scope_payment_types())]
    return domain


class FinanceSyncBackfillRun(models.Model):
    _name = "finance.sync.backfill.run"
    _description = "Finance Sync: Backfill Run"
    _order = "id desc"
    _rec_name = "backend_id"

    backend_id = fields.Many2one("finance.sync.backend", required=True, readonly=True, ondelete="cascade", index=True)
    user_id = fields.Many2one("res.users", "Started by", readonly=True)
    date_from = fields.Date("From", required=True, readonly=True)
    date_to = fields.Date("To", required=True, readonly=True)
    state = fields.Selection(
        [("running", "Running"), ("done", "Done"), ("cancelled", "Cancelled")],
        default="running",
        required=True,
        readonly=True,
    )
    total_count = fields.Integer("Documents to send", readonly=True)
    done_count = fields.Integer("Documents sent", readonly=True)
    invoice_done = fields.Integer("Invoices and credit notes sent", readonly=True)
    payment_done = fields.Integer("Payments sent", readonly=True)
    # Where the run is: the kind it sends now, and the last document of that kind it captured
    # (documents go by accounting date, then id).
    kind = fields.Selection([("invoice", "Invoices"), ("payment", "Payments")], default="invoice", readonly=True)
    cursor_date = fields.Date(readonly=True)
    cursor_id = fields.Integer(readonly=True)
    started_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    progress_at = fields.Datetime("Last progress", readonly=True)
    finished_at = fields.Datetime(readonly=True)
    rate = fields.Float("Documents per second", compute="_compute_eta", digits=(16, 1))
    time_left = fields.Char(compute="_compute_eta")

    # A backend has one running backfill at a time: two would capture the same documents.
    _one_running = models.UniqueIndex(
        "(backend_id) WHERE state = 'running'", "This backend is being sent its existing documents already."
    )

    # === COMPUTE METHODS === #

    @api.depends("done_count", "total_count", "started_at", "progress_at", "state")
    def _compute_eta(self):
        for run in self:
            elapsed = run.started_at and run.progress_at and (run.progress_at - run.started_at).total_seconds()
            run.rate = run.done_count / elapsed if elapsed and run.done_count else 0.0
            left = max(run.total_count - run.done_count, 0)
            if run.state != "running":
                run.time_left = False
            elif not run.rate:
                run.time_left = self.env._("Unknown yet")
            else:
                run.time_left = _duration(self.env, left / run.rate)

    # === ACTION METHODS === #

    def action_cancel(self):
        """Stop the run: the documents sent so far stay sent, the others are not captured."""
        for run in self:
            run.backend_id.check_access("write")  # whoever may configure the backend
        running = self.filtered(lambda r: r.state == "running")
        running.sudo().write({"state": "cancelled", "finished_at": fields.Datetime.now()})
        return True

    def action_view_jobs(self):
        self.ensure_one()
        return self.backend_id.action_view_jobs()

    def action_refresh(self):
        """Show the run's progress as it is now (the form reloads)."""
        return True

    def _get_form_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Sending existing documents"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    # === BUSINESS METHODS === #

    @api.model
    def _start(self, backend, date_from, date_to):
        """Create the run of these dates for ``backend``, capture its first chunk in this
        transaction (all of it when it is small), and leave the rest to the cron. The caller
        checked the rights."""
        if self.sudo().search_count([("backend_id", "=", backend.id), ("state", "=", "running")]):
            raise UserError(self.env._("This backend is being sent its existing documents already: wait for that run."))
        total = sum(
            self.env[model].search_count(scope_domain(backend, kind, date_from, date_to)) for kind, model, _e in KINDS
        )
        if not total:
            raise UserError(self.env._("Every document of these dates has already been sent to this backend."))
        run = (
            self.sudo()
            .create(
                {
                    "backend_id": backend.id,
                    "user_id": self.env.uid,
                    "date_from": date_from,
                    "date_to": date_to,
                    "total_count": total,
                }
            )
            .with_env(self.env)
        )
        run.sudo()._run_chunks(max_documents=BACKFILL_CHUNK)
        if run.state == "running":
            self.env.ref("finance_sync.ir_cron_backfill")._trigger()
        return run

    def _run_chunks(self, max_documents=None, commit=None):
        """Capture chunks of this run until it is done or cancelled, another worker holds it,
        ``max_documents`` were captured, or ``commit`` (called after each chunk, which it
        commits; returns the seconds left) says the time is up."""
        self.ensure_one()
        captured = 0
        while max_documents is None or captured < max_documents:
            # Held for the chunk's transaction: whoever else comes (a second worker, a cancel)
            # waits for the chunk's commit, or skips the run.
            if not self.try_lock_for_update(allow_referencing=True):
                return
            self.invalidate_recordset()  # the state and position as committed, not as cached
            if self.state != "running":
                return
            captured += self._run_chunk()
            if commit is not None and commit() <= 0:
                return

    def _run_chunk(self):
        """Capture the next chunk of documents (fewer means the kind is finished) and move the
        run's position past them, in the current transaction. Returns the count captured."""
        self.ensure_one()
        backend = self.backend_id
        model, event_type = next((m, e) for k, m, e in KINDS if k == self.kind)
        domain = Domain(scope_domain(backend, self.kind, self.date_from, self.date_to))
        if self.cursor_date:
            domain &= Domain("date", ">", self.cursor_date) | (
                Domain("date", "=", self.cursor_date) & Domain("id", ">", self.cursor_id)
            )
        records = self.env[model].search(domain, order="date, id", limit=BACKFILL_CHUNK)

        def only_this(candidate, _record):
            return candidate.id == backend.id

        records._finance_sync_capture(event_type, wants=only_this)
        vals = {
            "done_count": self.done_count + len(records),
            f"{self.kind}_done": self[f"{self.kind}_done"] + len(records),
            "progress_at": fields.Datetime.now(),
        }
        if records:
            vals.update(cursor_date=records[-1].date, cursor_id=records[-1].id)
        if len(records) < BACKFILL_CHUNK:
            kinds = [k for k, _m, _e in KINDS]
            following = kinds[kinds.index(self.kind) + 1 :]
            vals.update(cursor_date=False, cursor_id=0)
            if following:
                vals["kind"] = following[0]
            else:
                vals.update(state="done", finished_at=fields.Datetime.now())
        self.write(vals)
        if self.state == "done":
            self._notify_done()
        return len(records)

    def _notify_done(self):
        self.backend_id.message_post(
            body=self.env._(
                "%(user)s sent the existing documents dated %(start)s to %(end)s: "
                "%(invoices)s invoices or credit notes, %(payments)s payments.",
                user=self.user_id.name or self.env.user.name,
                start=self.date_from,
                end=self.date_to,
                invoices=self.invoice_done,
                payments=self.payment_done,
            )
        )

    @api.model
    def _cron_backfill(self):
        """Go on with the running backfills, a chunk per transaction, oldest run first. A run
        another worker holds is skipped; a run whose worker was killed goes on from its last
        committed chunk."""
        runs = self.sudo().search([("state", "=", "running")], order="id")
        if not self.env.context.get("cron_id"):
            for run in runs:  # a shell or a test: in the caller's transaction
                run._run_chunks()
            return True
        Cron = self.env["ir.cron"]

        def commit():
            # Each chunk's events are committed with the run's new position.
            return Cron._commit_progress(1, remaining=self.search_count([("state", "=", "running")]))

        Cron._commit_progress(remaining=len(runs))
        for run in runs:
            run._run_chunks(commit=commit)
            _logger.info("finance_sync: backfill run %s: %s of %s sent", run.id, run.done_count, run.total_count)
            if run.state == "running" and Cron._commit_progress() <= 0:
                break  # out of time: the cron runs again soon (runs remain)
        return True


def _duration(env, seconds):
    """A duration in words: "under a minute", "12 min", "3 h 05 min"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return env._("under a minute")
    if minutes < 60:
        return env._("%(minutes)s min", minutes=minutes)
    return env._("%(hours)s h %(minutes)02d min", hours=minutes // 60, minutes=minutes % 60)
