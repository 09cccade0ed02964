"""What platforms tell Odoo about invoices and bills, applied by ``account.move`` itself: the
``invoice.status``, ``invoice.create``, ``bill.create`` and ``approval.status`` handlers of
inbound events (``finance.sync.inbound.event`` routes them here, as the technical user).

Documents platforms create, exactly once: one document per (backend, external id), guaranteed by
the unique index of ``finance.sync.binding`` (backend, model, external id). The binding is
written right after the draft document, in the same transaction, with ``INSERT … ON CONFLICT DO
NOTHING`` (``finance.sync.binding._bind_created``): a concurrent delivery of the same document
(another webhook-id) waits there for the first one's transaction; once that one is committed,
the waiting one fails with a serialization error, Odoo runs its request again on a fresh
snapshot, and that run finds the binding and answers the existing document. Nothing else (no
Python check, no lock) is relied on.

Codes are resolved in reverse through the backend's mapping set: the platform's code of an
account, tax, analytic account or partner gives the Odoo record mapped to it; without a mapping,
a kind whose policy is pass-through takes Odoo's own code (account code, tax name, analytic
code, partner reference). Products are found by their internal reference. Whatever cannot be
resolved is listed, line by line, in one exception, and nothing is created; once the mapping is
added, *Reprocess* creates the document.
"""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

from .. import const
from ..engine import inbound
from ..engine import inbound_documents as documents_lib
from ..engine.mapping import KIND_FIELDS
from ..engine.messages import message, selection
from ..errors import InboundRefusal
from ..utils import internal

# Mapping kind -> Odoo's own code field, used when the kind passes through unmapped.
OWN_CODE_FIELDS = {"account": "code", "tax": "name", "analytic": "code", "partner": "ref"}
KIND_LABELS = {"account": "account", "tax": "tax", "analytic": "analytic account", "product": "product"}


