"""Where the mappable records sit in a canonical v1 payload.

Every mappable record is an object ``{"id", "code", "name"}`` whose ``code`` a mapping replaces;
currencies are ISO code strings. ``slots(payload)`` lists them so that the mapping layer can
look all codes up at once and then rewrite them in place.

The kinds of mappable records, the field and model of each, the policies for unmapped records and
the key of a missing mapping are defined here, once, for the models of the mapping set, its lines
and its policies, the jobs and the exceptions.
"""

MAPPING_KINDS = [
    ("account", "Account"),
    ("tax", "Tax"),
    ("journal", "Journal"),
    ("partner", "Partner"),
    ("currency", "Currency"),
    ("analytic", "Analytic account"),
    ("company", "Company / legal entity"),
    ("payment_method", "Payment method"),
    ("payment_term", "Payment term"),
    ("partner_tag", "Partner tag"),
    ("user", "Salesperson (user)"),
    ("sales_team", "Sales team"),
]
# kind -> (field on a mapping line, Odoo model)
KIND_FIELDS = {
    "account": ("account_id", "account.account"),
    "tax": ("tax_id", "account.tax"),
    "journal": ("journal_id", "account.journal"),
    "partner": ("partner_id", "res.partner"),
    "currency": ("currency_id", "res.currency"),
    "analytic": ("analytic_account_id", "account.analytic.account"),
    "company": ("mapped_company_id", "res.company"),
    "payment_method": ("payment_method_line_id", "account.payment.method.line"),
    "payment_term": ("payment_term_id", "account.payment.term"),
    "partner_tag": ("partner_category_id", "res.partner.category"),
    "user": ("mapped_user_id", "res.users"),
    # Sales teams belong to Odoo's Sales app, which the module does not depend on: the line keeps
    # the team's id in an integer column, its model is looked up in the registry when used, and
    # the kind is refused while that model is absent (see RUNTIME_MODEL_KINDS).
    "sales_team": ("sales_team_res_id", "crm.team"),
}
# Kinds whose model may be missing from the registry: their column is the record's id (no
# Many2one to a model of a module the module does not depend on).
RUNTIME_MODEL_KINDS = {"sales_team"}
POLICIES = [
    ("required", "Required: hold the document until mapped"),
    ("pass_through", "Pass-through: send Odoo's own code"),
    ("default", "Default value: send the default code"),
]
# A new set changes nothing until the partner decides: every kind starts as pass-through (Odoo's
# own codes). Kinds whose codes differ on the platform (often partners and legal entities) are
# switched to "required" per set, so that no document leaves with an unknown code.
DEFAULT_POLICIES = {
    "account": "pass_through",
    "tax": "pass_through",
    "journal": "pass_through",
    "partner": "pass_through",
    "currency": "pass_through",
    "analytic": "pass_through",
    "company": "pass_through",
    "payment_method": "pass_through",
    "payment_term": "pass_through",
    "partner_tag": "pass_through",
    "user": "pass_through",
    "sales_team": "pass_through",
}


def missing_mapping_key(kind, res_id):
    """Fingerprint key of the exception opened for the record ``res_id`` of ``kind`` that has no
    code (what makes one exception per missing record; the exception also keeps the kind and the
    record in fields of their own, which is what is searched and read)."""
    return f"mapping:{kind}:{res_id}"


def _ref(kind, obj):
    if isinstance(obj, dict) and "id" in obj:
        yield kind, obj, "code", obj["id"]


def _currency(container, key):
    if isinstance(container, dict) and isinstance(container.get(key), str):
        yield "currency", container, key, container[key]


def slots(payload: dict):
    """Yield ``(kind, container, key, lookup)``: ``container[key]`` holds the code to send;
    ``lookup`` is the Odoo id (or the ISO code for currencies) to find the mapping by."""
    company = payload.get("company")
    yield from _ref("company", company)
    yield from _currency(company, "currency")
    document = payload.get("document") or {}
    yield from _ref("journal", document.get("journal"))
    yield from _currency(document, "currency")
    yield from _ref("payment_method", document.get("payment_method"))
    yield from _ref("partner", payload.get("partner"))
    yield from _ref("partner", payload.get("merged_into"))  # partner.merged: the surviving partner
    yield from _currency(payload.get("exposure"), "currency")  # partner.exposure
    for line in payload.get("lines") or []:
        yield from _ref("account", line.get("account"))
        for tax in line.get("taxes") or []:
            yield from _ref("tax", tax)
        for split in line.get("analytic_distribution") or []:
            for account in split.get("accounts") or []:
                yield from _ref("analytic", account)
    for row in payload.get("rows") or []:  # period feeds
        yield from _ref("journal", row.get("journal"))
        yield from _ref("account", row.get("account"))
        yield from _ref("partner", row.get("partner"))
        for account in row.get("analytic") or []:
            yield from _ref("analytic", account)
    for block in ("payments", "reconciliation"):
        for item in payload.get(block) or []:
            yield from _currency(item, "currency")
