"""Inbound webhooks: platforms post signed status updates to Odoo.

The route stays thin: find the backend → check method, type and size → check the headers →
verify the signature → parse and validate → hand over to ``finance.sync.inbound.event._receive``
(store once, apply as the technical user) → answer. Every refusal is a JSON
``{"error": code, "message": text}`` with a 4xx status (503 while the backend is paused), writes
nothing and logs one short line; nothing a caller sends can make the route answer 5xx.

``auth='none'``: the caller is authenticated by the Standard Webhooks signature, not by a session.
No session user and no public user are involved: a stray session cookie changes nothing, and no
ORM call runs with the public user's rights. The route opens a read/write cursor (``readonly``
defaults to True for ``auth='none'``) and works as the inbound technical user once the signature
is verified.
"""

import logging

from werkzeug.exceptions import RequestEntityTooLarge

from odoo import http
from odoo.http import request

from .. import const
from ..engine import inbound, signing
from ..engine.crypto import DecryptError

_logger = logging.getLogger(__name__)


class FinanceSyncWebhookController(http.Controller):
    def _stream_limit(self):
        """Reading limit of werkzeug for this route. Bodies with a Content-Length are measured by
        the handler first (to answer 413 in JSON, after the token check), so they keep Odoo's
        default; streamed bodies (no Content-Length) are cut one byte past the inbound limit while
        read (werkzeug stops quietly at its limit: the extra byte tells a body that is too long)."""
        if request.httprequest.content_length is not None:
            return request.httprequest.max_content_length
        return const.INBOUND_MAX_BODY_BYTES + 1

    @http.route(
        "/finance_sync/webhook/<string:token>",
        type="http",
        auth="none",
        methods=None,  # every method reaches the handler, which answers 405 in JSON
        csrf=False,
        save_session=False,
        readonly=False,
        max_content_length=_stream_limit,
    )
    def finance_sync_webhook(self, token):
        backend = None
        try:
            backend = _find_backend(token)
            body = _read_request(backend)
            webhook_id = _verify(backend, body)
            payload = _parse(body, backend)
        except _Refusal as refusal:
            return refusal.answer(backend)

        # 8. Store once and apply, as the technical user.
        Event = backend._inbound_env(request.env["finance.sync.inbound.event"])
        headers = request.httprequest.headers
        event_id, duplicate = Event._receive(backend.with_env(Event.env), webhook_id, payload, headers)
        if duplicate:
            return request.make_json_response({"status": "duplicate", "duplicate": True, "id": event_id}, status=200)
        event = Event.browse(event_id)
        answer = {"status": "accepted", "id": event_id, "state": event.state, **event._get_answer_details()}
        return request.make_json_response(answer, status=202)


class _Refusal(Exception):
    """A delivery refused by one of the checks: answered in JSON, nothing written."""

    def __init__(self, status, code, message, headers=None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.extra = status, code, message, headers, extra

    def answer(self, backend):
        """The JSON answer, and one short log line (never the token, the headers or the body)."""
        _logger.info(
            "finance_sync: inbound delivery refused for backend %s: %s %s",
            backend.id if backend else "-",
            self.status,
            self.code,
        )
        return request.make_json_response(
            {"error": self.code, "message": self.message, **self.extra}, headers=self.headers, status=self.status
        )


def _find_backend(token):
    """1. Token: unknown, archived and draft backends all look the same. A token with control
    characters is no token at all (a NUL cannot even be searched for): a malformed request."""
    if inbound.has_control_character(token):
        raise _Refusal(400, "bad_token", "The address holds control characters; no webhook token has any.")
    backend = request.env["finance.sync.backend"].sudo()._get_by_webhook_token(token)
    if not backend:
        raise _Refusal(404, "not_found", "There is no webhook endpoint at this address.")
    return backend


def _read_request(backend):
    """2. Method and content type. 3. Size: from Content-Length before reading anything, then
    while reading. 4. Headers are text: control characters (RFC 9110 allows none but HTAB) are
    neither signed, compared nor stored. Returns the body."""
    httprequest = request.httprequest
    if httprequest.method != "POST":
        raise _Refusal(405, "method_not_allowed", "Use POST.", headers=[("Allow", "POST")])
    if httprequest.mimetype != "application/json":
        raise _Refusal(415, "unsupported_media_type", "Send the event as application/json.")
    limit = const.INBOUND_MAX_BODY_BYTES
    too_large = _Refusal(413, "payload_too_large", f"The body exceeds {limit} bytes.")
    if httprequest.content_length is not None and httprequest.content_length > limit:
        raise too_large
    body = _read_body(limit)
    if body is None:
        raise too_large
    bad_header = inbound.header_with_control_character(httprequest.headers)
    if bad_header:
        raise _Refusal(400, "bad_header", f"Header {bad_header[:64]} holds a control character.")
    return body


def _verify(backend, body):
    """5. Signature (fails closed without a secret), before parsing anything of the body.
    6. A paused backend takes nothing now; the platform retries later. Returns the webhook-id."""
    try:
        secrets = backend._get_inbound_secrets()
    except DecryptError:
        _logger.warning("finance_sync: the signing secret of backend %s cannot be decrypted", backend.id)
        secrets = []  # fail closed: answered like a backend without a secret
    try:
        webhook_id = signing.verify(
            secrets, request.httprequest.headers, body, tolerance=const.INBOUND_TIMESTAMP_TOLERANCE
        )
    except signing.SignatureError as exc:
        raise _Refusal(401, exc.code, exc.message) from None
    if len(webhook_id) > 255:
        raise _Refusal(400, "bad_webhook_id", "webhook-id is longer than 255 characters.")
    if backend.state == "paused":
        retry_after = [("Retry-After", str(const.INBOUND_PAUSED_RETRY_AFTER))]
        raise _Refusal(503, "backend_paused", "This endpoint is paused; retry later.", headers=retry_after)
    return webhook_id


def _parse(body, backend):
    """7. JSON that PostgreSQL can store, then the event's schema, then whether this backend may
    send it at all (an event only an authority sends, from a backend that is not that authority:
    the same answer for every authority), then its amounts against their currency's decimal
    places. Returns the event."""
    try:
        payload = inbound.parse_json(body, max_depth=const.INBOUND_MAX_JSON_DEPTH)
    except inbound.MalformedJSON as exc:
        raise _Refusal(400, exc.code, exc.message) from None
    try:
        inbound.validate(payload)
    except inbound.InvalidEvent as exc:
        raise _Refusal(422, exc.code, exc.message, errors=[v.as_dict() for v in exc.violations]) from None
    refusal = backend._may_receive(payload["type"])
    if refusal:
        code, note = refusal
        raise _Refusal(422, code, str(note), errors=[])
    try:
        backend.env["finance.sync.inbound.event"]._check_amount_precision(payload)
    except inbound.InvalidEvent as exc:
        raise _Refusal(422, exc.code, exc.message, errors=[v.as_dict() for v in exc.violations]) from None
    return payload


def _read_body(limit):
    """The raw body, or None when it is longer than ``limit``.

    With a Content-Length the handler has checked it already and werkzeug reads no further;
    a streamed (chunked) body is cut by werkzeug at ``limit`` (see ``_stream_limit``). The
    body is cached on the request: when Odoo retries the transaction after a serialization
    failure it calls the route again, and the input can only be read once.
    """
    try:
        body = request.httprequest.get_data(cache=True)
    except RequestEntityTooLarge:
        return None
    return body if len(body) <= limit else None
