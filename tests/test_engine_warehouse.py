"""The warehouse engine (engine/warehouse): schema names, migrations, what database errors mean
for a job, and the loader's rules against a real, throw-away database on the local server.

Plain pytest functions: no Odoo environment, only the server's credentials from its config."""

import json
import threading
import uuid
from contextlib import closing

import psycopg2
import pytest
from psycopg2 import errors, sql

from odoo import sql_db
from odoo.addons.finance_sync.engine import classify
from odoo.addons.finance_sync.engine.transport import OutboundRequest, get_transport
from odoo.addons.finance_sync.engine.warehouse import loader, schema
from odoo.addons.finance_sync.engine.warehouse.transport import CATEGORY_SCHEMA, WarehouseTransport, judge

TARGET = schema.Target(host="db.example.com", port=5432, database="bi", user="odoo", password="s3cret-pw")


def _server(dbname="postgres"):
    _name, info = sql_db.connection_info_for(dbname)
    conn = psycopg2.connect(**info)
    conn.autocommit = True
    return conn


@pytest.fixture
def warehouse():
    """A connection to a new, empty database (dropped afterwards)."""
    name = f"fs_whe_{uuid.uuid4().hex[:12]}"
    with closing(_server()) as admin:
        admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            _name, info = sql_db.connection_info_for(name)
            conn = psycopg2.connect(**info)
            try:
                yield conn
            finally:
                conn.close()
        finally:
            admin.cursor().execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def invoice_event(sequence=1, event_id=None, state="posted", lines=((100, "700"),), total="121.00"):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": "invoice.posted" if state == "posted" else "invoice.reset_to_draft",
        "schema_version": 1,
        "occurred_at": "2025-01-31T10:00:00Z",
        "sequence": sequence,
        "company": {"id": 1, "code": None, "name": "Company", "currency": "EUR"},
        "partner": {"id": 7, "code": "C007", "name": "Customer"},
        "document": {
            "model": "account.move",
            "id": 10,
            "number": "INV/2025/0001",
            "kind": "customer_invoice",
            "move_type": "out_invoice",
            "state": state,
            "payment_state": "not_paid",
            "date": "2025-01-31",
            "invoice_date": "2025-01-31",
            "due_date": None,
            "currency": "EUR",
            "journal": {"id": 3, "code": "INV", "name": "Sales"},
            "amounts": {"untaxed": "100.00", "tax": "21.00", "total": total, "residual": total},
            "reversed_entry": None,
        },
        "lines": [
            {
                "id": line_id,
                "name": "Service",
                "account": {"id": 5, "code": code, "name": "Revenue"},
                "taxes": [{"id": 2, "code": None, "name": "VAT 21%"}],
                "analytic_distribution": [
                    {"accounts": [{"id": 9, "code": None, "name": "Project"}], "percentage": "100"}
                ],
                "quantity": "1",
                "price_unit": "100",
                "discount": "0",
                "subtotal": "100.00",
                "total": "121.00",
            }
            for line_id, code in lines
        ],
        "reconciliation": [],
    }


def fetch(conn, query, params=None):
    with conn, conn.cursor() as cr:
        cr.execute(sql.SQL(query).format(schema=sql.Identifier("finance_sync")), params)
        return cr.fetchall()


# --- names and migrations ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["finance_sync", "_bi", "bi2025"])
def test_plain_schema_names_are_accepted(name):
    assert schema.check_schema_name(name) == name


@pytest.mark.parametrize("name", ["", "Finance", "bi-warehouse", "1bi", "pg_catalog", 'x"; drop', "a" * 64, None])
def test_other_schema_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid schema name"):
        schema.check_schema_name(name)


def test_migrations_are_numbered_from_one():
    versions = [version for version, _name, _text in schema.migrations()]
    assert versions == list(range(1, schema.latest_version() + 1))


