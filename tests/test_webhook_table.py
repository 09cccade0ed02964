"""The inbound webhook against one table of requests, through Odoo's real HTTP server.

Each row is a request (path, method, headers, body, signed or not) with the answer it must get
(HTTP status, then the refusal's error code or ``accepted`` / ``duplicate``) and the rows it may
add to the tables in ``TABLES``. A refusal adds nothing anywhere, logs one short line of this
module and no traceback; no answer is a 5xx.

To check a new case, add a row to ``ROWS``. A body is bytes or a function of the running test
case, which offers ``status_event`` (an ``invoice.status`` body) and ``payment`` (a
``payment.status`` body for a new posted customer invoice of 100.00, or for ``invoice``).
"""

import json
import logging
import pathlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import SQL

from .. import const
from ..engine import inbound, signing
from .common import FinanceSyncCase, captured_logs
from .test_inbound import event

TABLES = (
    "finance_sync_inbound_event",
    "finance_sync_exception",
    "finance_sync_external_payment",
    "account_payment",
    "mail_message",
)
SOME = "some"  # a count that must grow, by a number not worth pinning (chatter messages)
PAID = {
    "finance_sync_inbound_event": 1,
    "finance_sync_external_payment": 1,
    "account_payment": 1,
    "mail_message": SOME,
}
CONFLICT = {"finance_sync_inbound_event": 1, "finance_sync_exception": 1, "mail_message": SOME}
TOLERANCE = const.INBOUND_TIMESTAMP_TOLERANCE
DEPTH = const.INBOUND_MAX_JSON_DEPTH
WEBHOOK = "/finance_sync/webhook/"
WRONG_SIGNATURE = "v1," + "A" * 43 + "="  # well formed, matches nothing


@dataclass(frozen=True)
class Row:
    label: str
    status: int
    answer: str  # the refusal's error code, or "accepted" / "duplicate"
    body: bytes | Callable | None = None  # None: a valid invoice.status event
    signed: bool = True  # sign the body (webhook-id, webhook-timestamp, webhook-signature)
    backend: str = "authority"  # whose webhook URL: a key of TestWebhookTable.backends
    path: str | None = None  # another path than the backend's webhook URL
    method: str = "POST"
    headers: Mapping = field(default_factory=dict)  # set after signing, replacing signed ones
    webhook_id: str | None = None  # None: a new one
    age: int = 0  # seconds the signed timestamp lies in the past (negative: in the future)
    replay: bool = False  # the same request is delivered once before the checked one
    changes: Mapping = field(default_factory=dict)  # table -> rows added (SOME: at least one)


def nested(depth):
    """JSON text of ``depth`` nested arrays."""
    return "[" * depth + "]" * depth


