"""Finance events applied to the warehouse: one in a transaction (:func:`apply`), or many in
one transaction (:func:`apply_batch`), each with the same rules.

The event's id goes into ``sync_event`` first (unique): an id already there means the event
was applied before, and nothing changes. The document's fact row is then upserted only if the
event's per-document sequence is newer than the one the row holds; an older event is kept in
``sync_event`` as ``skipped`` and changes nothing else. Otherwise the dimensions the event
names, its lines (an invoice's), its reconciliations and its allocations (what a payment
settles) are upserted too; lines, reconciliations and allocations the document no longer has
are marked ``is_current = false``, never deleted.

A period feed's part (``feed.*`` events) goes through ``sync_event`` the same way; its run is
recorded in ``feed_run``, its rows in the kind's fact table, and the part in ``feed_run_part``.
The part that completes the run (every part applied) marks it complete in the same transaction
and marks the older complete versions of its period superseded by the newest: BI reads complete
runs only, so a run is seen whole or not at all, and an older version arriving late never
becomes the latest.

A batch applies its events in their order in one transaction; an event that fails on its data
fails alone (its statements are undone, the others are applied), and a failure of the
transaction itself (connection lost, serialization failure, deadlock) undoes all of them.
"""

import collections
import json

from psycopg2 import sql
from psycopg2.extensions import AsIs

from .schema import check_schema_name

APPLIED = "applied"
SKIPPED = "skipped"  # older than what the warehouse holds for the document
DUPLICATE = "duplicate"  # this event id was applied (or skipped) before

INVOICE_MODEL = "account.move"
PAYMENT_MODEL = "account.payment"
FEED_MODEL = "finance.sync.feed"
KINDS = ("invoice", "payment", "feed")
FEED_KINDS = ("trial_balance", "ar_aging", "ap_aging", "gl_summary")

_DIMENSIONS = ("account", "journal", "tax", "analytic_account")
AMOUNT_KEYS = ("untaxed", "tax", "total", "residual")

# Fact rows: the document and who it concerns, its own columns, then the event it comes from
# (the same order as :func:`_fact_row` builds them).
_FACT_HEAD = ("source", "odoo_id", "company_id", "partner_id", "journal_id", "kind")
_FACT_TAIL = ("last_sequence", "last_event_id", "last_event_type", "occurred_at")
_FACTS = {
    "invoice": (
        "fact_invoice",
        (
            "move_type",
            "number",
            "date",
            "invoice_date",
            "due_date",
            "ref",
            "currency",
            *(f"amount_{key}" for key in AMOUNT_KEYS),
            *(f"amount_{key}_company" for key in AMOUNT_KEYS),
            "payment_state",
            "status",
            "reversed_entry_id",
        ),
    ),
    "payment": (
        "fact_payment",
        ("number", "date", "amount", "amount_company", "currency", "memo", "status", "is_reconciled"),
    ),
}
# Upserted only when the event is newer than what the row holds: RETURNING nothing means older.
_FACT_UPSERT = """
        INSERT INTO {schema}.{table} AS f ({columns}) VALUES ({values})
        ON CONFLICT (source, odoo_id) DO UPDATE SET {updates}, updated_at = now()
        WHERE f.last_sequence < EXCLUDED.last_sequence
        RETURNING 1"""

