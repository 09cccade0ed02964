"""The message broker transport end to end, against a real RabbitMQ node of the tests' own
(``tests/rabbit.py``: Debian's ``rabbitmq-server`` on 127.0.0.1, its own port and data): the real
dispatcher publishes, a consumer in the test reads the queues and checks what a consumer relies
on (signatures, message ids, per-document order, persistence, at-least-once delivery across a
broker restart and a killed Odoo server), and what must not be lost silently fails visibly."""

import collections
import hashlib
import json
import secrets
import time
import uuid
from unittest import SkipTest
from unittest.mock import patch

import pika
from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import broker as broker_lib
from ..engine import classify, signing
from ..engine import payload as payload_lib
from ..engine.sender import Sender
from ..engine.transport import get_transport
from ..utils import internal
from .common import FinanceSyncCase
from .rabbit import LinkProxy, RabbitNode, free_port
from .servers import OdooServer, committed_env, wake_dispatchers

CONSUMER = "audit"


def start_node(cls):
    """Start a node for the test class (skipped, saying why, when RabbitMQ is not installed) with
    a user of its own; stopped and removed after the class."""
    if not RabbitNode.available():
        raise SkipTest("rabbitmq-server is not installed (scripts/setup.sh installs it)")
    node = RabbitNode()
    cls.addClassCleanup(node.destroy)
    node.start()
    cls.node = node
    cls.amqp_user, cls.amqp_password = "odoo", "pw_" + secrets.token_hex(10)
    node.add_user(cls.amqp_user, cls.amqp_password, vhost="finance")
    return node


def consumer_connection(node, user, password, vhost="finance"):
    return pika.BlockingConnection(
        pika.ConnectionParameters("127.0.0.1", node.port, vhost, pika.PlainCredentials(user, password))
    )


def drain(node, user, password, queue, vhost="finance"):
    """Every message waiting in ``queue``, in the order the queue gives them, acknowledged:
    [(routing key, properties, body)]."""
    conn = consumer_connection(node, user, password, vhost)
    try:
        channel = conn.channel()
        messages = []
        while True:
            method, props, body = channel.basic_get(queue)
            if method is None:
                return messages
            messages.append((method.routing_key, props, body))
            channel.basic_ack(method.delivery_tag)
    finally:
        conn.close()


def in_document_order(test, messages, index):
    """Assert that no event came before its document's earlier one (repeats of what was already
    heard are allowed: at least once) and that every repeat has the same body."""
    heard = collections.defaultdict(int)
    bodies = collections.defaultdict(set)
    for _key, props, body in messages:
        document, sequence = index[props.message_id]
        test.assertLessEqual(sequence, heard[document] + 1, "an event arrived before its document's earlier one")
        heard[document] = max(heard[document], sequence)
        bodies[props.message_id].add(hashlib.sha256(body).hexdigest())
    test.assertEqual([e for e, digests in bodies.items() if len(digests) > 1], [], "a repeat with another body")


def create_sequenced_pings(env, backend, partners, events_per_partner):
    """``events_per_partner`` ping events per partner (a document), each with its sequence in
    its envelope as a document's events carry it. Returns {event id: (partner id, sequence)}."""
    vals, index = [], {}
    company = backend.company_ids[:1]
    for partner in partners:
        for sequence in range(1, events_per_partner + 1):
            event_id = str(uuid.uuid4())
            index[event_id] = (partner.id, sequence)
            payload = backend._prepare_ping_payload(event_id)
            payload.update(payload_lib.envelope(event_id, "ping", fields.Datetime.now(), sequence))
            vals.append(
                {
                    "backend_id": backend.id,
                    "company_id": company.id,
                    "event_uuid": event_id,
                    "event_type": "ping",
                    "res_model": "res.partner",
                    "res_id": partner.id,
                    "sequence": sequence,
                    "payload": payload,
                }
            )
    env["finance.sync.job"].sudo().create(vals)
    return index