def test_migrate_from_an_empty_database_then_nothing_more(warehouse):
    with warehouse, warehouse.cursor() as cr:
        assert schema.current_version(cr, "finance_sync") is None
        with pytest.raises(schema.SchemaError, match="initialize the warehouse"):
            schema.check_version(cr, "finance_sync")
    assert schema.migrate(warehouse, "finance_sync") == (0, schema.latest_version())
    assert schema.migrate(warehouse, "finance_sync") == (schema.latest_version(),) * 2
    with warehouse, warehouse.cursor() as cr:
        assert schema.check_version(cr, "finance_sync") == schema.latest_version()
        found = schema.inspect(cr, "finance_sync")
    assert (found.version, found.may_create, found.may_write) == (schema.latest_version(), True, True)


def test_a_newer_schema_is_refused_and_left_as_it_is(warehouse):
    schema.migrate(warehouse, "finance_sync")
    newer = schema.latest_version() + 1
    fetch(warehouse, "INSERT INTO {schema}.schema_migrations VALUES (%s, 'future') RETURNING 1", [newer])
    with pytest.raises(schema.SchemaError, match="newer than this module knows"):
        schema.migrate(warehouse, "finance_sync")
    assert fetch(warehouse, "SELECT max(version) FROM {schema}.schema_migrations") == [(newer,)]


# --- the loader ------------------------------------------------------------------------------


def test_an_event_is_applied_once_and_an_older_one_is_skipped(warehouse):
    schema.migrate(warehouse, "finance_sync")
    statements = loader.Statements(warehouse, "finance_sync")
    newer, stats = invoice_event(sequence=2, state="draft"), {}
    assert loader.apply(warehouse, statements, "db", newer, stats) == loader.APPLIED
    # The event id, the fact, then dimensions, lines and reconciliations together, then the commit.
    assert stats["round_trips"] == 4
    assert stats["statements"] > stats["round_trips"]
    assert loader.apply(warehouse, statements, "db", newer) == loader.DUPLICATE
    assert loader.apply(warehouse, statements, "db", invoice_event(sequence=1, total="999.00")) == loader.SKIPPED
    assert fetch(warehouse, "SELECT status, amount_total::text, last_sequence FROM {schema}.fact_invoice") == [
        ("draft", "121.00", 2)
    ]
    outcomes = fetch(warehouse, "SELECT sequence, outcome FROM {schema}.sync_event ORDER BY sequence")
    assert outcomes == [(1, "skipped"), (2, "applied")]


def test_lines_a_document_no_longer_has_are_kept_but_not_current(warehouse):
    schema.migrate(warehouse, "finance_sync")
    statements = loader.Statements(warehouse, "finance_sync")
    loader.apply(warehouse, statements, "db", invoice_event(1, lines=((100, "700"), (101, "701"))))
    loader.apply(warehouse, statements, "db", invoice_event(2, lines=((101, "702"),)))
    lines = fetch(warehouse, "SELECT odoo_id, is_current FROM {schema}.fact_invoice_line ORDER BY odoo_id")
    assert lines == [(100, False), (101, True)]
    assert fetch(warehouse, "SELECT code FROM {schema}.dim_account") == [("702",)]
    assert fetch(warehouse, "SELECT name FROM {schema}.dim_analytic_account") == [("Project",)]


# --- the transport and what errors mean ------------------------------------------------------


def test_each_sending_thread_has_its_own_connection(warehouse):
    schema.migrate(warehouse, "finance_sync")
    params = warehouse.get_dsn_parameters()
    _name, info = sql_db.connection_info_for(params["dbname"])
    target = schema.Target(
        host=info.get("host") or params.get("host"),
        port=int(params.get("port") or 5432),
        database=params["dbname"],
        user=info.get("user") or params["user"],
        password=info.get("password"),
        sslmode="disable",
        require_tls=False,  # the test server has no TLS
    )
    transport = get_transport("warehouse", target=target, source="db", pool_maxsize=3)
    assert isinstance(transport, WarehouseTransport)
    results = []

    def send(document_id):
        event = invoice_event()
        event["document"]["id"] = document_id
        results.append(transport.send(OutboundRequest(url="", body=json.dumps(event).encode(), headers={})))

    with transport:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r.status for r in results] == [200, 200, 200], [r.error for r in results]
        assert len(transport._connections) == 3
    assert transport._connections == []
    assert fetch(warehouse, "SELECT count(*) FROM {schema}.fact_invoice") == [(3,)]