class AccountMove(models.Model):
    _inherit = "account.move"

    # === INBOUND HANDLERS: each returns (state, message) or raises InboundRefusal === #

    @api.model
    def _finance_sync_apply_invoice_status(self, event, data):
        """``invoice.status``: the platform's own status of an invoice, tracked (an older one is
        ignored), with its note in the chatter."""
        invoice = event._find_invoice(data["invoice"])
        since = invoice.finance_sync_external_status_at
        if since and event.occurred_at and event.occurred_at < since:
            return "ignored", message("inbound_status_older", date=str(since))
        label = data.get("label") or data["status"]
        if (
            invoice.finance_sync_external_status == data["status"]
            and invoice.finance_sync_external_status_label == label
        ):
            return "processed", message("inbound_status_unchanged", status=data["status"])
        invoice.write(
            {
                "finance_sync_external_status": data["status"],
                "finance_sync_external_status_label": label,
                "finance_sync_external_status_at": event.occurred_at or fields.Datetime.now(),
            }
        )
        if data.get("note"):
            invoice.message_post(
                body=Markup("%s<br/>%s")
                % (self.env._("%(backend)s: %(label)s", backend=event.backend_id.name, label=label), data["note"]),
                subtype_xmlid="mail.mt_note",
            )
        return "processed", message("inbound_status_recorded", status=data["status"])

    @api.model
    def _finance_sync_apply_document_create(self, event, data):
        """``invoice.create`` / ``bill.create``: create the document once (a repeat answers the
        existing one; reprocessing the event that created a draft rebuilds its lines), then
        check it and post it as the backend's policy says."""
        # Whether this backend may create such documents at all was asked before (backend._may_receive).
        backend = event.backend_id
        external_id = data["external_id"]
        existing = self.env["finance.sync.binding"]._find_move(backend, external_id, created=True)
        if existing:
            created_by_this_event = event.move_id == existing
            event._link_document(existing)
            if created_by_this_event and existing.state == "draft" and event.process_count > 1:
                # Reprocessing the event that created this draft (its codes, its totals or its
                # period were fixed): its lines are rebuilt with today's mappings, then posted
                # as the policy says.
                vals = self._finance_sync_prepare_document_vals(event, data, existing.company_id)
                vals["invoice_line_ids"] = [Command.clear(), *vals["invoice_line_ids"]]
                internal(existing).write(vals)
                return existing._finance_sync_settle_created(event, data)
            return "processed", message("document_exists", external_id=external_id, document=existing.display_name)

        company = self._finance_sync_document_company(event, data)
        vals = self._finance_sync_prepare_document_vals(event, data, company)
        created = internal(self).with_company(company).create(vals)
        move = self.with_company(company).browse(created.id)
        internal(self.env["finance.sync.binding"])._bind_created(backend, move, external_id)
        event._link_document(move)
        if data.get("attachment"):
            move._finance_sync_attach_document_file(data["attachment"])
        move.message_post(
            body=self.env._(
                "Created by %(backend)s (external id %(external_id)s).", backend=backend.name, external_id=external_id
            ),
            subtype_xmlid="mail.mt_note",
        )
        return move._finance_sync_settle_created(event, data)

    @api.model
    def _finance_sync_apply_approval_status(self, event, data):
        """``approval.status``: a decision about a document the platform created, recorded; a
        rejection cancels the draft, an approval posts it when the policy waits for one, and a
        contradiction of a posted document is a conflict for a person."""
        backend = event.backend_id
        external_id = data["external_id"]
        move = self.env["finance.sync.binding"]._find_move(backend, external_id, created=True)
        if not move:
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("approval_unknown_document", external_id=external_id),
                fingerprint_key=f"document:{external_id}",
            )
        event._link_document(move)
        if not backend._accepts_documents(move.move_type):
            # A document source of bills only decides nothing about the invoices it created earlier.
            kinds = "customer invoices" if move.move_type.startswith("out_") else "vendor bills"
            raise InboundRefusal(
                "inbound_invalid",
                message("document_source_off", backend=backend.name, kinds=kinds),
                document=move,
                fingerprint_key=f"document:{external_id}",
            )
        decided_at = inbound.parse_datetime(data["at"])
        if move.finance_sync_approved_at and decided_at < move.finance_sync_approved_at:
            return "ignored", message("approval_older", date=str(move.finance_sync_approved_at))
        status, by = data["status"], data["by"]
        internal(move).write(
            {
                "finance_sync_approval_state": status,
                "finance_sync_approved_by": by,
                "finance_sync_approved_at": decided_at,
                "finance_sync_approval_ref": data.get("reference") or move.finance_sync_approval_ref,
            }
        )
        label = dict(const.APPROVAL_STATES)[status]
        body = self.env._(
            "%(backend)s: %(status)s by %(by)s on %(at)s.",
            backend=backend.name,
            status=label,
            by=by,
            at=data["at"],
        )
        move.message_post(
            body=Markup("%s<br/>%s") % (body, data["note"]) if data.get("note") else body,
            subtype_xmlid="mail.mt_note",
        )
        if move.state == "posted" and status in ("rejected", "withdrawn"):
            # Odoo never undoes a posted entry on a platform's word: a person reverses it (a
            # to-do on the document, a banner on it, a blocking exception).
            note = message(
                "approval_rejected_posted",
                document=move.display_name,
                status=selection("account.move", "finance_sync_approval_state", status),
                by=by,
                at=data["at"],
            )
            move._finance_sync_note_rejected_after_posting(event, note)
            return "processed", note
        if move.state == "posted" and status == "approved":
            # An approval after a rejection settles it; one after an override is recorded with it.
            move._finance_sync_settle_rejection(
                self.env._("Resolved: %(by)s approved %(document)s since.", by=by, document=move.display_name)
            )
            if move.finance_sync_approval_override_uid:
                return "processed", message(
                    "approval_after_override",
                    document=move.display_name,
                    status=selection("account.move", "finance_sync_approval_state", status),
                    by=by,
                    user=move.finance_sync_approval_override_uid.sudo().name,
                    date=str(move.finance_sync_approval_override_at),
                )
        if status == "rejected" and move.state == "draft":
            move.button_cancel()
            return "processed", message("approval_cancelled", document=move.display_name, by=by)
        if status == "approved" and move.state == "draft" and backend.document_posting_policy == "approved":
            state, note = move._finance_sync_settle_created(event, move._finance_sync_creation_data(event) or {})
            if state == "processed" and move.state == "posted":
                return state, message("approval_posted", document=move.display_name, by=by)
            return state, note
        return "processed", message("approval_recorded", document=move.display_name, status=status, by=by)

    # === DOCUMENTS A PLATFORM CREATES === #

    def _finance_sync_creation_data(self, event):
        """The data of the event of ``event``'s backend that created this document (for checks
        made when it is approved)."""
        self.ensure_one()
        creation = (
            self.env["finance.sync.inbound.event"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", event.backend_id.id),
                    ("move_id", "=", self.id),
                    ("event_type", "in", tuple(const.INBOUND_DOCUMENT_MOVE_TYPES)),
                ],
                order="id",
                limit=1,
            )
        )
        return (creation.payload or {}).get("data")

    @api.model
    def _finance_sync_document_company(self, event, data):
        """The company a document is created in: the one ``data.company`` names (a code of the
        backend's mapping set, kind Company; Odoo's company registry when that kind passes
        through), else the backend's only company. Raise an InboundRefusal when the code is
        missing (several companies), unknown, ambiguous, or names a company the backend does not
        serve."""
        backend = event.backend_id
        served = backend.sudo().company_ids
        external_id, code = data["external_id"], data.get("company")
        fingerprint = f"document:{external_id}"
        if not code:
            if len(served) == 1:
                return served
            raise InboundRefusal(
                "inbound_invalid",
                message("document_company_missing", external_id=external_id, backend=backend.name),
                fingerprint_key=fingerprint,
            )
        resolver = _CodeResolver(event, served[:1], "entry")
        ids = resolver.companies([code]).get(code) or []
        refusal = None
        if not ids:
            refusal = message("document_company_unknown", external_id=external_id, code=code, backend=backend.name)
        elif len(ids) > 1:
            refusal = message("document_company_ambiguous", external_id=external_id, code=code)
        elif ids[0] not in served.ids:
            refusal = message("document_company_not_served", external_id=external_id, code=code, backend=backend.name)
        if refusal:
            raise InboundRefusal("inbound_invalid", refusal, fingerprint_key=fingerprint)
        return served.browse(ids)

    @api.model
    def _finance_sync_prepare_document_vals(self, event, data, company):
        """The values of the document ``data`` (of ``event``) describes, its codes resolved;
        raise an InboundRefusal listing every line and code that cannot be resolved."""
        backend = event.backend_id
        move_type = const.INBOUND_DOCUMENT_MOVE_TYPES[event.event_type][data["kind"]]
        resolver = _CodeResolver(event, company, move_type)
        partner = resolver.partner(data["partner"])
        currency = event._find_currency(data["currency"]).filtered("active")
        if not currency:
            resolver.problems.append(message("document_currency_unknown", currency=data["currency"]))
        journal = backend._get_document_journal(move_type, company)
        if not journal:
            journal_type = "sales" if move_type.startswith("out_") else "purchase"
            resolver.problems.append(message("document_no_journal", company=company.name, journal_type=journal_type))
        lines = resolver.lines(data["lines"])
        if resolver.problems:
            raise InboundRefusal(
                "inbound_invalid",
                message("document_not_created", external_id=data["external_id"], problems=resolver.problems),
                fingerprint_key=f"document:{data['external_id']}",
            )
        approval = data.get("approval") or {}
        vals = {
            "move_type": move_type,
            "partner_id": partner.id,
            "invoice_date": data["invoice_date"],
            "currency_id": currency.id,
            "journal_id": journal.id,
            "ref": data.get("number") or False,
            "narration": data.get("note") or False,
            "invoice_line_ids": [Command.create(line) for line in lines],
            "finance_sync_origin_backend_id": backend.id,
            "finance_sync_origin_external_id": data["external_id"],
            "finance_sync_cost_center": approval.get("cost_center") or False,
        }
        if data.get("due_date"):
            vals.update(invoice_payment_term_id=False, invoice_date_due=data["due_date"])
        if approval:
            vals.update(
                finance_sync_approval_state="approved",
                finance_sync_approved_by=approval["approved_by"],
                finance_sync_approved_at=inbound.parse_datetime(approval["approved_at"]),
                finance_sync_approval_ref=approval.get("reference") or False,
            )
        elif backend.document_posting_policy == "approved":
            vals["finance_sync_approval_state"] = "pending"
        return vals

    def _finance_sync_attach_document_file(self, attachment):
        self.ensure_one()
        self.env["ir.attachment"].create(
            {
                "name": attachment["filename"],
                "res_model": "account.move",
                "res_id": self.id,
                "datas": attachment["content_base64"],
                "mimetype": attachment.get("mimetype") or "application/pdf",
            }
        )

    def _finance_sync_settle_created(self, event, data):
        """Check this created draft and post it when the backend's policy says so. A difference
        of totals, a locked period, a customer on credit hold or a refusal of Odoo's posting
        keeps it draft: an exception says why and ``event`` fails, so that *Reprocess* tries again
        once it is fixed (a held invoice may also be posted by a person, with a reason).
        :return: the inbound handler's (state, message)"""
        self.ensure_one()
        move = self
        fingerprint = f"document:{move.finance_sync_origin_external_id}"
        if data.get("totals"):
            differences = documents_lib.totals_differences(
                {"untaxed": move.amount_untaxed, "tax": move.amount_tax, "total": move.amount_total},
                data["totals"],
                move.currency_id.rounding,
            )
            if differences:
                money = move.currency_id.round
                note = message(
                    "document_totals_differ",
                    document=move.display_name,
                    untaxed=str(money(move.amount_untaxed)),
                    tax=str(money(move.amount_tax)),
                    total=str(money(move.amount_total)),
                    currency=move.currency_id.name,
                    expected_untaxed=data["totals"]["untaxed"],
                    expected_tax=data["totals"]["tax"],
                    expected_total=data["totals"]["total"],
                )
                event._warn("conflict", note, document=move, fingerprint_key=fingerprint)
                return "failed", note
        policy = event.backend_id.document_posting_policy
        approval = move.finance_sync_approval_state
        # A document its platform has not approved is never posted by the platform's own events,
        # whatever the policy: only its approval, or a person's override with a reason.
        due = (policy == "immediate" and approval in (False, "approved")) or (
            policy == "approved" and approval == "approved"
        )
        if not due:
            waiting = policy == "approved" or approval not in (False, "approved")
            state = "document_state_waiting" if waiting else "document_state_draft"
            return "processed", move._finance_sync_created_note(state)
        violations = move.company_id._get_violated_lock_dates(
            move.invoice_date, bool(move.invoice_line_ids.tax_ids), move.journal_id
        )
        if violations:
            note = message(
                "document_date_locked",
                document=move.display_name,
                date=str(move.invoice_date),
                lock=str(violations[-1][0]),
            )
            event._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        if move._finance_sync_credit_held():
            # Only a person posts a held customer's invoice, with a reason (the override wizard).
            note = message(
                "document_credit_hold",
                document=move.display_name,
                customer=move.commercial_partner_id.display_name,
                reason=move.finance_sync_credit_hold_reason or "-",
            )
            event._warn("credit_hold", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        try:
            with self.env.cr.savepoint():
                move.action_post()
        except (UserError, ValidationError) as exc:
            note = message("document_post_failed", document=move.display_name, detail=str(exc))
            event._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        if move.state != "posted":
            # A posting that asks a person first (a wizard) posted nothing: say so, never "posted".
            note = message("document_post_failed", document=move.display_name)
            event._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        return "processed", move._finance_sync_created_note("document_state_posted")

    def _finance_sync_created_note(self, state_code):
        return message(
            "document_created",
            document=self.display_name,
            external_id=self.finance_sync_origin_external_id,
            state=message(state_code),
        )


class _CodeResolver:
    """Resolves the platform's codes of one document in reverse, all lines at once (one query
    per kind), and collects what it cannot resolve as messages naming the line and the code."""

    def __init__(self, event, company, move_type):
        self.env = event.env
        self.backend = event.backend_id
        # The inbound user reads no mappings of its own: the resolver reads them for it.
        self.mapping_set = self.backend.mapping_set_id.sudo()
        self.company = company
        self.move_type = move_type
        self.problems = []

    # --- kinds ----------------------------------------------------------------------------

    def _records(self, kind, codes):
        """{code: [record ids]} for the codes of ``kind``: the set's mappings first, then, when
        the kind passes through, Odoo's own codes."""
        codes = set(codes)
        found = {}
        if not codes:
            return found
        model = KIND_FIELDS[kind][1] if kind != "product" else "product.product"
        Model = self.env[model].sudo().with_company(self.company)
        company_domain = Model._check_company_domain(self.company)
        if kind == "tax":
            # Mapped or not, a sales document takes sales taxes, a purchase document purchase ones.
            company_domain = [*company_domain, ("type_tax_use", "=", self._tax_use())]
        if kind != "product" and self.mapping_set:
            field = KIND_FIELDS[kind][0]
            mappings = (
                self.env["finance.sync.mapping"]
                .sudo()
                .search(
                    [("set_id", "=", self.mapping_set.id), ("kind", "=", kind), ("external_code", "in", list(codes))]
                )
            )
            allowed = set(Model.search([("id", "in", mappings.mapped(f"{field}.id")), *company_domain]).ids)
            for mapping in mappings:
                if mapping[field].id in allowed:
                    found.setdefault(mapping.external_code, []).append(mapping[field].id)
        own = [code for code in codes if code not in found and self._passes_through(kind)]
        if own:
            code_field = OWN_CODE_FIELDS.get(kind, "default_code")
            domain = [(code_field, "in", own), *company_domain]
            if kind == "partner":
                domain.append(("parent_id", "=", False))
            for record in Model.search(domain):
                found.setdefault(record[code_field], []).append(record.id)
        return found

    def _tax_use(self):
        return "sale" if self.move_type.startswith("out_") else "purchase"

    def _passes_through(self, kind):
        if kind == "product":
            return True  # products have no mapping kind: their internal reference is the code
        if not self.mapping_set:
            return True
        return self.mapping_set._get_policy(kind)[0] == "pass_through"

    def _unknown(self, line, kind, code):
        if kind != "product" and self.mapping_set and not self._passes_through(kind):
            return message(
                "document_code_unknown", line=line, kind=KIND_LABELS[kind], code=code, mapping_set=self.mapping_set.name
            )
        return message(
            "document_code_unknown_own", line=line, kind=KIND_LABELS[kind], code=code, company=self.company.name
        )

    def _one(self, found, line, kind, code):
        ids = found.get(code) or []
        if len(ids) == 1:
            return ids[0]
        self.problems.append(
            message("document_code_ambiguous", line=line, kind=KIND_LABELS[kind], code=code)
            if ids
            else self._unknown(line, kind, code)
        )
        return None

    def companies(self, codes):
        """{code: [company ids]}: the set's Company mappings of ``codes``, then, when that kind
        passes through, the companies whose company registry is the code (any company: whether
        the backend serves it is the caller's question)."""
        codes = set(codes)
        found = {}
        Company = self.env["res.company"].sudo()
        if self.mapping_set:
            mappings = (
                self.env["finance.sync.mapping"]
                .sudo()
                .search(
                    [
                        ("set_id", "=", self.mapping_set.id),
                        ("kind", "=", "company"),
                        ("external_code", "in", list(codes)),
                    ]
                )
            )
            for mapping in mappings.filtered("mapped_company_id"):
                found.setdefault(mapping.external_code, []).append(mapping.mapped_company_id.id)
        own = [code for code in codes if code not in found and self._passes_through("company")]
        if own:
            for company in Company.search([("company_registry", "in", own)]):
                found.setdefault(company.company_registry, []).append(company.id)
        return found

    # --- the document ------------------------------------------------------------------------

    def partner(self, ref):
        """The commercial partner of ``ref`` (code, else VAT, else company registry)."""
        Partner = self.env["res.partner"].sudo()
        label = ref.get("code") or ref.get("vat") or ref.get("company_registry")
        ids = []
        if ref.get("code"):
            ids = self._records("partner", [ref["code"]]).get(ref["code"]) or []
        company_domain = Partner._check_company_domain(self.company)
        for field in ("vat", "company_registry"):
            if not ids and ref.get(field):
                ids = Partner.search([(field, "=", ref[field]), ("parent_id", "=", False), *company_domain]).ids
        if len(ids) == 1:
            return Partner.browse(ids)
        code = "document_partner_ambiguous" if ids else "document_partner_unknown"
        self.problems.append(message(code, partner=label))
        return Partner

    def lines(self, lines):
        """Odoo's values of the document's lines (``invoice_line_ids`` commands' values)."""
        wanted = {"account": set(), "tax": set(), "analytic": set(), "product": set()}
        for line in lines:
            if line.get("account"):
                wanted["account"].add(line["account"])
            if line.get("product"):
                wanted["product"].add(line["product"])
            wanted["tax"].update(line.get("taxes") or ())
            wanted["analytic"].update(share["code"] for share in line.get("analytic") or ())
        found = {kind: self._records(kind, codes) for kind, codes in wanted.items()}
        result = []
        for number, line in enumerate(lines, start=1):
            vals = {
                "name": line["description"],
                "quantity": float(documents_lib.to_decimal(line["quantity"])),
                "price_unit": float(documents_lib.to_decimal(line["price_unit"])),
                "discount": float(documents_lib.to_decimal(line.get("discount") or "0")),
            }
            if line.get("product"):
                vals["product_id"] = self._one(found["product"], number, "product", line["product"])
            if line.get("account"):
                vals["account_id"] = self._one(found["account"], number, "account", line["account"])
            if "taxes" in line:
                tax_ids = [self._one(found["tax"], number, "tax", code) for code in line["taxes"]]
                vals["tax_ids"] = [Command.set([tax_id for tax_id in tax_ids if tax_id])]
            if line.get("analytic"):
                shares = [
                    (self._one(found["analytic"], number, "analytic", share["code"]), share.get("percentage"))
                    for share in line["analytic"]
                ]
                vals["analytic_distribution"] = documents_lib.analytic_distribution(shares)
            result.append(vals)
        return result
