"""Messages kept for people to read later: a job's last error and why it was cancelled, an
attempt's error, an exception's details, an inbound event's result.

They are stored as a code and its parameters, never as a sentence, and rendered when shown, in
the reader's language. Each code's English template is declared here, once, marked with ``_lt``
(a plain marker: the engine imports nothing from Odoo): Odoo's export reads the marked strings
into ``i18n/finance_sync.pot``, so translations of the module's ``.po`` files apply to them. The
engine renders in English (logs, tests); the models translate, rendering with their ``env._``
(``utils.render_message``).

Parameters are data and are never translated: names, numbers, the platform's own words, an
error's text. Besides plain values, a parameter may be another message (``{"code", "params"}``,
rendered in the same language), a selection value to show with its field's label
(``{"model", "field", "value"}``), or a list of those (joined with commas). ``detail`` is
technical text (the platform's answer, an exception's text), shown after the sentence; a message
without a code is only its detail (text that has no translation, such as schema errors).
"""

import dataclasses


def _lt(template: str) -> str:
    """Marks ``template`` for Odoo's export of the module's terms; it stays English here."""
    return template


DETAIL = "detail"

TEMPLATES = {
    # --- delivery verdicts (engine/classify.py) -------------------------------------------------
    "http_done": _lt("HTTP %(status)s"),
    "http_retry": _lt("The platform could not take the event for now (HTTP %(status)s)"),
    "http_gone": _lt("HTTP %(status)s: the platform says this endpoint no longer exists; the backend was paused"),
    "http_redirect": _lt(
        "The platform redirected the event (HTTP %(status)s); redirects are not followed, "
        "so the endpoint URL must be updated to the new address"
    ),
    "http_authentication": _lt("The platform refused Odoo's credentials (HTTP %(status)s)"),
    "http_rejected": _lt("The platform rejected the event (HTTP %(status)s)"),
    "http_unexpected": _lt("The platform answered an unexpected HTTP status %(status)s"),
    "no_answer": _lt("No answer from the platform and no error was recorded"),
    "connection_refused": _lt(
        "Could not reach the platform: connection refused (nothing listens at the endpoint's address and port)"
    ),
    "name_not_resolved": _lt("Could not reach the platform: cannot resolve the endpoint's host name"),
    "timed_out": _lt("The platform did not answer in time: timed out"),
    "timed_out_after": _lt("The platform did not answer in time: timed out after %(seconds)s s"),
    "tls_failed": _lt("Could not open a secure (TLS) connection to the platform; check its certificate"),
    # The same, naming the address the connection was for (host:port).
    "connection_refused_at": _lt(
        "Could not reach the platform: connection refused on %(address)s (nothing listens at that address and port)"
    ),
    "timed_out_after_at": _lt("The platform at %(address)s did not answer in time: timed out after %(seconds)s s"),
    "tls_failed_at": _lt("Could not open a secure (TLS) connection to %(address)s; check the platform's certificate"),
    "connection_failed_at": _lt(
        "Could not reach the platform at %(address)s: the connection failed or was closed before it answered"
    ),
    "connection_failed": _lt("Could not reach the platform: the connection failed or was closed before it answered"),
    "connection_broken": _lt("The connection to the platform broke before its answer was received"),
    "send_refused": _lt("Odoo refused to send the event"),
    "send_error": _lt("Unexpected error while sending"),
    # --- a failing platform, where people look (dashboard, to-do, the document's banner) ----------
    "failing_since": _lt("%(cause)s, since %(since)s"),
    "waiting_for_platform": _lt(
        "Waiting for %(backend)s: %(cause)s, since %(since)s. Next automatic try: %(next)s. %(advice)s"
    ),
    "advice_unreachable": _lt(
        "Nothing is lost: the events wait and are sent by themselves once the platform answers. Check that the "
        "platform runs and is reachable at the backend's address (host, port, firewall); Close circuit on the "
        "backend tries again at once."
    ),
    "advice_platform_error": _lt(
        "Nothing is lost: the events wait and are sent by themselves once the platform takes them again. The "
        "platform reports a problem of its own: if it lasts, tell its operators."
    ),
    "advice_tls": _lt(
        "Nothing is lost: the events wait and are sent by themselves once the connection succeeds. Check the "
        "platform's certificate (expired, self-signed or issued for another host name) with its operators."
    ),
    "advice_warehouse": _lt(
        "Nothing is lost: the events wait and are applied by themselves once the warehouse answers. Check that "
        "the warehouse's database server runs and accepts connections from Odoo (host, port, SSL mode)."
    ),
    # --- connection test (models/finance_sync_backend_sender.py) --------------------------------
    "test_answer": _lt("The platform answered: %(body)s"),
    "test_answer_empty": _lt("The platform's answer was empty."),
    "test_sent_signed": _lt("Sent signed with the backend's signing secret (Standard Webhooks signature)"),
    "test_sent_unsigned": _lt("Sent without a signature (signing is off)"),
    "test_sent_bearer": _lt("with the bearer token (Token / password)"),
    "test_sent_basic": _lt("with Basic authentication as %(user)s (Token / password)"),
    "test_secret_never_shown": _lt(
        "Odoo generated the signing secret and nobody has seen it yet, so the platform cannot know it: press "
        "Show the generated secret (once) on the Security tab and give it to the platform, then test again."
    ),
    "test_check_credentials": _lt(
        "Check that the platform holds the same signing secret and credentials as this backend (type new ones "
        "here if it was given others)."
    ),
    # --- PostgreSQL warehouse (engine/warehouse) ------------------------------------------------
    "warehouse_not_initialized": _lt(
        "The warehouse has no finance_sync schema %(schema)s of the version this module writes (found version "
        "%(found)s, expected %(expected)s): initialize the warehouse from the backend (Initialize warehouse)"
    ),
    "warehouse_tables_missing": _lt(
        "The warehouse lacks tables of the finance_sync schema %(schema)s: initialize the warehouse from the "
        "backend (Initialize warehouse)"
    ),
    "warehouse_newer": _lt(
        "The warehouse schema %(schema)s is at version %(found)s, newer than this module knows (%(expected)s): "
        "update the module; nothing was changed in the warehouse"
    ),
    "warehouse_unreachable": _lt("Could not reach the warehouse database %(target)s; the event will be applied again"),
    # What a warehouse's connection test found (no event is involved: nothing "applied again").
    "warehouse_test_unreachable": _lt(
        "Could not reach the warehouse's database server at %(address)s: is it running, and does it accept "
        "connections from Odoo there (host, port, firewall, pg_hba.conf)?"
    ),
    "warehouse_test_no_ssl": _lt(
        "The warehouse's database server at %(address)s does not offer SSL, but the SSL mode is %(sslmode)s: "
        "turn SSL on at the server (ssl = on, with a certificate), or reach it through an encrypted tunnel."
    ),
    "warehouse_test_authentication": _lt(
        "The warehouse's database server refused the user %(user)s: check the user name and the password."
    ),
    "warehouse_test_no_database": _lt(
        "The warehouse's database server has no database %(database)s: create it, or correct the database name."
    ),
    "warehouse_test_said": _lt("The server said: %(reason)s"),
    "warehouse_conflict": _lt(
        "The warehouse database aborted the transaction (serialization failure or deadlock); "
        "the event will be applied again"
    ),
    "warehouse_authentication": _lt("The warehouse database %(target)s refused the user name or password"),
    "warehouse_privilege": _lt("The warehouse user lacks a privilege on %(target)s: %(reason)s"),
    "warehouse_rejected": _lt("The warehouse database refused the event: %(reason)s"),
    "warehouse_bad_event": _lt("The event cannot be stored in the warehouse: %(reason)s"),
    "warehouse_tls_required": _lt(
        "the warehouse connection must be encrypted (SSL mode require or stricter); disable is accepted only on "
        "servers set up for private endpoints (development)"
    ),
    "warehouse_reserved_schema": _lt(
        "the schema %(schema)s is the database's own default schema, shared with whatever else the database holds: "
        "choose a schema of the warehouse's own (finance_sync by default)"
    ),
    "warehouse_is_odoo": _lt(
        "%(target)s is Odoo's own database: the warehouse must be another database (on another server, or at "
        "least another database of the server)"
    ),
    # --- message broker (engine/broker.py) -------------------------------------------------------
    "broker_unroutable": _lt(
        "The broker could not route the event: no queue is bound to the exchange %(exchange)s for the routing key "
        "%(key)s, so nobody would read it; bind a queue (or list the consumers and press Initialize broker), then "
        "retry"
    ),
    "broker_nack": _lt(
        "The broker refused to take the event for now (negative acknowledgement); it will be sent again"
    ),
    "broker_timeout": _lt(
        "The broker did not confirm the event within %(seconds)s s; it will be sent again with the same id"
    ),
    "broker_unreachable": _lt("Could not reach the broker %(target)s; the event will be sent again"),
    "broker_authentication": _lt("The broker %(target)s refused the user name or password"),
    "broker_access_refused": _lt("The broker %(target)s refused access: %(reason)s"),
    "broker_exchange_missing": _lt(
        "The exchange %(exchange)s does not exist on the broker %(target)s: initialize the broker from the backend "
        "(Initialize broker)"
    ),
    "broker_bad_event": _lt("The event cannot be published: %(reason)s"),
    "broker_bad_url": _lt("the broker address must read amqps://host[:port][/virtual host]"),
    "broker_url_credentials": _lt(
        "the broker address must not hold a user name or password: type them in their own fields (the password is "
        "stored encrypted)"
    ),
    "broker_tls_required": _lt(
        "the broker connection must be encrypted (amqps://); amqp:// is accepted only on servers set up for private "
        "endpoints (development)"
    ),
    # --- endpoint URLs (engine/url_guard.py) ---------------------------------------------------
    "url_https_only": _lt("only https:// addresses are accepted"),
    "url_plain_http": _lt(
        "only https:// addresses are accepted; plain http would expose finance data (it is accepted for private "
        "endpoints only, on servers set up for development)"
    ),
    "url_scheme_dev": _lt(
        "only https:// addresses are accepted, and http:// ones while this server allows private endpoints "
        "(development)"
    ),
    "url_no_host": _lt("the address has no host name"),
    "url_credentials": _lt("credentials must not be written into the URL; use the backend's authentication"),
    "url_invalid": _lt("the address is not a valid URL"),
    "url_metadata": _lt("%(host)s is a cloud metadata service; it cannot be an endpoint"),
    "url_numeric": _lt("%(host)s is an address in an unusual numeric form; write it as a host name"),
    "url_internal": _lt(
        "%(host)s points to an internal address (%(address)s); private, loopback, link-local, "
        "reserved and cloud metadata addresses are refused"
    ),
    "url_unresolved": _lt("cannot resolve %(host)s: check the host name of the endpoint URL"),
    "url_unsafe_character": _lt(
        "the address holds a control, invisible or white space character (%(character)s at position "
        "%(position)s); type it again without spaces, tabs or line breaks"
    ),
    # --- outbox (models/finance_sync_job.py) ---------------------------------------------------
    "no_signing_secret": _lt("Backend %(backend)s signs its events but has no signing secret."),
    "payload_invalid": _lt("The event does not match its schema"),
    "missing_mappings": _lt("Missing mappings: %(records)s"),
    "missing_mapping_record": _lt("%(kind)s %(name)s"),
    "missing_mapping": _lt("%(kind)s %(name)s (id %(id)s) has no code in mapping set %(set)s, which requires one."),
    "gave_up": _lt("Gave up after %(count)s attempts. Last error: %(error)s"),
    "job_cancelled": _lt("Cancelled by %(user)s on %(date)s: %(reason)s"),
    "waiting_for_partner": _lt(
        "Held until partner %(partner)s reaches the platform: its event is %(state)s. %(reason)s"
    ),
    # --- inbound events (models/finance_sync_inbound_event.py) ---------------------------------
    "inbound_apply_failed": _lt("Odoo could not apply this event"),
    "inbound_unknown_event": _lt("No event %(event)s was sent to this platform."),
    "inbound_invoice_ambiguous": _lt("Several invoices are numbered %(number)s in this backend's companies."),
    "inbound_unknown_invoice": _lt("No invoice %(number)s in this backend's companies."),
    "inbound_already_confirmed": _lt("Already confirmed on %(date)s."),
    "inbound_confirmed": _lt("Event %(event)s confirmed; external id %(external_id)s."),
    "inbound_rejected": _lt("The platform rejected event %(event)s: [%(code)s] %(reason)s"),
    "inbound_status_older": _lt("Older than the status already recorded (%(date)s)."),
    "inbound_status_unchanged": _lt("Status unchanged: %(status)s."),
    "inbound_status_recorded": _lt("External status %(status)s recorded."),
    "inbound_unknown_currency": _lt("Unknown currency %(currency)s."),
    "inbound_payment_moved": _lt(
        "Payment reference %(reference)s was reported for invoice %(other)s before, now for %(this)s."
    ),
    "inbound_payment_older": _lt("Older than the payment status already recorded (%(status)s)."),
    "inbound_payment_status": _lt("Payment %(reference)s %(status)s."),
    "inbound_payment_registered": _lt("Payment %(reference)s registered as %(payment)s."),
    "inbound_payment_already_registered": _lt("Payment %(reference)s already registered as %(payment)s."),
    "inbound_payment_contradicted": _lt(
        "The platform reports payment %(reference)s as %(status)s, but Odoo registered it as %(payment)s: "
        "reverse that payment in Odoo if the platform is right."
    ),
    # --- bindings (models/finance_sync_binding.py) ---------------------------------------------
    "binding_document_known": _lt("%(document)s is already known to the platform as %(external_id)s."),
    "binding_external_id_taken": _lt("External id %(external_id)s already designates %(other)s."),
    # --- payments registered for a platform (models/finance_sync_external_payment.py) ----------
    "payment_no_journal": _lt("The backend is the payment authority but has no payment journal."),
    "payment_not_authority": _lt(
        "%(backend)s is not the payment authority for documents of type %(kind)s: "
        "no payment was registered for %(document)s."
    ),
    "payment_journal_company": _lt("Payment journal %(journal)s belongs to another company than the invoice."),
    "payment_invoice_not_posted": _lt("Invoice %(invoice)s is not posted."),
    "payment_currency": _lt("Payment in %(paid)s for an invoice in %(invoiced)s."),
    "payment_amount_invalid": _lt("Amount %(amount)s is not a valid %(currency)s amount."),
    "payment_invoice_paid": _lt("Invoice %(invoice)s is already paid."),
    "payment_exceeds_due": _lt("Payment of %(amount)s %(currency)s exceeds the amount due on %(invoice)s (%(due)s)."),
    "payment_date_locked": _lt("The payment date %(date)s is in a locked period (until %(lock)s)."),
    "payment_direction": _lt("The payment would not go the way %(invoice)s is settled."),
    # --- documents created by platforms (models/account_move_inbound.py) -----------------------
    "document_source_off": _lt("%(backend)s may not create %(kinds)s: make it a document source for them first."),
    "document_not_created": _lt("Document %(external_id)s was not created: %(problems)s"),
    "document_partner_unknown": _lt("no partner has the code, VAT number or company registry %(partner)s"),
    "document_partner_ambiguous": _lt("several partners match %(partner)s"),
    "document_code_unknown": _lt("line %(line)s: %(kind)s code %(code)s has no mapping in %(mapping_set)s"),
    "document_code_unknown_own": _lt("line %(line)s: no %(kind)s has the code %(code)s in %(company)s"),
    "document_code_ambiguous": _lt("line %(line)s: %(kind)s code %(code)s designates several records"),
    "document_currency_unknown": _lt("currency %(currency)s is unknown or not active"),
    "document_no_journal": _lt("%(company)s has no %(journal_type)s journal"),
    "document_company_missing": _lt(
        "Document %(external_id)s was not created: %(backend)s serves several companies, and the event names none "
        "(data.company: a company code mapped in the backend's mapping set)."
    ),
    "document_company_unknown": _lt(
        "Document %(external_id)s was not created: no company has the code %(code)s (map it, kind Company, in the "
        "mapping set of %(backend)s)."
    ),
    "document_company_ambiguous": _lt(
        "Document %(external_id)s was not created: the company code %(code)s designates several companies."
    ),
    "document_company_not_served": _lt(
        "Document %(external_id)s was not created: %(backend)s does not serve the company of code %(code)s."
    ),
    "document_created": _lt("%(document)s created from %(external_id)s, %(state)s."),
    "document_exists": _lt("%(external_id)s is already %(document)s: nothing was created again."),
    "document_totals_differ": _lt(
        "%(document)s stays draft: Odoo's totals (untaxed %(untaxed)s, tax %(tax)s, total %(total)s %(currency)s) "
        "differ from the platform's (untaxed %(expected_untaxed)s, tax %(expected_tax)s, total %(expected_total)s)."
    ),
    "document_date_locked": _lt("%(document)s stays draft: its date %(date)s is in a locked period (until %(lock)s)."),
    "document_post_failed": _lt("%(document)s stays draft: Odoo could not post it."),
    "document_credit_hold": _lt(
        "%(document)s stays draft: its customer %(customer)s is on credit hold (%(reason)s). A person may post it "
        "with a reason (Confirm on the invoice), or reprocess this event once the hold is lifted."
    ),
    "document_state_draft": _lt("kept as draft"),
    "document_state_posted": _lt("posted"),
    "document_state_waiting": _lt("draft until approved"),
    # --- sales orders created by platforms (models/finance_sync_inbound_order.py) -------------
    "order_sales_not_installed": _lt(
        "%(backend)s sent an event about sales orders, but Odoo's Sales app is not installed: nothing was written."
    ),
    "order_source_off": _lt("%(backend)s may not create sales orders: make it an order source first."),
    "order_not_created": _lt("Sales order %(external_id)s was not created: %(problems)s"),
    "order_no_pricelist": _lt("%(company)s has no pricelist in %(currency)s"),
    "order_salesperson_unknown": _lt("no user of the company has the login or e-mail %(salesperson)s"),
    "order_team_unknown": _lt("no single sales team is named %(team)s"),
    "order_product_not_sold": _lt("line %(line)s: product %(product)s cannot be sold (its Can be sold box is off)"),
    "order_discount_over_100": _lt("line %(line)s: a discount of %(discount)s percent is more than the price"),
    "order_people_unmapped": _lt("%(kind)s code %(code)s has no mapping in %(mapping_set)s"),
    "order_people_ambiguous": _lt("%(kind)s code %(code)s is mapped to more than one record in %(mapping_set)s"),
    "order_people_not_allowed": _lt(
        "%(kind)s code %(code)s is mapped to %(record)s, which is not an active %(kind)s of %(company)s"
    ),
    "order_exists": _lt("%(external_id)s is already %(order)s: nothing was created again."),
    "order_created": _lt("%(order)s created from %(external_id)s, kept as quotation."),
    "order_confirmed": _lt("%(order)s created from %(external_id)s and confirmed."),
    "order_confirm_failed": _lt("%(order)s stays a quotation: Odoo could not confirm it."),
    "order_totals_differ": _lt(
        "%(order)s stays a quotation: Odoo's totals (untaxed %(untaxed)s, tax %(tax)s, total %(total)s %(currency)s) "
        "differ from the platform's (untaxed %(expected_untaxed)s, tax %(expected_tax)s, total %(expected_total)s)."
    ),
    # --- business findings across systems (docs/exceptions.md) ------------------------------
    "deals_report_recorded": _lt(
        "Won deals from %(date_from)s to %(date_to)s: %(deals)s reported, %(missing)s without a sales order."
    ),
    "finding_deal_without_order": _lt(
        "The platform reports deal %(deal)s (%(external_id)s, %(amount)s %(currency)s, won on %(won_on)s) as won, "
        "but Odoo has no sales order for it."
    ),
    "finding_paid_unpaid_invoice": _lt(
        "The platform reported invoice %(invoice)s paid (%(amount)s %(currency)s, reference %(reference)s, "
        "on %(date)s), but it is still unpaid in Odoo and was due on %(due)s."
    ),
    "finding_payment_without_invoice": _lt(
        "The platform reported payment %(reference)s (%(amount)s %(currency)s on %(date)s) without a reference to "
        "an invoice Odoo knows (%(invoice)s)."
    ),
    "approval_unknown_document": _lt("No document %(external_id)s was created by this platform."),
    "approval_older": _lt("Older than the approval decision already recorded (%(date)s)."),
    "approval_recorded": _lt("%(document)s: %(status)s by %(by)s."),
    "approval_posted": _lt("%(document)s approved by %(by)s and posted."),
    "approval_cancelled": _lt("%(document)s rejected by %(by)s and cancelled."),
    "approval_contradicts_posted": _lt(
        "%(document)s is posted, but the platform now says %(status)s (by %(by)s): reverse it in Odoo if the "
        "platform is right."
    ),
    "approval_rejected_posted": _lt(
        "%(document)s is posted, but the platform now says %(status)s (by %(by)s on %(at)s): if the platform is "
        "right, reverse it in Odoo (Credit Note); otherwise tell the platform and resolve this exception."
    ),
    "approval_after_override": _lt(
        "%(document)s: %(status)s by %(by)s, after %(user)s posted it before approval on %(date)s."
    ),
    # --- business reconciliation and delivery SLA -----------------------------------------------
    "reconciliation_mismatch": _lt("Odoo and the platform disagree for %(period)s: %(differences)s."),
    "reconciliation_totals_differ": _lt(
        "%(event_type)s in %(currency)s: Odoo delivered %(odoo_count)s for %(odoo_amount)s, "
        "the platform holds %(platform_count)s for %(platform_amount)s"
    ),
    "reconciliation_missing_events": _lt("%(count)s events Odoo delivered are missing on the platform (%(events)s)"),
    "reconciliation_missing_documents": _lt(
        "%(count)s events Odoo delivered are missing on the platform: %(documents)s"
    ),
    "reconciliation_missing_document": _lt(
        "%(number)s (%(partner)s, %(amount)s, %(date)s; %(event_type)s, event %(event_id)s)"
    ),
    "reconciliation_missing_event": _lt("event %(event_id)s"),
    "reconciliation_more": _lt("and %(count)s more (listed on the reconciliation)"),
    "reconciliation_unknown_references": _lt(
        "the platform holds %(count)s references Odoo never sent for this period (%(references)s)"
    ),
    "reconciliation_recorded": _lt("Reconciliation of %(period)s: %(state)s."),
    "reconciliation_company_required": _lt(
        "The backend serves several companies: the report must name one (company_id)."
    ),
    "reconciliation_unknown_company": _lt("Company %(company)s is not one of this backend's companies."),
    "reconciliation_bad_period": _lt("The period ends (%(date_to)s) before it starts (%(date_from)s)."),
    "late_delivery": _lt(
        "%(count)s events of documents posted more than %(minutes)s minutes ago are not delivered yet; "
        "the oldest was captured on %(since)s (UTC)"
    ),
    # --- credit decisions (partner.credit) ------------------------------------------------------
    "credit_unknown_partner": _lt("No partner %(partner)s in this backend's companies."),
    "credit_older": _lt("Older than the credit decision already recorded (%(date)s)."),
    "credit_currency": _lt("Credit limit in %(currency)s, but the company's currency is %(company_currency)s."),
    "credit_applied": _lt("Credit limit %(limit)s %(currency)s, hold %(hold)s, applied to %(partner)s."),
    "credit_authority_off": _lt("%(backend)s is not the credit authority: Odoo takes no credit decision from it."),
    # --- accounts (partner.upsert) --------------------------------------------------------------
    "account_source_off": _lt(
        "%(backend)s is not an account source for %(kinds)s: Odoo takes no such account from it."
    ),
    "account_unknown_codes": _lt("Odoo cannot resolve %(codes)s: add the mappings, then reprocess the event."),
    "account_older": _lt("Older than the account's last change already applied (%(date)s)."),
    "account_partner_gone": _lt("The partner bound to external id %(external_id)s no longer exists."),
    "account_created": _lt("Created %(partner)s for external id %(external_id)s."),
    "account_bound": _lt(
        "Bound %(partner)s to external id %(external_id)s (found by %(evidence)s); written: %(fields)s."
    ),
    "account_updated": _lt("Updated %(partner)s: %(fields)s."),
    "account_unchanged": _lt("%(partner)s already has these values (or Odoo owns the ones that differ)."),
    "account_possible_duplicate": _lt(
        "%(name)s (external id %(external_id)s) may be a partner Odoo has already: %(candidates)s. "
        "Bind it to one of them or create a new partner."
    ),
    "account_owned_conflict": _lt(
        "%(backend)s sent other values for %(fields)s of %(partner)s, which Odoo owns: they were not written."
    ),
    "account_bank_new": _lt(
        "%(backend)s gave the supplier %(partner)s a new bank account (%(numbers)s). Odoo does not pay to it "
        "until a person checks it with the supplier and allows outgoing payments (Send Money) on it."
    ),
}

