"""Period feeds benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints each figure beside its reference, with its goal and a PASS or
MISS verdict, all measured in one run, then rolls everything back.

A company of its own (generic chart of accounts, BENCH_FEEDS_PARTNERS customers) gets
BENCH_FEEDS_LINES posted journal items, inserted with SQL as copies of one posted entry (a
receivable line and an income line per copy, spread over two years and 20 income accounts).

1. Time: the feed's figures (``_get_figures``: the grouped SQL, the codes of the accounts or
   partners, the rows and totals as decimal strings) vs one bare grouped SQL query over the same
   lines (trial balance: sums per account; aging: open residual per partner), medians of
   BENCH_FEEDS_ROUNDS interleaved rounds. Goal: at most 1.5 x, for the trial balance and for the
   AR aging.
2. Memory: the peak of Python allocations (tracemalloc) while computing each feed over a tenth
   of the lines and over all of them. Goal: flat, at most 1.10 x.

Sizes (environment variables): BENCH_FEEDS_LINES (100000), BENCH_FEEDS_PARTNERS (200),
BENCH_FEEDS_ROUNDS (7).
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import gc
import os
import statistics
import sys
import time
import traceback
import tracemalloc
from datetime import date

from odoo.addons.finance_sync.bench.benchlib import note, report, section, verdicts
from odoo.tools import SQL

LINES = int(os.environ.get("BENCH_FEEDS_LINES", "100000"))
PARTNERS = int(os.environ.get("BENCH_FEEDS_PARTNERS", "200"))
ROUNDS = int(os.environ.get("BENCH_FEEDS_ROUNDS", "7"))
INCOME_ACCOUNTS = 20
PERIOD = (date(2025, 12, 1), date(2025, 12, 31))
AS_OF = date(2025, 12, 31)
FIRST_DAY = date(2024, 1, 1)
DAYS = 730

BARE = {
    "trial_balance": """SELECT account_id, SUM(debit), SUM(credit), SUM(balance) FROM account_move_line
                         WHERE parent_state = 'posted' AND company_id = %(company)s AND date <= %(date_to)s
                         GROUP BY account_id""",
    "ar_aging": """SELECT l.partner_id, SUM(l.amount_residual) FROM account_move_line l
                     JOIN account_account a ON a.id = l.account_id
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s AND l.date <= %(date_to)s
                      AND a.account_type = 'asset_receivable'
                    GROUP BY l.partner_id""",
}


def make_company(env):
    company = env["res.company"].create({"name": "Bench feeds", "currency_id": env.ref("base.EUR").id})
    env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    env = env(context=dict(env.context, allowed_company_ids=company.ids))
    Account = env["account.account"].with_company(company)
    receivable = Account.search(
        [("account_type", "=", "asset_receivable"), ("company_ids", "in", company.ids)], limit=1
    )
    incomes = Account.create(
        [
            {"name": f"Bench income {n}", "code": f"7{n:05d}", "account_type": "income", "company_ids": company.ids}
            for n in range(INCOME_ACCOUNTS)
        ]
    )
    partners = env["res.partner"].create(
        [{"name": f"Bench customer {n}", "ref": f"BC{n:04d}"} for n in range(PARTNERS)]
    )
    journal = env["account.journal"].search([("company_id", "=", company.id), ("type", "=", "general")], limit=1)
    template = env["account.move"].create(
        {
            "journal_id": journal.id,
            "date": FIRST_DAY,
            "line_ids": [
                (0, 0, {"account_id": receivable.id, "partner_id": partners[0].id, "debit": 1.0, "name": "r"}),
                (0, 0, {"account_id": incomes[0].id, "partner_id": partners[0].id, "credit": 1.0, "name": "i"}),
            ],
        }
    )
    template.action_post()
    template = {line.account_id.id: line.id for line in template.line_ids}  # the two lines copied
    backend = env["finance.sync.backend"].create(
        {"name": "Bench feeds", "company_ids": company.ids, "endpoint_url": "https://bench.invalid/hook"}
    )
    feeds = {
        kind: env["finance.sync.feed"].create(
            {"name": kind, "backend_id": backend.id, "company_id": company.id, "kind": kind, "schedule": "manual"}
        )
        for kind in BARE
    }
    env.flush_all()
    return company, template, receivable, incomes, partners, feeds


def insert_lines(env, template, receivable, incomes, partners, first, count):
    """``count`` copies (numbered from ``first``) of the template entry's two lines (``template``:
    {account id: line id}): 2 x count
    posted lines, amounts 1.00 to 1000.00, due 30 days after their date."""
    cr = env.cr
    cr.execute(
        """SELECT column_name FROM information_schema.columns
            WHERE table_name = 'account_move_line' AND column_name != 'id' ORDER BY ordinal_position"""
    )
    columns = [row[0] for row in cr.fetchall()]
    amount = "((g %% 1000) + 1)::numeric"
    # Copy g is customer g mod PARTNERS; each customer's copies go back from the last day in steps
    # of 5 days, so that a tenth of the lines already gives every customer every aging bucket
    # (the figures' size then depends on customers and buckets only, as it should).
    day = f"%(first_day)s::date + {DAYS - 1} - ((g / {len(partners)}) * 5) %% {DAYS}"
    common = {
        "partner_id": f"(%(partners)s::int[])[1 + g %% {len(partners)}]",
        "date": day,
        "date_maturity": f"{day} + 30",
    }
    sides = {
        receivable.id: {
            "account_id": "t.account_id",
            "debit": amount,
            "credit": "0",
            "balance": amount,
            "amount_currency": amount,
            "amount_residual": amount,
            "amount_residual_currency": amount,
        },
        incomes[0].id: {
            "account_id": f"(%(incomes)s::int[])[1 + g %% {len(incomes)}]",
            "debit": "0",
            "credit": amount,
            "balance": f"-{amount}",
            "amount_currency": f"-{amount}",
            "amount_residual": "0",
            "amount_residual_currency": "0",
        },
    }
    for account_id, side in sides.items():
        values = {**common, **side}
        select = ", ".join(values.get(column, f"t.{column}") for column in columns)
        cr.execute(
            f"""INSERT INTO account_move_line ({", ".join(columns)})
                SELECT {select} FROM account_move_line t CROSS JOIN generate_series(%(low)s, %(high)s) g
                 WHERE t.id = %(line)s""",  # noqa: S608 - columns from the catalog
            {
                "first_day": FIRST_DAY,
                "partners": partners.ids,
                "incomes": incomes.ids,
                "low": first,
                "high": first + count - 1,
                "line": template[account_id],
            },
        )
    cr.execute("ANALYZE account_move_line")


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bare_query(env, kind, company):
    env.cr.execute(SQL(BARE[kind], company=company.id, date_to=PERIOD[1] if kind == "trial_balance" else AS_OF))
    return env.cr.fetchall()


def figures(env, feed):
    env.invalidate_all()
    period = PERIOD if feed.kind == "trial_balance" else (AS_OF, AS_OF)
    return feed._get_figures(*period)


def peak_memory(env, feed):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        figures(env, feed)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_time(env, company, feeds):
    section(f"Period feeds: time over {LINES} posted lines (median of {ROUNDS} rounds)")
    for kind, feed in feeds.items():
        figures(env, feed)  # warm-up: plans, caches
        bare_query(env, kind, company)
        feed_times, bare_times = [], []
        for _round in range(ROUNDS):
            feed_times.append(timed(lambda feed=feed: figures(env, feed)))
            bare_times.append(timed(lambda kind=kind: bare_query(env, kind, company)))
        rows, _totals = figures(env, feed)
        note(f"{kind}: {len(rows)} rows")
        feed_ms, bare_ms = statistics.median(feed_times) * 1000, statistics.median(bare_times) * 1000
        report(f"{kind} figures", feed_ms, "bare grouped SQL query", bare_ms, "ms", goal=1.5, at_most=True)


def main(env):
    start = time.perf_counter()
    failed = False
    try:
        company, template, receivable, incomes, partners, feeds = make_company(env)
        small_pairs, large_pairs = LINES // 20, LINES // 2
        setup_start = time.perf_counter()
        insert_lines(env, template, receivable, incomes, partners, 1, small_pairs)
        small_peaks = {kind: peak_memory(env, feed) for kind, feed in feeds.items()}
        insert_lines(env, template, receivable, incomes, partners, small_pairs + 1, large_pairs - small_pairs)
        note(f"set-up: {LINES} lines inserted in {time.perf_counter() - setup_start:.1f} s")
        bench_time(env, company, feeds)
        section(f"Period feeds: memory (tracemalloc peak), {LINES // 10} vs {LINES} lines")
        for kind, feed in feeds.items():
            large = peak_memory(env, feed)
            report(
                f"{kind}, {LINES} lines",
                large / 1024,
                f"{kind}, {LINES // 10} lines",
                small_peaks[kind] / 1024,
                "KiB",
                goal=1.10,
                at_most=True,
            )
    except Exception:
        failed = True
        verdicts.append(False)
        print(f"ERROR in bench_feeds:\n{traceback.format_exc()}", flush=True)
    finally:
        env.cr.rollback()  # nothing of the set-up is kept
    print(f"\n{sum(verdicts)} of {len(verdicts)} goals met ({time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        sys.exit("benchmark bench_feeds failed")


main(env)
