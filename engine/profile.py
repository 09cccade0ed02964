"""Payload profiles: data minimisation per platform.

A profile says which optional blocks a platform receives and how sensitive fields travel:
``send`` as is, ``mask`` (all but the last four characters hidden) or ``omit`` (null).
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
