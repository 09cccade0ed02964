from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..engine import mapping as mapping_lib
from ..engine.mapping import DEFAULT_POLICIES, KIND_FIELDS, MAPPING_KINDS
from ..utils import MAPPING_SUMMARY, check_own_companies, switch_on

INVOICE_TYPES = ("out_invoice", "in_invoice", "out_refund", "in_refund")
# What a set resolves codes with: changing them on a set an authority reads is guarded.
GUARDED_FIELDS = {"active", "company_ids", "policy_ids", "mapping_ids", "backend_ids"}


class FinanceSyncMappingSet(models.Model):
    """Codes one or several platforms use for Odoo's records, with a policy per kind."""

    _name = "finance.sync.mapping.set"
    _description = "Finance Sync Mapping Set"
    _inherit = ["mail.thread"]
    _order = "name, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_ids = fields.Many2many(
        "res.company", string="Companies", default=lambda self: self.env.company, tracking=True
    )
    backend_ids = fields.One2many("finance.sync.backend", "mapping_set_id", string="Backends")
    policy_ids = fields.One2many("finance.sync.mapping.policy", "set_id", string="Policies", copy=True)
    mapping_ids = fields.One2many("finance.sync.mapping", "set_id", string="Mappings", copy=True)
    mapping_count = fields.Integer(compute="_compute_mapping_count")

    def _check_company_domain(self, companies):
        """A set without companies serves every company; otherwise one of its companies must
        be (a parent of) one of ``companies``."""
        if not companies:
            return [("company_ids", "=", False)]
        return ["|", ("company_ids", "=", False), *models.check_companies_domain_parent_of(self, companies)]

    def _compute_mapping_count(self):
        counts = dict(
            self.env["finance.sync.mapping"]._read_group([("set_id", "in", self.ids)], ["set_id"], ["__count"])
        )
        for mapping_set in self:
            mapping_set.mapping_count = counts.get(mapping_set, 0)

    @api.model_create_multi
    def create(self, vals_list):
        # A new set serves no backend yet: linking it to an authority is guarded on the backend.
        sets = super().create(vals_list)
        sets._check_company_change(self.env["res.company"])
        for mapping_set in sets:
            missing = {k for k, _l in MAPPING_KINDS} - set(mapping_set.policy_ids.mapped("kind"))
            self.env["finance.sync.mapping.policy"].create(
                [{"set_id": mapping_set.id, "kind": kind, "policy": DEFAULT_POLICIES[kind]} for kind in sorted(missing)]
            )
        return sets

    def write(self, vals):
        if GUARDED_FIELDS & set(vals):
            self._check_authority_rights()
        before = {mapping_set: mapping_set.company_ids for mapping_set in self} if "company_ids" in vals else {}
        res = super().write(vals)
        for mapping_set, companies in before.items():
            mapping_set._check_company_change(companies)
        return res

    def unlink(self):
        self._check_authority_rights()
        return super().unlink()

    def _check_company_change(self, before):
        """The companies a set is given or taken away (its codes go into their documents) are ones
        the user works in; a set for every company (no company) stays open to all."""
        for mapping_set in self:
            check_own_companies(
                self.env,
                (mapping_set.company_ids | before) - (mapping_set.company_ids & before),
                self.env._(
                    "Mapping set %s: only its companies' own users may add or remove a company", mapping_set.name
                ),
            )

    def action_view_mappings(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_mapping_action")
        action["domain"] = [("set_id", "=", self.id)]
        action["context"] = {"default_set_id": self.id, "search_default_groupby_kind": 1}
        return action

    def action_find_unmapped(self):
        """Create draft lines (no code yet) for the records that the in-scope posted invoices and
        payments of this set's backends use and that have no line in this set, then list the
        lines still missing a code."""
        self.ensure_one()
        used = self._get_used_records()
        existing = {(m.kind, m.res_id) for m in self.mapping_ids}
        vals_list = [
            {"set_id": self.id, "kind": kind, KIND_FIELDS[kind][0]: res_id}
            for kind, _label in MAPPING_KINDS
            for res_id in sorted(used.get(kind, ()))
            if res_id and (kind, res_id) not in existing
        ]
        switch_on(self.env["finance.sync.mapping"], MAPPING_SUMMARY).create(vals_list)
        without_code = self.env["finance.sync.mapping"].search_count(
            [("set_id", "=", self.id), ("is_missing", "=", True)]
        )
        summary = self.env._(
            "New lines to complete: %(new)s. Lines without a code in this set: %(open)s.",
            new=len(vals_list),
            open=without_code,
        )
        if vals_list:
            self.message_post(body=self.env._("Find unmapped: %s", summary))
        action = self.action_view_mappings()
        action["context"] = dict(action["context"], search_default_filter_missing=1)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Find unmapped"),
                "message": summary,
                "type": "warning" if without_code else "success",
                "next": action,
            },
        }

    # === BUSINESS METHODS === #

    def _check_authority_rights(self):
        """Raise AccessError unless the user may change these sets: a set through which an
        authority reads its platform's codes (``AUTHORITY_FIELDS["mapping_set_id"]``: where a
        document source's documents are booked, whose credit a credit authority decides) is
        accounting configuration, changed by accounting administrators only."""
        self.env["finance.sync.backend"]._check_mapping_set_rights(self)

    def _get_scope_domains(self):
        """(invoice line domain, payment domain) of the documents this set's backends receive:
        their companies, document types, journals and start date. A set without backends
        covers the posted invoices and payments of its companies."""
        self.ensure_one()
        backends = self.sudo().backend_ids
        if not backends:
            companies = self.company_ids or self.env.companies
            return (
                Domain("company_id", "in", companies.ids) & Domain("move_type", "in", INVOICE_TYPES),
                Domain("company_id", "in", companies.ids),
            )
        line_domains, payment_domains = [], []
        for backend in backends:
            common = Domain("company_id", "in", backend.company_ids.ids)
            if backend.journal_ids:
                common &= Domain("journal_id", "in", backend.journal_ids.ids)
            if backend.start_date:
                common &= Domain("date", ">=", backend.start_date)
            line_domains.append(common & Domain("move_type", "in", backend._get_scope_move_types()))
            payment_domains.append(common & Domain("payment_type", "in", backend._get_scope_payment_types()))
        return Domain.OR(line_domains), Domain.OR(payment_domains)

    def _get_used_records(self):
        """{kind: set of Odoo ids} used by the documents in scope: a handful of grouped
        queries, whatever the number of documents."""
        self.ensure_one()
        line_scope, payment_scope = self._get_scope_domains()
        used = {kind: set() for kind, _label in MAPPING_KINDS}

        def add_common(company, partner, journal, currency):
            used["company"].add(company.id)
            used["currency"].update((company.currency_id.id, currency.id))
            used["partner"].add(partner.id)
            used["journal"].add(journal.id)

        Line = self.env["account.move.line"].sudo()
        lines = line_scope & Domain("parent_state", "=", "posted") & Domain("display_type", "=", "product")
        for company, account, partner, journal, currency in Line._read_group(
            lines,
            ["company_id", "account_id", "partner_id.commercial_partner_id", "journal_id", "currency_id"],
        ):
            add_common(company, partner, journal, currency)
            used["account"].add(account.id)
        for (tax,) in Line._read_group(lines & Domain("tax_ids", "!=", False), ["tax_ids"]):
            used["tax"].add(tax.id)
        query = Line._search(lines & Domain("analytic_distribution", "!=", False))
        self.env.cr.execute(query.select(SQL("DISTINCT jsonb_object_keys(account_move_line.analytic_distribution)")))
        used["analytic"].update(int(i) for (key,) in self.env.cr.fetchall() for i in key.split(",") if i.isdigit())
        Payment = self.env["account.payment"].sudo()
        payments = payment_scope & Domain("state", "not in", ("draft", "canceled", "rejected"))
        for company, partner, journal, currency, method in Payment._read_group(
            payments,
            ["company_id", "partner_id.commercial_partner_id", "journal_id", "currency_id", "payment_method_line_id"],
        ):
            add_common(company, partner, journal, currency)
            used["payment_method"].add(method.id)
        # Distribution keys may outlive their analytic accounts.
        used["analytic"] = set(self.env["account.analytic.account"].sudo().browse(used["analytic"]).exists().ids)
        return {kind: {i for i in ids if i} for kind, ids in used.items()}

    def _get_policy(self, kind):
        """(policy, default code) of ``kind`` in this set."""
        policy = self.policy_ids.filtered(lambda p: p.kind == kind)[:1]
        return (policy.policy or DEFAULT_POLICIES[kind], policy.default_code or None)

    def _apply(self, payload):
        """Rewrite the codes of ``payload`` in place with this set's mappings and policies.

        :return: the missing required mappings as ``[(kind, lookup, name)]`` (empty: send it)
        """
        slots = list(mapping_lib.slots(payload))
        Mapping = self.env["finance.sync.mapping"].sudo()
        currencies = {
            c.name: c.id
            for c in self.env["res.currency"]
            .sudo()
            .with_context(active_test=False)
            .search([("name", "in", [lookup for kind, _c, _k, lookup in slots if kind == "currency"])])
        }
        wanted = {(kind, currencies.get(lookup) if kind == "currency" else lookup) for kind, _c, _k, lookup in slots}
        codes = {
            (m.kind, m.res_id): m.external_code
            for m in Mapping.search(
                [
                    ("set_id", "=", self.id),
                    ("res_id", "in", [rid for _k, rid in wanted if rid]),
                    ("is_missing", "=", False),
                ]
            )
        }
        missing = []
        for kind, container, key, lookup in slots:
            res_id = currencies.get(lookup) if kind == "currency" else lookup
            code = codes.get((kind, res_id))
            if code is not None:
                container[key] = code
                continue
            policy, default = self._get_policy(kind)
            if policy == "default":
                container[key] = default
            elif policy == "required":
                name = lookup if kind == "currency" else container.get("name") or str(lookup)
                if (kind, res_id, name) not in missing:
                    missing.append((kind, res_id, name))
        return missing