_TEMPLATES = {
    "event": """
        INSERT INTO {schema}.sync_event (event_id, source, type, document_model, document_id, sequence, outcome)
        VALUES (%s, %s, %s, %s, %s, %s, 'applied')
        ON CONFLICT (event_id) DO NOTHING
        RETURNING 1""",
    "skipped": "UPDATE {schema}.sync_event SET outcome = 'skipped' WHERE event_id = %s",
    "company": """
        INSERT INTO {schema}.dim_company AS d (source, odoo_id, code, name, vat, currency) VALUES %s
        ON CONFLICT (source, odoo_id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, vat = EXCLUDED.vat,
            currency = EXCLUDED.currency, updated_at = now()
        WHERE (d.code, d.name, d.vat, d.currency) IS DISTINCT FROM
              (EXCLUDED.code, EXCLUDED.name, EXCLUDED.vat, EXCLUDED.currency)""",
    "partner": """
        INSERT INTO {schema}.dim_partner AS d (source, odoo_id, code, name, vat, country, ref) VALUES %s
        ON CONFLICT (source, odoo_id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, vat = EXCLUDED.vat,
            country = EXCLUDED.country, ref = EXCLUDED.ref, updated_at = now()
        WHERE (d.code, d.name, d.vat, d.country, d.ref) IS DISTINCT FROM
              (EXCLUDED.code, EXCLUDED.name, EXCLUDED.vat, EXCLUDED.country, EXCLUDED.ref)""",
    "currency": """
        INSERT INTO {schema}.dim_currency (source, code) VALUES %s ON CONFLICT (source, code) DO NOTHING""",
    **dict.fromkeys(
        _DIMENSIONS,
        """
        INSERT INTO {schema}.{table} AS d (source, odoo_id, code, name) VALUES %s
        ON CONFLICT (source, odoo_id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, updated_at = now()
        WHERE (d.code, d.name) IS DISTINCT FROM (EXCLUDED.code, EXCLUDED.name)""",
    ),
    "lines": """
        INSERT INTO {schema}.fact_invoice_line AS l (
            source, odoo_id, invoice_id, name, account_id, quantity, price_unit, discount, subtotal, total, tax_ids,
            analytic_distribution, is_current) VALUES %s
        ON CONFLICT (source, odoo_id) DO UPDATE SET
            invoice_id = EXCLUDED.invoice_id, name = EXCLUDED.name, account_id = EXCLUDED.account_id,
            quantity = EXCLUDED.quantity, price_unit = EXCLUDED.price_unit, discount = EXCLUDED.discount,
            subtotal = EXCLUDED.subtotal, total = EXCLUDED.total, tax_ids = EXCLUDED.tax_ids,
            analytic_distribution = EXCLUDED.analytic_distribution, is_current = true, updated_at = now()""",
    "lines_gone": """
        UPDATE {schema}.fact_invoice_line SET is_current = false, updated_at = now()
         WHERE source = %s AND invoice_id = %s AND is_current AND NOT (odoo_id = ANY(%s))""",
    "reconciliations": """
        INSERT INTO {schema}.fact_reconciliation AS r (
            source, document_model, document_id, counterpart_model, counterpart_id, counterpart_number, amount,
            currency, date, is_current) VALUES %s
        ON CONFLICT (source, document_model, document_id, counterpart_model, counterpart_id) DO UPDATE SET
            counterpart_number = EXCLUDED.counterpart_number, amount = EXCLUDED.amount,
            currency = EXCLUDED.currency, date = EXCLUDED.date, is_current = true, updated_at = now()""",
    "allocations": """
        INSERT INTO {schema}.fact_payment_allocation AS a (
            source, payment_id, invoice_id, invoice_number, amount, currency, invoice_amount, invoice_currency,
            amount_company, is_current) VALUES %s
        ON CONFLICT (source, payment_id, invoice_id) DO UPDATE SET
            invoice_number = EXCLUDED.invoice_number, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
            invoice_amount = EXCLUDED.invoice_amount, invoice_currency = EXCLUDED.invoice_currency,
            amount_company = EXCLUDED.amount_company, is_current = true, updated_at = now()""",
    "allocations_gone": """
        UPDATE {schema}.fact_payment_allocation SET is_current = false, updated_at = now()
         WHERE source = %s AND payment_id = %s AND is_current AND NOT (invoice_id = ANY(%s))""",
    "reconciliations_gone": """
        UPDATE {schema}.fact_reconciliation SET is_current = false, updated_at = now()
         WHERE source = %s AND document_model = %s AND document_id = %s AND is_current
           AND NOT ((counterpart_model || ',' || counterpart_id) = ANY(%s))""",
    "feed_run": """
        INSERT INTO {schema}.feed_run (
            source, run_id, feed_id, feed_name, kind, company_id, currency, date_from, date_to, version, final,
            content_hash, supersedes_run_id, parts, row_count, totals)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (source, run_id) DO NOTHING""",
    "feed_run_check": """
        SELECT kind, feed_id, date_from::text, date_to::text, version, parts FROM {schema}.feed_run
         WHERE source = %s AND run_id = %s""",
    "feed_part": """
        INSERT INTO {schema}.feed_run_part (source, run_id, part, event_id, row_count) VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (source, run_id, part) DO NOTHING
        RETURNING 1""",
    "feed_trial_balance": """
        INSERT INTO {schema}.fact_trial_balance (
            source, company_id, feed_id, date_from, date_to, version, final, run_id, part, line,
            account_id, account_code, account_name, analytic, opening, debit, credit, closing) VALUES %s""",
    "feed_aging": """
        INSERT INTO {schema}.fact_aging (
            source, company_id, feed_id, date_from, date_to, version, final, run_id, part, line, kind,
            partner_id, partner_code, partner_name, not_due, days_1_30, days_31_60, days_61_90, over_90, total)
        VALUES %s""",
    "feed_gl_summary": """
        INSERT INTO {schema}.fact_gl_summary (
            source, company_id, feed_id, date_from, date_to, version, final, run_id, part, line,
            date, journal_id, journal_code, journal_name, account_id, account_code, account_name, debit, credit,
            line_count) VALUES %s""",
    # One run of a feed's period completes at a time (the supersession below reads the others).
    "feed_lock": "SELECT pg_advisory_xact_lock(hashtext('finance_sync.feed'), hashtext(%s))",
    "feed_received": """
        UPDATE {schema}.feed_run SET parts_received = parts_received + 1, updated_at = now(),
               is_complete = parts_received + 1 = parts,
               completed_at = CASE WHEN parts_received + 1 = parts THEN now() END
         WHERE source = %s AND run_id = %s
        RETURNING is_complete, feed_id, date_from, date_to""",
    "feed_supersede": """
        UPDATE {schema}.feed_run r SET superseded_by = n.run_id, superseded_at = now(), updated_at = now()
          FROM (SELECT run_id, version FROM {schema}.feed_run
                 WHERE source = %(source)s AND feed_id = %(feed)s AND date_from = %(from)s AND date_to = %(to)s
                   AND is_complete
                 ORDER BY version DESC LIMIT 1) n
         WHERE r.source = %(source)s AND r.feed_id = %(feed)s AND r.date_from = %(from)s AND r.date_to = %(to)s
           AND r.is_complete AND r.version < n.version AND r.superseded_by IS DISTINCT FROM n.run_id""",
}


