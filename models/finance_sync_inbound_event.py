import json
import logging
import random
import time
from datetime import datetime, timezone
from decimal import Decimal

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command, Domain
from odoo.tools import SQL

from .. import const
from ..engine import inbound, redact
from ..engine.messages import message
from ..errors import RETRYABLE_ERRORS, InboundRefusal
from ..utils import check_guarded_fields, compute_message, internal, message_vals, purge_batch, retention_cutoff

_logger = logging.getLogger(__name__)

DUPLICATE_COUNT_TRIES = 20


class FinanceSyncInboundEvent(models.Model):
    """One verified delivery from a platform: stored once per (backend, webhook-id), applied
    once, kept for audit. Repeated deliveries of the same webhook-id only count.

    Immutable for every user: what was received (payload, headers, webhook-id, times) is never
    written again, and the processing fields change only through the processing methods below.
    Reprocessing replays what was received."""

    _name = "finance.sync.inbound.event"
    _inherit = ["finance.sync.document.link"]
    _description = "Finance Sync Inbound Event"
    _order = "received_at desc, id desc"
    _rec_name = "webhook_id"
    _check_company_auto = True

    # === FIELDS === #

    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, readonly=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    webhook_id = fields.Char(
        "Webhook ID",
        required=True,
        readonly=True,
        help="The webhook-id header: the platform's id of this message, the same on every retry.",
    )
    event_type = fields.Selection(const.INBOUND_EVENT_TYPES, required=True, readonly=True, index=True)
    reference = fields.Char(readonly=True, help="The document or event the platform referred to.")
    occurred_at = fields.Datetime(readonly=True, help="When it happened on the platform.")
    received_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    last_received_at = fields.Datetime("Last delivery", readonly=True)
    duplicate_count = fields.Integer(
        "Repeated deliveries",
        default=0,
        readonly=True,
        help="Deliveries of the same webhook-id after the first; never applied.",
    )
    payload = fields.Json(readonly=True)
    headers = fields.Json(readonly=True, help="Request headers, signatures and credentials masked.")
    payload_text = fields.Text("Payload (JSON)", compute="_compute_texts")
    headers_text = fields.Text("Headers (JSON)", compute="_compute_texts")
    state = fields.Selection(const.INBOUND_STATES, required=True, default="received", readonly=True, index=True)
    result_message_code = fields.Char(readonly=True)
    result_message_params = fields.Json(readonly=True)
    result_message = fields.Text("Result", compute="_compute_result_message")
    processed_at = fields.Datetime(readonly=True)
    process_count = fields.Integer("Processing runs", default=0, readonly=True)
    job_id = fields.Many2one("finance.sync.job", readonly=True, index="btree_not_null", ondelete="set null")
    external_payment_id = fields.Many2one(
        "finance.sync.external.payment",
        "External payment",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        check_company=True,
    )
    exception_ids = fields.Many2many(
        "finance.sync.exception",
        "finance_sync_exception_inbound_rel",
        "inbound_event_id",
        "exception_id",
        string="Exceptions",
        readonly=True,
    )

    # === CONSTRAINTS AND INDEXES === #

    _webhook_uniq = models.UniqueIndex(
        "(backend_id, webhook_id)", "This delivery (webhook-id) was already received for this backend."
    )
    _purge_idx = models.Index("(received_at, id) WHERE state IN ('processed', 'ignored')")

    # === COMPUTE METHODS === #

    @api.depends("payload", "headers")
    def _compute_texts(self):
        for event in self:
            event.payload_text = json.dumps(event.payload, indent=2, ensure_ascii=False) if event.payload else False
            event.headers_text = json.dumps(event.headers, indent=2, ensure_ascii=False) if event.headers else False

    @api.depends("result_message_code", "result_message_params")
    @api.depends_context("lang")
    def _compute_result_message(self):
        compute_message(self, "result_message")

    @api.depends("event_type", "webhook_id")
    def _compute_display_name(self):
        labels = dict(const.INBOUND_EVENT_TYPES)
        for event in self:
            event.display_name = f"{labels.get(event.event_type, event.event_type)} · {event.webhook_id}"

    # === CRUD METHODS === #

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    # === ACTION METHODS === #

    def action_reprocess(self):
        """Apply failed events again (after the cause was fixed), as the technical user."""
        self.check_access("write")
        events = self.filtered(lambda e: e.state == "failed")
        if not events:
            raise UserError(self.env._("Only failed events can be reprocessed."))
        for backend, backend_events in events.sudo().grouped("backend_id").items():
            backend._inbound_env(backend_events)._process()
        return True

    def _get_linked_record(self):
        """The payment or invoice, else the event the platform answered about."""
        return super()._get_linked_record() or self.job_id

    # === RECEPTION (called by the webhook controller, as the technical user) === #

    @api.model
    def _receive(self, backend, webhook_id, payload, headers):
        """Store one verified delivery and apply it.

        :return: (event id, duplicate) where ``duplicate`` tells that an event with this
            webhook-id was already stored: nothing was applied again, the repeat was counted.
        """
        # Deliveries of one webhook-id take turns from here (a lock held until this transaction
        # ends). A delivery stored by another transaction after this one's snapshot was taken is
        # invisible here (REPEATABLE READ), so repeats are looked for and counted in a fresh
        # snapshot: no insert is ever made that the unique index would refuse, and concurrent
        # repeats wait for each other instead of failing.
        self.env.cr.execute(
            SQL(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                f"finance.sync.inbound.event:{backend.id}:{webhook_id}",
            )
        )
        repeated, event_id = self._count_duplicate(backend, webhook_id)
        if repeated:
            _logger.debug("finance_sync: repeated delivery %s of backend %s", webhook_id, backend.id)
            return event_id, True
        event = self.create(self._prepare_event_vals(backend, webhook_id, payload, headers))
        event._process()
        return event.id, False

    @api.model
    def _check_amount_precision(self, payload):
        """Refuse, before anything is stored, an amount finer than its currency allows (10.005
        EUR): raise ``inbound.InvalidEvent`` (``amount_precision``). Trailing zeros are fine; an
        unknown currency is left to the handler (a failed event and its exception)."""
        if payload.get("type") == const.INBOUND_RECONCILIATION_REPORT:
            self.env["finance.sync.reconciliation"]._check_report_precision(payload["data"])
            return
        amount_field = {const.INBOUND_PAYMENT_STATUS: "amount", const.INBOUND_PARTNER_CREDIT: "credit_limit"}
        fname = amount_field.get(payload.get("type"))
        if not fname:
            return
        data = payload["data"]
        currency = self._find_currency(data["currency"])
        if currency and inbound.excess_decimals(data[fname], currency.decimal_places):
            reason = (
                f"{fname} {data[fname]} has more decimal places than {currency.name} allows ({currency.decimal_places})"
            )
            raise inbound.InvalidEvent("amount_precision", reason, [inbound.SchemaViolation(f"/data/{fname}", reason)])

    @api.model
    def _prepare_event_vals(self, backend, webhook_id, payload, headers):
        kept = dict(list(redact.mask_headers(dict(headers)).items())[: const.INBOUND_MAX_HEADERS])
        return {
            "backend_id": backend.id,
            "company_id": backend.company_ids[:1].id or self.env.company.id,
            "webhook_id": webhook_id,
            "event_type": payload["type"],
            "reference": self._reference_from_payload(payload),
            "occurred_at": _parse_datetime(payload.get("occurred_at")),
            "received_at": fields.Datetime.now(),
            "payload": payload,
            "headers": {k: str(v)[: const.INBOUND_MAX_HEADER_VALUE] for k, v in kept.items()},
        }

    @api.model
    def _reference_from_payload(self, payload):
        data = payload.get("data") or {}
        if "event_id" in data:
            return data["event_id"]
        invoice = data.get("invoice") or {}
        if payload.get("type") == const.INBOUND_PARTNER_CREDIT:
            return data.get("reference") or False
        return invoice.get("number") or invoice.get("external_id") or False

    @api.model
    def _count_duplicate(self, backend, webhook_id):
        """Count a repeated delivery in a short transaction of its own, whose fresh snapshot also
        sees a first delivery committed after this transaction began (any backend company: no
        record rule applies).

        :return: (repeated, event id): (False, False) when no event has this webhook-id; the id
            is None when the event exists but stayed too busy to be counted.
        """
        query = SQL(
            """UPDATE finance_sync_inbound_event
                  SET duplicate_count = COALESCE(duplicate_count, 0) + 1, last_received_at = %s
                WHERE backend_id = %s AND webhook_id = %s
            RETURNING id""",
            fields.Datetime.now(),
            backend.id,
            webhook_id,
        )
        for attempt in range(DUPLICATE_COUNT_TRIES):
            with self.env.registry.cursor() as cr:
                try:
                    cr.execute(query, log_exceptions=False)
                except RETRYABLE_ERRORS:
                    # The event was written meanwhile (reprocessed): each retry is a new snapshot.
                    cr.rollback()
                    time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))  # noqa: S311 - jitter, not crypto
                    continue
                row = cr.fetchone()
                # Its own short transaction, on its own cursor.
                cr.commit()  # pylint: disable=invalid-commit
                return (True, row[0]) if row else (False, False)
        _logger.info(
            "finance_sync: repeated delivery %s of backend %s not counted (contention)", webhook_id, backend.id
        )
        return True, None

    # === PROCESSING === #

    def _process(self):
        """Apply events that are not processed yet. A refusal or an unexpected error becomes a
        sync exception linked to the event (state failed); it never reaches the caller."""
        handlers = self._get_handlers()
        for event in self.filtered(lambda e: e.state in ("received", "failed")):
            earlier_exceptions = event.exception_ids
            data = (event.payload or {}).get("data") or {}
            internal(event).write({"process_count": event.process_count + 1})
            try:
                with self.env.cr.savepoint():
                    # Checked again when applied: an authority may have been withdrawn since.
                    refusal = event.backend_id._may_receive(event.event_type)
                    if refusal:
                        raise InboundRefusal("inbound_invalid", refusal[1])
                    state, note = getattr(event, handlers[event.event_type])(data)
            except RETRYABLE_ERRORS:
                raise
            except InboundRefusal as refusal:
                event._fail(refusal)
            except Exception as exc:
                _logger.warning(
                    "finance_sync: inbound event %s (%s) could not be applied",
                    event.id,
                    event.event_type,
                    exc_info=True,
                )
                event._fail(InboundRefusal("inbound_invalid", message("inbound_apply_failed", detail=str(exc))))
            else:
                internal(event).write(
                    {"state": state, **message_vals("result_message", note), "processed_at": fields.Datetime.now()}
                )
                # Exceptions of earlier failed runs are solved once all their events went through.
                earlier_exceptions._resolve_if_inbound_applied()

    def _get_answer_details(self):
        """What the endpoint's 202 answer says of this event beyond its id and state."""
        return {}

    def _get_handlers(self):
        """{event type: name of the method applying it}."""
        return {
            const.INBOUND_DELIVERY_ACKNOWLEDGED: "_apply_delivery_acknowledged",
            const.INBOUND_DELIVERY_REJECTED: "_apply_delivery_rejected",
            const.INBOUND_PAYMENT_STATUS: "_apply_payment_status",
            const.INBOUND_INVOICE_STATUS: "_apply_invoice_status",
            const.INBOUND_RECONCILIATION_REPORT: "_apply_reconciliation_report",
            const.INBOUND_PARTNER_CREDIT: "_apply_partner_credit",
        }

    def _fail(self, refusal):
        self.ensure_one()
        document = refusal.document
        exception = self.env["finance.sync.exception"]._open_or_bump(
            backend=self.backend_id,
            category=refusal.category,
            message=refusal.message,
            jobs=refusal.job or None,
            document=document or None,
            fingerprint_key=refusal.fingerprint_key or f"inbound:{self.id}",
        )
        vals = {
            "state": "failed",
            **message_vals("result_message", refusal.message),
            "processed_at": fields.Datetime.now(),
            "exception_ids": [Command.link(exception.id)],
        }
        if refusal.job:
            vals["job_id"] = refusal.job.id
        vals.update(self._document_vals(document))
        internal(self).write(vals)
        _logger.info(
            "finance_sync: inbound event %s of backend %s failed (%s)", self.id, self.backend_id.id, refusal.category
        )

    def _document_vals(self, document):
        """Link fields (and company) of the event for a document it is about."""
        if not document:
            return {}
        vals = self._document_link_vals(document)
        company = document.company_id if "company_id" in document else None
        if company and company in self.backend_id.company_ids:
            vals["company_id"] = company.id
        return vals

    def _warn(self, category, note, document=None, job=None, fingerprint_key=""):
        """Open a sync exception for an event that was applied but needs a person's attention
        (``note``: a ``messages.Message``)."""
        exception = self.env["finance.sync.exception"]._open_or_bump(
            backend=self.backend_id,
            category=category,
            message=note,
            jobs=job or None,
            document=document or None,
            fingerprint_key=fingerprint_key or f"inbound:{self.id}",
        )
        internal(self).write({"exception_ids": [Command.link(exception.id)]})

    # --- references ------------------------------------------------------------------------

    def _find_job(self, event_uuid):
        job = self.env["finance.sync.job"].search(
            [("backend_id", "=", self.backend_id.id), ("event_uuid", "=", event_uuid)], limit=1
        )
        if not job:
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("inbound_unknown_event", event=event_uuid),
                fingerprint_key=f"event:{event_uuid}",
            )
        return job

    def _find_currency(self, code):
        return self.env["res.currency"].with_context(active_test=False).search([("name", "=", code)], limit=1)

    def _find_invoice(self, ref):
        """The invoice a platform refers to, by the external id it acknowledged or by number,
        among the backend's companies."""
        backend = self.backend_id
        Move = self.env["account.move"]
        move = Move
        if ref.get("external_id"):
            binding = self.env["finance.sync.binding"].search(
                [
                    ("backend_id", "=", backend.id),
                    ("res_model", "=", "account.move"),
                    ("external_id", "=", ref["external_id"]),
                ],
                limit=1,
            )
            move = binding.move_id if binding else Move
        if not move and ref.get("number"):
            move = Move.search(
                [
                    ("name", "=", ref["number"]),
                    ("company_id", "in", backend.company_ids.ids),
                    ("move_type", "in", tuple(const.MOVE_KINDS)),
                ],
                limit=2,
            )
            if len(move) > 1:
                raise InboundRefusal(
                    "inbound_invalid",
                    message("inbound_invoice_ambiguous", number=ref["number"]),
                    fingerprint_key=f"invoice:{ref['number']}",
                )
        if not move:
            label = ref.get("number") or ref.get("external_id")
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("inbound_unknown_invoice", number=label),
                fingerprint_key=f"invoice:{label}",
            )
        internal(self).write(self._document_vals(move))
        return move

    # --- handlers: each returns (state, message) or raises InboundRefusal ---------------------

    def _apply_delivery_acknowledged(self, data):
        job = self._find_job(data["event_id"])
        document = job._get_document().exists()
        internal(self).write({"job_id": job.id, **self._document_vals(document)})
        if document:
            self.env["finance.sync.binding"]._bind(self.backend_id, document, data["external_id"], job=job)
        if job.confirmed_at:
            return "processed", message("inbound_already_confirmed", date=str(job.confirmed_at))
        job._mark_confirmed(data["external_id"])
        return "processed", message("inbound_confirmed", event=job.event_uuid, external_id=data["external_id"])

    def _apply_delivery_rejected(self, data):
        job = self._find_job(data["event_id"])
        document = job._get_document().exists()
        internal(self).write({"job_id": job.id, **self._document_vals(document)})
        note = message("inbound_rejected", event=job.event_uuid, code=data["code"], reason=data["reason"])
        self._warn(
            "rejected",
            note.masked(self.backend_id._mask),
            document=document,
            job=job,
            fingerprint_key=f"{job.res_model},{job.res_id}",
        )
        return "processed", note

    def _apply_invoice_status(self, data):
        invoice = self._find_invoice(data["invoice"])
        since = invoice.finance_sync_external_status_at
        if since and self.occurred_at and self.occurred_at < since:
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
                "finance_sync_external_status_at": self.occurred_at or fields.Datetime.now(),
            }
        )
        if data.get("note"):
            invoice.message_post(
                body=Markup("%s<br/>%s")
                % (self.env._("%(backend)s: %(label)s", backend=self.backend_id.name, label=label), data["note"]),
                subtype_xmlid="mail.mt_note",
            )
        return "processed", message("inbound_status_recorded", status=data["status"])

    def _apply_reconciliation_report(self, data):
        return self.env["finance.sync.reconciliation"]._apply_report(self, data)

    def _apply_payment_status(self, data):
        invoice = self._find_invoice(data["invoice"])
        backend = self.backend_id
        currency = self._find_currency(data["currency"])
        if not currency:
            raise InboundRefusal(
                "inbound_invalid", message("inbound_unknown_currency", currency=data["currency"]), document=invoice
            )
        amount = Decimal(data["amount"])
        ExternalPayment = self.env["finance.sync.external.payment"]
        external = ExternalPayment.search([("backend_id", "=", backend.id), ("reference", "=", data["reference"])])
        if external and external.move_id != invoice:
            raise InboundRefusal(
                "conflict",
                message(
                    "inbound_payment_moved",
                    reference=data["reference"],
                    other=external.move_id.display_name,
                    this=invoice.display_name,
                ),
                document=invoice,
                fingerprint_key=f"payment:{data['reference']}",
            )
        if external and external.status_at and self.occurred_at and self.occurred_at < external.status_at:
            internal(self).write({"external_payment_id": external.id})
            return "ignored", message("inbound_payment_older", status=external.status)
        vals = {
            "status": data["status"],
            "amount": float(amount),
            "currency_id": currency.id,
            "date": data["date"],
            "status_at": self.occurred_at or fields.Datetime.now(),
            "message": data.get("message") or False,
        }
        if external:
            internal(external).write(vals)
        else:
            external = ExternalPayment._create_once(
                {**vals, "backend_id": backend.id, "reference": data["reference"], "move_id": invoice.id}
            )
        internal(self).write({"external_payment_id": external.id})
        result = message("inbound_payment_status", reference=data["reference"], status=data["status"])
        if data["status"] == "succeeded" and backend.payment_authority and not external.payment_id:
            payment = external._register_payment(amount, currency, fields.Date.to_date(data["date"]))
            internal(self).write({"payment_id": payment.id})
            result = message("inbound_payment_registered", reference=data["reference"], payment=payment.display_name)
        elif data["status"] == "succeeded" and external.payment_id:
            result = message(
                "inbound_payment_already_registered",
                reference=data["reference"],
                payment=external.payment_id.display_name,
            )
        elif data["status"] in ("refunded", "failed") and external.payment_id:
            # Odoo never undoes an accounting entry on its own: a person reverses it.
            self._warn(
                "conflict",
                message(
                    "inbound_payment_contradicted",
                    reference=data["reference"],
                    status=data["status"],
                    payment=external.payment_id.display_name,
                ),
                document=invoice,
                fingerprint_key=f"payment:{data['reference']}",
            )
        invoice.message_post(
            body=self.env._(
                "%(backend)s: payment %(ref)s of %(amount)s %(currency)s on %(date)s %(status)s.",
                backend=backend.name,
                ref=data["reference"],
                amount=data["amount"],
                currency=currency.name,
                date=data["date"],
                status=dict(const.EXTERNAL_PAYMENT_STATUSES)[data["status"]].lower(),
            ),
            subtype_xmlid="mail.mt_note",
        )
        return "processed", result

    # === RETENTION === #

    def _apply_partner_credit(self, data):
        """A credit authority's decision: Odoo's own credit limit of the customer (so that
        Odoo's credit warnings apply) and the credit hold, tracked with the platform's reason."""
        partner, company = self._find_credit_partner(data["partner"])
        decided_at = _parse_datetime(data["decided_at"])
        internal(self).write({"res_model": "res.partner", "res_id": partner.id})
        since = partner.finance_sync_credit_decided_at
        if since and decided_at < since:
            return "ignored", message("credit_older", date=str(since))
        if data["currency"] != company.currency_id.name:
            raise InboundRefusal(
                "conflict",
                message("credit_currency", currency=data["currency"], company_currency=company.currency_id.name),
                fingerprint_key=f"credit:{partner.id}",
            )
        limit = Decimal(data["credit_limit"])
        hold = data["hold"]
        reason = (data.get("reason") or "").strip()
        # The backend's credit authority was granted by an accounting administrator; the
        # technical user records the decision (tracking names it) without partner manager rights.
        partner.sudo().with_company(company).write(
            {
                "credit_limit": float(limit),
                "finance_sync_credit_hold": hold,
                "finance_sync_credit_hold_reason": reason if hold else False,
                "finance_sync_credit_decided_at": decided_at,
                "finance_sync_credit_reference": data["reference"],
                "finance_sync_credit_backend_id": self.backend_id.id,
            }
        )
        partner.sudo().message_post(
            body=Markup("%s<br/>%s")
            % (
                self.env._(
                    "Credit decision %(reference)s from %(backend)s: limit %(limit)s %(currency)s, %(hold)s.",
                    reference=data["reference"],
                    backend=self.backend_id.name,
                    limit=data["credit_limit"],
                    currency=data["currency"],
                    hold=self.env._("on hold") if hold else self.env._("not on hold"),
                ),
                reason or "",
            ),
            subtype_xmlid="mail.mt_note",
        )
        return "processed", message(
            "credit_applied",
            limit=data["credit_limit"],
            currency=data["currency"],
            hold="yes" if hold else "no",
            partner=partner.display_name,
        )

    def _find_credit_partner(self, ref):
        """(commercial partner, company) a credit decision is about: by Odoo id, else by the code
        the backend's mapping set gives it, else by Odoo's reference; among the partners of the
        backend's companies (or shared)."""
        backend = self.backend_id
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        company_domain = ["|", ("company_id", "=", False), ("company_id", "in", backend.company_ids.ids)]
        partner = Partner
        if ref.get("id"):
            partner = Partner.search([("id", "=", ref["id"]), *company_domain], limit=1)
        elif ref.get("code"):
            if backend.mapping_set_id:
                mapping = (
                    self.env["finance.sync.mapping"]
                    .sudo()
                    .search(
                        [
                            ("set_id", "=", backend.mapping_set_id.id),
                            ("kind", "=", "partner"),
                            ("external_code", "=", ref["code"]),
                        ],
                        limit=1,
                    )
                )
                partner = Partner.browse(mapping.res_id) if mapping else Partner
            if not partner:
                partner = Partner.search([("ref", "=", ref["code"]), *company_domain], limit=2)
                partner = partner if len(partner) == 1 else Partner
        partner = partner.commercial_partner_id
        if not partner:
            label = str(ref.get("id") or ref.get("code"))
            raise InboundRefusal(
                "inbound_unknown_reference",
                message("credit_unknown_partner", partner=label),
                fingerprint_key=f"partner:{label}",
            )
        company = partner.company_id or backend.company_ids[:1]
        return partner, company

    @api.autovacuum
    def _gc_applied_events(self):
        """Odoo's daily garbage collection (``ir.autovacuum``) purges old applied events, one
        batch per call, calling again while batches are left (see ``_purge_applied``)."""
        return self._purge_applied(limit=const.INBOUND_PURGE_BATCH)

    @api.model
    def _purge_applied(self, days=None, limit=None):
        """Delete processed and ignored events older than the retention period
        (``finance_sync.retention_days``), the oldest ``limit`` of them or all; failed ones and
        those linked to an open exception stay. :return: (deleted, whether more are left)"""
        cutoff = retention_cutoff(self.env, days)
        if not cutoff:
            return 0, False
        domain = (
            Domain("state", "in", ("processed", "ignored"))
            & Domain("received_at", "<", cutoff)
            & Domain("exception_ids", "not any", [("state", "in", const.EXCEPTION_OPEN_STATES)])
        )
        return purge_batch(self, domain, "received_at, id", limit)


def _parse_datetime(value):
    """An ISO 8601 UTC timestamp (``...Z``) as Odoo's naive UTC datetime, or False."""
    if not value:
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if parsed.tzinfo:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=0)
