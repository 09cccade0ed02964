"""The ``broker`` transport: events published to a topic exchange of an AMQP 0-9-1 broker
(RabbitMQ) with ``pika``, each sending thread on its own connection and channel (pika's blocking
connection is not thread-safe), opened on first use and closed with the transport. A thread
publishes a batch of messages, then waits for all their confirms at once.

Each event is published as it would be posted to a webhook: the same canonical JSON body, the
event id as the message id, the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) and the document's sequence among the message's headers, persistent
(``delivery_mode`` 2), under the routing key ``<event type>.<company code or id>``. The channel is
in *publisher confirm* mode and every message is ``mandatory``: an event is delivered (status 200,
like a platform's acknowledgement) only once the broker confirmed it, so it is on disk in every
queue bound for it. A message no queue is bound for comes back (``basic.return``): it fails and
a person is told, rather than being dropped by the broker. A negative acknowledgement, a confirm
that does not come within the backend's timeout, or a lost connection is retried, with the same
id and body (the outbox's retry path): consumers deduplicate on the message id, as platforms do
on the webhook id.

A failure carries its verdict (:class:`classify.ClassifiedError`), as the warehouse's do.
"""

import dataclasses
import json
import logging
import os
import re
import ssl
import threading
import time
from urllib.parse import quote, unquote, urlsplit

import pika
from pika import exceptions as amqp
from pika import spec

from . import classify, redact, signing
from .messages import MessageError, message
from .transport import OutboundRequest, Transport, TransportResult, elapsed_ms, register

_logger = logging.getLogger(__name__)
# pika logs every connection's opening and closing at INFO, several lines each: its warnings and
# errors are what an operator needs (the transport's failures are in the attempt log).
logging.getLogger("pika").setLevel(logging.WARNING)

PORTS = {"amqps": 5671, "amqp": 5672}
DEFAULT_EXCHANGE = "finance_sync"
DEAD_LETTER_SUFFIX = ".dead-letter"  # the exchange dead letters of the consumers' queues go to
DELIVERY_LIMIT = 20  # deliveries of one message to a consumer's queue before it is dead-lettered
OK_STATUS = 200
PERSISTENT = 2  # delivery_mode: written to disk by the broker
CONFIRMED = "confirmed by the broker"
REASON_LIMIT = 500
MAX_CONNECT_TIMEOUT = 5.0  # seconds, as for webhooks
HEADER_SEQUENCE = "sequence"
HEADER_EVENT_TYPE = "event-type"
ROUTING_KEY_LIMIT = 255  # bytes (AMQP short string)
NOT_FOUND, ACCESS_REFUSED, PRECONDITION_FAILED, NOT_ALLOWED = 404, 403, 406, 530

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,127}")  # exchange and consumer names
_WORD = re.compile(r"[^A-Za-z0-9_-]")  # what may not stand in one word of a routing key


class ConfirmTimeout(TimeoutError):
    """The broker did not confirm a message within the timeout."""


@dataclasses.dataclass(frozen=True)
class Broker:
    """Where events are published: the broker, its virtual host, the credentials and exchange,
    and the address the URL guard vetted for the host (None: DNS decides)."""

    host: str
    port: int
    vhost: str = "/"
    user: str = ""
    password: str | None = dataclasses.field(default=None, repr=False)
    tls: bool = True
    exchange: str = DEFAULT_EXCHANGE
    address: str | None = None
    timeout: float = 10.0

    def describe(self) -> str:
        """``amqps://host:port/vhost``, without credentials: for messages and logs."""
        scheme = "amqps" if self.tls else "amqp"
        literal = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{literal}:{self.port}/{quote(self.vhost, safe='')}"

    def parameters(self) -> pika.ConnectionParameters:
        """pika's connection parameters: TLS checked against the host name (the vetted address is
        connected to), connecting within 5 s, a broker blocking publishers for longer than the
        timeout dropped (a resource alarm), one attempt (the outbox retries)."""
        ssl_options = None
        if self.tls:
            cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None
            context = ssl.create_default_context(cafile=cafile)
            ssl_options = pika.SSLOptions(context, server_hostname=self.host)
        return pika.ConnectionParameters(
            host=self.address or self.host,
            port=self.port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.user or "", self.password or ""),
            ssl_options=ssl_options,
            connection_attempts=1,
            retry_delay=0,
            socket_timeout=min(MAX_CONNECT_TIMEOUT, self.timeout),
            stack_timeout=self.timeout + MAX_CONNECT_TIMEOUT,
            blocked_connection_timeout=self.timeout,
            client_properties={"connection_name": "finance_sync"},
        )

    def connect(self) -> pika.BlockingConnection:
        return pika.BlockingConnection(self.parameters())

    @property
    def dead_letter_exchange(self) -> str:
        return self.exchange + DEAD_LETTER_SUFFIX


