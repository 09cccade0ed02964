from odoo import api, fields, models
from odoo.tools import SQL

from ..engine import metrics as metrics_lib


class FinanceSyncAttemptTotal(models.Model):
    """What the purged attempt log held, per backend, outcome and duration bucket: the attempt
    log is deleted with finished jobs (retention), and its counts are folded in here first, so the
    Prometheus counters and the duration histogram count every attempt ever made and never go down."""

    _name = "finance.sync.attempt.total"
    _description = "Finance Sync Attempt Totals"
    _log_access = False

    backend_id = fields.Many2one("finance.sync.backend", required=True, ondelete="cascade", readonly=True)
    outcome = fields.Selection(
        lambda self: self.env["finance.sync.attempt"]._fields["outcome"].selection, required=True, readonly=True
    )
    bucket = fields.Integer(
        required=True, readonly=True, help="Index of the duration bucket (engine/metrics.py DURATION_BOUNDS_MS)."
    )
    count = fields.Integer(required=True, readonly=True)
    duration_ms_sum = fields.Float("Duration sum (ms)", required=True, readonly=True)

    _unique_key = models.UniqueIndex("(backend_id, outcome, bucket)")

    @api.model
    def _fold_jobs(self, job_ids):
        """Add the attempts of ``job_ids`` to the totals (one statement), before they are deleted."""
        if not job_ids:
            return
        self.env["finance.sync.attempt"].flush_model()
        self.env.cr.execute(
            SQL(
                """INSERT INTO finance_sync_attempt_total AS total (backend_id, outcome, bucket, count, duration_ms_sum)
                   SELECT backend_id, outcome, %(bucket)s, count(*), sum(COALESCE(duration_ms, 0))
                     FROM finance_sync_attempt
                    WHERE job_id IN %(jobs)s AND backend_id IS NOT NULL AND outcome IS NOT NULL
                 GROUP BY 1, 2, 3
              ON CONFLICT (backend_id, outcome, bucket) DO UPDATE
                      SET count = total.count + EXCLUDED.count,
                          duration_ms_sum = total.duration_ms_sum + EXCLUDED.duration_ms_sum""",
                bucket=bucket_sql(),
                jobs=tuple(job_ids),
            )
        )
        self.invalidate_model()

    @api.model
    def _every_attempt(self, backend_ids):
        """{(backend id, outcome, bucket): (attempts, duration sum in ms)} of every attempt ever
        logged: the attempt log as it is plus the totals folded from it (one grouped query)."""
        if not backend_ids:
            return {}
        self.env["finance.sync.attempt"].flush_model()
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT backend_id, outcome, bucket, sum(n)::bigint, sum(ms)::float
                     FROM (SELECT backend_id, outcome, %(bucket)s AS bucket, count(*) AS n,
                                  sum(COALESCE(duration_ms, 0))::float AS ms
                             FROM finance_sync_attempt
                            WHERE backend_id IN %(ids)s AND outcome IS NOT NULL
                         GROUP BY 1, 2, 3
                        UNION ALL
                           SELECT backend_id, outcome, bucket, count, duration_ms_sum
                             FROM finance_sync_attempt_total
                            WHERE backend_id IN %(ids)s) every
                 GROUP BY 1, 2, 3""",
                bucket=bucket_sql(),
                ids=tuple(backend_ids),
            )
        )
        return {(backend_id, outcome, bucket): (n, ms) for backend_id, outcome, bucket, n, ms in self.env.cr.fetchall()}


def bucket_sql():
    """The histogram bucket of an attempt in SQL, as ``metrics_lib.bucket_of`` computes it: the
    number of bounds its duration exceeds (``width_bucket`` counts the bounds ≤ its operand)."""
    return SQL(
        "width_bucket(COALESCE(duration_ms, 0) - 1, %s::int[])",
        list(metrics_lib.DURATION_BOUNDS_MS),
    )
