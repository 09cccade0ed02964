"""A backend as an *account source*: its platform (a CRM, a procurement tool) creates and updates
customers or suppliers in Odoo (inbound ``partner.upsert``, applied in res_partner_account.py).

Segregation of duties, as for the other authorities: a platform that writes suppliers writes
where Odoo pays (their bank accounts), so making a backend an account source, and choosing which
fields its platform owns, is an accounting administrator's decision (``AUTHORITY_FIELDS``,
guarded by the backend's one guard ``_check_authority_fields``)."""

from odoo import fields, models
from odoo.tools.translate import LazyTranslate

_lt = LazyTranslate(__name__)

# The fields a platform may own, in the order of the form: (ownership group, label, owned by default).
# Bank accounts, payment terms, the name and the tax identifiers are Odoo's unless decided otherwise.
ACCOUNT_OWNERSHIP = (
    ("name", _lt("Company name"), False),
    ("tax_ids", _lt("VAT and registry numbers"), False),
    ("contact_details", _lt("E-mail and phone"), True),
    ("addresses", _lt("Addresses"), True),
    ("contacts", _lt("Contacts"), True),
    ("bank_accounts", _lt("Bank accounts"), False),
    ("payment_terms", _lt("Payment terms"), False),
    ("tags", _lt("Tags"), True),
)
ACCOUNT_FLAGS = ("account_source_customers", "account_source_suppliers")
ACCOUNT_FIELDS = (
    *ACCOUNT_FLAGS,
    "account_conflict_policy",
    *(f"account_owns_{group}" for group, _label, _default in ACCOUNT_OWNERSHIP),
)


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    account_source_customers = fields.Boolean(
        "Sends customers",
        tracking=True,
        help="The platform (a CRM) may create and update customers in Odoo (partner.upsert), matched with the "
        "existing ones instead of duplicated. Only accounting administrators may change this.",
    )
    account_source_suppliers = fields.Boolean(
        "Sends suppliers",
        tracking=True,
        help="The platform (a procurement tool) may create and update suppliers in Odoo (partner.upsert). Their "
        "bank accounts are never trusted for payments until a person checks them. Only accounting "
        "administrators may change this.",
    )
    account_conflict_policy = fields.Selection(
        [("exception", "Open a conflict exception"), ("ignore", "Ignore the platform's value")],
        "Fields Odoo owns",
        default="exception",
        required=True,
        tracking=True,
        help="What a different value the platform sends for a field Odoo owns does: nothing is written either way; "
        "an exception tells a person, or the value is ignored silently.",
    )
    account_owns_name = fields.Boolean("Platform owns the company name", tracking=True)
    account_owns_tax_ids = fields.Boolean("Platform owns VAT and registry numbers", tracking=True)
    account_owns_contact_details = fields.Boolean("Platform owns e-mail and phone", default=True, tracking=True)
    account_owns_addresses = fields.Boolean("Platform owns addresses", default=True, tracking=True)
    account_owns_contacts = fields.Boolean("Platform owns contacts", default=True, tracking=True)
    account_owns_bank_accounts = fields.Boolean(
        "Platform owns bank accounts",
        tracking=True,
        help="New bank accounts the platform sends are added, never trusted for payments; a new one on a supplier "
        "Odoo knew already is an exception and an activity for a person. Accounts are never removed.",
    )
    account_owns_payment_terms = fields.Boolean("Platform owns payment terms", tracking=True)
    account_owns_tags = fields.Boolean("Platform owns tags", default=True, tracking=True)

    # === BUSINESS METHODS === #

    def _may_send_account_kind(self, kind):
        """Whether this backend's platform may send an account of ``kind`` (customer, supplier, both)."""
        self.ensure_one()
        customers = kind in ("customer", "both")
        suppliers = kind in ("supplier", "both")
        return (not customers or self.account_source_customers) and (not suppliers or self.account_source_suppliers)

    def _account_group_labels(self):
        return [(group, self.env._(label)) for group, label, _default in ACCOUNT_OWNERSHIP]

    def _receive_inbound_event(self, webhook_id, payload):
        """Store and apply ``payload`` as the webhook does once a delivery's signature is verified,
        in this transaction (the demo data's waiting account; a repeated webhook-id is refused by
        the unique index instead of counted). :return: the event's id"""
        self.ensure_one()
        Event = self._inbound_env(self.env["finance.sync.inbound.event"])
        event = Event.create(Event._prepare_event_vals(self.with_env(Event.env), webhook_id, payload, {}))
        event._process()
        return event.id
