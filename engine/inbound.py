"""Inbound events (platform -> Odoo): JSON parsing and JSON Schema validation.

Plain Python. The schemas live in ``schemas/inbound/v1`` (apart from the outbound ``schemas/v1``):
one file per event type, sharing ``_defs.json``.
"""

import functools
import json
import pathlib
from dataclasses import dataclass

from jsonschema import Draft202012Validator
from referencing import Registry

from .payload import schema_registry

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "inbound" / "v1"
SCHEMA_BASE_URI = "https://finance-sync.dev/schemas/inbound/v1/"


class MalformedJSON(ValueError):
    """The body is not a JSON document (or not UTF-8)."""


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


def parse_json(body: bytes):
    """Decode a UTF-8 JSON body; raise :class:`MalformedJSON`."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJSON(str(exc)) from None


def _registry() -> Registry:
    return schema_registry(SCHEMA_DIR, SCHEMA_BASE_URI)


@functools.cache
def event_types() -> tuple[str, ...]:
    """Inbound event types that have a schema (every file but the shared definitions)."""
    return tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if not p.stem.startswith("_")))


@functools.cache
def validator(event_type: str) -> Draft202012Validator:
    """The validator of one inbound event type (schemas/inbound/v1/<event_type>.json)."""
    if event_type not in event_types():
        raise KeyError(f"no inbound schema for event type {event_type!r}")
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=_registry())


@functools.cache
def _envelope_validator() -> Draft202012Validator:
    return Draft202012Validator({"$ref": SCHEMA_BASE_URI + "_defs.json#/$defs/envelope"}, registry=_registry())


def _pointer(path) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _violations(validator_, payload, limit):
    errors = sorted(validator_.iter_errors(payload), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [SchemaViolation(_pointer(e.absolute_path), e.message) for e in errors[:limit]]


def validate(payload, limit: int = 20) -> str:
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
