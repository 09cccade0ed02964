"""The ``warehouse`` transport: events applied to a PostgreSQL warehouse by the dispatcher's
sending threads, each thread on its own connection (never shared across threads), opened on
first use, checked once for the schema version, and closed with the transport. The dispatcher
hands each thread a batch of events (:meth:`WarehouseTransport.send_batch`, up to
:data:`BATCH_SIZE`), applied in one warehouse transaction; :meth:`WarehouseTransport.send`
applies one.

A committed transaction (applied, skipped as older, or already applied) is reported as status
200, the way a platform acknowledges a webhook; a failure carries its verdict
(:class:`classify.ClassifiedError`): a connection the policy refuses (``Target.connect``: no
TLS where it is required, the ``public`` schema, Odoo's own database) fails, connection
problems and serialization failures or deadlocks are retried, a missing or outdated schema
fails and says to initialize the warehouse, and data or constraint errors fail with the
database's message, credentials masked.
"""

import dataclasses
import json
import logging
import threading
import time

import psycopg2
from psycopg2 import errors

from .. import classify, redact
from ..messages import message
from ..transport import OutboundRequest, Transport, TransportResult, elapsed_ms, register
from . import loader
from .schema import SchemaError, Target, TargetRefused, check_version

_logger = logging.getLogger(__name__)

CATEGORY_SCHEMA = "warehouse_schema"
REASON_LIMIT = 500  # characters of the database's message kept
OK_STATUS = 200
BATCH_SIZE = 50  # events applied in one warehouse transaction
CONFLICT_TRIES = 2  # a batch rolled back by a serialization failure or a deadlock is tried again at once

_SCHEMA_ERRORS = (errors.UndefinedTable, errors.InvalidSchemaName, errors.UndefinedColumn)
_CONFLICT_ERRORS = (errors.SerializationFailure, errors.DeadlockDetected)


def judge(exc: BaseException, target: Target, mask=None) -> classify.Classification:
    """What a failure while applying an event to ``target`` means for its job."""
    mask = mask or (lambda text: redact.mask_text(text, [target.password or ""]))
    text = mask(_said(exc))[:REASON_LIMIT] or type(exc).__name__
    where = target.describe()
    if isinstance(exc, TargetRefused):  # the connection policy: nothing was sent
        return classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, exc.note)
    if isinstance(exc, SchemaError):
        return classify.Classification(classify.FAILED, CATEGORY_SCHEMA, exc.note)
    if isinstance(exc, _SCHEMA_ERRORS):
        note = message("warehouse_tables_missing", schema=target.schema, detail=text)
        return classify.Classification(classify.FAILED, CATEGORY_SCHEMA, note)
    if isinstance(exc, _CONFLICT_ERRORS):
        note = message("warehouse_conflict", detail=text)
        return classify.Classification(classify.RETRY, classify.CATEGORY_TRANSPORT, note)
    if isinstance(exc, psycopg2.OperationalError) and "authentication failed" in text:
        note = message("warehouse_authentication", target=where, detail=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_AUTHENTICATION, note)
    if isinstance(exc, errors.InsufficientPrivilege):
        note = message("warehouse_privilege", target=where, reason=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_AUTHENTICATION, note)
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError, OSError)):
        note = message("warehouse_unreachable", target=where, detail=text)
        return classify.Classification(classify.RETRY, classify.CATEGORY_TRANSPORT, note)
    if isinstance(exc, psycopg2.Error):
        note = message("warehouse_rejected", reason=text)
        return classify.Classification(classify.FAILED, classify.CATEGORY_REJECTED, note)
    note = message("warehouse_bad_event", reason=text)
    return classify.Classification(classify.FAILED, classify.CATEGORY_VALIDATION, note)


def judge_test(exc: BaseException, target: Target, mask=None):
    """What a failure to connect to ``target`` during a connection test means, in words of its own
    (no event is involved), with the server's reason as the detail: the server unreachable, SSL
    required but not offered, authentication failed, the database missing; any other failure
    as :func:`judge` words it."""
    mask = mask or (lambda text: redact.mask_text(text, [target.password or ""]))
    text = mask(_said(exc))[:REASON_LIMIT] or type(exc).__name__
    said = text.lower()
    address = f"{target.host}:{target.port}"
    if isinstance(exc, (psycopg2.OperationalError, OSError)):
        if "does not support ssl" in said or "ssl was required" in said:
            return message("warehouse_test_no_ssl", address=address, sslmode=target.sslmode, detail=text)
        if "authentication failed" in said or "no password supplied" in said:
            return message("warehouse_test_authentication", user=target.user, detail=text)
        if "database" in said and "does not exist" in said:
            return message("warehouse_test_no_database", database=target.database, detail=text)
        if isinstance(exc, OSError) or "connection to server" in said or "could not" in said or "timeout" in said:
            return message("warehouse_test_unreachable", address=address, detail=text)
    return judge(exc, target, mask).note


