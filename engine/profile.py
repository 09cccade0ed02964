"""Payload profiles: data minimisation per platform.

A profile says which optional blocks a platform receives and how sensitive fields travel:
``send`` as is, ``mask`` (all but the last four characters hidden) or ``omit`` (null).

Personal data is masked twice over: when an event is captured (:func:`mask_personal_data`, so
that the outbox row keeps no more than the platform receives) and again when it is rendered
(:func:`apply_profile`, which also drops the blocks the platform does not take). Masking what is
masked already changes nothing, so both agree.
"""

DEFAULT_PROFILE = {
    "lines": True,
    "analytic": True,
    "partner_details": True,
    "reconciliation": True,
    "partner_vat": "send",
    "partner_email": "omit",
    "bank_account": "mask",
}


# The options that decide how personal data travels (the partner's VAT, e-mail, phone, details and
# bank account numbers, a document's bank account): what a capture applies.
PERSONAL_OPTIONS = ("partner_details", "partner_vat", "partner_email", "bank_account")


def mask_value(value):
    if not value:
        return value
    text = str(value)
    return "*" * max(len(text) - 4, 0) + text[-4:] if len(text) > 4 else "*" * len(text)


def _sensitive(value, how):
    return {"send": value, "mask": mask_value(value), "omit": None}[how]


def apply_profile(payload: dict, profile: dict | None) -> dict:
    """Apply ``profile`` (the defaults when None) to ``payload`` in place and return it."""
    options = {**DEFAULT_PROFILE, **(profile or {})}
    if not options["lines"]:
        payload.pop("lines", None)
    elif not options["analytic"]:
        for line in payload.get("lines") or []:
            line.pop("analytic_distribution", None)
    if not options["reconciliation"]:
        payload.pop("reconciliation", None)
        payload.pop("payments", None)
    partner = payload.get("partner")
    if isinstance(partner, dict):
        if not options["partner_details"]:
            for key in ("vat", "country", "ref", "email"):
                partner[key] = None
        partner["vat"] = _sensitive(partner.get("vat"), options["partner_vat"])
        partner["email"] = _sensitive(partner.get("email"), options["partner_email"])
        # Master data (partner.upserted): the phone is personal data like the e-mail, bank
        # account numbers follow the documents' bank account setting.
        if "phone" in partner:
            partner["phone"] = None if not options["partner_details"] else partner["phone"]
            partner["phone"] = _sensitive(partner["phone"], options["partner_email"])
        for bank in partner.get("bank_accounts") or []:
            bank["number"] = _sensitive(bank.get("number"), options["bank_account"])
    document = payload.get("document")
    if isinstance(document, dict) and "bank_account" in document:
        document["bank_account"] = _sensitive(document["bank_account"], options["bank_account"])
    return payload


def personal_key(profile: dict | None) -> tuple:
    """The personal data options of ``profile`` as a hashable key: backends with equal keys store
    the same captured payload."""
    options = {**DEFAULT_PROFILE, **(profile or {})}
    return tuple((name, options[name]) for name in PERSONAL_OPTIONS)


def mask_personal_data(payload: dict, profile: dict | None) -> dict:
    """A copy of ``payload`` whose personal data (the partner's VAT, e-mail, phone, details and
    bank account numbers, the document's bank account) is masked or left out as ``profile`` says,
    the way :func:`apply_profile` does when the event is sent; only the fields the payload holds are
    touched. Blocks without personal data are shared with ``payload``, never changed."""
    options = {**DEFAULT_PROFILE, **(profile or {})}
    result = dict(payload)
    partner = payload.get("partner")
    if isinstance(partner, dict):
        partner = dict(partner)
        if not options["partner_details"]:
            partner.update({key: None for key in ("vat", "country", "ref", "email", "phone") if key in partner})
        for key, option in (("vat", "partner_vat"), ("email", "partner_email"), ("phone", "partner_email")):
            if key in partner:
                partner[key] = _sensitive(partner[key], options[option])
        if partner.get("bank_accounts"):
            partner["bank_accounts"] = [
                {**bank, "number": _sensitive(bank.get("number"), options["bank_account"])}
                for bank in partner["bank_accounts"]
            ]
        result["partner"] = partner
    document = payload.get("document")
    if isinstance(document, dict) and "bank_account" in document:
        result["document"] = {**document, "bank_account": _sensitive(document["bank_account"], options["bank_account"])}
    return result
