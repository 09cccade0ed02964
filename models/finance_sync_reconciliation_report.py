"""A platform's reconciliation report: received as an inbound ``reconciliation.report``, checked,
and compared with what Odoo delivered for the period. Enters: the report's data (totals per event
type and currency, the event ids or document numbers the platform holds). Leaves: the
reconciliation's outcome (matched or mismatched, its lines, missing events and unknown
references) and its exception, opened, bumped or resolved."""

from datetime import date
from decimal import Decimal

from markupsafe import Markup
from psycopg2.errors import UniqueViolation

from odoo import api, models
from odoo.exceptions import ConcurrencyError

from ..engine import inbound
from ..engine.messages import message, selection
from ..errors import InboundRefusal
from ..utils import internal, message_vals
from .finance_sync_reconciliation import LISTED_IN_WORDS, _listed


class FinanceSyncReconciliation(models.Model):
    _inherit = "finance.sync.reconciliation"

    @api.model
    def _check_report_precision(self, data):
        """Refuse, before anything is stored, a report whose amount is finer than its currency
        allows ("12.101" EUR): raise ``inbound.InvalidEvent`` (``amount_precision``, 422).
        Trailing zeros are fine ("12.100"); a currency Odoo does not know is left to the
        comparison (Odoo delivered nothing in it)."""
        totals = data.get("totals") or ()
        currencies = self._currencies({total["currency"] for total in totals})
        for index, total in enumerate(totals):
            currency = currencies.get(total["currency"])
            if currency and inbound.excess_decimals(total["amount"], currency.decimal_places):
                reason = (
                    f"amount {total['amount']} has more decimal places than {currency.name} allows "
                    f"({currency.decimal_places})"
                )
                raise inbound.InvalidEvent(
                    "amount_precision", reason, [inbound.SchemaViolation(f"/data/totals/{index}/amount", reason)]
                )

    def _reconcile(self, data, event=None):
        """Compare the platform's report ``data`` with what Odoo delivered for the period, record
        the outcome and open, bump or resolve the reconciliation's exception."""
        self.ensure_one()
        platform = {}
        for total in data.get("totals") or ():
            key = (total["event_type"], total["currency"])
            count, amount = platform.get(key, (0, Decimal(0)))
            platform[key] = (count + total["count"], amount + Decimal(total["amount"]))
        odoo = self._odoo_totals()
        currencies = self._currencies({code for _t, code in (*odoo, *platform) if code})
        totals = self._totals(odoo, platform, currencies)
        differences = [
            message(
                "reconciliation_totals_differ",
                event_type=total.event_type,
                currency=total.currency,
                odoo_count=total.odoo_count,
                odoo_amount=self._money(total.odoo_amount, total.currency, currencies),
                platform_count=total.platform_count,
                platform_amount=self._money(total.platform_amount, total.currency, currencies),
            )
            for total in totals
            if total.differs
        ]
        missing, unknown = self._compare_references(data)
        if missing:
            differences.append(self._missing_message(missing))
        if unknown:
            differences.append(
                message(
                    "reconciliation_unknown_references",
                    count=len(unknown),
                    references=_listed(unknown),
                )
            )
        note = message("reconciliation_mismatch", period=self._period_label(), differences=differences)
        vals = {
            "state": "mismatched" if differences else "matched",
            "line_ids": self._line_commands(totals, currencies),
            "odoo_event_count": sum(count for count, _amount in odoo.values()),
            "platform_event_count": sum(count for count, _amount in platform.values()),
            "missing_event_ids": missing or False,
            "missing_event_count": len(missing),
            "unknown_references": unknown or False,
            "unknown_reference_count": len(unknown),
            "difference_count": len(differences),
            **message_vals("difference", note if differences else None),
        }
        if event:
            vals.update(
                report_event_id=event.id,
                report_received_at=event.received_at,
                report_occurred_at=event.occurred_at,
            )
        internal(self).write(vals)
        self._settle_exception(note if differences else None)
        labels = dict(self._fields["state"]._description_selection(self.env))
        self.message_post(
            body=Markup("%s<br/>%s") % (labels[self.state], self.difference or self.env._("Both sides agree."))
        )

    def _compare_references(self, data):
        """(event ids Odoo delivered that the platform lacks, references the platform holds that
        Odoo never sent for the period), from the event ids or document numbers the report lists
        (nothing when it lists neither). Documents are matched on exactly the number the events
        carry (``document.number``); with documents only, an event is missing when the platform
        holds no document of its number (an event without a number cannot be named so)."""
        if "event_ids" not in data and "documents" not in data:
            return [], []
        events = self._odoo_events()
        missing, unknown = [], []
        if "event_ids" in data:
            held = set(data["event_ids"])
            missing = [event_id for event_id, _number in events if event_id not in held]
            unknown = sorted(held - {event_id for event_id, _number in events})
        if "documents" in data:
            held_documents = set(data["documents"])
            if "event_ids" not in data:
                missing = [event_id for event_id, number in events if number and number not in held_documents]
            unknown += sorted(held_documents - {number for _event_id, number in events})
        return missing, unknown

    def _missing_message(self, missing):
        """The difference naming the events ``missing`` on the platform by their documents:
        number, partner, amount, accounting date, event type and id (the first
        ``LISTED_IN_WORDS``; the form lists them all, with a link to each document)."""
        jobs = {job.event_uuid: job for job in self._jobs_of_events(missing[:LISTED_IN_WORDS])}
        currencies = {job.currency_id.name: job.currency_id for job in jobs.values() if job.currency_id}
        items = []
        for event_id in missing[:LISTED_IN_WORDS]:
            job = jobs.get(event_id)
            if not job:  # purged since: only its id is known
                items.append(message("reconciliation_missing_event", event_id=event_id))
                continue
            items.append(
                message(
                    "reconciliation_missing_document",
                    number=job.document_number or job.document_ref or "",
                    partner=job.partner_id.display_name or "",
                    # One document's amount, read back from its numeric column (a float that
                    # round-trips): shown in its currency's precision.
                    amount=self._money(job.amount, job.currency_id.name, currencies) if job.currency_id else "",
                    date=str(job.document_date or ""),
                    event_type=job.event_type,
                    event_id=event_id,
                )
            )
        if len(missing) > LISTED_IN_WORDS:
            items.append(message("reconciliation_more", count=len(missing) - LISTED_IN_WORDS))
        return message("reconciliation_missing_documents", count=len(missing), documents=items)

    @api.model
    def _apply_report(self, event, data):
        """Record a platform's ``reconciliation.report`` (inbound event ``event``); returns the
        inbound handler's (state, message)."""
        backend = event.backend_id
        company = self._report_company(backend, data)
        date_from = date.fromisoformat(data["period"]["date_from"])
        date_to = date.fromisoformat(data["period"]["date_to"])
        if date_from > date_to:
            raise InboundRefusal(
                "inbound_invalid", message("reconciliation_bad_period", date_from=str(date_from), date_to=str(date_to))
            )
        domain = [
            ("backend_id", "=", backend.id),
            ("company_id", "=", company.id),
            ("date_from", "=", date_from),
            ("date_to", "=", date_to),
        ]
        rec = self.search(domain, limit=1)
        if not rec:
            try:
                with self.env.cr.savepoint():
                    rec = self.create(
                        {"backend_id": backend.id, "company_id": company.id, "date_from": date_from, "date_to": date_to}
                    )
            except UniqueViolation:
                # Another report opened this period after this transaction began: start again on
                # a fresh snapshot (Odoo retries the request on ConcurrencyError), which finds it.
                raise ConcurrencyError(
                    f"finance_sync: reconciliation of {date_from}..{date_to} opened concurrently"
                ) from None
        internal(event).write({"company_id": company.id, "reference": rec.name})
        if rec.report_occurred_at and event.occurred_at and event.occurred_at < rec.report_occurred_at:
            return "ignored", message("inbound_status_older", date=str(rec.report_occurred_at))
        rec._reconcile(data, event)
        return "processed", message(
            "reconciliation_recorded",
            period=rec._period_label(),
            state=selection(self._name, "state", rec.state),
        )

    @api.model
    def _report_company(self, backend, data):
        company_id = data.get("company_id")
        if company_id is None:
            if len(backend.company_ids) != 1:
                raise InboundRefusal("inbound_invalid", message("reconciliation_company_required"))
            return backend.company_ids
        company = backend.company_ids.filtered(lambda c: c.id == company_id)
        if not company:
            raise InboundRefusal("inbound_invalid", message("reconciliation_unknown_company", company=company_id))
        return company
