"""Inbound webhooks: platforms post signed status updates to Odoo.

The route stays thin: find the backend → check method, type and size → verify the signature →
parse and validate → hand over to ``finance.sync.inbound.event._receive`` (store once, apply as
the technical user) → answer. Every refusal is a JSON ``{"error": code, "message": text}`` and
writes nothing.

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
        httprequest = request.httprequest

        # 1. Token: unknown, archived and draft backends all look the same.
        backend = request.env["finance.sync.backend"].sudo()._get_by_webhook_token(token)
        if not backend:
            return _refuse(404, "not_found", "There is no webhook endpoint at this address.")

        # 2. Method and content type.
        if httprequest.method != "POST":
            return _refuse(405, "method_not_allowed", "Use POST.", headers=[("Allow", "POST")])
        if httprequest.mimetype != "application/json":
            return _refuse(415, "unsupported_media_type", "Send the event as application/json.")

        # 3. Size: from Content-Length before reading anything, then while reading.
        limit = const.INBOUND_MAX_BODY_BYTES
        too_large = f"The body exceeds {limit} bytes."
        if httprequest.content_length is not None and httprequest.content_length > limit:
            return _refuse(413, "payload_too_large", too_large)
        body = _read_body(limit)
        if body is None:
            return _refuse(413, "payload_too_large", too_large)

        # 4. Signature (fails closed without a secret), before parsing anything of the body.
        try:
            secrets = backend._get_inbound_secrets()
        except DecryptError:
            _logger.warning("finance_sync: the signing secret of backend %s cannot be decrypted", backend.id)
            secrets = []  # fail closed: answered like a backend without a secret
        try:
            webhook_id = signing.verify(
                secrets,
                httprequest.headers,
                body,
                tolerance=const.INBOUND_TIMESTAMP_TOLERANCE,
            )
        except signing.SignatureError as exc:
            _logger.info("finance_sync: inbound delivery refused for backend %s: %s", backend.id, exc.code)
            return _refuse(401, exc.code, exc.message)
        if len(webhook_id) > 255:
            return _refuse(400, "bad_webhook_id", "webhook-id is longer than 255 characters.")

        # 5. A paused backend takes nothing now; the platform retries later.
        if backend.state == "paused":
            return _refuse(
                503,
                "backend_paused",
                "This endpoint is paused; retry later.",
                headers=[("Retry-After", str(const.INBOUND_PAUSED_RETRY_AFTER))],
            )

        # 6. JSON, then the event's schema.
        try:
            payload = inbound.parse_json(body)
        except inbound.MalformedJSON as exc:
            return _refuse(400, "malformed_json", f"The body is not valid JSON: {exc}")
        try:
            inbound.validate(payload, limit=const.INBOUND_MAX_SCHEMA_ERRORS)
        except inbound.InvalidEvent as exc:
            return _refuse(422, exc.code, exc.message, errors=[v.as_dict() for v in exc.violations])

        # 7. Store once and apply, as the technical user.
        Event = backend._inbound_env(request.env["finance.sync.inbound.event"])
        event_id, duplicate = Event._receive(backend.with_env(Event.env), webhook_id, payload, httprequest.headers)
        if duplicate:
            return request.make_json_response({"status": "duplicate", "duplicate": True, "id": event_id}, status=200)
        state = Event.browse(event_id).state
        return request.make_json_response({"status": "accepted", "id": event_id, "state": state}, status=202)


def _refuse(status, code, message, headers=None, **extra):
    return request.make_json_response({"error": code, "message": message, **extra}, headers=headers, status=status)


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