class Statements:
    """The loader's SQL for one schema, rendered once per connection (identifiers quoted)."""

    def __init__(self, conn, schema):
        identifier = sql.Identifier(check_schema_name(schema))
        self.sql = {
            name: sql.SQL(text).format(schema=identifier, table=sql.Identifier(f"dim_{name}")).as_string(conn)
            for name, text in _TEMPLATES.items()
        }
        for name, (table, own) in _FACTS.items():
            columns = [sql.Identifier(column) for column in (*_FACT_HEAD, *own, *_FACT_TAIL)]
            self.sql[name] = (
                sql.SQL(_FACT_UPSERT)
                .format(
                    schema=identifier,
                    table=sql.Identifier(table),
                    columns=sql.SQL(", ").join(columns),
                    values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                    updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(column) for column in columns[2:]),
                )
                .as_string(conn)
            )

    def __getitem__(self, name):
        return self.sql[name]


class Batch:
    """Sends an event's statements: those whose answer decides what comes next at once, the rest
    (dimensions, lines, reconciliations) together in one round trip (:meth:`flush`). Counts both
    (the benchmark prints them per event)."""

    def __init__(self, cr, known=None):
        self.cr = cr
        self.known = known if known is not None else {}  # dimension rows the warehouse holds already
        self.written = {}  # dimension rows this event writes: known once it commits
        # In a batch, the dimension rows of its applied events, written together at its end in
        # one order (table, key) that every batch follows: concurrent batches never lock the
        # same rows in opposite orders (a deadlock). None: each event writes its own.
        self.deferred = None
        self.statements = 0
        self.round_trips = 0
        self.pending = []

    def execute(self, query, params=None):
        """Run ``query`` now, after the queued statements in the same round trip (its answer is
        read with :meth:`fetchone`)."""
        if self.pending:  # a value the driver cannot quote raises here, before anything is sent
            query, params = b";\n".join([*self.pending, self.cr.mogrify(query, params)]), None
            self.pending = []
        self.statements += 1
        self.round_trips += 1
        self.cr.execute(query, params)

    def fetchone(self):
        return self.cr.fetchone()

    def later(self, query, params=None):
        """Queue ``query`` for the next :meth:`flush`."""
        self.statements += 1
        self.pending.append(self.cr.mogrify(query, params))

    def values(self, query, rows, template=None):
        """Queue ``query`` (``INSERT … VALUES %s``) with ``rows`` for the next :meth:`flush`."""
        template = template or "(" + ", ".join(["%s"] * len(rows[0])) + ")"
        values = b", ".join(self.cr.mogrify(template, row) for row in rows)
        self.statements += 1
        # execute_values' way: the one %s of the query stands for the rows, already quoted.
        self.pending.append(self.cr.mogrify(query, [AsIs(values.decode())]))

    def write_deferred(self, statements):
        """Queue the deferred dimension rows, table by table and key by key."""
        for name in sorted(self.deferred or ()):
            rows = self.deferred[name]
            self.values(statements[name], [rows[key] for key in sorted(rows, key=repr)])
        self.deferred = {} if self.deferred is not None else None

    def flush(self):
        """Send the queued statements in one round trip."""
        if self.pending:
            self.round_trips += 1
            self.cr.execute(b";\n".join(self.pending))
            self.pending = []