@pytest.mark.parametrize(
    ("error", "outcome", "category", "code"),
    [
        (errors.SerializationFailure("could not serialize access"), classify.RETRY, "transport", "warehouse_conflict"),
        (errors.DeadlockDetected("deadlock detected"), classify.RETRY, "transport", "warehouse_conflict"),
        (psycopg2.OperationalError("connection refused"), classify.RETRY, "transport", "warehouse_unreachable"),
        (psycopg2.InterfaceError("connection already closed"), classify.RETRY, "transport", "warehouse_unreachable"),
        (
            errors.UndefinedTable('relation "x" does not exist'),
            classify.FAILED,
            CATEGORY_SCHEMA,
            "warehouse_tables_missing",
        ),
        (errors.UniqueViolation("duplicate key"), classify.FAILED, "rejected", "warehouse_rejected"),
        (errors.InvalidTextRepresentation("invalid input"), classify.FAILED, "rejected", "warehouse_rejected"),
        (errors.InsufficientPrivilege("permission denied"), classify.FAILED, "authentication", "warehouse_privilege"),
        (
            psycopg2.OperationalError('password authentication failed for user "odoo"'),
            classify.FAILED,
            "authentication",
            "warehouse_authentication",
        ),
        (KeyError("document"), classify.FAILED, "validation", "warehouse_bad_event"),
    ],
)
def test_database_errors_map_to_job_outcomes(error, outcome, category, code):
    verdict = judge(error, TARGET)
    assert (verdict.outcome, verdict.category, verdict.note.code) == (outcome, category, code)
    assert classify.classify_error(classify.ClassifiedError(verdict)) is verdict


def test_the_password_never_shows_in_a_verdict():
    verdict = judge(errors.CheckViolation(f'violates check constraint "{TARGET.password}"'), TARGET)
    assert TARGET.password not in str(verdict.note)
    assert "violates check constraint" in str(verdict.note)


def test_dimensions_already_written_are_not_written_again(warehouse):
    schema.migrate(warehouse, "finance_sync")
    statements, known = loader.Statements(warehouse, "finance_sync"), {}
    first, second, renamed = {}, {}, {}
    loader.apply(warehouse, statements, "db", invoice_event(1), first, known)
    other = invoice_event(1)
    other["document"]["id"] = 11
    loader.apply(warehouse, statements, "db", other, second, known)
    assert second["statements"] < first["statements"], "the same company, partner, accounts: not again"
    changed = invoice_event(2)
    changed["partner"]["name"] = "Customer, renamed"
    loader.apply(warehouse, statements, "db", changed, renamed, known)
    assert renamed["statements"] == second["statements"] + 1, "only the partner is written again"
    assert fetch(warehouse, "SELECT name FROM {schema}.dim_partner") == [("Customer, renamed",)]


def payment_event(sequence=1, invoices=(), state="in_process", is_reconciled=False, event_type="payment.posted"):
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "schema_version": 1,
        "occurred_at": "2025-02-03T10:00:00Z",
        "sequence": sequence,
        "company": {"id": 1, "code": None, "name": "Company", "currency": "EUR"},
        "partner": {"id": 7, "code": "C007", "name": "Customer"},
        "document": {
            "model": "account.payment",
            "id": 20,
            "number": "PBNK1/2025/00001",
            "kind": "customer_payment",
            "state": state,
            "date": "2025-02-03",
            "amount": "1300.10",
            "amount_company_currency": "1300.10",
            "currency": "EUR",
            "journal": {"id": 4, "code": "BNK1", "name": "Bank"},
            "is_reconciled": is_reconciled,
            "invoices": list(invoices),
        },
        "reconciliation": [],
    }