@tagged("post_install", "-at_install")
class TestBroker(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_node(cls)
        cls.broker_secret = signing.generate_secret()
        cls.mq = cls.create_broker_backend("Event broker", consumers=CONSUMER)
        action = cls.mq.action_initialize_broker()
        assert action["params"]["type"] == "success", action["params"]["message"]

    @classmethod
    def create_broker_backend(cls, name, exchange="finance_sync", consumers="", **vals):
        return cls.env["finance.sync.backend"].create(
            {
                "name": name,
                "transport": "broker",
                "broker_url": f"amqp://127.0.0.1:{cls.node.port}/finance",  # private endpoints are allowed here
                "broker_user": cls.amqp_user,
                "broker_password": cls.amqp_password,
                "broker_exchange": exchange,
                "broker_consumers": consumers,
                "signing_secret": cls.broker_secret,
                "company_ids": [(6, 0, cls.company.ids)],
                "timeout": 5,
                "state": "active",
                **vals,
            }
        )

    def setUp(self):
        super().setUp()
        self.consume()  # each test reads only what it published

    def consume(self, queue=f"finance_sync.{CONSUMER}"):
        return drain(self.node, self.amqp_user, self.amqp_password, queue)

    def deliver(self, backend=None):
        total = 0
        for _round in range(20):
            sent = self.dispatch(backend or self.mq)
            total += sent
            if not sent:
                break
        return total

    def make_partners(self, count):
        return self.env["res.partner"].create([{"name": f"Broker document {i}"} for i in range(count)])

    def due_now(self, jobs):
        internal(jobs).write({"next_attempt_at": fields.Datetime.now()})  # the retry comes due

    # --- settings ----------------------------------------------------------------------------

    def test_the_password_is_stored_encrypted_and_never_read_back(self):
        stored = self.mq.sudo().broker_password_encrypted
        self.assertTrue(stored)
        self.assertNotIn(self.amqp_password, stored)
        self.assertFalse(self.mq.broker_password)
        self.assertTrue(self.mq.has_broker_password)
        with self.assertRaises(AccessError):  # written by the module only, like the other secrets
            self.mq.write({"broker_password_encrypted": stored})

    def test_a_neutralized_copy_forgets_the_broker_password(self):
        from odoo.modules.neutralize import get_neutralization_queries

        self.env.flush_all()
        for query in get_neutralization_queries(["finance_sync"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertEqual(self.mq.state, "paused")
        self.assertFalse(self.mq.sudo().broker_password_encrypted)

    def test_tls_is_required_and_the_url_guard_applies_unless_private_endpoints_are_allowed(self):
        where = "odoo.addons.finance_sync.models.finance_sync_backend_broker.allow_private_endpoints"
        with patch(where, return_value=False):
            with self.assertRaisesRegex(ValidationError, r"must be encrypted \(amqps://\)"):
                self.create_broker_backend("Plain AMQP")
            with self.assertRaisesRegex(ValidationError, "127.0.0.1"):  # loopback: the URL guard refuses it
                self.create_broker_backend("Loopback", broker_url=f"amqps://127.0.0.1:{self.node.port}/finance")
            with self.assertRaisesRegex(ValidationError, "must not hold a user name or password"):
                self.create_broker_backend("Credentials", broker_url="amqps://odoo:secret@broker.example.com/")
        with self.assertRaisesRegex(ValidationError, "Exchange of"):
            self.create_broker_backend("Reserved exchange", exchange="amq.topic")
        with self.assertRaisesRegex(ValidationError, "needs a broker URL"):
            self.create_broker_backend("No URL", broker_url=False)

    def test_the_form_shows_a_broker_what_it_uses(self):
        arch = etree.fromstring(self.mq.get_views([(False, "form")])["views"]["form"]["arch"])
        (group,) = arch.xpath("//group[@name='broker']")
        self.assertEqual(group.get("invisible"), "transport != 'broker'")
        for fname in ("broker_url", "broker_user", "broker_password", "broker_exchange", "broker_consumers"):
            self.assertTrue(group.xpath(f".//field[@name='{fname}']"), fname)
        (endpoint,) = arch.xpath("//field[@name='endpoint_url']")
        self.assertEqual(endpoint.get("invisible"), "transport != 'webhook'")
        self.assertTrue(arch.xpath("//button[@name='action_initialize_broker']"))

    # --- test connection and initialize -------------------------------------------------------

    def test_connection_test_says_what_it_found_and_declares_nothing(self):
        fresh = self.create_broker_backend("Fresh exchange", exchange=f"fs_test_{uuid.uuid4().hex[:8]}")
        action = fresh.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("virtual host finance", action["params"]["message"])
        self.assertIn(f"The exchange {fresh.broker_exchange} is missing", action["params"]["message"])
        # The passive check declared nothing: the exchange is still missing.
        self.assertIn("is missing", fresh.action_test_connection()["params"]["message"])
        action = fresh.action_initialize_broker()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        action = fresh.action_test_connection()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertIn("is present", action["params"]["message"])
        self.assertIn("RabbitMQ", action["params"]["message"])

        fresh.broker_password = "wrong"
        self.assertIn("refused the user name or password", fresh.action_test_connection()["params"]["message"])
        fresh.write({"broker_password": self.amqp_password, "broker_url": f"amqp://127.0.0.1:{self.node.port}/nope"})
        self.assertIn("has no virtual host nope", fresh.action_test_connection()["params"]["message"])
        fresh.broker_url = f"amqp://127.0.0.1:{free_port()}/finance"
        self.assertIn("unreachable", fresh.action_test_connection()["params"]["message"])
        self.node.add_user("reader", "reader_pw", vhost="finance", configure="^$", write="^$", read=".*")
        fresh.write({"broker_url": f"amqp://127.0.0.1:{self.node.port}/finance", "broker_user": "reader"})
        fresh.broker_password = "reader_pw"
        action = fresh.action_initialize_broker()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("refused access", action["params"]["message"])

    def test_initialize_declares_a_quorum_queue_per_consumer_with_dead_letters(self):
        exchange = f"fs_init_{uuid.uuid4().hex[:8]}"
        backend = self.create_broker_backend("Two consumers", exchange=exchange, consumers="bi, risk")
        backend.action_initialize_broker()
        self.assertEqual(backend.action_initialize_broker()["params"]["type"], "success", "declaring again is harmless")
        listed = self.node.ctl("list_queues", "-p", "finance", "name", "type", "arguments", "--no-table-headers")
        for consumer in ("bi", "risk"):
            (line,) = [row for row in listed.splitlines() if row.startswith(f"{exchange}.{consumer}\t")]
            self.assertIn("quorum", line)
            self.assertIn(f"{exchange}.dead-letter", line)
            self.assertTrue(any(row.startswith(f"{exchange}.{consumer}.dead\t") for row in listed.splitlines()))
        # Both consumers read every event, each from its own queue; a rejected message goes to the dead letters.
        job_index = create_sequenced_pings(self.env, backend, self.make_partners(1), 1)
        self.deliver(backend)
        for consumer in ("bi", "risk"):
            (message,) = self.consume(f"{exchange}.{consumer}")
            self.assertEqual(message[1].message_id, next(iter(job_index)))
        create_sequenced_pings(self.env, backend, self.make_partners(1), 1)
        self.deliver(backend)
        conn = consumer_connection(self.node, self.amqp_user, self.amqp_password)
        channel = conn.channel()
        method, _props, _body = channel.basic_get(f"{exchange}.bi")
        channel.basic_reject(method.delivery_tag, requeue=False)
        conn.close()
        time.sleep(0.5)
        self.assertEqual(len(self.consume(f"{exchange}.bi.dead")), 1)

    # --- delivery -----------------------------------------------------------------------------

    def test_events_arrive_signed_persistent_in_document_order_with_their_ids(self):
        partners = self.make_partners(6)
        index = create_sequenced_pings(self.env, self.mq, partners, 4)
        self.deliver()
        jobs = self.Job.search([("event_uuid", "in", list(index))])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        messages = self.consume()
        self.assertEqual({props.message_id for _k, props, _b in messages}, set(index))
        in_document_order(self, messages, index)
        company_word = self.company.company_registry or str(self.company.id)
        for key, props, body in messages:
            event = json.loads(body)
            self.assertEqual(props.message_id, event["event_id"])
            self.assertEqual(key, f"ping.{company_word}")
            self.assertEqual(props.delivery_mode, 2, "persistent")
            self.assertEqual(props.headers["sequence"], index[props.message_id][1])
            verified = signing.verify([self.broker_secret], {k: str(v) for k, v in props.headers.items()}, body)
            self.assertEqual(verified, props.message_id)
            self.assertNotIn(self.amqp_password.encode(), body)

    def test_an_invoice_is_routed_by_event_type_and_company_with_its_sequence(self):
        self.company.company_registry = "ACME.01"
        invoice = self._create_invoice_one_line(price_unit=1234.57, tax_ids=[], post=True)
        self.commit_hooks()
        self.deliver()
        job = self.jobs_of(invoice, self.mq)
        self.assertEqual(job.state, "done")
        ((key, props, body),) = self.consume()
        self.assertEqual(key, "invoice.posted.ACME_01")  # one word for the company
        self.assertEqual(props.headers["sequence"], job.sequence)
        self.assertEqual(json.loads(body)["document"]["amounts"]["total"], f"{invoice.amount_total:.2f}")

    def test_an_unroutable_event_is_an_exception_not_a_silent_loss(self):
        exchange = f"fs_unbound_{uuid.uuid4().hex[:8]}"
        unbound = self.create_broker_backend("No queue bound", exchange=exchange)
        unbound.action_initialize_broker()  # the exchange, no consumer queue
        index = create_sequenced_pings(self.env, unbound, self.make_partners(1), 1)
        self.deliver(unbound)
        job = self.Job.search([("event_uuid", "in", list(index))])
        self.assertEqual(job.state, "failed")
        self.assertIn("could not route the event", job.last_error)
        self.assertIn(f"ping.{self.company.company_registry or self.company.id}", job.last_error)
        self.assertTrue(job.exception_ids, "a person is told")

    def test_a_missing_exchange_fails_and_says_to_initialize(self):
        exchange = f"fs_missing_{uuid.uuid4().hex[:8]}"
        missing = self.create_broker_backend("Exchange missing", exchange=exchange, consumers=CONSUMER)
        index = create_sequenced_pings(self.env, missing, self.make_partners(1), 1)
        self.deliver(missing)
        job = self.Job.search([("event_uuid", "in", list(index))])
        self.assertEqual(job.state, "failed")
        self.assertIn("Initialize broker", job.last_error)
        missing.action_initialize_broker()
        job.action_retry()
        self.deliver(missing)
        self.assertEqual(job.state, "done")
        self.assertEqual([p.message_id for _k, p, _b in self.consume(f"{exchange}.{CONSUMER}")], list(index))

    def test_a_nack_is_retried_with_the_same_id_and_body(self):
        exchange = f"fs_full_{uuid.uuid4().hex[:8]}"
        full = self.create_broker_backend("Full queue", exchange=exchange)
        full.action_initialize_broker()
        conn = consumer_connection(self.node, self.amqp_user, self.amqp_password)
        channel = conn.channel()
        queue = f"{exchange}.bounded"
        channel.queue_declare(queue, durable=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        channel.queue_bind(queue, exchange, "#")
        conn.close()
        index = create_sequenced_pings(self.env, full, self.make_partners(2), 1)
        self.deliver(full)
        jobs = self.Job.search([("event_uuid", "in", list(index))])
        self.assertEqual(sorted(jobs.mapped("state")), ["done", "pending"], "the queue takes one: the other is nacked")
        waiting = jobs.filtered(lambda j: j.state == "pending")
        expected = [(jobs - waiting).event_uuid, waiting.event_uuid]
        self.assertIn("negative acknowledgement", waiting.last_error)
        first = self.consume(queue)
        self.due_now(waiting)
        self.deliver(full)
        self.assertEqual(waiting.state, "done")
        second = self.consume(queue)
        self.assertEqual([p.message_id for _k, p, _b in first + second], expected)
        self.assertEqual(second[0][2].decode(), waiting.body)

    def test_a_broker_restart_loses_nothing(self):
        """Stopped while events wait, the broker's outage makes them retry (the same id and body);
        a connection lost under an open transport is retried; once the broker is back every event
        is delivered, in order, and confirmed messages survived the restart."""
        partners = self.make_partners(3)
        before = create_sequenced_pings(self.env, self.mq, partners[:1], 2)
        self.deliver()  # confirmed, queued, not yet read
        index = create_sequenced_pings(self.env, self.mq, partners[1:], 3)
        self.node.stop()
        try:
            self.dispatch()
            jobs = self.Job.search([("event_uuid", "in", list(index))])
            self.assertEqual(set(jobs.mapped("state")), {"pending"})
            self.assertTrue(all("Could not reach the broker" in job.last_error for job in jobs if job.attempt_count))
        finally:
            self.node.start()
        self.due_now(jobs)
        self.deliver()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        messages = self.consume()
        self.assertEqual({p.message_id for _k, p, _b in messages}, set(before) | set(index))
        in_document_order(self, messages, {**before, **index})

    def test_a_connection_lost_under_the_transport_is_retried_then_reconnected(self):
        target, _refusal = self.mq._broker_target()
        sender = Sender.build(target.describe(), 5, signing_secret=self.broker_secret)
        bodies = []
        for sequence in (1, 2, 3):
            event_id = str(uuid.uuid4())
            event = {**self.mq._prepare_ping_payload(event_id), "sequence": sequence}
            bodies.append((event_id, payload_lib.canonical_json(event)))
        with get_transport("broker", broker=target) as transport:
            self.assertEqual(transport.send(sender.request(*bodies[0])).status, 200)
            self.node.ctl("close_all_connections", "-p", "finance", "test: connection lost")
            time.sleep(1)  # the broker closes them asynchronously
            lost = transport.send(sender.request(*bodies[1]))
            self.assertIsNone(lost.status)
            verdict = classify.classify_error(lost.error)
            self.assertEqual(verdict.outcome, classify.RETRY)
            self.assertIn("Could not reach the broker", str(verdict.note))
            self.assertEqual(transport.send(sender.request(*bodies[1])).status, 200, "the same id and body again")
            self.assertEqual(transport.send(sender.request(*bodies[2])).status, 200)
        self.assertEqual([p.message_id for _k, p, _b in self.consume()], [event_id for event_id, _b in bodies])

    def test_a_broker_that_does_not_confirm_in_time_is_retried(self):
        """A broker blocking publishers (a resource alarm) never confirms: after the timeout the
        event is retried, not left waiting."""
        target, _refusal = self.mq._broker_target()
        target = broker_lib.Broker(**{**target.__dict__, "timeout": 1.0})
        sender = Sender.build(target.describe(), 1, signing_secret=self.broker_secret)
        event_id = str(uuid.uuid4())
        body = payload_lib.canonical_json(self.mq._prepare_ping_payload(event_id))
        with get_transport("broker", broker=target) as transport:
            self.assertEqual(transport.send(sender.request(str(uuid.uuid4()), body)).status, 200)
            self.node.ctl("set_vm_memory_high_watermark", "absolute", "1")
            try:
                start = time.monotonic()
                result = transport.send(sender.request(event_id, body))
                self.assertLess(time.monotonic() - start, 4)
            finally:
                self.node.ctl("set_vm_memory_high_watermark", "0.4")
        self.assertIsNone(result.status)
        self.assertEqual(classify.classify_error(result.error).outcome, classify.RETRY)

    # --- batches: several confirms in flight ----------------------------------------------------

    def bounded_exchange(self, prefix, binding="#", **arguments):
        """A fresh exchange with one queue of its own bound with ``binding``: (exchange, queue)."""
        exchange = f"{prefix}_{uuid.uuid4().hex[:8]}"
        target, _refusal = self.mq._broker_target()
        broker_lib.initialize(broker_lib.Broker(**{**target.__dict__, "exchange": exchange}), [])
        conn = consumer_connection(self.node, self.amqp_user, self.amqp_password)
        channel = conn.channel()
        queue = f"{exchange}.bounded"
        channel.queue_declare(queue, durable=True, arguments=arguments or None)
        channel.queue_bind(queue, exchange, binding)
        conn.close()
        return exchange, queue

    def batch_transport(self, exchange=None, port=None, timeout=None):
        """The broker transport as the dispatcher builds it, to ``exchange`` (through ``port``)."""
        target, _refusal = self.mq._broker_target()
        changes = {"exchange": exchange or target.exchange, "port": port or target.port}
        if timeout:
            changes["timeout"] = timeout
        target = broker_lib.Broker(**{**target.__dict__, **changes})
        sender = Sender.build(target.describe(), target.timeout, signing_secret=self.broker_secret)
        return get_transport("broker", broker=target), sender

    def ping_requests(self, sender, count, sequence=None, company_code=None):
        """``count`` signed ping requests (one document each), with ``sequence`` and a company code."""
        requests = []
        for _n in range(count):
            event_id = str(uuid.uuid4())
            event = self.mq._prepare_ping_payload(event_id)
            if sequence is not None:
                event["sequence"] = sequence
            if company_code is not None:
                event["company"] = {**event["company"], "code": company_code}
            requests.append(sender.request(event_id, payload_lib.canonical_json(event)))
        return requests

    @staticmethod
    def message_id(request):
        return json.loads(request.body)["event_id"]

    def test_a_batch_awaits_its_confirms_together_not_one_round_trip_each(self):
        """On a link with 100 ms of latency, 20 messages take about one round trip, not 20."""
        proxy = LinkProxy(self.node.port, delay=0.1)
        self.addCleanup(proxy.close)
        transport, sender = self.batch_transport(port=proxy.port)
        self.assertGreaterEqual(transport.max_batch, 20)
        with transport:
            self.assertEqual(transport.send(self.ping_requests(sender, 1)[0]).status, 200)  # connected
            requests = self.ping_requests(sender, 20)
            start = time.monotonic()
            results = transport.send_batch(requests)
            elapsed = time.monotonic() - start
        self.assertEqual([r.status for r in results], [200] * 20)
        self.assertLess(elapsed, 1.0, "one wait for the batch's confirms, not one per message (2 s)")
        messages = self.consume()[1:]
        self.assertEqual([p.message_id for _k, p, _b in messages], [self.message_id(r) for r in requests])

    def test_an_unroutable_message_fails_alone_and_the_rest_of_its_batch_lands(self):
        word = self.company.company_registry or str(self.company.id)
        exchange, queue = self.bounded_exchange("fs_route", binding=f"ping.{word}")
        transport, sender = self.batch_transport(exchange)
        requests = self.ping_requests(sender, 2) + self.ping_requests(sender, 1, company_code="NOWHERE")
        requests += self.ping_requests(sender, 2)
        with transport:
            results = transport.send_batch(requests)
            self.assertEqual(transport.stats["batches"], 1)
        self.assertEqual([r.status for r in results], [200, 200, None, 200, 200])
        verdict = classify.classify_error(results[2].error)
        self.assertEqual(verdict.outcome, classify.FAILED)
        self.assertIn("ping.NOWHERE", str(verdict.note))
        landed = [p.message_id for _k, p, _b in self.consume(queue)]
        self.assertEqual(landed, [self.message_id(r) for i, r in enumerate(requests) if i != 2])

    def test_a_nack_fails_only_its_message_in_a_batch(self):
        exchange, queue = self.bounded_exchange("fs_nack", **{"x-max-length": 3, "x-overflow": "reject-publish"})
        transport, sender = self.batch_transport(exchange)
        requests = self.ping_requests(sender, 5)
        with transport:
            results = transport.send_batch(requests)
            self.assertEqual(transport.stats["batches"], 1)
            self.assertEqual([r.status for r in results], [200, 200, 200, None, None])
            for result in results[3:]:
                verdict = classify.classify_error(result.error)
                self.assertEqual(verdict.outcome, classify.RETRY)
                self.assertIn("negative acknowledgement", str(verdict.note))
            first = self.consume(queue)
            again = transport.send_batch(requests[3:])  # the same id and body, on the same channel
        self.assertEqual([r.status for r in again], [200, 200])
        second = self.consume(queue)
        self.assertEqual([p.message_id for _k, p, _b in first + second], [self.message_id(r) for r in requests])
        self.assertEqual([b for _k, _p, b in second], [r.body for r in requests[3:]])

    def test_a_nacked_event_holds_its_documents_next_one_back(self):
        """Two documents, two events each, sent in batches to a queue that takes one message: the
        nacked first event of a document retries, and its second is not published (nor done)
        before it; in the end every event is in the queue in document order."""
        exchange, queue = self.bounded_exchange("fs_hold", **{"x-max-length": 1, "x-overflow": "reject-publish"})
        backend = self.create_broker_backend(
            "One at a time", exchange=exchange, max_concurrent=1, circuit_threshold=1000
        )
        index = create_sequenced_pings(self.env, backend, self.make_partners(2), 2)
        jobs = self.Job.search([("event_uuid", "in", list(index))])
        self.dispatch(backend)
        self.assertEqual(sorted(jobs.mapped("state")), ["done", "pending", "pending", "pending"])
        (done,) = jobs.filtered(lambda j: j.state == "done")
        self.assertEqual(done.sequence, 1)
        nacked = jobs.filtered(lambda j: j.res_id != done.res_id and j.sequence == 1)
        later = jobs.filtered(lambda j: j.res_id == nacked.res_id and j.sequence == 2)
        self.assertIn("negative acknowledgement", nacked.last_error)
        self.assertEqual(later.attempt_count, 0, "not published while its document's first event retries")
        messages = self.consume(queue)
        self.assertEqual([p.message_id for _k, p, _b in messages], [done.event_uuid])
        for _round in range(10):
            if set(jobs.mapped("state")) == {"done"}:
                break
            self.due_now(jobs.filtered(lambda j: j.state == "pending"))
            self.dispatch(backend)
            messages += self.consume(queue)
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual({p.message_id for _k, p, _b in messages}, set(index))
        in_document_order(self, messages, index)

    def two_events_per_document(self, sender, documents):
        """(first events, second events, {event id: (document, sequence)}) of ``documents`` documents."""
        first = self.ping_requests(sender, documents, sequence=1)
        second = self.ping_requests(sender, documents, sequence=2)
        index = {self.message_id(r): (n, 1) for n, r in enumerate(first)}
        index.update({self.message_id(r): (n, 2) for n, r in enumerate(second)})
        return first, second, index

    def send_the_rest(self, transport, first, second, results):
        """After ``results`` of ``first``, send as the dispatcher does: each document's earliest
        event not yet confirmed, in batches, the same requests (ids and bodies) again."""
        done = {n for n, r in enumerate(results) if r.status == 200}
        pending = {n: 1 for n in range(len(first)) if n not in done}
        pending.update(dict.fromkeys(done, 2))
        for _round in range(5):
            if not pending:
                break
            order = sorted(pending)
            batch = [(first if pending[n] == 1 else second)[n] for n in order]
            for n, result in zip(order, transport.send_batch(batch), strict=True):
                if result.status == 200:
                    if pending[n] == 1:
                        pending[n] = 2
                    else:
                        del pending[n]
        self.assertEqual(pending, {})

    def assert_heard_once_or_more_in_order(self, index, requests):
        messages = self.consume()
        self.assertEqual({p.message_id for _k, p, _b in messages}, set(index), "every event at least once")
        in_document_order(self, messages, index)
        bodies = {self.message_id(r): r.body for r in requests}
        self.assertTrue(all(body == bodies[p.message_id] for _k, p, body in messages), "the same bytes on a repeat")

    def assert_retried(self, results, words):
        for result in results:
            if result.status is None:
                verdict = classify.classify_error(result.error)
                self.assertEqual(verdict.outcome, classify.RETRY)
                self.assertIn(words, str(verdict.note))

    def test_a_connection_lost_mid_batch_retries_every_unconfirmed_message_with_its_id(self):
        """The link to the broker is cut in the middle of a batch: what the broker confirmed
        before is done, every other message is retried with the same id and body, and the
        consumer hears every event at least once, in document order."""
        proxy = LinkProxy(self.node.port, grace=2.0)  # the broker's confirms of what it got come back
        self.addCleanup(proxy.close)
        transport, sender = self.batch_transport(port=proxy.port)
        first, second, index = self.two_events_per_document(sender, 40)
        with transport:
            self.assertEqual(transport.send(self.ping_requests(sender, 1)[0]).status, 200)  # connected
            self.consume()
            proxy.cut(sum(len(r.body) for r in first) // 2)  # about half the batch reaches the broker
            results = transport.send_batch(first)
            statuses = [r.status for r in results]
            self.assertIn(200, statuses, "what was confirmed before the loss is done")
            self.assertIn(None, statuses, "what was not is retried")
            self.assert_retried(results, "Could not reach the broker")
            self.send_the_rest(transport, first, second, results)
        self.assert_heard_once_or_more_in_order(index, first + second)

    def test_a_broker_killed_mid_batch_loses_nothing_and_keeps_order(self):
        """The broker is killed (SIGKILL) while a batch is half published: every unconfirmed
        message is retried with its id and body once it is back, and the consumer hears every
        event at least once, in document order (confirmed messages survived on disk)."""
        proxy = LinkProxy(self.node.port, grace=0.5)
        self.addCleanup(proxy.close)
        transport, sender = self.batch_transport(port=proxy.port)
        first, second, index = self.two_events_per_document(sender, 40)
        with transport:
            self.assertEqual(transport.send(self.ping_requests(sender, 1)[0]).status, 200)  # connected
            self.consume()
            proxy.cut(sum(len(r.body) for r in first) // 2, then=self.node.kill)
            try:
                results = transport.send_batch(first)
            finally:
                self.node.start()
            self.assertIn(None, [r.status for r in results])
            self.assert_retried(results, "Could not reach the broker")
            self.send_the_rest(transport, first, second, results)
        self.assert_heard_once_or_more_in_order(index, first + second)


@tagged("post_install", "-at_install")
class TestBrokerUnderKilledServer(BaseCase):
    """A real ``odoo-bin`` server publishes while the test kills it (SIGKILL) and stops the
    broker: once both are back, every event is in the consumer's queue, in document order, any
    repeat with the same id and body (at least once; consumers deduplicate on the message id)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        start_node(cls)

    def setUp(self):
        super().setUp()
        self.db = get_db_name()
        self.servers, self.backend_ids, self.partner_ids = [], [], []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for server in self.servers:
            server.stop()
        with committed_env(self.db) as env:
            cr = env.cr
            if self.backend_ids:
                ids = tuple(self.backend_ids)
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id IN %s", [ids])
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id IN %s", [ids])
                cr.execute("DELETE FROM mail_activity WHERE res_model = 'finance.sync.backend' AND res_id IN %s", [ids])
                cr.execute("DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id IN %s", [ids])
                cr.execute("DELETE FROM finance_sync_backend WHERE id IN %s", [ids])
            if self.partner_ids:
                cr.execute("DELETE FROM res_partner WHERE id IN %s", [tuple(self.partner_ids)])

    def queued(self, queue):
        conn = consumer_connection(self.node, self.amqp_user, self.amqp_password)
        try:
            return conn.channel().queue_declare(queue, passive=True).method.message_count
        finally:
            conn.close()

    def wait_until(self, condition, timeout, message):
        deadline, woken = time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            if condition():
                return
            if time.monotonic() - woken > 5:
                wake_dispatchers(self.db)
                woken = time.monotonic()
            time.sleep(0.3)
        self.fail(f"{message}\n" + "\n".join(server.output()[-3000:] for server in self.servers))

    def job_states(self, backend_id):
        with committed_env(self.db) as env:
            env.cr.execute(
                "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", [backend_id]
            )
            return dict(env.cr.fetchall())

    def test_a_killed_server_and_a_broker_restart_lose_nothing_and_keep_order(self):
        secret = signing.generate_secret()
        exchange = f"fs_kill_{uuid.uuid4().hex[:8]}"
        queue = f"{exchange}.{CONSUMER}"
        with committed_env(self.db) as env:
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Broker under a killed server",
                    "transport": "broker",
                    "broker_url": f"amqp://127.0.0.1:{self.node.port}/finance",
                    "broker_user": self.amqp_user,
                    "broker_password": self.amqp_password,
                    "broker_exchange": exchange,
                    "broker_consumers": CONSUMER,
                    "signing_secret": secret,
                    "company_ids": [(6, 0, env.ref("base.main_company").ids)],
                    "state": "active",
                    "timeout": 3,
                    "circuit_threshold": 1000,
                }
            )
            self.backend_ids.append(backend.id)
            target, _refusal = backend._broker_target()
            broker_lib.initialize(target, [CONSUMER])
            partners = env["res.partner"].create([{"name": f"Killed server {i}"} for i in range(150)])
            self.partner_ids += partners.ids
            index = create_sequenced_pings(env, backend, partners, 4)
            backend_id = backend.id
        server = OdooServer(self.db, "--max-cron-threads", "2").start()
        self.servers.append(server)
        self.wait_until(lambda: self.queued(queue) >= 60, 120, "publishing did not start")
        server.kill()
        self.node.restart()  # and the broker goes down and comes back while events wait
        server.start()
        self.wait_until(lambda: self.job_states(backend_id) == {"done": len(index)}, 240, "not every event confirmed")
        messages = drain(self.node, self.amqp_user, self.amqp_password, queue)
        self.assertEqual({p.message_id for _k, p, _b in messages}, set(index), "every confirmed event survived")
        in_document_order(self, messages, index)
        for _key, props, body in messages:
            headers = {k: str(v) for k, v in props.headers.items()}
            self.assertEqual(signing.verify([secret], headers, body, tolerance=3600), props.message_id)
