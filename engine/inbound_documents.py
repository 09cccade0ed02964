"""Documents platforms create in Odoo (``invoice.create``, ``bill.create``): the plain-Python
checks, with no ORM inside.

- ``totals_differences``: Odoo's computed totals against the platform's expected ones, within
  the currency's rounding.
- ``decode_attachment``: the optional rendering of the document (base64 PDF).
- ``analytic_distribution``: analytic lines as Odoo's distribution (percentages per account).
"""

import base64
import binascii
from decimal import Decimal, InvalidOperation

TOTALS = ("untaxed", "tax", "total")
PDF_MAGIC = b"%PDF-"


class InvalidAttachment(ValueError):
    """The attachment is not the base64 of a PDF document."""


def to_decimal(value) -> Decimal:
    """A float or decimal text as a Decimal (floats through their shortest text)."""
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc


def totals_differences(computed: dict, expected: dict, rounding) -> list[tuple[str, Decimal, Decimal]]:
    """The totals (``untaxed``, ``tax``, ``total``) where Odoo's ``computed`` figure differs from
    the platform's ``expected`` one by more than ``rounding`` (the currency's smallest unit):
    ``[(name, computed, expected)]``, empty when they agree."""
    tolerance = abs(to_decimal(rounding))
    differences = []
    for name in TOTALS:
        have, want = to_decimal(computed[name]), to_decimal(expected[name])
        if abs(have - want) > tolerance:
            differences.append((name, have, want))
    return differences


def decode_attachment(content_base64: str, mimetype: str = "application/pdf") -> bytes:
    """The bytes of a base64 attachment; raise :class:`InvalidAttachment` when it is not strict
    base64 or, for a PDF, does not start like one."""
    try:
        raw = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidAttachment(f"the attachment is not valid base64: {exc}") from None
    if mimetype == "application/pdf" and not raw.startswith(PDF_MAGIC):
        raise InvalidAttachment("the attachment is not a PDF document (it does not start with %PDF-)")
    return raw


def analytic_distribution(shares) -> dict:
    """``[(analytic account id, percentage text or None)]`` as Odoo's ``analytic_distribution``
    (``{"id": percentage}``); a share without a percentage takes 100."""
    distribution = {}
    for account_id, percentage in shares:
        key = str(account_id)
        distribution[key] = distribution.get(key, 0.0) + float(to_decimal(percentage or "100"))
    return distribution