def allocation(invoice_id, amount, invoice_amount=None, invoice_currency="EUR"):
    return {
        "model": "account.move",
        "id": invoice_id,
        "number": f"INV/2025/{invoice_id:04d}",
        "amount": amount,
        "currency": "EUR",
        "invoice_amount": invoice_amount or amount,
        "invoice_currency": invoice_currency,
        "amount_company_currency": amount,
    }


def test_a_payments_status_and_allocations_follow_its_events(warehouse):
    schema.migrate(warehouse, "finance_sync")
    statements = loader.Statements(warehouse, "finance_sync")
    loader.apply(warehouse, statements, "db", payment_event(1))
    settled = payment_event(2, [allocation(10, "1234.57"), allocation(11, "0.07", "0.06", "USD")], "paid", True)
    settled["type"] = "payment.updated"
    assert loader.apply(warehouse, statements, "db", settled) == loader.APPLIED
    assert fetch(warehouse, "SELECT status, is_reconciled, last_event_type FROM {schema}.fact_payment") == [
        ("paid", True, "payment.updated")
    ]
    unreconciled = payment_event(3, [allocation(11, "0.07", "0.06", "USD")], "in_process", event_type="payment.updated")
    assert loader.apply(warehouse, statements, "db", unreconciled) == loader.APPLIED
    rows = fetch(
        warehouse,
        """SELECT payment_id, invoice_id, amount::text, currency, invoice_amount::text, invoice_currency,
                  amount_company::text, is_current
             FROM {schema}.fact_payment_allocation ORDER BY invoice_id""",
    )
    assert rows == [
        (20, 10, "1234.57", "EUR", "1234.57", "EUR", "1234.57", False),
        (20, 11, "0.07", "EUR", "0.06", "USD", "0.07", True),
    ]
    assert ("USD",) in fetch(warehouse, "SELECT code FROM {schema}.dim_currency")
    # An event captured before payments carried their allocations' amounts still loads.
    old = payment_event(4, [{"model": "account.move", "id": 12, "number": "INV/2025/0012"}])
    assert loader.apply(warehouse, statements, "db", old) == loader.APPLIED
    assert fetch(
        warehouse,
        "SELECT invoice_id, amount, currency, is_current FROM {schema}.fact_payment_allocation WHERE is_current",
    ) == [(12, None, "EUR", True)]


