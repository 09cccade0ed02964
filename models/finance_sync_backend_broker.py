"""A backend whose transport is a message broker (AMQP 0-9-1, RabbitMQ): where the broker is, the
policy every connection to it follows (TLS unless the server allows private endpoints, the host
vetted by the URL guard), the exchange events are published to, the consumers whose queues
*Initialize broker* declares, and the actions that test the connection and declare the topology.
The password is one of the backend's secrets (finance_sync_backend_secrets.py)."""

import logging

from pika import exceptions as amqp

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine import broker as broker_lib
from ..engine import url_guard
from ..engine.messages import DETAIL, MessageError, message
from ..utils import allow_private_endpoints, render_message, secret_box

_logger = logging.getLogger(__name__)


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    broker_url = fields.Char(
        "Broker URL",
        tracking=True,
        help="amqps://host[:port][/virtual host] of the AMQP 0-9-1 broker (RabbitMQ), without user name or password.",
    )
    broker_user = fields.Char("Broker user", tracking=True, help="The broker user Odoo publishes as.")
    broker_exchange = fields.Char(
        "Exchange",
        default=broker_lib.DEFAULT_EXCHANGE,
        tracking=True,
        help="The topic exchange events are published to, under the routing key <event type>.<company code>.",
    )
    broker_consumers = fields.Char(
        "Consumers",
        tracking=True,
        help="Names of the systems that read the events (e.g. bi, risk, treasury), separated by commas: "
        "Initialize broker declares a queue for each, bound to every event, with a queue for its dead letters.",
    )

    # === CONSTRAINTS === #

    @api.constrains("transport", "state", "broker_url", "broker_user", "broker_exchange", "broker_consumers")
    def _check_broker(self):
        for backend in self.filtered(lambda b: b.transport == "broker"):
            if not broker_lib.check_name(backend.broker_exchange or ""):
                raise ValidationError(
                    self.env._(
                        "Exchange of %(name)s refused: use letters, digits and _ . : - (at most 127), not amq.",
                        name=backend.name,
                    )
                )
            bad = [c for c in broker_lib.consumer_names(backend.broker_consumers) if not broker_lib.check_name(c)]
            if bad:
                raise ValidationError(
                    self.env._(
                        "Consumer names of %(name)s refused (%(names)s): use letters, digits and _ . : -.",
                        name=backend.name,
                        names=", ".join(bad),
                    )
                )
            if backend.broker_url:
                _target, refusal = backend._broker_target(decrypt=False)
                # A host DNS does not resolve now is checked again before every send (and retried).
                if refusal is not None and not isinstance(refusal, url_guard.UnresolvedHostError):
                    reason = render_message(self.env, refusal.note.code, refusal.note.params)
                    raise ValidationError(
                        self.env._("Broker URL of %(name)s refused: %(reason)s", name=backend.name, reason=reason)
                    )
            if backend.state == "active" and not (backend.broker_url and backend.broker_user):
                raise ValidationError(
                    self.env._("Backend %s needs a broker URL and user before it can be activated.", backend.name)
                )

    # === ACTION METHODS === #

    def action_initialize_broker(self):
        """Declare the exchange and the consumers' queues on the broker."""
        self.ensure_one()
        self.check_access("write")
        if self.transport != "broker":
            raise UserError(self.env._("Only message broker backends have a broker to initialize."))
        return self._action_broker(initialize=True)

    def _action_broker(self, initialize):
        """Connect to the broker, then declare the topology or say what is there; the outcome goes
        to the chatter and a notification."""
        target, refusal = self._broker_target()
        if not (target.host and target.user):
            raise UserError(self.env._("Set the broker URL and user first."))
        if refusal is not None:
            raise UserError(render_message(self.env, refusal.note.code, refusal.note.params))
        ok, detail = False, ""
        try:
            if initialize:
                declared = broker_lib.initialize(target, broker_lib.consumer_names(self.broker_consumers))
                ok, summary = True, self.env._("Declared (or found as they are): %s.", ", ".join(declared))
            else:
                ok, summary = self._broker_inspected(target, broker_lib.inspect(target))
        except amqp.ChannelClosedByBroker as exc:
            if exc.reply_code == broker_lib.PRECONDITION_FAILED:
                summary = self.env._(
                    "A queue or exchange exists on the broker with other settings; nothing was changed: %s",
                    exc.reply_text,
                )
            else:
                note = broker_lib.judge(exc, target).note
                summary = render_message(self.env, note.code, note.params)
        except (amqp.AMQPError, OSError) as exc:
            note = broker_lib.judge(exc, target).note
            summary = render_message(self.env, note.code, note.without_detail().params)
            detail = note.params.get(DETAIL) or ""
            if isinstance(exc, amqp.AMQPConnectionError) and not isinstance(exc, amqp.ProbableAuthenticationError):
                summary = self._broker_connection_failed(target, exc, summary)
        if initialize:
            headline = self.env._("Broker initialization: %s", summary)
        else:
            headline = self.env._("Connection test: %s", summary)
        return self._notify_connection_test(ok, headline, summary, detail)

    def _broker_connection_failed(self, target, exc, summary):
        """A refused connection in words: a missing virtual host, or a server that does not answer."""
        text = str(exc)
        if isinstance(exc, amqp.ProbableAccessDeniedError) and "vhost" in text and "not found" in text:
            return self.env._(
                "The broker %(target)s has no virtual host %(vhost)s.", target=target.describe(), vhost=target.vhost
            )
        if isinstance(exc, amqp.ProbableAccessDeniedError):
            return self.env._(
                "The broker %(target)s refused the user %(user)s access to the virtual host %(vhost)s.",
                target=target.describe(),
                user=target.user,
                vhost=target.vhost,
            )
        return self.env._("The broker server %s is unreachable (nothing answered there).", target.describe())

    def _broker_inspected(self, target, found):
        """(whether the broker is ready, what the test found in words)."""
        connected = self.env._(
            "Connected to %(server)s at %(target)s, virtual host %(vhost)s, as %(user)s.",
            server=found.server or self.env._("the broker"),
            target=target.describe(),
            vhost=target.vhost,
            user=target.user,
        )
        if found.exchange_present:
            return True, " ".join((connected, self.env._("The exchange %s is present.", target.exchange)))
        if found.exchange_present is False:
            return False, " ".join(
                (
                    connected,
                    self.env._("The exchange %s is missing: press Initialize broker.", target.exchange),
                )
            )
        return False, " ".join(
            (
                connected,
                self.env._(
                    "Permission refused on the exchange %(exchange)s: %(reason)s",
                    exchange=target.exchange,
                    reason=found.refusal,
                ),
            )
        )

    # === BUSINESS METHODS === #

    def _broker_target(self, decrypt=True):
        """(where events are published, with the decrypted password and the vetted address; why Odoo
        refuses to connect there, or None). Checked when saved and whenever the dispatcher prepares
        to send (DNS answers change)."""
        self.ensure_one()
        token = self.sudo().broker_password_encrypted if decrypt else None
        password = secret_box(self.env).decrypt(token) if token else None
        try:
            tls, host, port, vhost = broker_lib.parse_url(self.broker_url or "")
        except MessageError as exc:
            return broker_lib.Broker(host="", port=0, user=self.broker_user or "", password=password), exc
        target = broker_lib.Broker(
            host=host,
            port=port,
            vhost=vhost,
            user=self.broker_user or "",
            password=password,
            tls=tls,
            exchange=self.broker_exchange or broker_lib.DEFAULT_EXCHANGE,
            timeout=float(self.timeout or 10),
        )
        private = allow_private_endpoints()
        if not tls and not private:
            return target, MessageError(message("broker_tls_required"))
        try:
            url_guard.check_characters(self.broker_url or "")
            literal = f"[{host}]" if ":" in host else host
            pin = url_guard.pin_endpoint(f"https://{literal}:{port}/", allow_private=private)
        except url_guard.UnsafeURLError as exc:
            return target, exc
        return broker_lib.Broker(**{**target.__dict__, "address": pin.address}), None
