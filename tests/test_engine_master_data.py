"""Master data in the plain engine: the payload profile masks a partner's phone and bank
accounts, and the mapping layer finds the partners and currency of partner events. No database."""

from odoo.addons.finance_sync.engine import mapping, profile


def partner_event():
    return {
        "type": "partner.upserted",
        "partner": {
            "id": 7,
            "code": None,
            "name": "Azure",
            "vat": "BE0477472701",
            "email": "ap@azure.example",
            "phone": "+32 2 555 01 01",
            "bank_accounts": [{"number": "BE71096123456769", "bank": None, "bic": None}],
        },
    }


def test_phone_follows_the_e_mail_setting_and_bank_numbers_the_bank_setting():
    sent = profile.apply_profile(partner_event(), {"partner_email": "mask", "bank_account": "omit"})
    assert sent["partner"]["phone"] == "***********1 01"
    assert sent["partner"]["email"] == "************mple"
    assert sent["partner"]["bank_accounts"] == [{"number": None, "bank": None, "bic": None}]


def test_without_partner_details_no_phone_is_sent():
    sent = profile.apply_profile(partner_event(), {"partner_details": False, "partner_email": "send"})
    assert sent["partner"]["phone"] is None
    assert sent["partner"]["bank_accounts"][0]["number"] == "************6769", "masked by default"


def test_merged_and_exposure_events_have_their_partners_and_currency_mapped():
    merged = {"partner": {"id": 57, "code": None}, "merged_into": {"id": 42, "code": None}}
    assert [(kind, lookup) for kind, _c, _k, lookup in mapping.slots(merged)] == [("partner", 57), ("partner", 42)]
    exposure = {"partner": {"id": 42, "code": None}, "exposure": {"currency": "EUR"}}
    assert ("currency", "EUR") in [(kind, lookup) for kind, _c, _k, lookup in mapping.slots(exposure)]