# === SETTINGS === #


def parse_url(url: str) -> tuple[bool, str, int, str]:
    """(TLS, host, port, virtual host) of an ``amqps://host[:port][/vhost]`` URL; raises
    :class:`MessageError` for anything else (another scheme, no host, credentials in the URL:
    they have fields of their own, stored encrypted)."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise MessageError(message("broker_bad_url", detail=str(exc))) from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS or not parts.hostname or parts.query or parts.fragment:
        raise MessageError(message("broker_bad_url"))
    if parts.username is not None or parts.password is not None:
        raise MessageError(message("broker_url_credentials"))
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    vhost = unquote(path) if path else "/"
    return scheme == "amqps", parts.hostname, port or PORTS[scheme], vhost


def check_name(name: str) -> bool:
    """Whether ``name`` may name an exchange or a consumer's queue (``amq.`` is the broker's own)."""
    return bool(name and _NAME.fullmatch(name) and not name.startswith("amq."))


def consumer_names(text: str) -> list[str]:
    """The consumer names of a backend's list (commas or lines between them), in order, once each."""
    names = []
    for word in re.split(r"[,\n]", text or ""):
        name = word.strip()
        if name and name not in names:
            names.append(name)
    return names


def routing_key(event: dict) -> str:
    """``<event type>.<company code or id>``: a consumer binds ``invoice.*.#`` for every company's
    invoices, ``#.ACME`` for one company's events. The company word keeps letters, digits, ``_`` and
    ``-`` (a dot would make it two words)."""
    company = event.get("company")
    code = (company.get("code") or company.get("id")) if isinstance(company, dict) else company
    word = _WORD.sub("_", str(code)) if code not in (None, "") else "none"
    return f"{event.get('type') or 'unknown'}.{word}".encode()[:ROUTING_KEY_LIMIT].decode("utf-8", "ignore")


def properties(event_id: str, event: dict, headers: dict) -> pika.BasicProperties:
    """The message's properties: persistent, its id the event id, the signature's headers and
    the document's sequence."""
    amqp_headers = {
        name: value
        for name, value in headers.items()
        if name in {signing.HEADER_ID, signing.HEADER_TIMESTAMP, signing.HEADER_SIGNATURE}
    }
    amqp_headers[HEADER_EVENT_TYPE] = str(event.get("type") or "")
    if event.get("sequence") is not None:
        amqp_headers[HEADER_SEQUENCE] = int(event["sequence"])
    return pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=PERSISTENT,
        message_id=event_id,
        timestamp=int(time.time()),
        type=str(event.get("type") or ""),
        app_id="finance_sync",
        headers=amqp_headers,
    )


# === VERDICTS === #


def _said(exc: BaseException) -> str:
    """The broker's own words (``NOT_FOUND - no exchange …``), or the error's."""
    reply = getattr(exc, "reply_text", None)
    if reply:
        return str(reply)
    inner = next((arg for arg in getattr(exc, "args", ()) if isinstance(arg, (BaseException, str))), None)
    return str(inner or exc).strip() or type(exc).__name__