def _ref(value, key="id"):
    return (value or {}).get(key)


def _document_model(event):
    return event["type"].partition(".")[0]


def apply(conn, statements, source, event, stats=None, known=None) -> str:
    """Apply ``event`` (a parsed v1 event) from the Odoo database ``source`` in one transaction
    of ``conn``: APPLIED, SKIPPED (older than the document's state in the warehouse) or
    DUPLICATE (this event id was seen before). Database errors propagate (rolled back).

    :param stats: a dict whose ``statements`` and ``round_trips`` counts grow by what this event
        sent (the commit included)
    :param known: a dict of the dimension rows known to be in the warehouse as they are, shared
        by the events of one transport: those are not written again (nor locked: concurrent
        events of one customer or account do not wait for each other). It grows with what each
        event commits.
    """
    kind = _document_model(event)
    if kind not in KINDS:
        raise ValueError(f"the warehouse does not store events of type {event.get('type')!r}")
    batch = None
    try:
        with conn, conn.cursor() as raw:
            batch = Batch(raw, known)
            outcome = _apply(batch, statements, source, kind, event)
        if known is not None and outcome == APPLIED:
            known.update(batch.written)
        return outcome
    finally:
        if stats is not None and batch is not None:  # the commit counts too
            stats["statements"] = stats.get("statements", 0) + batch.statements + 1
            stats["round_trips"] = stats.get("round_trips", 0) + batch.round_trips + 1


SAVEPOINT = "SAVEPOINT finance_sync_event"
RELEASE = "RELEASE SAVEPOINT finance_sync_event"
UNDO = "ROLLBACK TO SAVEPOINT finance_sync_event; RELEASE SAVEPOINT finance_sync_event"


def apply_batch(conn, statements, source, events, stats=None, known=None, isolated=None) -> list:
    """Apply ``events`` (parsed v1 events, in their order) in one transaction of ``conn``; return
    one answer per event: APPLIED, SKIPPED, DUPLICATE, or the exception that failed it alone.

    First all of them one after the other, each event's last statements sent with the next one's
    first (about 2 round trips an event, one commit for all), and the dimension rows of the
    applied events together at the end, in the same order in every batch (concurrent batches do
    not deadlock on them). When an event fails there and
    ``isolated(exc)`` says it fails alone (its data, not the transaction), everything is rolled
    back and applied again, each event in a savepoint of its own: the failing one is undone and
    answered with its exception, the others are applied. Any other failure rolls the whole
    batch back and propagates (nothing of it is applied).

    An item of ``events`` that is an exception (a body that could not be read) is its answer.

    :param stats: as for :func:`apply`, for the whole batch (passes rolled back included)
    :param known: as for :func:`apply`; it grows with what the batch commits
    :param isolated: ``isolated(exc)``: whether ``exc`` fails only the event it came from
    """
    isolated = isolated or (lambda exc: False)
    answers, todo = [None] * len(events), []
    for index, event in enumerate(events):
        if isinstance(event, BaseException):
            answers[index] = event
        elif not isinstance(event, dict) or _document_model_of(event) not in KINDS:
            answers[index] = ValueError(f"the warehouse does not store events of type {_type_of(event)!r}")
        else:
            todo.append(index)
    guarded = False
    while todo:
        batch = None
        try:
            with conn, conn.cursor() as raw:
                batch = Batch(raw, collections.ChainMap({}, known if known is not None else {}))
                batch.deferred = None if guarded else {}
                for index in todo:
                    answers[index] = _apply_one(batch, statements, source, events[index], guarded, isolated)
                batch.write_deferred(statements)
                batch.flush()
        except Exception as exc:
            if guarded or not isolated(exc):
                raise
            guarded = True  # rolled back: once more, each event in a savepoint of its own
            continue
        finally:
            if stats is not None and batch is not None:  # the commit (or rollback) counts too
                stats["statements"] = stats.get("statements", 0) + batch.statements + 1
                stats["round_trips"] = stats.get("round_trips", 0) + batch.round_trips + 1
        if known is not None:
            known.update(batch.known.maps[0])
        break
    return answers