# The template of a code when its ``count`` parameter is 1 (the code's template in TEMPLATES says
# it for any other count), chosen when the message is rendered.
SINGULARS = {
    "reconciliation_missing_events": _lt("%(count)s event Odoo delivered is missing on the platform (%(events)s)"),
    "reconciliation_missing_documents": _lt("%(count)s event Odoo delivered is missing on the platform: %(documents)s"),
    "reconciliation_unknown_references": _lt(
        "the platform holds %(count)s reference Odoo never sent for this period (%(references)s)"
    ),
    "late_delivery": _lt(
        "%(count)s event of a document posted more than %(minutes)s minutes ago is not delivered yet; "
        "it was captured on %(since)s (UTC)"
    ),
}


@dataclasses.dataclass(frozen=True)
class Message:
    """A message as it is stored: the code of its template and the parameters it is filled with
    (JSON values). ``str()`` is its English text."""

    code: str
    params: dict = dataclasses.field(default_factory=dict)

    def __hash__(self):  # equal messages group together (the dispatcher moves their jobs at once)
        return hash((self.code, repr(sorted(self.params.items()))))

    def __str__(self):
        return render(self.code, self.params)

    def as_json(self) -> dict:
        """The stored form, for a parameter that is itself a message."""
        return {"code": self.code, "params": _json(self.params)}

    def without_detail(self) -> "Message":
        """This message without its technical detail (which the attempt log keeps)."""
        return Message(self.code, {key: value for key, value in self.params.items() if key != DETAIL})

    def masked(self, mask) -> "Message":
        """This message with ``mask`` (a function of text) applied to the text of every parameter."""
        return Message(self.code, _masked(self.params, mask))


