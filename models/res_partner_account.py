"""Accounts a platform sends (inbound ``partner.upsert``, from a backend that is an *Account
source*): customers and suppliers created or updated by the platform's external id, matched
instead of duplicated, with the fields each side owns.

- Exactly once per external id: the partner's binding (``finance.sync.binding``, unique per
  backend, model and external id) is inserted right after the partner is created or found, in
  the same transaction; a concurrent delivery of the same account waits there, fails with a
  serialization error once the first one commits, and Odoo runs it again on a fresh snapshot,
  which finds the binding (``finance.sync.binding._bind_partner``).
- Matching: by binding first; else the same company by VAT number and country, then registry
  number, then e-mail domain and name. One clear candidate is bound, never merged; ambiguous
  evidence keeps the event waiting (failed) with a *possible duplicate* exception listing the
  candidates, where a person binds one of them or creates a new partner.
- Ownership: a new partner takes everything the platform sends; an existing one only what the
  backend says the platform owns (``account_owns_*``); a different value of a field Odoo owns
  opens a conflict exception or is ignored (``account_conflict_policy``).
- Bank accounts from a platform are never trusted for payments: they are created with Odoo's
  *Send Money* (``allow_out_payment``) off, and a new account number on a supplier Odoo knew
  already is an exception and an activity for a person.
- Echo suppression: the partner.upserted events the change captures go to the other master-data
  backends, not back to the platform it came from (``res_partner.py``).
"""

from markupsafe import Markup

from odoo import api, models
from odoo.fields import Command

from .. import const
from ..engine import accounts as accounts_lib
from ..engine import inbound
from ..engine.messages import message
from ..errors import InboundRefusal
from ..utils import internal
from .res_partner import TRANSACTION_ECHOES

# {ownership group: keys of the event's data it covers}; each group has its backend flag
# ``account_owns_<group>`` (finance_sync_backend_account_source.py).
ACCOUNT_GROUPS = {
    "name": ("name",),
    "tax_ids": ("vat", "company_registry"),
    "contact_details": ("email", "phone"),
    "addresses": ("address", "addresses"),
    "contacts": ("contacts",),
    "bank_accounts": ("bank_accounts",),
    "payment_terms": ("payment_term",),
    "tags": ("tags",),
}
KIND_LABELS = {"customer": "customers", "supplier": "suppliers", "both": "customers and suppliers"}
ADDRESS_KEYS = ("street", "street2", "zip", "city")


