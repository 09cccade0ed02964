"""Canonical payload v1: money formatting, serialisation and JSON Schema validation.

Plain Python: the Odoo models gather the data, this module shapes and checks it.
Money never travels as a float: amounts are decimal strings with the currency's precision.
"""

import functools
import json
import pathlib
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import jsonschema_rs

SCHEMA_VERSION = 1
SCHEMA_DIR = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "v1"
SCHEMA_BASE_URI = "https://finance-sync.dev/schemas/v1/"


def money(amount, decimal_places: int = 2) -> str:
    """Format an amount as a decimal string with exactly ``decimal_places`` digits.

    Floats go through ``repr`` (shortest round-trip form) so 0.1 + 0.2 becomes "0.30", not
    "0.30000000000000004"; rounding is half-up, as accountants expect.
    """
    value = amount if isinstance(amount, Decimal) else Decimal(repr(float(amount or 0.0)))
    quantum = Decimal(1).scaleb(-decimal_places)
    result = value.quantize(quantum, rounding=ROUND_HALF_UP)
    return format(result + 0, "f")  # "+ 0" folds -0.00 into 0.00


def quantity(value) -> str:
    """Quantities and rates as compact decimal strings ("1", "2.5")."""
    d = Decimal(repr(float(value or 0.0))).normalize()
    return format(d + 0, "f")


def iso_date(value) -> str | None:
    return value.isoformat() if isinstance(value, date) else None


def iso_datetime(value: datetime | None) -> str | None:
    """Odoo datetimes are naive UTC; payloads carry an explicit ``Z``."""
    if not value:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def envelope(event_id: str, event_type: str, occurred_at: datetime, sequence: int | None = None) -> dict:
    """The members that identify an event, beside what it says of its document (``_defs.json``
    ``envelope``): id, type, schema version, time and, for a document's events, their order."""
    members = {
        "event_id": event_id,
        "type": event_type,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": iso_datetime(occurred_at),
    }
    if sequence is not None:
        members["sequence"] = sequence
    return members


def canonical_json(payload: dict) -> bytes:
    """The exact bytes sent and signed: UTF-8, sorted keys, no insignificant whitespace."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_object_members(obj) -> str:
    """The members of a JSON object, as text without the braces ("" for an empty object);
    ``obj`` is a dict or the JSON text of an object. Objects are joined by their members: a
    snapshot serialised once takes each of its envelopes that way."""
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return text.strip()[1:-1].strip()


def normalised(value):
    """``value`` as it reads back from a stored JSON payload (tuples as lists, keys as text), for
    comparing what was captured with what would be captured now."""
    return json.loads(json.dumps(value, sort_keys=True, default=str)) if value is not None else None


def document_figures(payload: dict) -> tuple:
    """(amount, accounting date) of the document a captured payload describes, as text, or
    None each: an invoice's total or a payment's amount, in the document's currency. Business
    reconciliation sums them per event type and currency."""
    document = payload.get("document") or {}
    amount = (document.get("amounts") or {}).get("total", document.get("amount"))
    return amount, document.get("date")


def document_number(payload: dict) -> str | None:
    """The number of the document a captured payload describes, exactly as its events carry it
    (``document.number``: an invoice's or a payment's name, never a display name such as
    "BILL/2026/11/0033 (SUP-0288)"), or None: what a platform's reconciliation report lists
    among its ``documents``."""
    return (payload.get("document") or {}).get("number") or None


@functools.cache
def load_schemas(schema_dir: pathlib.Path, base_uri: str) -> tuple:
    """((URI, schema), ...) for every schema of ``schema_dir``, so that ``$ref`` between them
    resolve (the outbound and inbound schema sets are loaded alike)."""
    return tuple(
        (base_uri + path.name, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(schema_dir.glob("*.json"))
    )


@functools.cache
def schema_registry(schema_dir: pathlib.Path, base_uri: str) -> jsonschema_rs.Registry:
    """The schemas of ``schema_dir``, among which ``$ref`` resolve."""
    return jsonschema_rs.Registry(list(load_schemas(schema_dir, base_uri)))


@functools.cache
def validator(event_type: str) -> jsonschema_rs.Validator:
    """The validator of one event type (schemas/v1/<event_type>.json), compiled once.

    Outbound payloads are validated on the dispatcher's hot path, once per event before its body
    is frozen: ``jsonschema_rs`` (Rust) does it some 40 times faster than pure-Python
    ``jsonschema``. Its ``pattern`` follows ECMA-262, as JSON Schema says: ``$`` matches only at
    the end of the text (Python's ``re`` would also match before a final newline)."""
    path = SCHEMA_DIR / f"{event_type}.json"
    if not path.exists():
        raise KeyError(f"no schema for event type {event_type!r}")
    return compile_schema(json.loads(path.read_text(encoding="utf-8")))


def compile_schema(schema: dict, schema_dir: pathlib.Path = SCHEMA_DIR, base_uri: str = SCHEMA_BASE_URI):
    """The validator of a schema whose ``$ref`` resolve among the schemas of ``schema_dir``
    (outbound ``schemas/v1`` unless told)."""
    return jsonschema_rs.validator_for(schema, registry=schema_registry(schema_dir, base_uri), validate_formats=False)


def validate(payload: dict, event_type: str | None = None) -> list[str]:
    """Return the schema violations of ``payload`` as readable ``path: message`` strings."""
    kind = event_type or payload.get("type")
    try:
        v = validator(kind)
    except KeyError as exc:
        return [str(exc.args[0])]
    errors = sorted(v.iter_errors(payload), key=lambda e: [str(part) for part in e.instance_path])
    return [f"{'/'.join(map(str, e.instance_path)) or '(root)'}: {e.message}" for e in errors]