def judge(exc: BaseException, broker: Broker, key: str = "") -> classify.Classification:
    """What a failure to publish an event on ``broker`` means for its job."""
    text = redact.mask_text(_said(exc), [broker.password or ""])[:REASON_LIMIT]
    where = broker.describe()
    if isinstance(exc, MessageError):
        return classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, exc.note)
    if isinstance(exc, amqp.UnroutableError):
        note = message("broker_unroutable", key=key, exchange=broker.exchange)
        return classify.Classification(classify.FAILED, classify.CATEGORY_REJECTED, note)
    if isinstance(exc, amqp.NackError):
        return classify.Classification(classify.RETRY, classify.CATEGORY_TRANSPORT, message("broker_nack"))
    if isinstance(exc, ConfirmTimeout):
        note = message("broker_timeout", seconds=f"{broker.timeout:g}")
        return classify.Classification(classify.RETRY, classify.CATEGORY_TRANSPORT, note)
    if isinstance(exc, amqp.ProbableAuthenticationError):
        note = message("broker_authentication", target=where, detail=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_AUTHENTICATION, note)
    if isinstance(exc, amqp.ProbableAccessDeniedError):
        note = message("broker_access_refused", target=where, reason=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_AUTHENTICATION, note)
    if isinstance(exc, amqp.ChannelClosedByBroker) and exc.reply_code == NOT_FOUND:
        note = message("broker_exchange_missing", exchange=broker.exchange, target=where)
        return classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, note)
    if isinstance(exc, amqp.ChannelClosedByBroker) and exc.reply_code == ACCESS_REFUSED:
        note = message("broker_access_refused", target=where, reason=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_AUTHENTICATION, note)
    if isinstance(exc, (amqp.AMQPError, OSError)):
        note = message("broker_unreachable", target=where, detail=text)
        return classify.Classification(classify.RETRY, classify.CATEGORY_TRANSPORT, note)
    note = message("broker_bad_event", reason=text)
    return classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, note)


# === THE TRANSPORT === #

ACKED, NACKED, RETURNED = "acked", "nacked", "returned"
BATCH_SIZE = 50  # messages published on one channel before their confirms are awaited together


class _Confirms:
    """The publisher confirms of one channel, kept by its sending thread: the delivery tag of
    every message published and not yet confirmed, the messages the broker returned (a return
    comes before the confirm of its message) and each settled message's verdict.

    pika's blocking channel awaits one confirm per publish; its underlying channel takes the
    confirms as they come (``basic.ack``/``basic.nack``, ``multiple`` settling every earlier tag
    too), which lets a batch of messages wait for its confirms together."""

    def __init__(self):
        self.selected = False
        self.last_tag = 0  # the broker numbers a confirming channel's messages 1, 2, …
        self.waiting = {}  # delivery tag -> message id
        self.returned = set()  # message ids returned and not yet confirmed
        self.settled = {}  # delivery tag -> ACKED, NACKED or RETURNED

    def on_select_ok(self, _frame):
        self.selected = True

    def published(self, message_id) -> int:
        self.last_tag += 1
        self.waiting[self.last_tag] = message_id
        return self.last_tag

    def on_return(self, _channel, _method, props, _body):
        self.returned.add(props.message_id)

    def on_confirm(self, frame):
        method = frame.method
        nacked = isinstance(method, spec.Basic.Nack)
        tag = method.delivery_tag
        tags = [t for t in self.waiting if t <= tag] if method.multiple else [tag]
        for settled in tags:
            message_id = self.waiting.pop(settled, None)
            if message_id is None:
                continue
            returned = message_id in self.returned
            self.returned.discard(message_id)
            self.settled[settled] = NACKED if nacked else RETURNED if returned else ACKED


