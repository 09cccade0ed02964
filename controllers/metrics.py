"""Prometheus metrics for operations teams: ``GET /finance_sync/metrics``.

Protected by the bearer token of Settings (at least 32 random characters, stored encrypted like
the backends' credentials and compared in constant time); any other request is refused with 401
and nothing is computed, and so is every request while the stored token is too weak (one set
before tokens had to be long). One token for the whole database: the figures are every company's
backends (names and counts, no documents), for system administrators' monitoring. The
figures come from ``finance.sync.backend._finance_sync_metrics`` in a fixed number of grouped
queries, whatever the number of backends and jobs.
"""

import hmac
import logging

from odoo import http
from odoo.http import request

from .. import const
from ..engine import metrics as metrics_lib
from ..engine.crypto import DecryptError
from ..utils import secret_box

_logger = logging.getLogger(__name__)


class FinanceSyncMetricsController(http.Controller):
    @http.route(
        "/finance_sync/metrics",
        type="http",
        auth="none",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def finance_sync_metrics(self):
        if not _authorized():
            _logger.info("finance_sync: metrics request refused (401)")
            return request.make_json_response(
                {"error": "unauthorized", "message": "Send the metrics token of Settings as a bearer token."},
                headers=[("WWW-Authenticate", 'Bearer realm="finance_sync"')],
                status=401,
            )
        text = request.env["finance.sync.backend"].sudo()._finance_sync_metrics()
        return request.make_response(text, headers=[("Content-Type", metrics_lib.CONTENT_TYPE)])


def _authorized():
    """Whether the request carries the configured token (never true while none is configured)."""
    header = request.httprequest.headers.get("Authorization", "")
    scheme, _sep, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    stored = request.env["ir.config_parameter"].sudo().get_param(const.PARAM_METRICS_TOKEN)
    if not stored:
        return False
    try:
        expected = secret_box(request.env).decrypt(stored)
    except DecryptError:
        _logger.warning("finance_sync: the metrics token cannot be decrypted; set it again in Settings")
        return False
    problem = metrics_lib.token_problem(expected)
    if problem:
        # Set before tokens had to be long and random: a guessable token opens nothing.
        _logger.warning("finance_sync: the metrics token is refused (%s); set a new one in Settings", problem)
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))