def _type_of(event):
    return event.get("type") if isinstance(event, dict) else type(event).__name__


def _document_model_of(event):
    kind = event.get("type")
    return kind.partition(".")[0] if isinstance(kind, str) else None


def _apply_one(batch, statements, source, event, guarded, isolated):
    """One event of a batch; with ``guarded``, in a savepoint, and its own failure answered."""
    batch.written = {}
    if not guarded:
        outcome = _apply(batch, statements, source, _document_model(event), event, flush=False)
    else:
        trips = batch.round_trips
        batch.later(SAVEPOINT)
        held = len(batch.pending)  # what the event found queued, and its savepoint
        try:
            outcome = _apply(batch, statements, source, _document_model(event), event, flush=False)
            batch.later(RELEASE)
            batch.flush()  # a failure of the event's last statements is its own
        except Exception as exc:
            if not isolated(exc):
                raise
            if batch.round_trips == trips:  # failed before anything of it was sent: no savepoint yet
                batch.pending = batch.pending[: held - 1]
                batch.statements -= 1
            else:
                batch.pending = []
                batch.later(UNDO)  # sent with the next event's first statement
                batch.statements += 1  # two statements, counted once by later()
            return exc
    if outcome == APPLIED:
        batch.known.maps[0].update(batch.written)
    return outcome


def _apply(cr, statements, source, kind, event, flush=True):
    if kind == "feed":
        return _apply_feed(cr, statements, source, event, flush)
    document = event["document"]
    model = INVOICE_MODEL if kind == "invoice" else PAYMENT_MODEL
    cr.execute(
        statements["event"], [event["event_id"], source, event["type"], model, document["id"], event["sequence"]]
    )
    if cr.fetchone() is None:
        return DUPLICATE
    fact = _invoice_row if kind == "invoice" else _payment_row
    cr.execute(statements[kind], fact(source, event))
    if cr.fetchone() is None:
        cr.later(statements["skipped"], [event["event_id"]])
        if flush:
            cr.flush()
        return SKIPPED
    _dimensions(cr, statements, source, event)
    if kind == "invoice":
        _lines(cr, statements, source, document["id"], event.get("lines"))
    else:
        _allocations(cr, statements, source, document)
    _reconciliations(cr, statements, source, model, document["id"], event.get("reconciliation"))
    if flush:
        cr.flush()
    return APPLIED


def _fact_row(source, event, *columns):
    """A fact row: the document and who it concerns, ``columns``, then the event it comes from."""
    doc = event["document"]
    head = [
        source,
        doc["id"],
        event["company"]["id"],
        _ref(event.get("partner")),
        _ref(doc.get("journal")),
        doc["kind"],
    ]
    return [*head, *columns, event["sequence"], event["event_id"], event["type"], event.get("occurred_at")]


