"""Errors the module raises and catches across its models, in one place."""

from odoo.exceptions import ConcurrencyError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

# What Odoo answers by retrying the whole transaction (request or cron) on a fresh snapshot:
# Odoo's own list, and its ORM's concurrent-update error. Never turned into a failed event.
RETRYABLE_ERRORS = (*PG_CONCURRENCY_EXCEPTIONS_TO_RETRY, ConcurrencyError)


class InboundRefusal(Exception):
    """A valid, verified event that Odoo will not apply as it stands.

    Turned into a sync exception of ``category`` linked to the event (and to the job and
    document when known); whatever the handler wrote before is rolled back. ``message`` says why
    (an ``engine.messages.Message``)."""

    def __init__(self, category, message, document=None, job=None, fingerprint_key=""):
        super().__init__(str(message))
        self.category = category
        self.message = message
        self.document = document
        self.job = job
        self.fingerprint_key = fingerprint_key
