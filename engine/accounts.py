"""Accounts platforms send (inbound ``partner.upsert``): what is checked before anything is
stored, and the keys a company is recognised by.

Plain Python (no Odoo): IBAN check digits and VAT numbers are checked with python-stdnum, which
Odoo itself requires; a VAT number is checked where stdnum knows the country's format, and only
its characters otherwise. Matching keys are normalised here, once: VAT numbers without their
country prefix, spaces or punctuation; registry numbers without spaces or punctuation; e-mail
domains in lower case (a public mail provider's domain says nothing about a company); names in
lower case without punctuation or legal form.
"""

import pathlib
import re
from dataclasses import dataclass

from stdnum import numdb
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.util import get_cc_module


def _import_stdnum_iban():
    """``stdnum.iban``. stdnum reads its data files through ``importlib.resources``, which fails
    once Odoo's import hook (``odoo/_monkeypatches``) has replaced the loader of the ``stdnum``
    package; the IBAN structures are then read from beside ``stdnum.numdb`` into stdnum's own
    cache first. National checks that need another data file are skipped the same way (the check
    digits and the country's structure are always checked)."""
    try:
        from stdnum import iban
    except FileNotFoundError:
        with pathlib.Path(numdb.__file__).with_name("iban.dat").open(encoding="utf-8") as fp:
            numdb._open_databases["iban"] = numdb.read(fp)
        from stdnum import iban
    return iban


stdnum_iban = _import_stdnum_iban()

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NAME_NOISE = re.compile(r"[^\w]+")
# Legal forms dropped before names are compared ("ACME S.A." is "acme").
LEGAL_FORMS = frozenset(
    {"sa", "sas", "sarl", "srl", "bv", "bvba", "nv", "gmbh", "ag", "ltd", "limited", "llc", "inc", "plc", "spa",
     "sl", "ab", "as", "oy", "co", "corp", "corporation", "company", "kg", "ug", "sprl"}
)  # fmt: skip
# Mail providers shared by everyone: the same domain there proves nothing about a company.
PUBLIC_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "yahoo.fr", "hotmail.com", "hotmail.fr", "outlook.com", "live.com",
     "msn.com", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "orange.fr", "free.fr",
     "proton.me", "protonmail.com", "mail.com", "yandex.ru", "qq.com", "163.com"}
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    path: str  # JSON Pointer under the event's data
    message: str


def compact(value):
    """``value`` without spaces or punctuation, in upper case ('' for nothing)."""
    return _NOT_ALNUM.sub("", value or "").upper()


def vat_key(vat, country=None):
    """The VAT number as compared: compact, without its country prefix (``BE 0477.472.701`` and
    ``0477472701`` are one number)."""
    key = compact(vat)
    prefix = key[:2]
    if len(key) > 2 and prefix.isalpha() and (not country or prefix in (country.upper(), "EL")):
        key = key[2:]
    return key


def email_domain(email):
    """The domain of ``email`` in lower case, or None for none or a public mail provider's."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return None if not domain or domain in PUBLIC_MAIL_DOMAINS else domain


def name_key(name):
    """A company name as compared: lower case words, without punctuation or legal form."""
    words = [
        word for word in _NAME_NOISE.sub(" ", (name or "").lower().replace(".", "")).split() if word not in LEGAL_FORMS
    ]
    return " ".join(words)


def iban_error(number):
    """Why ``number`` is no valid IBAN (its country's length and its check digits), or None."""
    try:
        try:
            stdnum_iban.validate(number)
        except OSError:  # a national check whose data file stdnum cannot read (see above)
            stdnum_iban.validate(number, check_country=False)
    except StdnumError as exc:
        return f"{number!r} is not a valid IBAN: {exc}"
    return None


def vat_error(vat, country=None):
    """Why ``vat`` is no valid VAT number of ``country`` (or of its own prefix's country), or
    None, also when stdnum knows no format for that country (then only its characters count)."""
    key = compact(vat)
    if not key:
        return f"{vat!r} is not a VAT number"
    prefix = key[:2] if key[:2].isalpha() else None
    cc = (country or prefix or "").lower()
    if prefix and country and prefix.lower() != country.lower() and not (prefix == "EL" and cc == "gr"):
        return f"{vat!r} starts with {prefix}, but the account's country is {country.upper()}"
    try:
        module = get_cc_module("gr" if cc == "el" else cc, "vat") if cc else None
    except (ImportError, OSError):  # a country module whose data stdnum cannot read: format unchecked
        module = None
    if not module:
        return None
    number = key[2:] if prefix else key
    try:
        if module.is_valid(number) or module.is_valid(key):
            return None
    except OSError:  # the country's data file stdnum cannot read: format unchecked
        return None
    return f"{vat!r} is not a valid VAT number of {cc.upper()}"


def check_account(data):
    """The violations of an account's data that its schema cannot see: IBAN check digits and VAT
    number formats. :return: [Violation] (empty: valid)"""
    violations = []
    country = (data.get("address") or {}).get("country")
    if data.get("vat"):
        error = vat_error(data["vat"], country)
        if error:
            violations.append(Violation("/data/vat", error))
    for index, bank in enumerate(data.get("bank_accounts") or ()):
        if bank.get("iban"):
            error = iban_error(bank["iban"])
            if error:
                violations.append(Violation(f"/data/bank_accounts/{index}/iban", error))
    return violations
