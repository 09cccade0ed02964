"""The webhook transport (engine/transport.py) against a real HTTP server on 127.0.0.1.

These are plain pytest functions, not Odoo test cases: Odoo's harness only patches outbound
requests inside its own test classes (``BaseCase._request_handler``: non-local hosts blocked,
any timeout below 10 s raised to 10 s), so the short timeouts used here really apply. One
``BaseCase`` at the end checks the transport inside that harness, as the model tests use it.
"""

import ast
import datetime
import json
import pathlib
import socket
import ssl
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Response

from odoo.addons.finance_sync.engine import classify, signing, transport
from odoo.tests.common import BaseCase

SECRET = signing.generate_secret()
BODY = json.dumps({"type": "ping", "event_id": "evt_1"}).encode()


@pytest.fixture(scope="module")
def server():
    receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    receiver.start()
    yield receiver
    receiver.clear()
    receiver.stop()


@pytest.fixture
def receiver(server):
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def sender():
    with transport.WebhookTransport() as webhook:
        yield webhook


def post(sender, url, body=BODY, headers=None, timeout=5.0):
    return sender.send(transport.OutboundRequest(url=url, body=body, headers=headers or {}, timeout=timeout))


def free_port() -> int:
    """A port on 127.0.0.1 on which nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- answers -------------------------------------------------------------------------------------


def test_200_delivers_body_and_headers_as_given(receiver, sender):
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data('{"ok": true}', status=200)
    headers = {"Content-Type": "application/json", "Idempotency-Key": "evt_1"}
    headers.update(signing.build_headers(SECRET, "evt_1", BODY))
    result = post(sender, receiver.url_for("/hook"), headers=headers)
    assert result.status == 200
    assert result.error is None
    assert result.body_excerpt == '{"ok": true}'
    assert result.duration_ms >= 0
    receiver.check_assertions()
    (request, _response) = receiver.log[0]
    assert request.get_data() == BODY
    assert request.headers["User-Agent"] == "finance_sync/1.0"
    assert request.headers["Idempotency-Key"] == "evt_1"
    assert request.headers["Content-Type"] == "application/json"
    # The platform can check the signature of what it received.
    assert signing.verify([SECRET], request.headers, request.get_data()) == "evt_1"


def test_500_is_returned_not_raised(receiver, sender):
    receiver.expect_oneshot_request("/hook").respond_with_data("database down", status=500)
    result = post(sender, receiver.url_for("/hook"))
    assert (result.status, result.error, result.body_excerpt) == (500, None, "database down")
    assert classify.classify_status(result.status, result.body_excerpt).outcome == "retry"


def test_429_exposes_retry_after(receiver, sender):
    receiver.expect_oneshot_request("/hook").respond_with_data("slow down", status=429, headers={"Retry-After": "120"})
    result = post(sender, receiver.url_for("/hook"))
    assert result.status == 429
    assert result.retry_after == "120"
    assert result.headers["Retry-After"] == "120"


def test_retry_after_is_absent_when_not_sent(receiver, sender):
    receiver.expect_oneshot_request("/hook").respond_with_data("ok")
    assert post(sender, receiver.url_for("/hook")).retry_after is None


def test_retry_after_lookup_ignores_case():
    result = transport.TransportResult(status=503, headers={"RETRY-after": "5"}, body_excerpt="", duration_ms=1)
    assert result.retry_after == "5"


def test_redirects_are_not_followed(receiver, sender):
    target = receiver.url_for("/moved")
    receiver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": target})
    receiver.expect_request("/moved").respond_with_data("should never be reached")
    result = post(sender, receiver.url_for("/hook"))
    assert result.status == 302
    assert result.headers["Location"] == target
    assert [request.path for request, _response in receiver.log] == ["/hook"]
    assert classify.classify_status(result.status).outcome == "failed"


def test_permanent_redirects_are_not_followed_either(receiver, sender):
    receiver.expect_request("/hook").respond_with_data("", status=308, headers={"Location": receiver.url_for("/new")})
    assert post(sender, receiver.url_for("/hook")).status == 308
    assert len(receiver.log) == 1


def test_only_the_start_of_a_large_answer_is_read(receiver):
    receiver.expect_oneshot_request("/hook").respond_with_data("a" * 100 + "b" * 200_000)
    with transport.WebhookTransport(max_response_bytes=100) as small:
        result = post(small, receiver.url_for("/hook"))
    assert result.status == 200
    assert result.body_excerpt == "a" * 100


def test_the_excerpt_of_an_answer_is_bounded(receiver, sender):
    receiver.expect_oneshot_request("/hook").respond_with_data("z" * 10_000)
    result = post(sender, receiver.url_for("/hook"))
    assert result.body_excerpt.startswith("z" * 2000)
    assert result.body_excerpt.endswith("…[truncated]")


def test_binary_answers_do_not_break_the_excerpt(receiver, sender):
    receiver.expect_oneshot_request("/hook").respond_with_data(b"\xff\xfe ok", content_type="application/octet-stream")
    assert post(sender, receiver.url_for("/hook")).body_excerpt == "\ufffd\ufffd ok"


# --- no answer ------------------------------------------------------------------------------------


def test_a_slow_platform_times_out(receiver, sender):
    def slow(request):
        time.sleep(1.5)
        return Response("too late")

    receiver.expect_oneshot_request("/slow").respond_with_handler(slow)
    start = time.monotonic()
    result = post(sender, receiver.url_for("/slow"), timeout=0.5)
    elapsed = time.monotonic() - start
    assert result.status is None
    assert isinstance(result.error, requests.Timeout)
    assert 0.4 <= elapsed < 1.4, "the 0.5 s timeout applies as given (no 10 s floor outside Odoo test classes)"
    assert 400 <= result.duration_ms < 1400
    verdict = classify.classify_error(result.error)
    assert verdict.outcome == "retry"
    assert "timed out after 0.5 s" in verdict.message


def test_a_platform_that_stalls_mid_answer_keeps_its_status(receiver, sender):
    def stalling(request):
        def body():
            yield b"started "
            time.sleep(1.5)
            yield b"finished"

        return Response(body(), status=200)

    receiver.expect_oneshot_request("/stall").respond_with_handler(stalling)
    result = post(sender, receiver.url_for("/stall"), timeout=0.5)
    assert result.status == 200  # the status line arrived: that is the platform's verdict
    assert result.body_excerpt == "started "
    assert result.error is not None
    assert result.duration_ms < 1400


def test_a_trickling_answer_is_cut_at_the_deadline(receiver, sender):
    def trickling(request):
        def body():
            for _ in range(40):
                yield b"x" * 10
                time.sleep(0.1)

        return Response(body(), status=202)

    receiver.expect_oneshot_request("/trickle").respond_with_handler(trickling)
    result = post(sender, receiver.url_for("/trickle"), timeout=0.5)
    assert result.status == 202
    assert result.error is None
    assert 0 < len(result.body_excerpt) < 400
    assert result.duration_ms < 2000  # the whole answer would take 4 s


def test_connection_refused_is_returned_not_raised(sender):
    start = time.monotonic()
    result = post(sender, f"http://127.0.0.1:{free_port()}/hook", timeout=2)
    assert result.status is None
    assert isinstance(result.error, requests.ConnectionError)
    assert result.headers == {}
    assert result.body_excerpt == ""
    assert time.monotonic() - start < 2
    verdict = classify.classify_error(result.error)
    assert verdict.outcome == "retry"
    assert "connection refused" in verdict.message


def test_a_connection_closed_without_answer_is_returned_not_raised(sender):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen(1)
        port = rude.getsockname()[1]

        def hang_up():
            conn, _addr = rude.accept()
            conn.recv(65536)
            conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        result = post(sender, f"http://127.0.0.1:{port}/hook", timeout=2)
        thread.join(2)
    assert result.status is None
    assert isinstance(result.error, requests.ConnectionError)
    assert classify.classify_error(result.error).outcome == "retry"


def test_an_invalid_url_is_returned_not_raised(sender):
    result = post(sender, "http://", timeout=1)
    assert result.status is None
    assert isinstance(result.error, requests.RequestException)
    assert classify.classify_error(result.error).outcome == "failed"


# --- session, interface, registry ---------------------------------------------------------------------


def test_one_pooled_session_without_urllib3_retries(sender):
    for scheme in ("https://platform.example/", "http://127.0.0.1/"):
        adapter = sender.session.get_adapter(scheme)
        assert adapter.max_retries.total == 0
        assert adapter._pool_connections == 4
        assert adapter._pool_maxsize == 8
    assert sender.session.headers["User-Agent"] == "finance_sync/1.0"


@pytest.mark.parametrize(
    ("given", "split"),
    [(10, (5, 10)), (30.0, (5, 30.0)), (2, (2, 2)), (0.5, (0.5, 0.5)), ((1, 9), (1, 9)), (None, None)],
)
def test_the_connect_timeout_is_capped_at_five_seconds(given, split):
    assert transport.split_timeout(given) == split


def test_the_adapter_applies_the_timeout_split(sender):
    adapter = sender.session.get_adapter("https://platform.example/")
    assert isinstance(adapter, transport._WebhookAdapter)
    assert adapter.send.__func__ is transport._WebhookAdapter.send


def test_the_same_session_serves_every_send(receiver, sender):
    receiver.expect_request("/hook").respond_with_data("ok")
    session = sender.session
    post(sender, receiver.url_for("/hook"))
    post(sender, receiver.url_for("/hook"))
    assert sender.session is session
    assert len(receiver.log) == 2


def test_the_context_manager_closes_the_transport():
    closed = []

    class Recording(transport.Transport):
        def send(self, request):
            return transport.TransportResult(status=204, headers={}, body_excerpt="", duration_ms=0)

        def close(self):
            closed.append(True)

    with Recording() as instance:
        assert instance.send(transport.OutboundRequest(url="x", body=b"", headers={})).status == 204
        assert closed == []
    assert closed == [True]


def test_a_transport_must_implement_send():
    with pytest.raises(TypeError):
        transport.Transport()


def test_request_defaults():
    request = transport.OutboundRequest(url="https://platform.example/", body=b"{}", headers={})
    assert request.timeout == 10.0


def test_get_transport_builds_a_webhook_transport():
    with transport.get_transport("webhook", max_response_bytes=10) as webhook:
        assert isinstance(webhook, transport.WebhookTransport)
        assert webhook.max_response_bytes == 10


def test_get_transport_refuses_unknown_kinds():
    with pytest.raises(ValueError, match=r"unknown transport 'sftp'; known: broker, warehouse, webhook"):
        transport.get_transport("sftp")


def test_another_transport_plugs_in_through_the_registry(monkeypatch):
    class Warehouse(transport.Transport):
        def __init__(self, dsn):
            self.dsn = dsn

        def send(self, request):
            return transport.TransportResult(status=200, headers={}, body_excerpt=self.dsn, duration_ms=0)

    monkeypatch.setitem(transport.TRANSPORTS, "warehouse", Warehouse)
    built = transport.get_transport("warehouse", dsn="postgresql://bi")
    assert built.send(transport.OutboundRequest(url="", body=b"", headers={})).body_excerpt == "postgresql://bi"


def test_a_transport_registers_itself_and_the_engine_imports_none_of_them(monkeypatch):
    monkeypatch.setattr(transport, "TRANSPORTS", dict(transport.TRANSPORTS))

    class Broker(transport.Transport):
        def send(self, request):
            return transport.TransportResult(status=202, headers={}, body_excerpt="", duration_ms=0)

    transport.register("broker", Broker)
    assert isinstance(transport.get_transport("broker"), Broker)
    assert transport.get_transport("warehouse", target=None, source="db").__class__.__name__ == "WarehouseTransport"
    source = pathlib.Path(transport.__file__).read_text(encoding="utf-8")
    imported = {
        node.module or "" for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.level
    }
    assert not any("warehouse" in module for module in imported), "the warehouse registers itself"


class TestUnderOdooTestHarness(BaseCase):
    """Model tests send through Odoo's harness, which patches ``requests.Session.send`` and
    compares the timeout with 10: the transport must hand it a number, not a tuple."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        cls.receiver.start()
        cls.addClassCleanup(cls.receiver.stop)

    def test_timeouts_below_ten_seconds_are_raised_by_the_harness(self):
        self.assertNotEqual(requests.Session.send.__qualname__, "Session.send", "the harness patch is active")

        def slow(request):
            time.sleep(0.8)
            return Response("late but fine")

        self.receiver.expect_oneshot_request("/slow").respond_with_handler(slow)
        with transport.WebhookTransport() as sender:
            result = post(sender, self.receiver.url_for("/slow"), timeout=0.3)
        self.assertIsNone(result.error)
        self.assertEqual((result.status, result.body_excerpt), (200, "late but fine"))
        self.assertGreaterEqual(result.duration_ms, 700)