ROWS = [
    # --- address, method, content type, size
    Row("unknown token", 404, "not_found", path=WEBHOOK + "no-such-token"),
    Row("NUL as the token, unsigned", 400, "bad_token", path=WEBHOOK + "%00", signed=False),
    Row("NUL inside the token", 400, "bad_token", path=WEBHOOK + "abc%00def"),
    Row("control character in the token", 400, "bad_token", path=WEBHOOK + "abc%01def", signed=False),
    Row("invalid UTF-8 in the token", 404, "not_found", path=WEBHOOK + "%FF%FE", signed=False),
    Row("encoded surrogate in the token", 404, "not_found", path=WEBHOOK + "%ED%A0%80", signed=False),
    Row("draft backend", 404, "not_found", backend="draft"),
    Row("GET", 405, "method_not_allowed", method="GET", signed=False),
    Row("text/plain", 415, "unsupported_media_type", headers={"Content-Type": "text/plain"}),
    Row("body over the limit", 413, "payload_too_large", body=b'{"p": "' + b"x" * const.INBOUND_MAX_BODY_BYTES + b'"}'),
    # --- headers and signature
    Row("no signature headers", 401, "missing_headers", signed=False),
    Row("backend without a secret", 401, "no_secret", backend="without secret"),
    Row("bad signature", 401, "bad_signature", headers={"webhook-signature": WRONG_SIGNATURE}),
    Row("stale timestamp", 401, "stale_timestamp", age=TOLERANCE + 5),
    Row("future timestamp", 401, "future_timestamp", age=-TOLERANCE - 5),
    Row("timestamp not a number", 401, "bad_timestamp", headers={"webhook-timestamp": "yesterday"}),
    Row("NUL in webhook-id", 400, "bad_header", webhook_id="msg_\x00nul"),
    Row("NUL in webhook-id, unsigned", 400, "bad_header", signed=False, headers={"webhook-id": "\x00"}),
    Row("NUL in webhook-timestamp", 400, "bad_header", headers={"webhook-timestamp": "17\x0000"}),
    Row("control character in webhook-signature", 400, "bad_header", headers={"webhook-signature": "v1,\x01"}),
    Row("NUL in another header", 400, "bad_header", headers={"X-Request-Id": "a\x00b"}),
    Row("DEL in another header", 400, "bad_header", headers={"X-Request-Id": "a\x7fb"}),
    Row("webhook-id over 255 characters", 400, "bad_webhook_id", webhook_id="m" * 256),
    Row("paused backend", 503, "backend_paused", backend="paused"),
    # --- JSON
    Row("malformed JSON", 400, "malformed_json", body=b'{"type": '),
    Row("invalid UTF-8", 400, "malformed_json", body=b'{"type": "\xff"}'),
    Row("UTF-8 encoded surrogate", 400, "malformed_json", body=b'{"type": "\xed\xa0\x80"}'),
    Row("NaN", 400, "malformed_json", body=lambda t: t.status_event(extra="NaN")),
    Row("number beyond a float", 400, "malformed_json", body=lambda t: t.status_event(extra="1e400")),
    Row("NUL escaped in a value", 400, "unsupported_character", body=lambda t: t.status_event(note="a\x00b")),
    Row("NUL escaped in a key", 400, "unsupported_character", body=lambda t: t.status_event(**{"x\x00": 1})),
    Row("lone surrogate escaped", 400, "unsupported_character", body=lambda t: t.status_event(note="\ud800")),
    Row("lone low surrogate escaped", 400, "unsupported_character", body=lambda t: t.status_event(note="a\udfffb")),
    Row("nesting one level too deep", 400, "json_too_deep", body=lambda t: t.status_event(extra=nested(DEPTH - 1))),
    Row("nesting of 100000 arrays", 400, "json_too_deep", body=nested(100_000).encode()),
    Row("nesting of 40000 objects", 400, "json_too_deep", body=('{"a":' * 40_000 + "1" + "}" * 40_000).encode()),
    # --- the event
    Row("not an object", 422, "schema_violation", body=b'["invoice.status"]'),
    Row("unknown event type", 422, "unknown_event_type", body=json.dumps(event("invoice.exploded", {})).encode()),
    Row("amount as a number", 422, "schema_violation", body=lambda t: t.payment(amount=10)),
    Row("amount with a trailing newline", 422, "schema_violation", body=lambda t: t.payment(amount="10.00\n")),
    Row("currency with a trailing newline", 422, "schema_violation", body=lambda t: t.payment(currency="USD\n")),
    Row("date with a trailing newline", 422, "schema_violation", body=lambda t: t.payment(day="2024-01-01\n")),
    Row("status with a trailing newline", 422, "schema_violation", body=lambda t: t.status_event(status="disputed\n")),
    Row("more decimals than the currency has", 422, "amount_precision", body=lambda t: t.payment(amount="10.005")),
    Row("sub-cent amount", 422, "amount_precision", body=lambda t: t.payment(amount="0.001")),
    # --- accepted
    Row("payment (control)", 202, "accepted", body=lambda t: t.payment(amount="10.00"), changes=PAID),
    Row("trailing zeros beyond the currency", 202, "accepted", body=lambda t: t.payment(amount="10.000"), changes=PAID),
    Row("nesting at the limit", 202, "accepted", body=lambda t: t.status_event(extra=nested(DEPTH - 2)),
        changes={"finance_sync_inbound_event": 1, "finance_sync_exception": 1, "mail_message": SOME}),
    Row("replayed delivery", 200, "duplicate", body=lambda t: t.payment(amount="10.00"), replay=True),
    # --- events only another authority sends: the backend is the payment authority only
    Row("invoice.create from no document source", 422, "not_document_source",
        body=lambda t: t.authority_event("invoice.create")),
    Row("bill.create from no document source", 422, "not_document_source",
        body=lambda t: t.authority_event("bill.create")),
    Row("approval.status from no document source", 422, "not_document_source",
        body=lambda t: t.authority_event("approval.status")),
    Row("partner.credit from no credit authority", 422, "not_credit_authority",
        body=lambda t: t.authority_event("partner.credit")),
    # --- the backend pays customer invoices only: any other document is a conflict, never a payment
    Row("payment of a vendor bill", 202, "accepted", body=lambda t: t.payment(move_type="in_invoice"),
        changes=CONFLICT),
    Row("payment of a customer credit note", 202, "accepted", body=lambda t: t.payment(move_type="out_refund"),
        changes=CONFLICT),
    Row("payment of a vendor credit note", 202, "accepted", body=lambda t: t.payment(move_type="in_refund"),
        changes=CONFLICT),
]  # fmt: skip


