"""Inbound events (platform -> Odoo): request hygiene, JSON parsing and JSON Schema validation.

Plain Python. The schemas live in ``schemas/inbound/v1`` (apart from the outbound ``schemas/v1``):
one file per event type, sharing ``_defs.json``.

Everything a refusal is decided on is checked here before it can reach PostgreSQL or a recursive
function: control characters in the token and headers, the nesting depth of the JSON text (before
it is parsed), then characters jsonb cannot store and numbers JSON cannot carry.
"""

import functools
import json
import math
import pathlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from . import payload as payload_lib

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "inbound" / "v1"
SCHEMA_BASE_URI = "https://finance-sync.dev/schemas/inbound/v1/"


# C0 control characters and DEL. HTAB is left out: RFC 9110 allows it inside header values.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# JSON strings, from the opening quote to the closing one, or to the end of an unterminated one
# (so that every quote starts a match and the scan stays linear, whatever the body).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")
# What PostgreSQL's jsonb refuses in a string: NUL (\u0000) and lone UTF-16 surrogates, which
# have no UTF-8 form.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

MALFORMED_JSON = "malformed_json"
JSON_TOO_DEEP = "json_too_deep"
UNSUPPORTED_CHARACTER = "unsupported_character"

MAX_SCHEMA_ERRORS = 20  # schema violations listed in an answer


class MalformedJSON(ValueError):
    """The body is not a JSON document Odoo can take; ``code`` says why: ``malformed_json`` (not
    UTF-8, not JSON, NaN or an infinite number), ``json_too_deep`` or ``unsupported_character``."""

    def __init__(self, message: str, code: str = MALFORMED_JSON):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SchemaViolation:
    path: str  # JSON Pointer of the failing value ("" is the whole document)
    message: str

    def as_dict(self):
        return {"path": self.path, "message": self.message}


class InvalidEvent(ValueError):
    """A JSON document that is not a valid inbound event.

    ``code`` is ``unknown_event_type`` or ``schema_violation``; ``violations`` lists the failing
    paths."""

    def __init__(self, code: str, message: str, violations: list[SchemaViolation] = ()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = list(violations)


def has_control_character(text: str) -> bool:
    """Whether ``text`` (a header value, a path segment) holds a C0 control character or DEL."""
    return bool(_CONTROL_CHARACTER.search(text))


def header_with_control_character(headers) -> str | None:
    """The name of the first header whose value holds a control character, else None."""
    return next((name for name, value in headers.items() if has_control_character(value)), None)


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects more than ``limit`` levels deep,
    found without parsing it (so without recursion): brackets inside strings do not count.

    On a malformed body the answer may be wrong the other way only (brackets after a broken
    string are not counted), and the parser then stops at that string anyway."""
    depth = 0
    for char in _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", body)):
        depth += 1 if char in b"[{" else -1
        if depth > limit:
            return True
    return False


def excess_decimals(amount, decimal_places: int) -> bool:
    """Whether the decimal ``amount`` (text or Decimal) is finer than ``decimal_places`` allow:
    "10.005" is for 2 places, "10.000" is not (trailing zeros change nothing)."""
    value = Decimal(amount)
    return value != value.quantize(Decimal(1).scaleb(-decimal_places))


def parse_datetime(value):
    """An ISO 8601 UTC timestamp (``...Z``) as a naive UTC datetime to the second (Odoo's
    ``Datetime``), or False when there is none or it cannot be read."""
    if not value:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if parsed.tzinfo:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def has_unstorable_text(value) -> bool:
    """Whether a string of the parsed document, key or value, holds NUL or a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(body: bytes, *, max_depth: int):
    """Decode a UTF-8 JSON body that PostgreSQL can store as jsonb; raise :class:`MalformedJSON`.

    Refused: invalid UTF-8 or JSON, ``NaN``/``Infinity`` and numbers too large for a float
    (``malformed_json``); nesting deeper than ``max_depth``, checked before parsing
    (``json_too_deep``); NUL or a lone surrogate in a string (``unsupported_character``).
    """
    if json_deeper_than(body, max_depth):
        raise MalformedJSON(f"The JSON nests arrays and objects deeper than {max_depth} levels.", JSON_TOO_DEEP)
    try:
        payload = json.loads(body.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedJSON(f"The body is not valid JSON: {exc}") from None
    if has_unstorable_text(payload):
        raise MalformedJSON(
            "The JSON holds a NUL character (\\u0000) or a lone surrogate (\\ud800-\\udfff), which cannot be stored.",
            UNSUPPORTED_CHARACTER,
        )
    return payload


def compile_schema(schema: dict):
    """The validator of an inbound schema (the outbound engine's, ``jsonschema_rs``: ECMA-262
    patterns, where nothing may follow ``$``); ``$ref`` resolve among ``schemas/inbound/v1``."""
    return payload_lib.compile_schema(schema, SCHEMA_DIR, SCHEMA_BASE_URI)


@functools.cache
def event_types() -> tuple[str, ...]:
    """Inbound event types that have a schema (every file but the shared definitions)."""
    return tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if not p.stem.startswith("_")))


@functools.cache
def validator(event_type: str):
    """The validator of one inbound event type (schemas/inbound/v1/<event_type>.json)."""
    if event_type not in event_types():
        raise KeyError(f"no inbound schema for event type {event_type!r}")
    return compile_schema(json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8")))


@functools.cache
def _envelope_validator():
    return compile_schema({"$ref": SCHEMA_BASE_URI + "_defs.json#/$defs/envelope"})


def _pointer(path) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _violations(validator_, payload, limit):
    errors = sorted(validator_.iter_errors(payload), key=lambda e: (list(map(str, e.instance_path)), e.message))
    return [SchemaViolation(_pointer(e.instance_path), e.message) for e in errors[:limit]]


def validate(payload, limit: int = MAX_SCHEMA_ERRORS) -> str:
    """Check an inbound event; return its type or raise :class:`InvalidEvent`.

    An unknown ``type`` is reported as such (``unknown_event_type``) before anything else, so a
    platform sending a type this Odoo does not handle yet gets a precise answer.
    """
    event_type = payload.get("type") if isinstance(payload, dict) else None
    if isinstance(event_type, str) and event_type not in event_types():
        raise InvalidEvent(
            "unknown_event_type",
            f"unknown event type {event_type!r}; expected one of: {', '.join(event_types())}",
            [SchemaViolation("/type", f"{event_type!r} is not a known event type")],
        )
    violations = _violations(_envelope_validator(), payload, limit)
    if not violations:
        violations = _violations(validator(event_type), payload, limit)
    if violations:
        raise InvalidEvent("schema_violation", "the event does not match its schema", violations)
    return event_type
