"""Sales orders platforms create (``order.create``) and the won deals they report
(``deals.report``), applied by the inbound event: ``sale.order`` belongs to Odoo's *Sales* app,
which this module does not depend on, so no model of the module inherits it. Both handlers run
only while the model exists; the webhook refuses both events before anything is stored while it
does not (``finance.sync.backend._may_receive``), and a handler still meeting one (an event
reprocessed after Sales was uninstalled) fails with the same reason.

One order per (backend, external id), as for documents: the binding is inserted right after the
order, in the same transaction, with ``INSERT … ON CONFLICT DO NOTHING``
(``finance.sync.binding._bind_created_order``); a concurrent delivery waits there for the first
one's transaction, then fails with a serialization error and Odoo runs it again on a fresh
snapshot, which finds the binding and answers the existing order.

The technical user of the webhook holds no Sales rights (granting them would need the module to
depend on ``sale``): the order is written as the superuser, in the backend's company only, from
values resolved here and nothing else of the payload; its creator is still the technical user.
"""

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from ..engine import inbound_documents as documents_lib
from ..engine.mapping import KIND_FIELDS
from ..engine.messages import message, selection
from ..errors import InboundRefusal
from ..utils import internal
from .account_move_inbound import _CodeResolver

# Codes are resolved as for a customer invoice: sales taxes, customers.
ORDER_MOVE_TYPE = "out_invoice"


