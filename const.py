"""Literals shared by the models, the dispatcher and the webhook controller.

A value the plain-Python ``engine`` also needs is defined there, once, and imported here when the
Odoo side names it; the engine never imports this module.
"""

from .engine.scheduler import FREEZE_BATCH as DISPATCH_FREEZE_BATCH  # noqa: F401 - bodies frozen at once, per backend
from .engine.scheduler import MAX_THREADS as DISPATCH_MAX_THREADS  # noqa: F401 - sending threads of one worker
from .engine.signing import DEFAULT_TOLERANCE as INBOUND_TIMESTAMP_TOLERANCE  # noqa: F401 - seconds, both directions

# --- Outbound event types -------------------------------------------------------------
EVENT_PING = "ping"
EVENT_INVOICE_POSTED = "invoice.posted"
EVENT_INVOICE_DRAFT = "invoice.reset_to_draft"
EVENT_INVOICE_CANCELLED = "invoice.cancelled"
EVENT_INVOICE_PAYMENT_STATE = "invoice.payment_state_changed"
EVENT_PAYMENT_POSTED = "payment.posted"
EVENT_PAYMENT_UPDATED = "payment.updated"
EVENT_PAYMENT_DRAFT = "payment.reset_to_draft"
EVENT_PAYMENT_CANCELLED = "payment.cancelled"
EVENT_PARTNER_UPSERTED = "partner.upserted"
EVENT_PARTNER_MERGED = "partner.merged"
EVENT_PARTNER_EXPOSURE = "partner.exposure"

EVENT_TYPES = [
    (EVENT_PING, "Ping"),
    (EVENT_INVOICE_POSTED, "Invoice posted"),
    (EVENT_INVOICE_DRAFT, "Invoice reset to draft"),
    (EVENT_INVOICE_CANCELLED, "Invoice cancelled"),
    (EVENT_INVOICE_PAYMENT_STATE, "Invoice payment status changed"),
    (EVENT_PAYMENT_POSTED, "Payment posted"),
    (EVENT_PAYMENT_UPDATED, "Payment status or settlement changed"),
    (EVENT_PAYMENT_DRAFT, "Payment reset to draft"),
    (EVENT_PAYMENT_CANCELLED, "Payment cancelled"),
    (EVENT_PARTNER_UPSERTED, "Partner created or changed"),
    (EVENT_PARTNER_MERGED, "Partner merged"),
    (EVENT_PARTNER_EXPOSURE, "Partner credit exposure"),
    # Period feeds (finance.sync.feed): one event per part of a run.
    ("feed.trial_balance", "Feed: trial balance"),
    ("feed.ar_aging", "Feed: AR aging"),
    ("feed.ap_aging", "Feed: AP aging"),
    ("feed.gl_summary", "Feed: GL summary"),
]

# Document kinds, as named in payloads and in a backend's scope.
MOVE_KINDS = {
    "out_invoice": "customer_invoice",
    "in_invoice": "vendor_bill",
    "out_refund": "customer_credit_note",
    "in_refund": "vendor_credit_note",
}
PAYMENT_KINDS = {"inbound": "customer_payment", "outbound": "vendor_payment"}
# The payment that settles each kind of document: (account.payment payment_type, partner_type).
PAYMENT_DIRECTIONS = {
    "out_invoice": ("inbound", "customer"),
    "in_invoice": ("outbound", "supplier"),
    "out_refund": ("outbound", "customer"),
    "in_refund": ("inbound", "supplier"),
}