class BrokerTransport(Transport):
    """Publishes events to ``broker``'s exchange with publisher confirms, one connection per
    sending thread (at most as many as the dispatcher's threads for the backend), up to
    ``max_batch`` messages in flight on it before their confirms are awaited together.

    A batch never holds two events of one document: the dispatcher only claims a document's
    earliest open event (``finance_sync_outbox.first_of_stream``), so the next one is published
    only once this one is *done*; a message nacked, returned or lost with its connection never
    lets a later event of its document through."""

    max_batch = BATCH_SIZE

    def __init__(self, broker: Broker, pool_maxsize: int = 1):
        self.broker = broker
        self.pool_maxsize = pool_maxsize
        self.stats = {"published": 0, "batches": 0}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []

    def _channel(self):
        """This thread's (connection, channel, confirms), the channel in confirm mode, opened on
        first use (and after a failure)."""
        current = getattr(self._local, "current", None)
        if current is not None and current[0].is_open and current[1].is_open:
            return current
        if current is not None:
            self._drop(current[0])
        conn = self.broker.connect()
        with self._lock:
            self._connections.append(conn)
        try:
            channel = conn.channel()
            confirms = _Confirms()
            # The underlying channel, whose callbacks see each confirm and return as it comes.
            channel._impl.add_on_return_callback(confirms.on_return)
            channel._impl.confirm_delivery(ack_nack_callback=confirms.on_confirm, callback=confirms.on_select_ok)
            self._wait(conn, channel, lambda: confirms.selected)
        except BaseException:
            self._drop(conn)
            raise
        self._local.current = (conn, channel, confirms)
        return self._local.current

    def _drop(self, conn):
        """Forget and close a connection that failed (a new one is opened for the next event)."""
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        if getattr(self._local, "current", (None,))[0] is conn:
            self._local.current = None
        _abort(conn)

    def _wait(self, conn, channel, ready):
        """Process the connection's input and output until ``ready()``, at most the timeout:
        raises :class:`ConfirmTimeout` then (the connection is dropped), the broker's error when
        it closes the channel (``ChannelClosedByBroker``) or the connection's when it is lost."""

        def expire():
            raise ConfirmTimeout(f"no confirm within {self.broker.timeout:g} s")

        # pika's blocking connection runs its timers while it processes I/O (its public
        # call_later only queues them for process_data_events).
        timer = conn._impl._adapter_call_later(self.broker.timeout, expire)
        try:
            channel._flush_output(ready)
        finally:
            conn._impl._adapter_remove_timeout(timer)

    def _publish(self, messages):
        """Publish ``messages`` ([(key, body, properties)]) in order on this thread's channel and
        wait for all their confirms at once: one verdict each, None (confirmed) or the exception
        that stands for its failure."""
        verdicts, tags, conn, failure = [None] * len(messages), {}, None, None
        try:
            conn, channel, confirms = self._channel()
            for index, (key, body, props) in enumerate(messages):
                channel._impl.basic_publish(self.broker.exchange, key, body, props, mandatory=True)
                tags[confirms.published(props.message_id)] = index
            self._wait(conn, channel, lambda: not confirms.waiting)
            if confirms.waiting:  # the channel closed under the batch
                raise amqp.ChannelWrongStateError("the channel closed before the broker confirmed")
        except (amqp.AMQPError, OSError, ConfirmTimeout) as exc:
            failure = exc
        for index in range(len(messages)):
            verdicts[index] = failure  # not published, or its confirm lost: retried
        for tag, index in tags.items():
            verdict = confirms.settled.pop(tag, None)
            if verdict == ACKED:
                verdicts[index] = None
            elif verdict == NACKED:
                verdicts[index] = amqp.NackError([])
            elif verdict == RETURNED:
                verdicts[index] = amqp.UnroutableError([])
        if failure is not None:
            if tags:
                confirms.waiting.clear()
                confirms.settled.clear()
            if conn is not None:
                # Anything but a nack or a return may have left the channel unusable: the
                # connection is opened again for the next event.
                self._drop(conn)
        return verdicts

    def send(self, request: OutboundRequest) -> TransportResult:
        """Publish the event in ``request.body`` and wait for the broker's confirm; never raises."""
        return self.send_batch([request])[0]

    def send_batch(self, requests: list) -> list:
        """Publish the events of ``requests`` in order and wait for their confirms together: one
        result each (confirmed: status 200; nacked, returned, not confirmed in time or lost with
        the connection: its own error); never raises."""
        start = time.monotonic()
        results, keys, messages, positions = [None] * len(requests), [""] * len(requests), [], []
        for position, request in enumerate(requests):
            try:
                event = json.loads(request.body)
                if not isinstance(event, dict):
                    raise ValueError("the event is not a JSON object")
                keys[position] = routing_key(event)
                event_id = str(event.get("event_id") or request.headers.get("Idempotency-Key") or "")
                props = properties(event_id, event, request.headers)
            except (ValueError, TypeError) as exc:
                results[position] = self._failed(exc, start, keys[position])
                continue
            messages.append((keys[position], request.body, props))
            positions.append(position)
        if messages:
            self.stats["batches"] += 1
        for position, failure in zip(positions, self._publish(messages) if messages else [], strict=True):
            if failure is None:
                self.stats["published"] += 1
                results[position] = TransportResult(
                    status=OK_STATUS, headers={}, body_excerpt=CONFIRMED, duration_ms=elapsed_ms(start)
                )
            else:
                results[position] = self._failed(failure, start, keys[position])
        return results

    def _failed(self, exc, start, key) -> TransportResult:
        verdict = judge(exc, self.broker, key)
        _logger.debug("broker %s: event not confirmed (%s)", self.broker.describe(), type(exc).__name__)
        return TransportResult(
            status=None,
            headers={},
            body_excerpt="",
            duration_ms=elapsed_ms(start),
            error=classify.ClassifiedError(verdict),
        )

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            _close(conn)