class FinanceSyncInboundEvent(models.Model):
    _inherit = "finance.sync.inbound.event"

    # === HANDLERS: each returns (state, message) or raises InboundRefusal === #

    @api.model
    def _apply_order_create(self, event, data):
        """``order.create``: create the sales order once (a repeat answers the existing one),
        check its totals against the platform's, and confirm it when the backend's policy says so."""
        backend = event.backend_id
        self._check_sales_installed(backend)
        external_id = data["external_id"]
        existing = self.env["finance.sync.binding"]._find_order(backend, external_id)
        if existing:
            event._link_document(existing)
            return "processed", message("order_exists", external_id=external_id, order=existing.display_name)
        company = backend.company_ids[:1]
        vals = self._prepare_order_vals(event, data, company)
        order = self.env["sale.order"].sudo().with_company(company).create(vals)
        currency = event._find_currency(data["currency"])
        if order.currency_id != currency:
            # No pricelist of that currency, and Odoo's default one is in another: nothing is kept.
            raise InboundRefusal(
                "inbound_invalid",
                message(
                    "order_not_created",
                    external_id=external_id,
                    problems=[message("order_no_pricelist", currency=currency.name, company=company.name)],
                ),
                fingerprint_key=f"order:{external_id}",
            )
        internal(self.env["finance.sync.binding"])._bind_created_order(backend, order, external_id)
        event._link_document(order)
        order.message_post(
            body=self.env._(
                "Created by %(backend)s (external id %(external_id)s).", backend=backend.name, external_id=external_id
            ),
            subtype_xmlid="mail.mt_note",
        )
        return self._settle_order(event, order, data)

    @api.model
    def _check_sales_installed(self, backend):
        if "sale.order" not in self.env:
            raise InboundRefusal("inbound_invalid", message("order_sales_not_installed", backend=backend.name))

    @api.model
    def _prepare_order_vals(self, event, data, company):
        """The values of the sales order ``data`` describes, its codes resolved; raise an
        InboundRefusal listing every line and code that cannot be resolved."""
        resolver = _CodeResolver(event, company, ORDER_MOVE_TYPE)
        partner = resolver.partner(data["partner"])
        lines = resolver.lines(data["lines"])
        problems = resolver.problems
        # A product bought but not sold (Can be sold off) has no place on a sales order.
        product_ids = {vals.get("product_id") for vals in lines} - {None, False}
        unsold = {
            product.id: product.default_code or product.display_name
            for product in self.env["product.product"].sudo().browse(product_ids)
            if not product.sale_ok
        }
        for number, (line, line_vals) in enumerate(zip(data["lines"], lines, strict=True), start=1):
            if line_vals.get("product_id") in unsold:
                problems.append(message("order_product_not_sold", line=number, product=unsold[line_vals["product_id"]]))
            if documents_lib.to_decimal(line.get("discount") or "0") > 100:
                problems.append(message("order_discount_over_100", line=number, discount=line["discount"]))
        currency = event._find_currency(data["currency"]).filtered("active")
        pricelist = self.env["product.pricelist"]
        if not currency:
            problems.append(message("document_currency_unknown", currency=data["currency"]))
        else:
            pricelist = (
                self.env["product.pricelist"]
                .sudo()
                .search(
                    [("currency_id", "=", currency.id), ("company_id", "in", (company.id, False))],
                    order="company_id, sequence, id",
                    limit=1,
                )
            )
            if not pricelist and currency != company.currency_id:
                # In the company's currency, an order needs no pricelist (Odoo's default one).
                problems.append(message("order_no_pricelist", currency=currency.name, company=company.name))
        vals = self._resolve_sales_people(event, data, company, problems)
        if problems:
            raise InboundRefusal(
                "inbound_invalid",
                message("order_not_created", external_id=data["external_id"], problems=problems),
                fingerprint_key=f"order:{data['external_id']}",
            )
        order_lines = []
        for line in lines:
            line_vals = {
                "name": line["name"],
                "product_id": line["product_id"],
                "product_uom_qty": line["quantity"],
                "price_unit": line["price_unit"],
                "discount": line["discount"],
            }
            if "tax_ids" in line:
                line_vals["tax_ids"] = line["tax_ids"]
            order_lines.append(Command.create(line_vals))
        vals.update(
            {
                "company_id": company.id,
                "partner_id": partner.id,
                "client_order_ref": data.get("reference") or data["external_id"],
                "origin": data["external_id"],
                # The platform's note is text, never markup: escaped, it cannot carry links, images
                # (tracking pixels) or forms into an order its customer may see on the portal.
                "note": Markup("<p>%s</p>") % Markup("<br/>").join(data["note"].split("\n"))
                if data.get("note")
                else False,
                "order_line": order_lines,
            }
        )
        if pricelist:
            vals["pricelist_id"] = pricelist.id
        if data.get("date_order"):
            vals["date_order"] = data["date_order"]
        return vals

    @api.model
    def _resolve_sales_people(self, event, data, company, problems):
        """``user_id`` and ``team_id`` of the order, from the platform's ``salesperson`` and
        ``team`` codes: the backend's mapping set first (kinds *Salesperson (user)* and *Sales
        team*); without a mapping, when that kind passes through (its policy, or no mapping set),
        Odoo's own code: the login or e-mail of the user, the name of the team. A salesperson is
        an active internal user of ``company``; a team is an active team of ``company`` (or of
        none). What cannot be resolved to exactly one such record is added to ``problems``."""
        mapping_set = event.backend_id.mapping_set_id.sudo()
        vals = {}
        for key, kind, field in (("salesperson", "user", "user_id"), ("team", "sales_team", "team_id")):
            code = data.get(key)
            if not code:
                continue
            record_id = self._resolve_sales_person(mapping_set, kind, code, company, problems)
            if record_id:
                vals[field] = record_id
        return vals

    @api.model
    def _sales_people_domain(self, kind, company):
        """Who may be an order's salesperson or team in ``company``."""
        if kind == "user":
            return [("share", "=", False), ("active", "=", True), ("company_ids", "in", company.id)]
        return [("active", "=", True), ("company_id", "in", (company.id, False))]

    @api.model
    def _resolve_sales_person(self, mapping_set, kind, code, company, problems):
        """The id of the one record of ``kind`` that ``code`` stands for, or None (``problems``
        says why)."""
        _field, model = KIND_FIELDS[kind]
        Model = self.env[model].sudo().with_context(active_test=False)
        # Shown in the reader's language, as the mapping's own Kind.
        kind_label = selection("finance.sync.mapping", "kind", kind)
        allowed = self._sales_people_domain(kind, company)
        if mapping_set:
            mappings = (
                self.env["finance.sync.mapping"]
                .sudo()
                .search([("set_id", "=", mapping_set.id), ("kind", "=", kind), ("external_code", "=", code)])
            )
            if mappings:
                ids = set(mappings.mapped("res_id"))
                if len(ids) > 1:
                    problems.append(
                        message("order_people_ambiguous", kind=kind_label, code=code, mapping_set=mapping_set.name)
                    )
                    return None
                record = Model.browse(ids.pop()).exists()
                if not record or not Model.search_count([("id", "=", record.id), *allowed]):
                    problems.append(
                        message(
                            "order_people_not_allowed",
                            kind=kind_label,
                            code=code,
                            record=record.display_name if record else "-",
                            company=company.name,
                        )
                    )
                    return None
                return record.id
            if mapping_set._get_policy(kind)[0] != "pass_through":
                problems.append(
                    message("order_people_unmapped", kind=kind_label, code=code, mapping_set=mapping_set.name)
                )
                return None
        # Odoo's own code: the login or e-mail of a user, the name of a team.
        own = ["|", ("login", "=", code), ("email", "=", code)] if kind == "user" else [("name", "=", code)]
        found = Model.search([*allowed, *own], limit=2)
        if len(found) == 1:
            return found.id
        if kind == "user":
            problems.append(message("order_salesperson_unknown", salesperson=code))
        else:
            problems.append(message("order_team_unknown", team=code))
        return None

    @api.model
    def _settle_order(self, event, order, data):
        """Check the created quotation's totals and confirm it when the policy says so. A
        difference of totals keeps it a quotation, with an exception for a person.
        :return: the handler's (state, message)"""
        fingerprint = f"order:{data['external_id']}"
        money = order.currency_id.round
        # To the cent: Odoo's totals in the currency's precision against the platform's, exactly.
        differences = documents_lib.totals_differences(
            {
                "untaxed": money(order.amount_untaxed),
                "tax": money(order.amount_tax),
                "total": money(order.amount_total),
            },
            data["totals"],
            0,
        )
        if differences:
            note = message(
                "order_totals_differ",
                order=order.display_name,
                untaxed=str(money(order.amount_untaxed)),
                tax=str(money(order.amount_tax)),
                total=str(money(order.amount_total)),
                currency=order.currency_id.name,
                expected_untaxed=data["totals"]["untaxed"],
                expected_tax=data["totals"]["tax"],
                expected_total=data["totals"]["total"],
            )
            event._warn("conflict", note, document=order, fingerprint_key=fingerprint)
            return "processed", note
        if event.backend_id.order_confirm_policy != "confirm":
            return "processed", message("order_created", order=order.display_name, external_id=data["external_id"])
        try:
            with self.env.cr.savepoint():
                order.action_confirm()
        except (UserError, ValidationError) as exc:
            note = message("order_confirm_failed", order=order.display_name, detail=str(exc))
            event._warn("inbound_invalid", note, document=order, fingerprint_key=fingerprint)
            return "processed", note
        return "processed", message("order_confirmed", order=order.display_name, external_id=data["external_id"])

    @api.model
    def _apply_deals_report(self, event, data):
        """``deals.report``: the platform's won deals of a period; each deal without a sales
        order in Odoo is a business finding (``finance.sync.exception``) and a deal whose order
        now exists closes its finding."""
        backend = event.backend_id
        self._check_sales_installed(backend)
        deals = {deal["external_id"]: deal for deal in data["deals"]}
        bound = (
            self.env["finance.sync.binding"]
            .sudo()
            .search(
                [("backend_id", "=", backend.id), ("res_model", "=", "sale.order"), ("external_id", "in", list(deals))]
            )
        )
        found = set(bound.mapped("external_id"))
        by_ref = (
            self.env["sale.order"]
            .sudo()
            .search_read(
                [
                    ("company_id", "in", backend.company_ids.ids),
                    ("client_order_ref", "in", [d for d in deals if d not in found]),
                    ("state", "!=", "cancel"),
                ],
                ["client_order_ref"],
            )
        )
        found.update(row["client_order_ref"] for row in by_ref)
        missing = [deal for external_id, deal in deals.items() if external_id not in found]
        Exception_ = self.env["finance.sync.exception"]
        for deal in missing:
            note = message(
                "finding_deal_without_order",
                deal=deal.get("name") or deal["external_id"],
                external_id=deal["external_id"],
                amount=deal["amount"],
                currency=deal["currency"],
                won_on=deal.get("won_on") or "-",
            )
            event._warn("business", note, fingerprint_key=f"finding:deal:{deal['external_id']}")
        # Findings of deals of this report that have their order now are solved.
        keys = [f"finding:deal:{external_id}" for external_id in found]
        Exception_._resolve_findings(backend, keys)
        period = data["period"]
        return "processed", message(
            "deals_report_recorded",
            date_from=period["date_from"],
            date_to=period["date_to"],
            deals=len(deals),
            missing=len(missing),
        )