def _invoice_row(source, event):
    doc = event["document"]
    amounts, company_amounts = doc["amounts"], doc.get("amounts_company_currency") or {}
    dates = (doc.get("date"), doc.get("invoice_date"), doc.get("due_date"))
    return _fact_row(
        source,
        event,
        doc["move_type"],
        doc.get("number"),
        *dates,
        doc.get("ref"),
        doc["currency"],
        *(amounts[key] for key in AMOUNT_KEYS),
        *(company_amounts.get(key) for key in AMOUNT_KEYS),
        doc.get("payment_state"),
        doc["state"],
        _ref(doc.get("reversed_entry")),
    )


def _payment_row(source, event):
    doc = event["document"]
    return _fact_row(
        source,
        event,
        doc.get("number"),
        doc.get("date"),
        doc["amount"],
        doc.get("amount_company_currency"),
        doc["currency"],
        doc.get("memo"),
        doc["state"],
        doc.get("is_reconciled"),
    )


def _upsert(cr, statements, name, rows):
    """Upsert the dimension rows the warehouse does not hold as they are yet, one per key (a
    statement may not update a row twice)."""
    unique = {(name, row[:2]): row for row in rows}
    fresh = {key: row for key, row in unique.items() if cr.known.get(key) != row}
    if fresh and cr.deferred is not None:  # a batch writes them at its end (Batch.deferred)
        cr.deferred.setdefault(name, {}).update(fresh)
        cr.written.update(fresh)
    elif fresh:
        cr.values(statements[name], list(fresh.values()))
        cr.written.update(fresh)


def _dimensions(cr, statements, source, event):
    company, partner, document = event["company"], event.get("partner"), event["document"]
    _upsert(
        cr,
        statements,
        "company",
        [(source, company["id"], company.get("code"), company.get("name"), company.get("vat"), company["currency"])],
    )
    if partner:
        row = (partner.get("vat"), partner.get("country"), partner.get("ref"))
        _upsert(cr, statements, "partner", [(source, partner["id"], partner.get("code"), partner.get("name"), *row)])
    currencies = {document["currency"], company["currency"]}
    currencies |= {item["currency"] for item in event.get("reconciliation") or () if item.get("currency")}
    currencies |= {item["invoice_currency"] for item in document.get("invoices") or () if item.get("invoice_currency")}
    _upsert(cr, statements, "currency", [(source, code) for code in sorted(currencies)])
    refs = {dimension: [] for dimension in _DIMENSIONS}
    if document.get("journal"):
        refs["journal"].append(document["journal"])
    for line in event.get("lines") or ():
        refs["account"].append(line["account"])
        refs["tax"] += line.get("taxes") or []
        for share in line.get("analytic_distribution") or ():
            refs["analytic_account"] += share.get("accounts") or []
    for dimension, values in refs.items():
        _upsert(cr, statements, dimension, [(source, ref["id"], ref.get("code"), ref.get("name")) for ref in values])


def _lines(cr, statements, source, invoice_id, lines):
    lines = lines or []
    if lines:
        rows = [
            (
                source,
                line["id"],
                invoice_id,
                line.get("name"),
                _ref(line.get("account")),
                line.get("quantity"),
                line.get("price_unit"),
                line.get("discount"),
                line["subtotal"],
                line["total"],
                [tax["id"] for tax in line.get("taxes") or ()],
                json.dumps(line["analytic_distribution"]) if line.get("analytic_distribution") else None,
                True,
            )
            for line in lines
        ]
        cr.values(statements["lines"], rows, template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::int[], %s, %s)")
    cr.later(statements["lines_gone"], [source, invoice_id, [line["id"] for line in lines]])


def _reconciliations(cr, statements, source, model, document_id, items):
    items = items or []
    rows = {}
    for item in items:
        counterpart = item["counterpart"]
        key = (counterpart.get("model") or "", counterpart["id"])
        rows[key] = (
            source,
            model,
            document_id,
            key[0],
            key[1],
            counterpart.get("number"),
            item["amount"],
            item["currency"],
            item.get("date"),
            True,
        )
    if rows:
        cr.values(statements["reconciliations"], list(rows.values()))
    kept = [f"{counterpart_model},{counterpart_id}" for counterpart_model, counterpart_id in rows]
    cr.later(statements["reconciliations_gone"], [source, model, document_id, kept])