@tagged("post_install", "-at_install")
class TestWebhookTable(FinanceSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.backend.write({"payment_authority": True, "payment_journal_id": cls.bank_journal.id})
        paused = cls.create_backend("Paused", cls.secret)
        paused.action_pause()
        without_secret = cls.create_backend_without_secret("Without secret")
        cls.backends = {
            "authority": cls.backend,
            "paused": paused,
            "without secret": without_secret,
            "draft": cls.create_backend("Draft", cls.secret, state="draft"),
        }
        cls.tokens = {name: backend.sudo().webhook_token for name, backend in cls.backends.items()}

    # --- bodies --------------------------------------------------------------------------

    def status_event(self, **data):
        """An ``invoice.status`` body for an unknown invoice (accepted, it opens an exception);
        ``data`` adds or replaces members, ``extra`` is JSON text added as it is."""
        unknown = {"number": f"INV/TABLE/{uuid.uuid4().hex[:8]}"}
        payload = event("invoice.status", {"invoice": unknown, "status": "disputed", **data})
        if "extra" in data:
            text = json.dumps({**payload, "data": {**payload["data"], "extra": "@extra@"}})
            return text.replace('"@extra@"', data["extra"]).encode()
        return json.dumps(payload).encode()

    def payment(self, amount="100.00", currency=None, day=None, invoice=None, move_type="out_invoice"):
        """A succeeded ``payment.status`` body for ``invoice`` (default: a new posted document
        of 100.00 of ``move_type``)."""
        invoice = invoice or self.init_invoice(move_type, amounts=[100.0], post=True)
        data = {
            "invoice": {"number": invoice.name},
            "status": "succeeded",
            "amount": amount,
            "currency": currency or invoice.currency_id.name,
            "date": day or fields.Date.to_string(invoice.invoice_date),
            "reference": f"pay_{uuid.uuid4().hex[:12]}",
        }
        return json.dumps(event("payment.status", data)).encode()

    def authority_event(self, event_type):
        """A valid body of ``event_type``, an event only a document source or the credit
        authority sends."""
        currency = self.company.currency_id.name
        document = {
            "external_id": f"doc_{uuid.uuid4().hex[:8]}",
            "invoice_date": "2026-03-02",
            "currency": currency,
            "partner": {"code": "cus_100"},
            "lines": [{"description": "Seat", "quantity": "3", "price_unit": "12.10"}],
            "totals": {"untaxed": "36.30", "tax": "0.00", "total": "36.30"},
        }
        data = {
            "invoice.create": {**document, "kind": "invoice"},
            "bill.create": {**document, "kind": "bill"},
            "approval.status": {
                "external_id": "doc_1",
                "status": "approved",
                "by": "Dana",
                "at": "2026-03-02T10:00:00Z",
            },
            "partner.credit": {
                "partner": {"id": self.partner_a.id},
                "credit_limit": "1234.57",
                "currency": currency,
                "hold": True,
                "decided_at": "2026-03-02T10:00:00Z",
                "reference": "DEC-1",
            },
        }[event_type]
        return json.dumps(event(event_type, data)).encode()

    # --- requests --------------------------------------------------------------------------

    def request_of(self, row):
        """(path, method, headers, body) of a row."""
        body = row.body(self) if callable(row.body) else row.body
        if body is None:
            body = self.status_event()
        headers = {"Content-Type": "application/json"}
        if row.signed:
            webhook_id = row.webhook_id if row.webhook_id is not None else f"msg_{uuid.uuid4().hex}"
            headers.update(signing.build_headers(self.secret, webhook_id, body, int(time.time()) - row.age))
        headers.update(row.headers)
        path = row.path or WEBHOOK + self.tokens[row.backend]
        return path, row.method, headers, body if row.method == "POST" else None

    def send(self, path, method, headers, body):
        response = self.url_open(path, data=body, headers=headers, method=method, allow_redirects=False)
        self.env.invalidate_all()
        return response

    def counts(self):
        self.env.flush_all()
        self.env.cr.execute(
            SQL("SELECT %s", SQL(", ").join(SQL("(SELECT count(*) FROM %s)", SQL.identifier(t)) for t in TABLES))
        )
        return dict(zip(TABLES, self.env.cr.fetchone(), strict=True))

    # --- checks ----------------------------------------------------------------------------

    def problems_of(self, row):
        """What differs from the row's expectations (empty when the row holds)."""
        request = self.request_of(row)
        if row.replay:
            first = self.send(*request)
            if first.status_code != 202:
                return [f"first delivery answered {first.status_code}: {first.text[:200]}"]
        before = self.counts()
        with captured_logs() as records:
            response = self.send(*request)
        after = self.counts()
        problems = []
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        got = answer.get("error") or answer.get("status")
        if (response.status_code, got) != (row.status, row.answer):
            problems.append(f"answered {response.status_code} {got!r}: {response.text[:200]!r}")
        if response.status_code >= 400:
            if response.headers.get("Content-Type", "").split(";")[0] != "application/json":
                problems.append(f"answered {response.headers.get('Content-Type')}, not JSON")
            if not answer.get("message"):
                problems.append("a refusal without a message")
        for table in TABLES:
            expected, added = row.changes.get(table, 0), after[table] - before[table]
            if (added <= 0) if expected == SOME else (added != expected):
                problems.append(f"{table}: {added:+d} rows, expected {expected}")
        problems += self.log_problems(row, records)
        return problems

    def log_problems(self, row, records):
        problems = []
        ours = [r for r in records if r.name.startswith("odoo.addons.finance_sync")]
        for record in records:
            text = record.getMessage()
            if record.levelno >= logging.ERROR or record.exc_info:
                problems.append(f"logged {record.levelname} by {record.name}: {text[:200]!r}")
            if record in ours and any(token in text for token in self.tokens.values()):
                problems.append(f"logged the webhook token: {text[:200]!r}")
        if row.status >= 400:
            lines = [r.getMessage() for r in ours]
            if len(lines) != 1 or len(lines[0]) > 200 or "\n" in lines[0]:
                problems.append(f"logged {len(lines)} lines instead of one short line: {lines!r:.300}")
        return problems

    def test_every_row_gets_its_answer_and_writes_only_what_it_should(self):
        self.assertEqual(len({row.label for row in ROWS}), len(ROWS), "row labels are unique")
        failures = {}
        for row in ROWS:
            problems = self.problems_of(row)
            if problems:
                failures[row.label] = problems
        self.assertFalse(failures, "\n" + "\n".join(f"{label}: {'; '.join(p)}" for label, p in failures.items()))


def test_every_refusal_of_the_table_is_documented():
    openapi = (pathlib.Path(inbound.SCHEMA_DIR).parents[2] / "docs" / "openapi.yaml").read_text(encoding="utf-8")
    missing = {row.answer for row in ROWS if row.status >= 400 and row.answer not in openapi}
    assert not missing, f"error codes missing from docs/openapi.yaml: {sorted(missing)}"
