import json
import logging
import random
import time

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command, Domain
from odoo.tools import SQL

from .. import const
from ..engine import accounts as accounts_lib
from ..engine import inbound, redact
from ..engine import inbound_documents as documents_lib
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
    Reprocessing replays what was received.

    This model receives (dedupe, checks), routes each event to the model it is about
    (``_get_handlers``), records failures and keeps events for their retention period; the
    models apply what arrives: payments (``finance.sync.external.payment``), invoice statuses,
    created documents and approvals (``account.move``, account_move_inbound.py), credit decisions
    (``res.partner``, res_partner_credit.py), reconciliation reports
    (``finance.sync.reconciliation``)."""

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
    event_type = fields.Selection(
        const.INBOUND_EVENT_TYPES, string="Event type", required=True, readonly=True, index=True
    )
    reference = fields.Char(readonly=True, help="The document or event the platform referred to.")
    occurred_at = fields.Datetime(string="Occurred at", readonly=True, help="When it happened on the platform.")
    received_at = fields.Datetime(string="Received at", required=True, readonly=True, default=fields.Datetime.now)
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
    processed_at = fields.Datetime(string="Processed at", readonly=True)
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
        EUR), and a document's attachment that is not the base64 of a PDF: raise
        ``inbound.InvalidEvent`` (``amount_precision``, ``invalid_attachment``). Trailing zeros
        are fine; an unknown currency is left to the handler (a failed event and its exception)."""
        event_type, data = payload.get("type"), payload.get("data")
        if event_type == const.INBOUND_RECONCILIATION_REPORT:
            self.env["finance.sync.reconciliation"]._check_report_precision(data)
            return
        if event_type == const.INBOUND_PARTNER_UPSERT:
            violations = accounts_lib.check_account(data)
            if violations:
                raise inbound.InvalidEvent(
                    "invalid_account",
                    "; ".join(v.message for v in violations),
                    [inbound.SchemaViolation(v.path, v.message) for v in violations],
                )
            return
        if event_type == const.INBOUND_PAYMENT_STATUS:
            amounts = {"amount": data["amount"]}
        elif event_type == const.INBOUND_PARTNER_CREDIT:
            amounts = {"credit_limit": data["credit_limit"]}
        elif event_type in (*const.INBOUND_DOCUMENT_MOVE_TYPES, const.INBOUND_ORDER_CREATE):
            amounts = {f"totals/{name}": amount for name, amount in data["totals"].items()}
        elif event_type == const.INBOUND_DEALS_REPORT:
            for number, deal in enumerate(data["deals"]):
                self._check_decimals(deal["currency"], {f"deals/{number}/amount": deal["amount"]})
            return
        else:
            return
        self._check_decimals(data["currency"], amounts)
        if event_type in const.INBOUND_DOCUMENT_MOVE_TYPES:
            self._check_attachment(data.get("attachment"))

    @api.model
    def _check_decimals(self, currency_code, amounts):
        """Raise ``inbound.InvalidEvent`` (``amount_precision``) for the first of ``amounts``
        ({JSON path under /data: amount}) finer than the currency allows."""
        currency = self._find_currency(currency_code)
        for path, amount in amounts.items() if currency else ():
            if inbound.excess_decimals(str(amount), currency.decimal_places):
                name, places = path.rpartition("/")[2], currency.decimal_places
                reason = f"{name} {amount} has more decimal places than {currency.name} allows ({places})"
                raise inbound.InvalidEvent(
                    "amount_precision", reason, [inbound.SchemaViolation(f"/data/{path}", reason)]
                )

    @api.model
    def _check_attachment(self, attachment):
        """Refuse a document's attachment that is not the base64 of a PDF (``invalid_attachment``)."""
        if not attachment:
            return
        mimetype = attachment.get("mimetype") or "application/pdf"
        try:
            documents_lib.decode_attachment(attachment["content_base64"], mimetype)
        except documents_lib.InvalidAttachment as exc:
            raise inbound.InvalidEvent(
                "invalid_attachment",
                str(exc),
                [inbound.SchemaViolation("/data/attachment/content_base64", str(exc))],
            ) from None

    @api.model
    def _prepare_event_vals(self, backend, webhook_id, payload, headers):
        kept = dict(list(redact.mask_headers(dict(headers)).items())[: const.INBOUND_MAX_HEADERS])
        return {
            "backend_id": backend.id,
            "company_id": backend.company_ids[:1].id or self.env.company.id,
            "webhook_id": webhook_id,
            "event_type": payload["type"],
            "reference": self._reference_from_payload(payload),
            "occurred_at": inbound.parse_datetime(payload.get("occurred_at")),
            "received_at": fields.Datetime.now(),
            "payload": payload,
            "headers": {k: str(v)[: const.INBOUND_MAX_HEADER_VALUE] for k, v in kept.items()},
        }

    @api.model
    def _reference_from_payload(self, payload):
        data = payload.get("data") or {}
        if payload.get("type") in (
            *const.INBOUND_DOCUMENT_MOVE_TYPES,
            const.INBOUND_APPROVAL_STATUS,
            const.INBOUND_PARTNER_UPSERT,
            const.INBOUND_ORDER_CREATE,
        ):
            return data.get("external_id") or False
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
                    model, method = handlers[event.event_type]
                    state, note = getattr(event.env[model], method)(event, data)
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

    def _get_handlers(self):
        """{event type: (model, method)}: ``env[model].method(event, data)`` applies an event of
        that type (the model it is about applies it) and returns (state, message), or raises
        InboundRefusal."""
        return {
            const.INBOUND_DELIVERY_ACKNOWLEDGED: (self._name, "_apply_delivery_acknowledged"),
            const.INBOUND_DELIVERY_REJECTED: (self._name, "_apply_delivery_rejected"),
            const.INBOUND_PAYMENT_STATUS: ("finance.sync.external.payment", "_apply_inbound_status"),
            const.INBOUND_INVOICE_STATUS: ("account.move", "_finance_sync_apply_invoice_status"),
            const.INBOUND_INVOICE_CREATE: ("account.move", "_finance_sync_apply_document_create"),
            const.INBOUND_BILL_CREATE: ("account.move", "_finance_sync_apply_document_create"),
            const.INBOUND_APPROVAL_STATUS: ("account.move", "_finance_sync_apply_approval_status"),
            const.INBOUND_RECONCILIATION_REPORT: ("finance.sync.reconciliation", "_apply_report"),
            const.INBOUND_PARTNER_CREDIT: ("res.partner", "_finance_sync_apply_credit_decision"),
            const.INBOUND_PARTNER_UPSERT: ("res.partner", "_finance_sync_apply_account_upsert"),
            const.INBOUND_ORDER_CREATE: (self._name, "_apply_order_create"),
            const.INBOUND_DEALS_REPORT: (self._name, "_apply_deals_report"),
        }

    def _get_answer_details(self):
        """What the endpoint's 202 answer says of this event beyond its id and state: a document
        event's answer names the document, created now or earlier (a repeat); an account's, the
        partner's Odoo id."""
        details = {}
        if self.event_type in const.INBOUND_DOCUMENT_MOVE_TYPES and self.move_id:
            move = self.move_id.sudo()
            details["document"] = {
                "model": "account.move",
                "id": move.id,
                "number": move.name if move.name and move.name != "/" else None,
                "state": move.state,
            }
        if self.event_type == const.INBOUND_PARTNER_UPSERT and self.res_model == "res.partner" and self.res_id:
            details["partner"] = {"model": "res.partner", "id": self.res_id}
        return details

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

    def _link_document(self, document, **vals):
        """Link the event to the ``document`` it is about (and write ``vals``)."""
        internal(self).write({**vals, **self._document_vals(document)})

    def _document_vals(self, document):
        """Link fields (and company) of the event for a document it is about."""
        if not document:
            return {}
        vals = self._document_link_vals(document)
        company = document.company_id if "company_id" in document else None
        if company and company in self.backend_id.company_ids:
            vals["company_id"] = company.id
        return vals

    def _warn(self, category, note, document=None, job=None, fingerprint_key="", todo=True):
        """Open a sync exception for an event that was applied but needs a person's attention
        (``note``: a ``messages.Message``; ``todo``: see ``_open_or_bump``)."""
        exception = self.env["finance.sync.exception"]._open_or_bump(
            backend=self.backend_id,
            category=category,
            message=note,
            jobs=job or None,
            document=document or None,
            fingerprint_key=fingerprint_key or f"inbound:{self.id}",
            todo=todo,
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
            move = self.env["finance.sync.binding"]._find_move(backend, ref["external_id"])
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
        self._link_document(move)
        return move

    # === HANDLERS OF THE OUTBOX'S OWN EVENTS: each returns (state, message) or raises InboundRefusal === #

    @api.model
    def _apply_delivery_acknowledged(self, event, data):
        """``delivery.acknowledged``: the platform applied one of Odoo's events and tells the id
        it gave the document (bound to it); the job is confirmed."""
        job = event._find_job(data["event_id"])
        document = job._get_document().exists()
        event._link_document(document, job_id=job.id)
        if document:
            self.env["finance.sync.binding"]._bind(event.backend_id, document, data["external_id"], job=job)
        if job.confirmed_at:
            return "processed", message("inbound_already_confirmed", date=str(job.confirmed_at))
        job._mark_confirmed(data["external_id"])
        return "processed", message("inbound_confirmed", event=job.event_uuid, external_id=data["external_id"])

    @api.model
    def _apply_delivery_rejected(self, event, data):
        """``delivery.rejected``: the platform refused one of Odoo's events; an exception on the
        job and its document says why."""
        job = event._find_job(data["event_id"])
        document = job._get_document().exists()
        event._link_document(document, job_id=job.id)
        note = message("inbound_rejected", event=job.event_uuid, code=data["code"], reason=data["reason"])
        event._warn(
            "rejected",
            note.masked(event.backend_id._mask),
            document=document,
            job=job,
            fingerprint_key=f"{job.res_model},{job.res_id}",
        )
        return "processed", note

    # === RETENTION === #

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
