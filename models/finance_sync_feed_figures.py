"""A period feed's figures, read from posted journal items in one SQL aggregate each: trial
balance, analytic splits, AR/AP aging and the general ledger summary. Enters: the feed's company
and kind and a period. Leaves: (rows, totals) with amounts as decimal strings in the company's
currency precision, which the feed cuts into parts and captures in the outbox."""

from collections import defaultdict
from decimal import Decimal

from odoo import models
from odoo.tools import SQL

from ..engine import feeds as feeds_lib
from ..engine import payload as payload_lib

AGING_ACCOUNT_TYPES = {feeds_lib.KIND_AR_AGING: "asset_receivable", feeds_lib.KIND_AP_AGING: "liability_payable"}


def _bucket(as_of):
    """SQL: the index in ``AGING_BUCKETS`` of a line ``l`` by its days past due (due date: its
    maturity, else its date) as of ``as_of``: one ``width_bucket`` on the buckets' first days."""
    firsts = [low for _name, low, _high in feeds_lib.AGING_BUCKETS if low is not None]
    return SQL("width_bucket(%s::date - COALESCE(l.date_maturity, l.date), %s::int[])", as_of, firsts)


class FinanceSyncFeed(models.Model):
    _inherit = "finance.sync.feed"

    def _get_figures(self, date_from, date_to):
        """(rows, totals) of this feed's kind for the period, amounts as decimal strings."""
        self.ensure_one()
        self.env["account.move.line"].flush_model()
        self.env["account.partial.reconcile"].flush_model()
        if self.kind == feeds_lib.KIND_TRIAL_BALANCE:
            return self._get_trial_balance(date_from, date_to)
        if self.kind in feeds_lib.AGING_KINDS:
            return self._get_aging(date_to)
        return self._get_gl_summary(date_from, date_to)

    def _get_money(self):
        """A function formatting an amount (text or number) in the company's currency precision,
        read once: rows are many, the currency one."""
        places = self.company_id.currency_id.decimal_places
        return lambda value: payload_lib.money(Decimal(value or 0), places)

    def _get_refs(self, model, ids, code_field):
        """{id: {id, code, name}} of records of ``model``, read in one go in the feed's company."""
        records = self.env[model].sudo().with_company(self.company_id).browse(sorted(i for i in ids if i))
        return {r.id: {"id": r.id, "code": r[code_field] or None, "name": r.name} for r in records}

    def _get_trial_balance(self, date_from, date_to):
        """Per account: the balance before the period (opening), the period's debits and credits,
        and the balance at its end (closing), over posted lines of the company, in its currency."""
        money = self._get_money()
        places = self.company_id.currency_id.decimal_places
        self.env.cr.execute(
            SQL(
                """SELECT l.account_id,
                          COALESCE(SUM(l.balance) FILTER (WHERE l.date < %(date_from)s), 0)::text,
                          COALESCE(SUM(l.debit) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.credit) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.balance), 0)::text
                     FROM account_move_line l
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s AND l.date <= %(date_to)s
                    GROUP BY l.account_id
                   HAVING SUM(l.balance) FILTER (WHERE l.date < %(date_from)s) <> 0
                       OR SUM(l.debit) FILTER (WHERE l.date >= %(date_from)s) <> 0
                       OR SUM(l.credit) FILTER (WHERE l.date >= %(date_from)s) <> 0
                    ORDER BY l.account_id""",
                date_from=date_from,
                date_to=date_to,
                company=self.company_id.id,
            )
        )
        figures = self.env.cr.fetchall()
        accounts = self._get_refs("account.account", {f[0] for f in figures}, "code")
        columns = ("opening", "debit", "credit", "closing")
        sums = dict.fromkeys(columns, Decimal(0))
        splits = self._get_analytic_splits(date_from, date_to) if self.analytic_split else {}
        analytics = self._get_refs(
            "account.analytic.account",
            {int(i) for by_key in splits.values() for key in by_key if key for i in key.split(",") if i.isdigit()},
            "code",
        )
        rows = []
        for account_id, *amounts in figures:
            exact = dict(zip(columns, (Decimal(amount) for amount in amounts), strict=True))
            for column in columns:
                sums[column] += exact[column]
            if not self.analytic_split:
                rows.append({"account": accounts[account_id], **{c: money(v) for c, v in exact.items()}})
                continue
            by_key = splits.get(account_id) or {None: [Decimal(0)] * 3}
            keys = sorted(by_key, key=lambda key: (key is not None, key or ""))
            shares = {
                column: feeds_lib.allocate(exact[column], [by_key[key][index] for key in keys], places)
                for index, column in enumerate(columns[:3])
            }
            for position, key in enumerate(keys):
                opening, debit, credit = (shares[column][position] for column in columns[:3])
                if not (opening or debit or credit):
                    continue
                ids = [int(i) for i in (key or "").split(",") if i.isdigit()]
                rows.append(
                    {
                        "account": accounts[account_id],
                        "analytic": [analytics[i] for i in ids if i in analytics],
                        "opening": money(opening),
                        "debit": money(debit),
                        "credit": money(credit),
                        "closing": money(opening + debit - credit),
                    }
                )
        return rows, {column: money(total) for column, total in sums.items()}

    def _get_analytic_splits(self, date_from, date_to):
        """{account id: {distribution key or None: [opening, debit, credit]}}: each line's amounts
        shared out by its analytic distribution (a key names one account per plan, "12,15"), what
        the distribution leaves unassigned under None; exact, rounded by the caller."""
        self.env.cr.execute(
            SQL(
                """SELECT l.account_id, s.key,
                          COALESCE(SUM(l.balance * s.share) FILTER (WHERE l.date < %(date_from)s), 0)::text,
                          COALESCE(SUM(l.debit * s.share) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.credit * s.share) FILTER (WHERE l.date >= %(date_from)s), 0)::text
                     FROM account_move_line l
                    CROSS JOIN LATERAL (
                            SELECT d.key, d.value::numeric / 100 AS share
                              FROM jsonb_each_text(l.analytic_distribution) d
                             UNION ALL
                            SELECT NULL, 1 - COALESCE(
                                       (SELECT SUM(e.value::numeric) FROM jsonb_each_text(l.analytic_distribution) e), 0
                                   ) / 100
                          ) s
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s AND l.date <= %(date_to)s
                      AND s.share <> 0
                    GROUP BY l.account_id, s.key""",
                date_from=date_from,
                date_to=date_to,
                company=self.company_id.id,
            )
        )
        splits = defaultdict(dict)
        for account_id, key, opening, debit, credit in self.env.cr.fetchall():
            splits[account_id][key] = [Decimal(opening), Decimal(debit), Decimal(credit)]
        return splits

    def _get_aging(self, as_of):
        """Per partner: the residual of the company's posted receivable (AR) or payable (AP) lines
        dated up to ``as_of``, as it stood that day (reconciliations dated later ignored), by days
        overdue on the due date. AP amounts are what the company owes (positive)."""
        money = self._get_money()
        sign = 1 if self.kind == feeds_lib.KIND_AR_AGING else -1
        places = self.company_id.currency_id.decimal_places
        names = [name for name, _low, _high in feeds_lib.AGING_BUCKETS]
        # A line's residual as of ``as_of`` is its residual today (Odoo's ``amount_residual``:
        # balance less its partial reconciliations) with the reconciliations dated later added
        # back (few: none at today's date). One aggregate over the lines by partner and bucket, as
        # cheap as the partner ledger's own grouped sum, then one row per partner with the buckets
        # as columns, rounded to the currency and written as text by the database.
        lines = SQL(
            """account_move_line l JOIN account_account a ON a.id = l.account_id
                WHERE l.parent_state = 'posted' AND l.company_id = %(company)s
                  AND l.date <= %(as_of)s AND a.account_type = %(account_type)s""",
            company=self.company_id.id,
            as_of=as_of,
            account_type=AGING_ACCOUNT_TYPES[self.kind],
        )
        bucket = _bucket(as_of)
        columns = SQL(", ").join(
            SQL("ROUND(%s * COALESCE(SUM(b.amount) FILTER (WHERE b.bucket = %s), 0), %s)::text", sign, index, places)
            for index in range(len(names))
        )
        self.env["res.partner"].flush_model(["name", "ref"])
        self.env.cr.execute(
            SQL(
                """WITH later AS (
                        SELECT p.debit_move_id AS line_id, p.amount
                          FROM account_partial_reconcile p
                         WHERE p.company_id = %(company)s AND p.max_date > %(as_of)s
                         UNION ALL
                        SELECT p.credit_move_id, -p.amount
                          FROM account_partial_reconcile p
                         WHERE p.company_id = %(company)s AND p.max_date > %(as_of)s
                   ), b AS (
                        SELECT x.partner_id, x.bucket, SUM(x.amount) AS amount
                          FROM (SELECT l.partner_id, %(bucket)s AS bucket, l.amount_residual AS amount
                                  FROM %(lines)s
                                 UNION ALL
                                SELECT l.partner_id, %(bucket)s, later.amount
                                  FROM later CROSS JOIN %(lines)s AND l.id = later.line_id) x
                         GROUP BY x.partner_id, x.bucket
                   )
                   SELECT b.partner_id, partner.name, partner.ref, %(columns)s,
                          ROUND(%(sign)s * SUM(b.amount), %(places)s)::text
                     FROM b
                     LEFT JOIN res_partner partner ON partner.id = b.partner_id
                    GROUP BY b.partner_id, partner.name, partner.ref
                   HAVING bool_or(b.amount <> 0)
                    ORDER BY b.partner_id NULLS LAST""",
                company=self.company_id.id,
                as_of=as_of,
                bucket=bucket,
                lines=lines,
                columns=columns,
                sign=sign,
                places=places,
            )
        )
        keys = [*names, "total"]
        sums = [Decimal(0)] * len(keys)
        rows = []
        for partner_id, name, ref, *amounts in self.env.cr.fetchall():
            row = {"partner": {"id": partner_id, "code": ref or None, "name": name} if partner_id else None}
            row.update(zip(keys, amounts, strict=True))
            for index, amount in enumerate(amounts):
                sums[index] += Decimal(amount)
            rows.append(row)
        return rows, {key: money(total) for key, total in zip(keys, sums, strict=True)}

    def _get_gl_summary(self, date_from, date_to):
        """Per journal, account and day of the period: debit, credit and number of posted lines."""
        money = self._get_money()
        self.env.cr.execute(
            SQL(
                """SELECT l.date, l.journal_id, l.account_id,
                          SUM(l.debit)::text, SUM(l.credit)::text, COUNT(*)
                     FROM account_move_line l
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s
                      AND l.date BETWEEN %(date_from)s AND %(date_to)s
                    GROUP BY l.date, l.journal_id, l.account_id
                    ORDER BY l.date, l.journal_id, l.account_id""",
                company=self.company_id.id,
                date_from=date_from,
                date_to=date_to,
            )
        )
        figures = self.env.cr.fetchall()
        accounts = self._get_refs("account.account", {f[2] for f in figures}, "code")
        journals = self._get_refs("account.journal", {f[1] for f in figures}, "code")
        debit = credit = Decimal(0)
        count = 0
        rows = []
        for day, journal_id, account_id, line_debit, line_credit, line_count in figures:
            debit += Decimal(line_debit)
            credit += Decimal(line_credit)
            count += line_count
            rows.append(
                {
                    "date": payload_lib.iso_date(day),
                    "journal": journals[journal_id],
                    "account": accounts[account_id],
                    "debit": money(line_debit),
                    "credit": money(line_credit),
                    "count": line_count,
                }
            )
        return rows, {"debit": money(debit), "credit": money(credit), "count": count}
