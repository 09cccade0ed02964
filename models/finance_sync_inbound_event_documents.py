"""Documents platforms create in Odoo: the ``invoice.create``, ``bill.create`` and
``approval.status`` handlers of inbound events.

Exactly once: one document per (backend, external id), guaranteed by the unique index of
``finance.sync.binding`` (backend, model, external id). The binding is written right after the
draft document, in the same transaction, with ``INSERT … ON CONFLICT DO NOTHING``: a concurrent
delivery of the same document (another webhook-id) waits there for the first one's transaction;
once that one is committed, the waiting one fails with a serialization error, Odoo runs its
request again on a fresh snapshot, and that run finds the binding and answers the existing
document. Nothing else (no Python check, no lock) is relied on.

Codes are resolved in reverse through the backend's mapping set: the platform's code of an
account, tax, analytic account or partner gives the Odoo record mapped to it; without a mapping,
a kind whose policy is pass-through takes Odoo's own code (account code, tax name, analytic
code, partner reference). Products are found by their internal reference. Whatever cannot be
resolved is listed, line by line, in one exception, and nothing is created; once the mapping is
added, *Reprocess* creates the document.
"""

import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import SQL

from .. import const
from ..engine import inbound
from ..engine import inbound_documents as documents_lib
from ..engine.mapping import KIND_FIELDS
from ..engine.messages import message
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, internal
from .finance_sync_inbound_event import _parse_datetime

_logger = logging.getLogger(__name__)

# Mapping kind -> Odoo's own code field, used when the kind passes through unmapped.
OWN_CODE_FIELDS = {"account": "code", "tax": "name", "analytic": "code", "partner": "ref"}
KIND_LABELS = {"account": "account", "tax": "tax", "analytic": "analytic account", "product": "product"}