def _said(exc: BaseException) -> str:
    """The database's own words: its message and detail, without the quoted statement (which may
    hold the event's data)."""
    diag = getattr(exc, "diag", None)
    words = [diag.message_primary, diag.message_detail] if diag is not None else []
    return " ".join(word for word in words if word) or str(exc).strip()


class WarehouseTransport(Transport):
    """Applies events to ``target`` for the Odoo database ``source``, one connection per
    sending thread (at most as many as the dispatcher's threads for the backend)."""

    max_batch = BATCH_SIZE

    def __init__(self, target: Target, source: str, pool_maxsize: int = 1):
        self.target = target
        self.source = source
        self.pool_maxsize = pool_maxsize
        self.stats = {"statements": 0, "events": 0}
        self.known = {}  # dimension rows committed by this transport's events (see loader.apply)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []  # every connection opened, to close them all

    def _connection(self):
        """This thread's connection: (connection, statements), opened and checked on first use."""
        current = getattr(self._local, "current", None)
        if current is not None and not current[0].closed:
            return current
        conn = self.target.connect()
        with self._lock:
            self._connections.append(conn)
        try:
            with conn, conn.cursor() as cr:
                check_version(cr, self.target.schema)
        except BaseException:
            self._drop(conn)
            raise
        self._local.current = (conn, loader.Statements(conn, self.target.schema))
        return self._local.current

    def _drop(self, conn):
        """Close a connection that failed (it is opened again on the next event)."""
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        if getattr(self._local, "current", (None,))[0] is conn:
            self._local.current = None
        conn.close()

    def _failed(self, conn, exc, start) -> TransportResult:
        """The result of an event ``exc`` kept from being applied (the connection dropped when
        it is no longer usable)."""
        if conn is not None and (conn.closed or isinstance(exc, (psycopg2.OperationalError, SchemaError))):
            self._drop(conn)
        verdict = judge(exc, self.target)
        _logger.debug("warehouse %s: event not applied (%s)", self.target.describe(), type(exc).__name__)
        return TransportResult(
            status=None,
            headers={},
            body_excerpt="",
            duration_ms=elapsed_ms(start),
            error=classify.ClassifiedError(verdict),
        )

    def _fails_alone(self, exc) -> bool:
        """Whether ``exc`` fails only the event it came from (its data), not its batch: what is
        not worth another try (see :func:`judge`) and is not the connection's state."""
        return not isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError, OSError)) and (
            judge(exc, self.target).outcome == classify.FAILED
        )

    def send_batch(self, requests: list) -> list:
        """Apply the events of ``requests`` in their order, in one warehouse transaction (see
        :func:`loader.apply_batch`): one result per request, in order; never raises. An event
        that fails on its own data fails alone; a failure of the transaction (connection lost,
        serialization failure or deadlock twice) applies none and gives each event its verdict."""
        start = time.monotonic()
        events = []
        for request in requests:
            try:
                events.append(json.loads(request.body))
            except ValueError as exc:
                events.append(exc)
        conn = None
        try:
            conn, statements = self._connection()
            for again in range(CONFLICT_TRIES, 0, -1):
                try:
                    answers = loader.apply_batch(
                        conn, statements, self.source, events, self.stats, self.known, isolated=self._fails_alone
                    )
                    break
                except _CONFLICT_ERRORS:
                    # Rolled back whole: a concurrent transaction held what it needed. Once that
                    # one has committed, the same batch usually goes through at once.
                    if again == 1:
                        raise
        except (psycopg2.Error, SchemaError, OSError, ValueError, KeyError, TypeError) as exc:
            failed = self._failed(conn, exc, start)
            return [dataclasses.replace(failed) for _request in requests]
        results = []
        for answer in answers:
            if isinstance(answer, BaseException):
                results.append(self._failed(None, answer, start))
            else:
                self.stats["events"] += 1
                results.append(
                    TransportResult(status=OK_STATUS, headers={}, body_excerpt=answer, duration_ms=elapsed_ms(start))
                )
        return results

    def send(self, request: OutboundRequest) -> TransportResult:
        """Apply the event in ``request.body``; never raises."""
        start = time.monotonic()
        conn = None
        try:
            conn, statements = self._connection()
            outcome = loader.apply(conn, statements, self.source, json.loads(request.body), self.stats, self.known)
            self.stats["events"] += 1
        except (psycopg2.Error, SchemaError, OSError, ValueError, KeyError, TypeError) as exc:
            return self._failed(conn, exc, start)
        return TransportResult(status=OK_STATUS, headers={}, body_excerpt=outcome, duration_ms=elapsed_ms(start))

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


register("warehouse", WarehouseTransport)