# --- pinned address (DNS rebinding) ---------------------------------------------------------------

PINNED_HOST = "platform.invalid"  # a name no DNS answers (RFC 6761): only the pin can reach it


def test_a_pinned_request_goes_to_the_vetted_address_under_the_url_host_name(receiver, sender):
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data("{}", status=200)
    url = f"http://{PINNED_HOST}:{receiver.port}/hook"
    result = sender.send(transport.OutboundRequest(url=url, body=BODY, headers={}, timeout=5, address="127.0.0.1"))
    assert (result.status, result.error) == (200, None)
    (request, _response) = receiver.log[0]
    assert request.headers["Host"] == f"{PINNED_HOST}:{receiver.port}", "the platform sees its own host name"


def test_without_a_pin_the_host_name_is_resolved_again(receiver, sender):
    url = f"http://{PINNED_HOST}:{receiver.port}/hook"
    result = sender.send(transport.OutboundRequest(url=url, body=BODY, headers={}, timeout=5))
    assert result.status is None and result.error is not None
    assert receiver.log == []


def _certificate_authority(tmp_path, host):
    """A throwaway CA and a server certificate for ``host`` it signed: (CA file, ssl context)."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test CA", "test CA", ca_key.public_key(), ca_key, [(x509.BasicConstraints(True, None), True)])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(
        host, "test CA", key.public_key(), ca_key, [(x509.SubjectAlternativeName([x509.DNSName(host)]), False)]
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return str(ca_file), context


@pytest.mark.parametrize(("certificate_for", "delivered"), [(PINNED_HOST, True), ("other.invalid", False)])
def test_tls_to_a_pinned_address_presents_and_verifies_the_url_host_name(
    tmp_path, monkeypatch, certificate_for, delivered
):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would replace the session's CA
        monkeypatch.delenv(variable, raising=False)
    ca_file, context = _certificate_authority(tmp_path, certificate_for)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/hook", method="POST").respond_with_data("{}", status=200)
    server.start()
    try:
        with transport.WebhookTransport() as webhook:
            webhook.session.verify = ca_file
            url = f"https://{PINNED_HOST}:{server.port}/hook"
            result = webhook.send(
                transport.OutboundRequest(url=url, body=BODY, headers={}, timeout=5, address="127.0.0.1")
            )
    finally:
        server.stop()
    if delivered:
        assert (result.status, result.error) == (200, None)
    else:  # a certificate for another name is refused: the pin never weakens verification
        assert result.status is None
        assert classify.classify_error(result.error).outcome == classify.RETRY
        assert "certificate" in classify.classify_error(result.error).message.lower()


# --- environment, read once -----------------------------------------------------------------------


def test_the_environments_proxy_is_used(receiver, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{receiver.port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data("{}", status=200)
    with transport.WebhookTransport() as webhook:  # the platform's name resolves nowhere: only the proxy reaches it
        result = webhook.send(transport.OutboundRequest(url=f"http://{PINNED_HOST}/hook", body=BODY, headers={}))
    assert (result.status, result.error) == (200, None)
    (request, _response) = receiver.log[0]
    assert request.headers["Host"] == PINNED_HOST


def test_netrc_credentials_never_reach_a_platform(receiver, sender, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data("{}", status=200)
    assert post(sender, receiver.url_for("/hook")).status == 200
    (request, _response) = receiver.log[0]
    assert "Authorization" not in request.headers