def test_a_warehouse_of_version_1_is_migrated_keeping_its_rows(warehouse):
    (first_version, _name, first_sql), *_later = schema.migrations()
    with warehouse, warehouse.cursor() as cr:
        cr.execute("CREATE SCHEMA finance_sync")
        cr.execute(
            "CREATE TABLE finance_sync.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cr.execute(sql.SQL(first_sql).format(schema=sql.Identifier("finance_sync")))
        cr.execute("INSERT INTO finance_sync.schema_migrations (version, name) VALUES (%s, 'initial')", [first_version])
    statements_v1 = loader.Statements(warehouse, "finance_sync")
    with warehouse, warehouse.cursor() as cr:
        # What a version 1 loader wrote: the payment's fact only.
        cr.execute(statements_v1["event"], [str(uuid.uuid4()), "db", "payment.posted", "account.payment", 20, 1])
        cr.execute(statements_v1["payment"], loader._payment_row("db", payment_event(1)))
    assert schema.migrate(warehouse, "finance_sync") == (1, schema.latest_version())
    assert schema.latest_version() >= 2
    assert fetch(warehouse, "SELECT odoo_id, status FROM {schema}.fact_payment") == [(20, "in_process")]
    statements = loader.Statements(warehouse, "finance_sync")
    assert loader.apply(warehouse, statements, "db", payment_event(2, [allocation(10, "12.10")], "paid", True)) == (
        loader.APPLIED
    )
    assert fetch(warehouse, "SELECT invoice_id, amount::text FROM {schema}.fact_payment_allocation") == [(10, "12.10")]


# --- batches ---------------------------------------------------------------------------------


class CountingCursor(psycopg2.extensions.cursor):
    """Counts what the loader sends: round trips (``execute`` calls) and the statements in them
    (the loader joins the statements of one round trip with ``;\\n``)."""

    sent = {"round_trips": 0, "statements": 0}

    def execute(self, query, params=None):
        text = query if isinstance(query, bytes) else self.mogrify(query, params)
        self.sent["round_trips"] += 1
        self.sent["statements"] += text.count(b";\n") + 1
        return super().execute(query, params)


def invoices(first, count):
    """``count`` invoice events of documents ``first``, ``first + 1``, … (one line each)."""
    events = []
    for document_id in range(first, first + count):
        event = invoice_event(lines=((document_id * 10, "700"),))
        event["document"]["id"] = document_id
        events.append(event)
    return events


def test_a_batch_costs_fewer_round_trips_and_statements_an_event_than_one_by_one(warehouse):
    schema.migrate(warehouse, "finance_sync")
    _name, info = sql_db.connection_info_for(warehouse.get_dsn_parameters()["dbname"])
    counted = {"round_trips": 0, "statements": 0}
    with closing(psycopg2.connect(cursor_factory=CountingCursor, **info)) as conn:
        CountingCursor.sent = counted
        statements, known = loader.Statements(conn, "finance_sync"), {}
        loader.apply(conn, statements, "db", invoices(1, 1)[0], known=known)  # the dimensions, once
        size = 20

        def cost(send, events):
            counted.update(round_trips=0, statements=0)
            before = fetch(warehouse, "SELECT count(DISTINCT applied_at) FROM {schema}.sync_event")[0][0]
            send(events)
            commits = fetch(warehouse, "SELECT count(DISTINCT applied_at) FROM {schema}.sync_event")[0][0] - before
            # Each transaction ends with a commit: one more statement and round trip.
            return (counted["round_trips"] + commits) / len(events), (counted["statements"] + commits) / len(events)

        one_by_one = cost(
            lambda events: [loader.apply(conn, statements, "db", e, known=known) for e in events], invoices(100, size)
        )
        batched = cost(
            lambda events: loader.apply_batch(conn, statements, "db", events, known=known), invoices(200, size)
        )
    assert one_by_one == (4.0, pytest.approx(one_by_one[1])), "the event id, the fact, the rest, the commit"
    assert batched[0] <= 2.1 and batched[0] < one_by_one[0] / 1.9, (batched, one_by_one)
    assert batched[1] < one_by_one[1], (batched, one_by_one)
    assert fetch(
        warehouse,
        "SELECT count(*), count(DISTINCT applied_at) FROM {schema}.fact_invoice f "
        "JOIN {schema}.sync_event e ON e.event_id = f.last_event_id WHERE f.odoo_id >= 200",
    ) == [(size, 1)]


def test_a_bad_event_fails_alone_in_its_batch(warehouse):
    """A constraint and malformed events (failing before anything of them is sent, or after):
    each fails alone with its own error, undone; the others of the batch are applied in
    one transaction, in order."""
    schema.migrate(warehouse, "finance_sync")
    with warehouse, warehouse.cursor() as cr:
        cr.execute("ALTER TABLE finance_sync.fact_invoice ADD CONSTRAINT small CHECK (amount_total < 1000)")
    statements = loader.Statements(warehouse, "finance_sync")
    events = invoices(1, 7)
    events[1]["document"]["amounts"]["total"] = "1234.57"
    del events[3]["document"]
    events[5]["sequence"] = {"not": "a number"}  # the driver cannot quote it: nothing of it is sent
    del events[6]["document"]["currency"]
    first_again = {**events[0], "event_id": str(uuid.uuid4()), "sequence": 2}
    first_again["document"] = {**events[0]["document"], "state": "draft"}
    events.append(first_again)

    def fails_alone(exc):
        return judge(exc, TARGET).outcome == classify.FAILED

    answers = loader.apply_batch(warehouse, statements, "db", events, isolated=fails_alone)
    assert isinstance(answers[1], errors.CheckViolation)
    assert isinstance(answers[3], KeyError) and isinstance(answers[6], KeyError)
    assert isinstance(answers[5], psycopg2.ProgrammingError)
    assert [answers[n] for n in (0, 2, 4, 7)] == [loader.APPLIED] * 4
    facts = fetch(warehouse, "SELECT odoo_id, status, last_sequence FROM {schema}.fact_invoice ORDER BY odoo_id")
    assert facts == [(1, "draft", 2), (3, "posted", 1), (5, "posted", 1)]
    lines = fetch(warehouse, "SELECT DISTINCT invoice_id FROM {schema}.fact_invoice_line ORDER BY 1")
    assert lines == [(1,), (3,), (5,)]
    assert fetch(warehouse, "SELECT count(*), count(DISTINCT applied_at) FROM {schema}.sync_event") == [(4, 1)]
    # The same batch again: nothing applied twice.
    again = loader.apply_batch(warehouse, statements, "db", events, isolated=fails_alone)
    assert [again[n] for n in (0, 2, 4, 7)] == [loader.DUPLICATE] * 4
    assert fetch(warehouse, "SELECT count(*) FROM {schema}.sync_event") == [(4,)]


def test_one_documents_events_in_one_batch_keep_its_order_and_a_bad_one_leaves_it_as_it_was(warehouse):
    """Several events of one document in one batch, some out of order, one bad: each applied in
    the batch's order, an older one skipped (it never overwrites newer state), the bad one undone
    alone (nothing of it on the document), and the batch sent again applies nothing twice."""
    schema.migrate(warehouse, "finance_sync")
    with warehouse, warehouse.cursor() as cr:
        cr.execute("ALTER TABLE finance_sync.fact_invoice ADD CONSTRAINT small CHECK (amount_total < 1000)")
    statements = loader.Statements(warehouse, "finance_sync")
    first = invoice_event(1, total="12.10")
    third = invoice_event(3, state="draft", total="0.07", lines=((100, "700"), (101, "701")))
    second = invoice_event(2, total="88.81")  # arrives after the third: older, skipped
    bad = invoice_event(4, total="1234.57", lines=((102, "702"),))  # refused by the constraint
    other = invoice_event(1, total="19.99", lines=((200, "700"),))
    other["document"] = {**other["document"], "id": 11, "number": "INV/2025/0002"}
    events = [first, third, second, bad, other]

    def fails_alone(exc):
        return judge(exc, TARGET).outcome == classify.FAILED

    answers = loader.apply_batch(warehouse, statements, "db", events, isolated=fails_alone)
    assert answers[:3] == [loader.APPLIED, loader.APPLIED, loader.SKIPPED]
    assert isinstance(answers[3], errors.CheckViolation)
    assert answers[4] == loader.APPLIED
    facts = "SELECT odoo_id, status, amount_total::text, last_sequence FROM {schema}.fact_invoice ORDER BY 1"
    assert fetch(warehouse, facts) == [(10, "draft", "0.07", 3), (11, "posted", "19.99", 1)]
    current = "SELECT invoice_id, odoo_id FROM {schema}.fact_invoice_line WHERE is_current ORDER BY 1, 2"
    assert fetch(warehouse, current) == [(10, 100), (10, 101), (11, 200)], "nothing of the bad event's lines"
    outcomes = "SELECT event_id::text, outcome FROM {schema}.sync_event"
    assert dict(fetch(warehouse, outcomes)) == {
        first["event_id"]: "applied",
        third["event_id"]: "applied",
        second["event_id"]: "skipped",
        other["event_id"]: "applied",
    }
    # The same batch again: the answered ones are duplicates, the bad one fails alone again.
    again = loader.apply_batch(warehouse, statements, "db", events, isolated=fails_alone)
    assert [again[n] for n in (0, 1, 2, 4)] == [loader.DUPLICATE] * 4
    assert isinstance(again[3], errors.CheckViolation)
    assert fetch(warehouse, facts) == [(10, "draft", "0.07", 3), (11, "posted", "19.99", 1)]
    # Fixed, the bad event alone goes again and becomes the document's newest state.
    with warehouse, warehouse.cursor() as cr:
        cr.execute("ALTER TABLE finance_sync.fact_invoice DROP CONSTRAINT small")
    assert loader.apply_batch(warehouse, statements, "db", [bad], isolated=fails_alone) == [loader.APPLIED]
    assert fetch(warehouse, facts) == [(10, "posted", "1234.57", 4), (11, "posted", "19.99", 1)]
    assert fetch(warehouse, current) == [(10, 102), (11, 200)]


def test_a_failure_of_the_transaction_applies_nothing_of_the_batch(warehouse):
    schema.migrate(warehouse, "finance_sync")
    statements = loader.Statements(warehouse, "finance_sync")
    with warehouse, warehouse.cursor() as cr:
        cr.execute(
            """CREATE FUNCTION finance_sync.conflict() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   IF NEW.odoo_id = 3 THEN
                       RAISE serialization_failure USING MESSAGE = 'could not serialize access';
                   END IF;
                   RETURN NEW;
               END $$;
               CREATE TRIGGER conflict BEFORE INSERT ON finance_sync.fact_invoice
               FOR EACH ROW EXECUTE FUNCTION finance_sync.conflict()"""
        )

    def fails_alone(exc):
        return judge(exc, TARGET).outcome == classify.FAILED

    with pytest.raises(errors.SerializationFailure):
        loader.apply_batch(warehouse, statements, "db", invoices(1, 4), isolated=fails_alone)
    assert fetch(warehouse, "SELECT count(*) FROM {schema}.sync_event") == [(0,)]
    assert fetch(warehouse, "SELECT count(*) FROM {schema}.fact_invoice") == [(0,)]


def test_concurrent_batches_of_the_same_new_partners_do_not_deadlock(warehouse):
    """Two batches naming the same new partners in opposite orders, each waiting a little on
    its second invoice: both are applied (their partners are written in one order)."""
    schema.migrate(warehouse, "finance_sync")
    with warehouse, warehouse.cursor() as cr:
        cr.execute(
            """CREATE FUNCTION finance_sync.slow() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   IF NEW.odoo_id IN (2, 4) THEN PERFORM pg_sleep(0.5); END IF;
                   RETURN NEW;
               END $$;
               CREATE TRIGGER slow BEFORE INSERT ON finance_sync.fact_invoice
               FOR EACH ROW EXECUTE FUNCTION finance_sync.slow()"""
        )
    events = invoices(1, 4)
    for event, partner in zip(events, (5, 8, 8, 5), strict=True):
        event["partner"] = {"id": partner, "code": None, "name": f"Customer {partner}"}
    for event in events[2:]:  # the second batch shares nothing else with the first
        event["company"] = {"id": 2, "code": None, "name": "Other company", "currency": "USD"}
        event["document"] = {**event["document"], "currency": "USD", "journal": {"id": 4, "code": "J", "name": "J"}}
        event["lines"] = [
            {**line, "account": {"id": 6, "code": "701", "name": "Other"}, "taxes": [], "analytic_distribution": []}
            for line in event["lines"]
        ]
    _name, info = sql_db.connection_info_for(warehouse.get_dsn_parameters()["dbname"])
    answers, failures = {}, []

    def send(name, batch):
        try:
            with closing(psycopg2.connect(**info)) as conn:
                answers[name] = loader.apply_batch(conn, loader.Statements(conn, "finance_sync"), "db", batch)
        except psycopg2.Error as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(n, batch)) for n, batch in enumerate((events[:2], events[2:]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert answers == {0: [loader.APPLIED] * 2, 1: [loader.APPLIED] * 2}
    assert fetch(warehouse, "SELECT odoo_id FROM {schema}.dim_partner ORDER BY 1") == [(5,), (8,)]