class ResPartner(models.Model):
    _inherit = "res.partner"

    # === INBOUND: partner.upsert === #

    @api.model
    def _finance_sync_apply_account_upsert(self, event, data):
        """Create or update the partner a platform knows as ``data["external_id"]``.
        :return: the inbound handler's (state, message); raise InboundRefusal"""
        backend = event.backend_id
        external_id = data["external_id"]
        if not backend._may_send_account_kind(data["kind"]):
            raise InboundRefusal(
                "inbound_invalid",
                message("account_source_off", backend=backend.name, kinds=KIND_LABELS[data["kind"]]),
                fingerprint_key=f"account:{external_id}",
            )
        refs = self._finance_sync_account_refs(backend, data, external_id)
        updated_at = inbound.parse_datetime(data["updated_at"])
        Binding = self.env["finance.sync.binding"]
        binding = Binding._find_partner_binding(backend, external_id)
        if binding:
            partner = self.sudo().with_context(active_test=False).browse(binding.res_id).exists()
            if not partner:
                raise InboundRefusal(
                    "inbound_unknown_reference",
                    message("account_partner_gone", external_id=external_id),
                    fingerprint_key=f"account:{external_id}",
                )
            internal(event).write({"res_model": "res.partner", "res_id": partner.id})
            since = binding.external_updated_at
            if since and updated_at < since:
                return "ignored", message("account_older", date=str(since))
            changed = partner._finance_sync_update_account(event, data, refs)
            internal(binding).write({"external_updated_at": updated_at})
            if not changed:
                return "processed", message("account_unchanged", partner=partner.display_name)
            return "processed", message("account_updated", partner=partner.display_name, fields=", ".join(changed))

        decision = event.exception_ids.filtered(
            lambda e: (
                e.category == "possible_duplicate" and e.state in const.EXCEPTION_OPEN_STATES and e.account_decision
            )
        )[:1]
        if decision and decision.account_decision == "create":
            partner, evidence = self.browse(), None
        elif decision and decision.account_decision == "bind":
            partner, evidence = decision.account_partner_id.sudo(), "choice"
        else:
            candidates, evidence = self._finance_sync_account_candidates(backend, data, refs)
            if len(candidates) > 1 or (candidates and evidence == "weak"):
                return self._finance_sync_possible_duplicate(event, data, candidates)
            partner = candidates
        if partner:
            internal(Binding)._bind_partner(backend, partner, external_id, updated_at)
            internal(event).write({"res_model": "res.partner", "res_id": partner.id})
            changed = partner._finance_sync_update_account(event, data, refs)
            partner.message_post(
                body=self.env._(
                    "Bound to %(backend)s (external id %(external_id)s).", backend=backend.name, external_id=external_id
                ),
                subtype_xmlid="mail.mt_note",
            )
            return "processed", message(
                "account_bound",
                partner=partner.display_name,
                external_id=external_id,
                evidence=evidence,
                fields=", ".join(changed) or "-",
            )
        partner = self._finance_sync_create_account(backend, data, refs)
        internal(Binding)._bind_partner(backend, partner, external_id, updated_at)
        internal(event).write({"res_model": "res.partner", "res_id": partner.id})
        return "processed", message("account_created", partner=partner.display_name, external_id=external_id)

    # --- what the codes mean -----------------------------------------------------------------

    @api.model
    def _finance_sync_account_refs(self, backend, data, external_id):
        """{(kind, code): id} of the countries, states, payment term and tags the account names;
        raise InboundRefusal listing every code Odoo cannot resolve (nothing is written)."""
        refs, unknown = {}, []
        countries = {a.get("country") for a in [data.get("address") or {}, *(data.get("addresses") or ())]}
        countries.discard(None)
        Country = self.env["res.country"].sudo()
        for code in sorted(countries):
            country = Country.search([("code", "=", code)], limit=1)
            refs[("country", code)] = country.id
            if not country:
                unknown.append(f"country {code}")
        for address in [data.get("address") or {}, *(data.get("addresses") or ())]:
            if address.get("state") and address.get("country") and refs.get(("country", address["country"])):
                state = (
                    self.env["res.country.state"]
                    .sudo()
                    .search(
                        [("country_id", "=", refs[("country", address["country"])]), ("code", "=", address["state"])],
                        limit=1,
                    )
                )
                refs[("state", address["country"], address["state"])] = state.id
                if not state:
                    unknown.append(f"state {address['state']}")
        Mapping = self.env["finance.sync.mapping"].sudo()
        wanted = [("payment_term", data["payment_term"])] if data.get("payment_term") else []
        wanted += [("partner_tag", tag) for tag in data.get("tags") or ()]
        for kind, code in wanted:
            mapping = backend.mapping_set_id and Mapping.search(
                [("set_id", "=", backend.mapping_set_id.id), ("kind", "=", kind), ("external_code", "=", code)],
                limit=1,
            )
            refs[(kind, code)] = mapping.res_id if mapping else False
            if not mapping:
                unknown.append(f"{kind.replace('_', ' ')} {code}")
        if unknown:
            raise InboundRefusal(
                "inbound_invalid",
                message("account_unknown_codes", codes=", ".join(unknown)),
                fingerprint_key=f"account:{external_id}",
            )
        return refs

    # --- matching ------------------------------------------------------------------------------

    @api.model
    def _finance_sync_account_candidates(self, backend, data, refs):
        """(partners, evidence) that may be the company the platform sends: the companies of the
        backend's companies (or shared) with the same VAT number and country, else the same
        registry number (evidence ``strong``); else the same e-mail domain or name (``weak``: one
        partner with both is a clear candidate, ``strong``). Partners the backend has bound to
        another external id are never candidates."""
        Partner = self.sudo().with_context(active_test=False)
        bound = self.env["finance.sync.binding"].sudo()._bound_partner_ids(backend)
        scope = [
            ("id", "not in", list(bound)),
            ("parent_id", "=", False),
            "|",
            ("company_id", "=", False),
            ("company_id", "in", backend.company_ids.ids),
        ]
        country_code = (data.get("address") or {}).get("country")
        country_id = refs.get(("country", country_code)) if country_code else False
        vat = accounts_lib.vat_key(data.get("vat"), country_code)
        if vat:
            found = Partner.search([*scope, ("vat", "ilike", vat[-6:])])
            found = found.filtered(
                lambda p: (
                    accounts_lib.vat_key(p.vat, p.country_id.code) == vat
                    and (not country_id or not p.country_id or p.country_id.id == country_id)
                )
            )
            if found:
                return found, "strong"
        registry = accounts_lib.compact(data.get("company_registry"))
        if registry:
            found = Partner.search([*scope, ("company_registry", "ilike", registry[-4:])])
            found = found.filtered(
                lambda p: (
                    accounts_lib.compact(p.company_registry) == registry
                    and (not country_id or not p.country_id or p.country_id.id == country_id)
                )
            )
            if found:
                return found, "strong"
        domain = accounts_lib.email_domain(data.get("email"))
        name = accounts_lib.name_key(data.get("name"))
        weak = Partner.browse()
        if domain:
            weak |= Partner.search([*scope, ("email", "=ilike", f"%@{domain}")])
        if name:
            first_word = name.split()[0]
            weak |= Partner.search([*scope, ("name", "ilike", first_word)]).filtered(
                lambda p: accounts_lib.name_key(p.name) == name
            )
        # A partner with another VAT number is another company, whatever its name.
        weak = weak.filtered(lambda p: not (vat and p.vat and accounts_lib.vat_key(p.vat, p.country_id.code) != vat))
        clear = weak.filtered(
            lambda p: domain and name and accounts_lib.email_domain(p.email) == domain
            and accounts_lib.name_key(p.name) == name
        )  # fmt: skip
        if len(clear) == 1 and len(weak) == 1:
            return clear, "strong"
        return weak, "weak"

    @api.model
    def _finance_sync_possible_duplicate(self, event, data, candidates):
        """Keep the event waiting (failed) with a *possible duplicate* exception listing the
        candidates; a person binds one of them or creates a new partner from it."""
        note = message(
            "account_possible_duplicate",
            name=data["name"],
            external_id=data["external_id"],
            candidates=", ".join(f"{p.display_name} (#{p.id})" for p in candidates.sorted("id")),
        )
        exception = self.env["finance.sync.exception"]._open_or_bump(
            backend=event.backend_id,
            category="possible_duplicate",
            message=note,
            fingerprint_key=f"account:{data['external_id']}",
            name=self.env._("Possible duplicate: %s", data["name"])[:200],
        )
        internal(exception).write({"account_candidate_ids": [Command.set(candidates.ids)]})
        internal(event).write({"exception_ids": [Command.link(exception.id)]})
        return "failed", note

    # --- writing -------------------------------------------------------------------------------

    @api.model
    def _finance_sync_create_account(self, backend, data, refs):
        """A new partner with everything the platform sent; its bank accounts not trusted."""
        vals = {"is_company": True, **self._finance_sync_account_ranks(data["kind"])}
        for group in ACCOUNT_GROUPS:
            vals.update(self._finance_sync_account_simple_vals(group, data, refs))
        if len(backend.company_ids) == 1:
            vals["company_id"] = backend.company_ids.id
        company = backend.company_ids[:1]
        partner = self.sudo().with_company(company).create(vals)
        _note_echo(self.env, partner, backend)
        partner._finance_sync_apply_children(data, refs, ("addresses", "contacts"))
        partner._finance_sync_add_bank_accounts(data.get("bank_accounts") or ())
        partner.message_post(
            body=self.env._(
                "Created by %(backend)s (external id %(external_id)s). Its bank accounts are not trusted for "
                "payments until a person checks them.",
                backend=backend.name,
                external_id=data["external_id"],
            ),
            subtype_xmlid="mail.mt_note",
        )
        return partner

    def _finance_sync_update_account(self, event, data, refs):
        """Write what the platform owns and sent differently; a different value of a field Odoo
        owns opens a conflict exception (or is ignored, by the backend's policy); a new bank
        account on a supplier is news to a person. :return: labels of the groups written"""
        self.ensure_one()
        backend = event.backend_id
        partner = self.sudo().with_company(backend.company_ids[:1])
        _note_echo(self.env, partner, backend)
        ranks = {
            fname: 1
            for fname, value in self._finance_sync_account_ranks(data["kind"]).items()
            if value and not partner[fname]
        }
        if ranks:
            partner.write(ranks)
        labels = dict(backend._account_group_labels())
        written, conflicts = [], []
        supplier_before = bool(partner.supplier_rank) and not ranks.get("supplier_rank")
        for group in ACCOUNT_GROUPS:
            differs = partner._finance_sync_account_differs(group, data, refs)
            if not differs:
                continue
            if not backend[f"account_owns_{group}"]:
                conflicts.append(labels[group])
                continue
            written.append(labels[group])
            partner.write(partner._finance_sync_account_simple_vals(group, data, refs))
            if group in ("addresses", "contacts"):
                partner._finance_sync_apply_children(data, refs, (group,))
            elif group == "bank_accounts":
                added = partner._finance_sync_add_bank_accounts(data["bank_accounts"])
                if added and supplier_before:
                    partner._finance_sync_bank_account_news(event, added)
        if conflicts and backend.account_conflict_policy == "exception":
            event._warn(
                "conflict",
                message("account_owned_conflict", backend=backend.name, partner=partner.display_name, fields=conflicts),
                document=partner,
                fingerprint_key=f"account:{partner.id}",
            )
        return written

    @api.model
    def _finance_sync_account_ranks(self, kind):
        return {
            "customer_rank": 1 if kind in ("customer", "both") else 0,
            "supplier_rank": 1 if kind in ("supplier", "both") else 0,
        }

    @api.model
    def _finance_sync_account_simple_vals(self, group, data, refs):
        """The partner's own field values of ``group`` that the event gives."""
        vals = {}
        if group in ("name", "tax_ids", "contact_details"):
            vals = {key: data[key] or False for key in ACCOUNT_GROUPS[group] if key in data}
        elif group == "addresses" and data.get("address") is not None:
            vals = _address_vals(data["address"], refs)
        elif group == "payment_terms" and "payment_term" in data:
            term = refs.get(("payment_term", data["payment_term"])) or False
            kind = data["kind"]
            if kind in ("customer", "both"):
                vals["property_payment_term_id"] = term
            if kind in ("supplier", "both"):
                vals["property_supplier_payment_term_id"] = term
        elif group == "tags" and "tags" in data:
            vals["category_id"] = [Command.set([refs[("partner_tag", tag)] for tag in data["tags"]])]
        return vals

    def _finance_sync_account_differs(self, group, data, refs):
        """Whether the event gives ``group`` a value other than this partner's."""
        self.ensure_one()
        if not any(key in data for key in ACCOUNT_GROUPS[group]):
            return False
        if group == "bank_accounts":
            return bool(self._finance_sync_new_bank_numbers(data["bank_accounts"]))
        if group == "contacts":
            return bool(self._finance_sync_contacts_to_write(data["contacts"]))
        if group == "addresses" and self._finance_sync_addresses_to_write(data.get("addresses") or (), refs):
            return True
        for fname, value in self._finance_sync_account_simple_vals(group, data, refs).items():
            if fname == "category_id":
                if set(self.category_id.ids) != set(value[0][2]):
                    return True
            elif self._fields[fname].type == "many2one":
                if self[fname].id != (value or False):
                    return True
            elif (self[fname] or False) != (value or False):
                return True
        return False

    def _finance_sync_apply_children(self, data, refs, groups):
        """Create or update the invoice and delivery addresses and the contacts the event gives."""
        self.ensure_one()
        Partner = self.env["res.partner"].sudo()
        if "addresses" in groups:
            for child, vals in self._finance_sync_addresses_to_write(data.get("addresses") or (), refs):
                if child:
                    child.write(vals)
                else:
                    Partner.create({**vals, "parent_id": self.id})
        if "contacts" in groups:
            for child, vals in self._finance_sync_contacts_to_write(data.get("contacts") or ()):
                if child:
                    child.write(vals)
                else:
                    Partner.create({**vals, "type": "contact", "parent_id": self.id})

    def _finance_sync_addresses_to_write(self, addresses, refs):
        """[(existing child or None, values)] of the invoice and delivery addresses that differ."""
        result = []
        children = self.with_context(active_test=True).child_ids
        for address in addresses:
            vals = {"type": address["type"], "name": address.get("name") or False, **_address_vals(address, refs)}
            child = children.filtered(lambda c, kind=address["type"]: c.type == kind)[:1]
            if not child or any(_differs(child, fname, value) for fname, value in vals.items()):
                result.append((child or None, vals))
        return result

    def _finance_sync_contacts_to_write(self, contacts):
        """[(existing contact or None, values)] of the contacts that are new or differ; a contact
        is recognised by its e-mail, else its name."""
        result = []
        children = self.with_context(active_test=True).child_ids.filtered(lambda c: c.type == "contact")
        for contact in contacts:
            vals = {key: contact.get(key) or False for key in ("name", "email", "phone", "function")}
            email = (contact.get("email") or "").strip().lower()
            child = (
                children.filtered(lambda c, email=email: (c.email or "").strip().lower() == email)[:1]
                if email
                else children.filtered(lambda c, name=contact["name"]: c.name == name)[:1]
            )
            if not child or any(_differs(child, fname, value) for fname, value in vals.items()):
                result.append((child or None, vals))
        return result

    def _finance_sync_new_bank_numbers(self, bank_accounts):
        """The bank accounts of the event this partner has no account for (archived ones count)."""
        self.ensure_one()
        known = {
            accounts_lib.compact(number)
            for number in self.env["res.partner.bank"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "=", self.id)])
            .mapped("acc_number")
        }
        return [bank for bank in bank_accounts if accounts_lib.compact(_bank_number(bank)) not in known]

    def _finance_sync_add_bank_accounts(self, bank_accounts):
        """Create the bank accounts this partner lacks, with Odoo's *Send Money* off: Odoo pays to
        them only once a person who may trust accounts checked them. :return: the new accounts"""
        self.ensure_one()
        new = self._finance_sync_new_bank_numbers(bank_accounts)
        if not new:
            return self.env["res.partner.bank"]
        Bank = self.env["res.bank"].sudo()
        vals_list = []
        for account in new:
            vals = {
                "partner_id": self.id,
                "acc_number": accounts_lib.compact(account["iban"]) if account.get("iban") else account["number"],
                "acc_holder_name": account.get("holder") or False,
                "allow_out_payment": False,
            }
            if account.get("bic"):
                bank = Bank.search([("bic", "=", account["bic"])], limit=1) or Bank.create(
                    {"name": account.get("bank") or account["bic"], "bic": account["bic"]}
                )
                vals["bank_id"] = bank.id
            vals_list.append(vals)
        return self.env["res.partner.bank"].sudo().create(vals_list)

    def _finance_sync_bank_account_news(self, event, banks):
        """A supplier's new bank account from a platform: an exception and an activity for a
        person, who checks it with the supplier before trusting it."""
        self.ensure_one()
        numbers = ", ".join(banks.mapped("acc_number"))
        note = message("account_bank_new", backend=event.backend_id.name, partner=self.display_name, numbers=numbers)
        event._warn("bank_account", note, document=self, fingerprint_key=f"bank:{self.id}")
        user = event.exception_ids.filtered(lambda e: e.category == "bank_account")[:1].user_id
        if user:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Check the new bank account before paying to it")[:200],
                note=Markup("<p>%s</p>") % str(note),
                user_id=user.id,
            )


def _note_echo(env, partner, backend):
    """The partner.upserted events of this transaction go to ``backend`` no more: it sent the change."""
    echoes = env.cr.postcommit.data.setdefault(TRANSACTION_ECHOES, {})
    echoes.setdefault(partner.id, set()).add(backend.id)


def _address_vals(address, refs):
    vals = {key: address.get(key) or False for key in ADDRESS_KEYS}
    country = address.get("country")
    vals["country_id"] = refs.get(("country", country)) or False if country else False
    state = address.get("state")
    vals["state_id"] = refs.get(("state", country, state)) or False if state else False
    return vals


def _bank_number(bank):
    return bank.get("iban") or bank.get("number") or ""


def _differs(record, fname, value):
    current = record[fname]
    if record._fields[fname].type == "many2one":
        return current.id != (value or False)
    return (current or False) != (value or False)
