from psycopg2.extras import Json

from odoo import api, fields, models
from odoo.tools import SQL

from ..engine import circuit as circuit_lib
from ..utils import compute_message


class FinanceSyncAttempt(models.Model):
    """One delivery attempt of a job: when, how long, what the platform answered.
    Response excerpts are stored with secrets and personal data masked.

    The attempt log is also where a backend's circuit breaker reads its facts: the circuit is
    derived from it, never written, so concurrent workers never contend for a shared row."""

    _name = "finance.sync.attempt"
    _description = "Finance Sync Delivery Attempt"
    _order = "started_at desc, id desc"

    job_id = fields.Many2one("finance.sync.job", required=True, ondelete="cascade", index=True, readonly=True)
    backend_id = fields.Many2one(related="job_id.backend_id", store=True)  # indexed by _backend_recent_idx
    company_id = fields.Many2one(related="job_id.company_id", store=True)
    started_at = fields.Datetime(string="Started at", required=True, readonly=True)
    duration_ms = fields.Integer("Duration (ms)", readonly=True)
    status_code = fields.Integer(
        "HTTP status", readonly=True, aggregator=False, help="Empty when no HTTP answer was received."
    )
    outcome = fields.Selection(
        [
            ("done", "Delivered"),
            ("retry", "Will retry"),
            ("gave_up", "Gave up"),
            ("failed", "Refused"),
            ("pause", "Endpoint gone"),
        ],
        readonly=True,
    )
    response_excerpt = fields.Text(string="Response excerpt", readonly=True)
    error_code = fields.Char(readonly=True)
    error_params = fields.Json(readonly=True)
    error = fields.Text(compute="_compute_error")

    _backend_recent_idx = models.Index("(backend_id, started_at DESC, id DESC)")

    @api.depends("error_code", "error_params")
    @api.depends_context("lang")
    def _compute_error(self):
        compute_message(self, "error")

    @api.model
    def _log(self, vals_list):
        """Append attempts (dicts of this model's stored fields, backend and company included) in
        one statement: the dispatcher logs every answer, and the log is append-only."""
        if not vals_list:
            return
        columns = [
            "job_id",
            "backend_id",
            "company_id",
            "started_at",
            "duration_ms",
            "status_code",
            "outcome",
            "response_excerpt",
            "error_code",
            "error_params",
        ]
        now, uid = fields.Datetime.now(), self.env.uid
        # One array per column, zipped by unnest: a round of hundreds of answers costs one
        # statement and no SQL composed per row.
        self.env.cr.execute(
            SQL(
                """INSERT INTO finance_sync_attempt (%s, create_uid, create_date, write_uid, write_date)
                   SELECT attempt.*, %s, %s, %s, %s
                     FROM unnest(%s::int4[], %s::int4[], %s::int4[], %s::timestamp[], %s::int4[], %s::int4[],
                                 %s::varchar[], %s::text[], %s::varchar[], %s::jsonb[]) AS attempt""",
                SQL(", ").join(SQL.identifier(column) for column in columns),
                uid,
                now,
                uid,
                now,
                *([_column_value(vals[column]) for vals in vals_list] for column in columns),
            )
        )
        self.invalidate_model()

    @api.model
    def _circuit_facts(self, backends):
        """{backend id: (consecutive transport failures, latest attempt, last success)} from each
        backend's latest ``circuit_threshold`` attempts since its last manual reset, in one query
        whatever the number of backends (both lateral subqueries read the index above)."""
        if not backends:
            return {}
        self.flush_model()
        backends.flush_recordset(["circuit_reset_at", "circuit_threshold"])
        self.env.cr.execute(
            SQL(
                """SELECT backend.id, recent.outcomes, recent.latest, success.started_at
                     FROM finance_sync_backend backend
                     LEFT JOIN LATERAL (
                          SELECT array_agg(last.outcome ORDER BY last.started_at DESC, last.id DESC) AS outcomes,
                                 max(last.started_at) AS latest
                            FROM (SELECT attempt.id, attempt.outcome, attempt.started_at
                                    FROM finance_sync_attempt attempt
                                   WHERE attempt.backend_id = backend.id
                                     AND attempt.started_at >= COALESCE(backend.circuit_reset_at, '-infinity')
                                   ORDER BY attempt.started_at DESC, attempt.id DESC
                                   LIMIT GREATEST(backend.circuit_threshold, 1)) last
                     ) recent ON TRUE
                     LEFT JOIN LATERAL (
                          SELECT attempt.started_at
                            FROM finance_sync_attempt attempt
                           WHERE attempt.backend_id = backend.id AND attempt.outcome = 'done'
                           ORDER BY attempt.started_at DESC, attempt.id DESC
                           LIMIT 1
                     ) success ON TRUE
                    WHERE backend.id IN %s""",
                tuple(backends.ids),
            )
        )
        return {
            backend_id: (circuit_lib.consecutive_failures(outcomes), latest, last_success)
            for backend_id, outcomes, latest, last_success in self.env.cr.fetchall()
        }

    @api.model
    def _failure_facts(self, backends):
        """{backend id: (error code, error params, latest failure, failing since)} of the backends
        whose latest attempt failed in transport (the platform did not take it: no answer, 5xx,
        408, 429): what went wrong last, when, and since when every attempt failed (the first
        failure after the latest other outcome). One query whatever the number of backends."""
        if not backends:
            return {}
        self.flush_model()
        failures = tuple(circuit_lib.FAILURE_OUTCOMES)
        self.env.cr.execute(
            SQL(
                """SELECT backend.id, last.error_code, last.error_params, last.started_at, streak.since
                     FROM finance_sync_backend backend
                     JOIN LATERAL (
                          SELECT attempt.outcome, attempt.error_code, attempt.error_params, attempt.started_at
                            FROM finance_sync_attempt attempt
                           WHERE attempt.backend_id = backend.id
                           ORDER BY attempt.started_at DESC, attempt.id DESC
                           LIMIT 1
                     ) last ON last.outcome IN %(failures)s
                     LEFT JOIN LATERAL (
                          SELECT min(attempt.started_at) AS since
                            FROM finance_sync_attempt attempt
                           WHERE attempt.backend_id = backend.id
                             AND attempt.started_at > COALESCE(
                                 (SELECT max(other.started_at) FROM finance_sync_attempt other
                                   WHERE other.backend_id = backend.id AND other.outcome NOT IN %(failures)s),
                                 '-infinity')
                     ) streak ON TRUE
                    WHERE backend.id IN %(ids)s""",
                failures=failures,
                ids=tuple(backends.ids),
            )
        )
        return {
            backend_id: (code, params or {}, latest, since or latest)
            for backend_id, code, params, latest, since in self.env.cr.fetchall()
        }


def _column_value(value):
    """``value`` as the INSERT of the attempt log passes it: NULL for nothing, jsonb for a dict."""
    if not value:
        return None
    return Json(value) if isinstance(value, dict) else value
