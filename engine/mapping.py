"""Where the mappable records sit in a canonical v1 payload.

Every mappable record is an object ``{"id", "code", "name"}`` whose ``code`` a mapping replaces;
currencies are ISO code strings. ``slots(payload)`` lists them so that the mapping layer can
look all codes up at once and then rewrite them in place.
"""


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
    for line in payload.get("lines") or []:
        yield from _ref("account", line.get("account"))
        for tax in line.get("taxes") or []:
            yield from _ref("tax", tax)
        for split in line.get("analytic_distribution") or []:
            for account in split.get("accounts") or []:
                yield from _ref("analytic", account)
    for block in ("payments", "reconciliation"):
        for item in payload.get(block) or []:
            yield from _currency(item, "currency")