class FinanceSyncInboundEvent(models.Model):
    _inherit = "finance.sync.inbound.event"

    # === RECEPTION === #

    @api.model
    def _check_amount_precision(self, payload):
        """Also refuse, before anything is stored (422): totals finer than their currency
        allows, and an attachment that is not the base64 of a PDF."""
        super()._check_amount_precision(payload)
        if payload.get("type") not in const.INBOUND_DOCUMENT_MOVE_TYPES:
            return
        data = payload["data"]
        currency = self._find_currency(data["currency"])
        if currency:
            for name, amount in data["totals"].items():
                if documents_lib.excess_decimals(amount, currency.decimal_places):
                    reason = f"{name} {amount} has more decimal places than {currency.name} allows"
                    raise inbound.InvalidEvent(
                        "amount_precision", reason, [inbound.SchemaViolation(f"/data/totals/{name}", reason)]
                    )
        attachment = data.get("attachment")
        if attachment:
            try:
                documents_lib.decode_attachment(
                    attachment["content_base64"], attachment.get("mimetype") or "application/pdf"
                )
            except documents_lib.InvalidAttachment as exc:
                raise inbound.InvalidEvent(
                    "invalid_attachment",
                    str(exc),
                    [inbound.SchemaViolation("/data/attachment/content_base64", str(exc))],
                ) from None

    @api.model
    def _reference_from_payload(self, payload):
        data = payload.get("data") or {}
        if payload.get("type") in (*const.INBOUND_DOCUMENT_MOVE_TYPES, const.INBOUND_APPROVAL_STATUS):
            return data.get("external_id") or False
        return super()._reference_from_payload(payload)

    def _get_handlers(self):
        return {
            **super()._get_handlers(),
            const.INBOUND_INVOICE_CREATE: "_apply_document_create",
            const.INBOUND_BILL_CREATE: "_apply_document_create",
            const.INBOUND_APPROVAL_STATUS: "_apply_approval_status",
        }

    def _get_answer_details(self):
        """A document event's answer names the document, created now or earlier (a repeat)."""
        details = super()._get_answer_details()
        if self.event_type in const.INBOUND_DOCUMENT_MOVE_TYPES and self.move_id:
            move = self.move_id.sudo()
            details["document"] = {
                "model": "account.move",
                "id": move.id,
                "number": move.name if move.name and move.name != "/" else None,
                "state": move.state,
            }
        return details

    # === HANDLERS: each returns (state, message) or raises InboundRefusal === #

    def _apply_document_create(self, data):
        # Whether this backend may create such documents at all was asked before (backend._may_receive).
        backend = self.backend_id
        external_id = data["external_id"]
        existing = self._find_created_document(external_id)
        if existing:
            created_by_this_event = self.move_id == existing
            internal(self).write(self._document_vals(existing))
            if created_by_this_event and existing.state == "draft" and self.process_count > 1:
                # Reprocessing the event that created this draft (its codes, its totals or its
                # period were fixed): its lines are rebuilt with today's mappings, then posted
                # as the policy says.
                vals = self._prepare_document_vals(data, existing.company_id)
                vals["invoice_line_ids"] = [Command.clear(), *vals["invoice_line_ids"]]
                internal(existing).write(vals)
                return self._settle_created_document(existing, data)
            return "processed", message("document_exists", external_id=external_id, document=existing.display_name)

        company = backend.company_ids[:1]
        vals = self._prepare_document_vals(data, company)
        created = internal(self.env["account.move"]).with_company(company).create(vals)
        move = self.env["account.move"].with_company(company).browse(created.id)
        internal(self)._bind_created_document(move, external_id)
        internal(self).write(self._document_vals(move))
        if data.get("attachment"):
            self._attach_document_file(move, data["attachment"])
        move.message_post(
            body=self.env._(
                "Created by %(backend)s (external id %(external_id)s).", backend=backend.name, external_id=external_id
            ),
            subtype_xmlid="mail.mt_note",
        )
        return self._settle_created_document(move, data)

    def _apply_approval_status(self, data):
        external_id = data["external_id"]
        move = self._find_created_document(external_id)
        if not move:
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("approval_unknown_document", external_id=external_id),
                fingerprint_key=f"document:{external_id}",
            )
        internal(self).write(self._document_vals(move))
        if not self.backend_id._accepts_documents(move.move_type):
            # A document source of bills only decides nothing about the invoices it created earlier.
            kinds = "customer invoices" if move.move_type.startswith("out_") else "vendor bills"
            raise InboundRefusal(
                "inbound_invalid",
                message("document_source_off", backend=self.backend_id.name, kinds=kinds),
                document=move,
                fingerprint_key=f"document:{external_id}",
            )
        decided_at = _parse_datetime(data["at"])
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
            backend=self.backend_id.name,
            status=label,
            by=by,
            at=data["at"],
        )
        move.message_post(
            body=Markup("%s<br/>%s") % (body, data["note"]) if data.get("note") else body,
            subtype_xmlid="mail.mt_note",
        )
        if move.state == "posted" and status in ("rejected", "withdrawn"):
            # Odoo never undoes a posted entry on a platform's word: a person reverses it.
            note = message("approval_contradicts_posted", document=move.display_name, status=status, by=by)
            self._warn("conflict", note, document=move, fingerprint_key=f"document:{external_id}")
            return "processed", note
        if status == "rejected" and move.state == "draft":
            move.button_cancel()
            return "processed", message("approval_cancelled", document=move.display_name, by=by)
        if status == "approved" and move.state == "draft" and self.backend_id.document_posting_policy == "approved":
            state, note = self._settle_created_document(move, self._creation_data(move) or {})
            if state == "processed" and move.state == "posted":
                return state, message("approval_posted", document=move.display_name, by=by)
            return state, note
        return "processed", message("approval_recorded", document=move.display_name, status=status, by=by)

    # === DOCUMENTS === #

    def _find_created_document(self, external_id):
        """The document this backend's platform created as ``external_id``: bound to it, and
        created by this backend as a document source (its origin). An invoice Odoo sent that the
        platform acknowledged is bound too, but the platform created nothing: no approval or
        repeated creation ever applies to it."""
        binding = (
            self.env["finance.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.backend_id.id),
                    ("res_model", "=", "account.move"),
                    ("external_id", "=", external_id),
                    ("move_id.finance_sync_origin_backend_id", "=", self.backend_id.id),
                ],
                limit=1,
            )
        )
        return self.env["account.move"].browse(binding.res_id).exists() if binding else self.env["account.move"]

    def _creation_data(self, move):
        """The data of the event that created ``move`` (for checks made when it is approved)."""
        creation = self.sudo().search(
            [
                ("backend_id", "=", self.backend_id.id),
                ("move_id", "=", move.id),
                ("event_type", "in", tuple(const.INBOUND_DOCUMENT_MOVE_TYPES)),
            ],
            order="id",
            limit=1,
        )
        return (creation.payload or {}).get("data")

    def _bind_created_document(self, move, external_id):
        """Bind ``move`` to (backend, external id). The unique index decides between concurrent
        deliveries: a conflicting row committed meanwhile makes this transaction fail with a
        serialization error, retried by Odoo on a fresh snapshot (which then finds the document).

        The row is inserted in SQL, past ``finance.sync.binding.create``: the same guard applies
        here, so only the module's own methods (``internal()``) bind."""
        Binding = self.env["finance.sync.binding"]
        check_guarded_fields(Binding, ["backend_id", "res_model", "res_id", "external_id"])
        move.flush_recordset()
        self.env.cr.execute(
            SQL(
                """INSERT INTO finance_sync_binding (backend_id, company_id, res_model, res_id, move_id, external_id,
                                                     create_uid, create_date, write_uid, write_date)
                   VALUES (%(backend)s, %(company)s, 'account.move', %(move)s, %(move)s, %(external_id)s,
                           %(uid)s, %(now)s, %(uid)s, %(now)s)
              ON CONFLICT (backend_id, res_model, external_id) DO NOTHING
                RETURNING id""",
                backend=self.backend_id.id,
                company=move.company_id.id,
                move=move.id,
                external_id=external_id,
                uid=self.env.uid,
                now=fields.Datetime.now(),
            ),
            log_exceptions=False,
        )
        if not self.env.cr.fetchone():
            # The platform's id designates another document already: one it did not create (an
            # invoice Odoo sent, acknowledged under that id), or one bound in this very
            # transaction (cannot happen through the endpoint).
            other = Binding.sudo().search(
                [
                    ("backend_id", "=", self.backend_id.id),
                    ("res_model", "=", "account.move"),
                    ("external_id", "=", external_id),
                ],
                limit=1,
            )
            raise InboundRefusal(
                "conflict",
                message(
                    "binding_external_id_taken",
                    external_id=external_id,
                    other=(other.sudo()._get_document().display_name if other else move.display_name),
                ),
                fingerprint_key=f"document:{external_id}",
            )
        self.env["finance.sync.binding"].invalidate_model()
        move.invalidate_recordset(["finance_sync_binding_ids"])

    def _prepare_document_vals(self, data, company):
        """The values of the document ``data`` describes, its codes resolved; raise an
        InboundRefusal listing every line and code that cannot be resolved."""
        move_type = const.INBOUND_DOCUMENT_MOVE_TYPES[self.event_type][data["kind"]]
        resolver = _CodeResolver(self, company, move_type)
        partner = resolver.partner(data["partner"])
        currency = self._find_currency(data["currency"]).filtered("active")
        if not currency:
            resolver.problems.append(message("document_currency_unknown", currency=data["currency"]))
        journal = self.backend_id._get_document_journal(move_type, company)
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
            "finance_sync_origin_backend_id": self.backend_id.id,
            "finance_sync_origin_external_id": data["external_id"],
            "finance_sync_cost_center": approval.get("cost_center") or False,
        }
        if data.get("due_date"):
            vals.update(invoice_payment_term_id=False, invoice_date_due=data["due_date"])
        if approval:
            vals.update(
                finance_sync_approval_state="approved",
                finance_sync_approved_by=approval["approved_by"],
                finance_sync_approved_at=_parse_datetime(approval["approved_at"]),
                finance_sync_approval_ref=approval.get("reference") or False,
            )
        elif self.backend_id.document_posting_policy == "approved":
            vals["finance_sync_approval_state"] = "pending"
        return vals

    def _attach_document_file(self, move, attachment):
        self.env["ir.attachment"].create(
            {
                "name": attachment["filename"],
                "res_model": "account.move",
                "res_id": move.id,
                "datas": attachment["content_base64"],
                "mimetype": attachment.get("mimetype") or "application/pdf",
            }
        )

    def _settle_created_document(self, move, data):
        """Check a created draft and post it when the backend's policy says so. A difference of
        totals, a locked period, a customer on credit hold or a refusal of Odoo's posting keeps
        it draft: an exception says why and the event fails, so that *Reprocess* tries again once
        it is fixed (a held invoice may also be posted by a person, with a reason)."""
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
                self._warn("conflict", note, document=move, fingerprint_key=fingerprint)
                return "failed", note
        policy = self.backend_id.document_posting_policy
        due = policy == "immediate" or (policy == "approved" and move.finance_sync_approval_state == "approved")
        if not due:
            state = "document_state_waiting" if policy == "approved" else "document_state_draft"
            return "processed", self._created_note(move, state)
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
            self._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        if move._finance_sync_credit_held():
            # Only a person posts a held customer's invoice, with a reason (the override wizard).
            note = message(
                "document_credit_hold",
                document=move.display_name,
                customer=move.commercial_partner_id.display_name,
                reason=move.finance_sync_credit_hold_reason or "-",
            )
            self._warn("credit_hold", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        try:
            with self.env.cr.savepoint():
                move.action_post()
        except (UserError, ValidationError) as exc:
            note = message("document_post_failed", document=move.display_name, detail=str(exc))
            self._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        if move.state != "posted":
            # A posting that asks a person first (a wizard) posted nothing: say so, never "posted".
            note = message("document_post_failed", document=move.display_name)
            self._warn("inbound_invalid", note, document=move, fingerprint_key=fingerprint)
            return "failed", note
        return "processed", self._created_note(move, "document_state_posted")

    def _created_note(self, move, state_code):
        return message(
            "document_created",
            document=move.display_name,
            external_id=move.finance_sync_origin_external_id,
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
            if kind == "tax":
                domain.append(("type_tax_use", "=", "sale" if self.move_type.startswith("out_") else "purchase"))
            if kind == "partner":
                domain.append(("parent_id", "=", False))
            for record in Model.search(domain):
                found.setdefault(record[code_field], []).append(record.id)
        return found

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