def _allocations(cr, statements, source, document):
    """What a payment settles (``document.invoices``), one row per document."""
    rows = {
        item["id"]: (
            source,
            document["id"],
            item["id"],
            item.get("number"),
            item.get("amount"),
            item.get("currency") or document["currency"],
            item.get("invoice_amount"),
            item.get("invoice_currency"),
            item.get("amount_company_currency"),
            True,
        )
        for item in document.get("invoices") or ()
    }
    if rows:
        cr.values(statements["allocations"], list(rows.values()))
    cr.later(statements["allocations_gone"], [source, document["id"], list(rows)])


def _apply_feed(cr, statements, source, event, flush=True):
    """A part of a period feed's run: recorded once (``sync_event``, then ``feed_run_part``),
    its rows written, and the run completed with the part that brings its last one."""
    feed, company, period = event["feed"], event["company"], event["period"]
    kind = feed["kind"]
    if kind not in FEED_KINDS or event["type"] != f"feed.{kind}":
        raise ValueError(f"the warehouse does not store feeds of kind {kind!r} (event {event.get('type')!r})")
    part, parts, rows = int(feed["part"]), int(feed["parts"]), event.get("rows") or []
    if not 1 <= part <= parts:
        raise ValueError(f"feed run {feed['run_id']}: part {part} of {parts}")
    cr.execute(
        statements["event"], [event["event_id"], source, event["type"], FEED_MODEL, feed["id"], event["sequence"]]
    )
    if cr.fetchone() is None:
        return DUPLICATE
    run_id, date_from, date_to = feed["run_id"], period["date_from"], period["date_to"]
    supersedes = (feed.get("supersedes") or {}).get("run_id")
    run = [run_id, feed["id"], feed.get("name"), kind, company["id"], company["currency"], date_from, date_to]
    run += [feed["version"], bool(feed["final"]), feed["content_hash"], supersedes, parts, feed["row_count"]]
    cr.later(statements["feed_run"], [source, *run, json.dumps(event.get("totals"))])
    cr.execute(statements["feed_run_check"], [source, run_id])
    found = cr.fetchone()
    if tuple(found) != (kind, feed["id"], date_from, date_to, feed["version"], parts):
        raise ValueError(f"feed run {run_id} arrived before as {found!r}, now as another run")
    cr.execute(statements["feed_part"], [source, run_id, part, event["event_id"], len(rows)])
    if cr.fetchone() is None:  # this part arrived before under another event id
        cr.later(statements["skipped"], [event["event_id"]])
        if flush:
            cr.flush()
        return SKIPPED
    head = (source, company["id"], feed["id"], date_from, date_to, feed["version"], bool(feed["final"]), run_id, part)
    if rows:
        name, build = _FEED_ROWS[kind]
        cr.values(statements[name], [(*head, line, *build(kind, row)) for line, row in enumerate(rows, start=1)])
    cr.execute(statements["feed_received"], [source, run_id])
    complete = cr.fetchone()[0]
    if complete:
        cr.execute(statements["feed_lock"], [f"{source}|{feed['id']}|{date_from}|{date_to}"])
        period_key = {"source": source, "feed": feed["id"], "from": date_from, "to": date_to}
        cr.later(statements["feed_supersede"], period_key)
    if flush:
        cr.flush()
    return APPLIED


def _refs(value):
    """(id, code, name) of a reference, or three nulls."""
    value = value or {}
    return value.get("id"), value.get("code"), value.get("name")


def _trial_balance_row(_kind, row):
    analytic = row.get("analytic")
    return (
        *_refs(row.get("account")),
        json.dumps(analytic) if analytic is not None else None,
        row["opening"],
        row["debit"],
        row["credit"],
        row["closing"],
    )


def _aging_row(kind, row):
    buckets = ("not_due", "days_1_30", "days_31_60", "days_61_90", "over_90", "total")
    return (kind, *_refs(row.get("partner")), *(row[bucket] for bucket in buckets))


def _gl_summary_row(_kind, row):
    return (
        row["date"],
        *_refs(row.get("journal")),
        *_refs(row.get("account")),
        row["debit"],
        row["credit"],
        row["count"],
    )


_FEED_ROWS = {
    "trial_balance": ("feed_trial_balance", _trial_balance_row),
    "ar_aging": ("feed_aging", _aging_row),
    "ap_aging": ("feed_aging", _aging_row),
    "gl_summary": ("feed_gl_summary", _gl_summary_row),
}