class MessageError(ValueError):
    """A refusal whose reason is a message (``note``); ``str()`` is its English text."""

    def __init__(self, note: Message):
        super().__init__(str(note))
        self.note = note


def message(code: str, /, **params) -> Message:
    """The message of ``code`` (a key of :data:`TEMPLATES`) with ``params``; parameters that are
    messages are kept in their stored form."""
    if code not in TEMPLATES:
        raise KeyError(f"unknown message code {code!r}")
    return Message(code, _json(params))


def text(value: str) -> Message:
    """A message that is only ``value``: text that has no translation (data)."""
    return Message("", {DETAIL: value})


def selection(model: str, field: str, value: str) -> dict:
    """A parameter shown as the label of ``value`` in the selection field ``model.field``."""
    return {"model": model, "field": field, "value": value}


def render(code, params=None, translate=None, label=None) -> str:
    """The text of the message ``code`` with ``params``.

    :param translate: a model's ``env._``, which translates a template into its language
        (English without it)
    :param label: ``label(model, field, value)``, the label of a selection value in that
        language (the value itself without it)
    """
    params = dict(params or {})
    detail = params.pop(DETAIL, None)
    template = TEMPLATES.get(code)
    if code in SINGULARS and params.get("count") == 1:
        template = SINGULARS[code]
    if template is None:
        sentence = code or ""  # not a code of this version: shown as it is
    else:
        values = {key: _render_value(value, translate, label) for key, value in params.items()}
        sentence = _fill(translate(template) if translate else template, values, template)
    if detail in (None, ""):
        return sentence
    detail = _render_value(detail, translate, label)
    return f"{sentence}: {detail}" if sentence else detail


def _fill(sentence, values, template):
    """``sentence % values``; the English template when a translation does not fit them."""
    try:
        return sentence % values
    except (KeyError, TypeError, ValueError):
        try:
            return template % values
        except (KeyError, TypeError, ValueError):
            return template


def _render_value(value, translate, label):
    if isinstance(value, Message):
        value = value.as_json()
    if isinstance(value, list):
        return ", ".join(_render_value(item, translate, label) for item in value)
    if isinstance(value, dict) and "code" in value:
        return render(value["code"], value.get("params"), translate, label)
    if isinstance(value, dict) and {"model", "field", "value"} <= value.keys():
        return label(value["model"], value["field"], value["value"]) if label else str(value["value"])
    return "" if value is None else str(value)


def _json(value):
    """``value`` with the messages it holds in their stored form."""
    if isinstance(value, Message):
        return value.as_json()
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    return value


def _masked(value, mask):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, mask) for item in value]
    return value