# --- Job lifecycle ----------------------------------------------------------------------
JOB_STATES = [
    ("pending", "Pending"),
    ("blocked", "Blocked"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("dead", "Dead"),
    ("cancelled", "Cancelled"),
]
# A later event of a document waits while an earlier one is in one of these states.
JOB_OPEN_STATES = ("pending", "blocked", "failed", "dead")
# What the current transaction captured: {(res_model, backend id, res_id): id of the last job
# captured for that record and backend}, kept in ``cr.postcommit.data`` so that a commit or a
# rollback forgets it. Such a job is not committed, so no worker can have claimed it: a later
# comparison in the same transaction gives it the latest figures rather than capture a second
# event (Odoo runs the pre-commit hooks at every flushing savepoint too).
TRANSACTION_JOBS = "finance_sync.transaction_jobs"

# --- Dispatch defaults ------------------------------------------------------------------
DEFAULT_MAX_CONCURRENT = 8  # requests in flight per backend (1 = one at a time)
MAX_CONCURRENT_LIMIT = 64
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_CIRCUIT_THRESHOLD = 5  # consecutive transport failures that open the circuit
DEFAULT_CIRCUIT_COOLDOWN = 300  # seconds before a probe is allowed
DEFAULT_SECRET_OVERLAP_HOURS = 24

# --- Dispatcher (see models/finance_sync_dispatcher.py) -------------------------------------
DEFAULT_DISPATCHER_WORKERS = 1
DISPATCH_MAX_WORKERS = 32
DISPATCH_LEASE_MARGIN_SECONDS = 10  # a claim outlives the longest request (2 x timeout) by this much
DISPATCH_REFRESH_SECONDS = 5  # backends, secrets and circuits are read again this often
DISPATCH_IDLE_WAIT_SECONDS = 30  # a worker with nothing due waits this long for work coming due
DISPATCH_MIN_SLICE_SECONDS = 2  # room kept before the deadline to record and commit

# --- Server configuration keys (odoo.conf [options]) / environment variables -------------
CONFIG_ENCRYPTION_KEY = "finance_sync_encryption_key"
ENV_ENCRYPTION_KEY = "FINANCE_SYNC_ENCRYPTION_KEY"
CONFIG_ALLOW_PRIVATE = "finance_sync_allow_private_endpoints"  # former [options] key, still read
CONFIG_SECTION = "finance_sync"  # the module's own section of the configuration file
OPTION_ALLOW_PRIVATE = "allow_private_endpoints"  # in that section (development only)
PARAM_GENERATED_KEY = "finance_sync.generated_encryption_key"

# --- Settings (system parameters) -----------------------------------------------------------
PARAM_DEFAULT_USER = "finance_sync.default_user_id"
PARAM_ALERT_BACKLOG = "finance_sync.alert_backlog"
DEFAULT_ALERT_BACKLOG = 500
PARAM_ALERT_AGE_MINUTES = "finance_sync.alert_age_minutes"
DEFAULT_ALERT_AGE_MINUTES = 60
PURGE_BATCH_SIZE = 1000

# --- Exceptions ---------------------------------------------------------------------------
EXCEPTION_CATEGORIES = [
    ("missing_mapping", "Missing mapping"),
    ("validation", "Validation"),
    ("rejected", "Rejected by platform"),
    ("transport", "Transport"),
    ("authentication", "Authentication"),
    ("conflict", "Conflict"),
    ("inbound_unknown_reference", "Inbound: unknown reference"),
    ("inbound_invalid", "Inbound: invalid"),
    ("warehouse_schema", "Warehouse schema"),
    ("reconciliation", "Reconciliation"),
    ("late_delivery", "Late delivery"),
    ("dependency", "Waiting for partner"),
    ("credit_hold", "Customer on credit hold"),
    ("approval_rejected", "Rejected after posting"),
    ("possible_duplicate", "Possible duplicate partner"),
    ("bank_account", "Bank account to check"),
    ("business", "Business finding"),
]
EXCEPTION_OPEN_STATES = ("new", "in_progress")

# --- Inbound webhooks -------------------------------------------------------------------
INBOUND_DELIVERY_ACKNOWLEDGED = "delivery.acknowledged"
INBOUND_DELIVERY_REJECTED = "delivery.rejected"
INBOUND_PAYMENT_STATUS = "payment.status"
INBOUND_INVOICE_STATUS = "invoice.status"
INBOUND_INVOICE_CREATE = "invoice.create"
INBOUND_BILL_CREATE = "bill.create"
INBOUND_APPROVAL_STATUS = "approval.status"
INBOUND_RECONCILIATION_REPORT = "reconciliation.report"
INBOUND_PARTNER_CREDIT = "partner.credit"
INBOUND_PARTNER_UPSERT = "partner.upsert"
INBOUND_ORDER_CREATE = "order.create"
INBOUND_DEALS_REPORT = "deals.report"
INBOUND_EVENT_TYPES = [
    (INBOUND_DELIVERY_ACKNOWLEDGED, "Delivery acknowledged"),
    (INBOUND_DELIVERY_REJECTED, "Delivery rejected"),
    (INBOUND_PAYMENT_STATUS, "Payment status"),
    (INBOUND_INVOICE_STATUS, "Invoice status"),
    (INBOUND_INVOICE_CREATE, "Invoice created"),
    (INBOUND_BILL_CREATE, "Bill created"),
    (INBOUND_APPROVAL_STATUS, "Approval status"),
    (INBOUND_RECONCILIATION_REPORT, "Reconciliation report"),
    (INBOUND_PARTNER_CREDIT, "Partner credit decision"),
    (INBOUND_PARTNER_UPSERT, "Account created or changed"),
    (INBOUND_ORDER_CREATE, "Order created"),
    (INBOUND_DEALS_REPORT, "Won deals report"),
]
INBOUND_STATES = [
    ("received", "Received"),
    ("processed", "Processed"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
]
EXTERNAL_PAYMENT_STATUSES = [
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("refunded", "Refunded"),
]
INBOUND_MAX_BODY_BYTES = 256 * 1024  # an event is a few hundred bytes; refuse anything bigger early
INBOUND_PAUSED_RETRY_AFTER = 300  # seconds, sent as Retry-After while a backend is paused
INBOUND_MAX_HEADERS = 50  # headers kept (masked) on a stored event
INBOUND_MAX_HEADER_VALUE = 500  # characters kept per header value
INBOUND_MAX_JSON_DEPTH = 64  # nesting levels of arrays and objects in an event body (an event needs 4)
INBOUND_PURGE_BATCH = 1000

# --- Retention (system parameter shared with the job retention) ----------------------------
PARAM_RETENTION_DAYS = "finance_sync.retention_days"
DEFAULT_RETENTION_DAYS = 90

# --- Inbound documents (invoice.create, bill.create, approval.status) ---------------------
# The platform's kind of document -> Odoo's move type.
INBOUND_DOCUMENT_MOVE_TYPES = {
    INBOUND_INVOICE_CREATE: {"invoice": "out_invoice", "credit_note": "out_refund"},
    INBOUND_BILL_CREATE: {"bill": "in_invoice", "refund": "in_refund", "expense": "in_invoice"},
}
DOCUMENT_POSTING_POLICIES = [
    ("draft", "Keep as draft"),
    ("approved", "Post when approved"),
    ("immediate", "Post at once"),
]
# --- Sales orders platforms create (order.create; only with Odoo's Sales app) ---------------
ORDER_CONFIRM_POLICIES = [
    ("quotation", "Keep as quotation"),
    ("confirm", "Confirm the order"),
]
APPROVAL_STATES = [
    ("pending", "Waiting for approval"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("withdrawn", "Withdrawn"),
]
# Who may post a platform's document before the platform approved it (with a reason): an
# accounting administrator. A Finance Sync administrator configures the platform that approves:
# they alone may not also pass over its approval (segregation of duties).
APPROVAL_OVERRIDE_GROUP = "account.group_account_manager"
# --- Business reconciliation, delivery SLA and metrics --------------------------------------
RECONCILIATION_STATES = [
    ("waiting", "Waiting for report"),
    ("matched", "Matched"),
    ("mismatched", "Mismatched"),
]
PARAM_DELIVERY_SLA_MINUTES = "finance_sync.delivery_sla_minutes"  # 0 or empty: no SLA
PARAM_METRICS_TOKEN = "finance_sync.metrics_token_encrypted"  # noqa: S105 - a parameter's name, not a secret
LATE_DELIVERY_JOBS_LINKED = 500  # late jobs linked to the grouped exception (the count says the rest)
# --- Master data and credit exposure --------------------------------------------------------
# Partner events: the customers and suppliers of a backend with the *Master data* scope.
PARTNER_EVENT_TYPES = (EVENT_PARTNER_UPSERTED, EVENT_PARTNER_MERGED, EVENT_PARTNER_EXPOSURE)
DEFAULT_EXPOSURE_INTERVAL_MINUTES = 15  # at most one exposure event per partner and backend this often