def _close(conn):
    try:
        if conn.is_open:
            conn.close()
    except (amqp.AMQPError, OSError, ConfirmTimeout):
        _logger.debug("broker connection closed uncleanly", exc_info=True)


def _abort(conn):
    """Bring a failed connection down without the closing handshake. A broker that blocks
    publishers (a resource alarm) stops reading from their connections: a graceful close would
    wait for its answer for ever and hold the sending thread, and the dispatcher's run with it.
    pika's blocking adapter has no public abort; its connection's own stream abort is used."""
    impl = getattr(conn, "_impl", None)
    try:
        if impl is not None and conn.is_open:
            impl._adapter_disconnect_stream()  # the socket is closed now; pika learns it later
    except (amqp.AMQPError, OSError, AttributeError):
        _logger.debug("broker connection aborted uncleanly", exc_info=True)


register("broker", BrokerTransport)


# === TEST CONNECTION AND INITIALIZE === #


@dataclasses.dataclass
class Inspection:
    """What a connection test found: the broker's product and version, whether the exchange
    exists (None: the broker refused to say)."""

    server: str
    exchange_present: bool | None
    refusal: str = ""


def inspect(broker: Broker) -> Inspection:
    """Connect and look for the exchange without declaring anything (a passive declare)."""
    conn = broker.connect()
    try:
        props = conn._impl.server_properties or {}  # pika keeps them there only
        server = " ".join(_text(props.get(key)) for key in ("product", "version") if props.get(key))
        channel = conn.channel()
        try:
            channel.exchange_declare(broker.exchange, passive=True)
        except amqp.ChannelClosedByBroker as exc:
            if exc.reply_code == NOT_FOUND:
                return Inspection(server, False)
            return Inspection(server, None, _said(exc))
        return Inspection(server, True)
    finally:
        _close(conn)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def initialize(broker: Broker, consumers: list[str]) -> list[str]:
    """Declare the exchange (topic, durable) and, for each consumer, a durable quorum queue bound
    to it with ``#``, whose dead letters (a message rejected, or delivered ``DELIVERY_LIMIT``
    times) go through the dead-letter exchange to the consumer's ``.dead`` queue. Declaring what
    exists with the same settings changes nothing. :return: the names declared, in order."""
    conn = broker.connect()
    declared = []
    try:
        channel = conn.channel()
        channel.exchange_declare(broker.exchange, exchange_type="topic", durable=True)
        declared.append(broker.exchange)
        if consumers:
            channel.exchange_declare(broker.dead_letter_exchange, exchange_type="direct", durable=True)
            declared.append(broker.dead_letter_exchange)
        for consumer in consumers:
            queue, dead = queue_names(broker, consumer)
            channel.queue_declare(dead, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(dead, broker.dead_letter_exchange, routing_key=consumer)
            arguments = {
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": broker.dead_letter_exchange,
                "x-dead-letter-routing-key": consumer,
                "x-delivery-limit": DELIVERY_LIMIT,
            }
            channel.queue_declare(queue, durable=True, arguments=arguments)
            channel.queue_bind(queue, broker.exchange, routing_key="#")
            declared += [queue, dead]
    finally:
        _close(conn)
    return declared


def queue_names(broker: Broker, consumer: str) -> tuple[str, str]:
    """(the consumer's queue, its dead letters' queue)."""
    return f"{broker.exchange}.{consumer}", f"{broker.exchange}.{consumer}.dead"
