"""What an HTTP answer or a transport error means (engine/classify.py). No database.

The transport errors are produced for real (a refused connection, a timeout against a silent
socket), not built by hand, so the classification is tested on what requests really raises.
"""

import dataclasses
import socket
import ssl

import pytest
import requests
import urllib3.exceptions

from odoo.addons.finance_sync.engine import classify, url_guard


def free_port() -> int:
    """A port on 127.0.0.1 on which nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome", "category"),
    [
        (200, "done", None),
        (201, "done", None),
        (202, "done", None),
        (204, "done", None),
        (299, "done", None),
        (408, "retry", "transport"),
        (429, "retry", "transport"),
        (500, "retry", "transport"),
        (502, "retry", "transport"),
        (503, "retry", "transport"),
        (599, "retry", "transport"),
        (410, "pause", "gone"),
        (300, "failed", "transport"),
        (301, "failed", "transport"),
        (302, "failed", "transport"),
        (307, "failed", "transport"),
        (308, "failed", "transport"),
        (401, "failed", "authentication"),
        (403, "failed", "authentication"),
        (400, "failed", "rejected"),
        (404, "failed", "rejected"),
        (409, "failed", "rejected"),
        (413, "failed", "rejected"),
        (422, "failed", "rejected"),
        (100, "failed", "transport"),
        (199, "failed", "transport"),
        (600, "failed", "transport"),
        (999, "failed", "transport"),
        (0, "failed", "transport"),
    ],
)
def test_classify_status(status, outcome, category):
    verdict = classify.classify_status(status)
    assert (verdict.outcome, verdict.category) == (outcome, category)
    assert str(status) in verdict.message


def test_outcome_constants():
    assert (classify.DONE, classify.RETRY, classify.FAILED, classify.PAUSE) == ("done", "retry", "failed", "pause")
    assert {408, 429} == classify.RETRYABLE_STATUSES


def test_classification_is_frozen():
    verdict = classify.classify_status(200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.outcome = "failed"


def test_gone_pauses_the_backend_and_says_so():
    message = classify.classify_status(410).message
    assert "no longer exists" in message
    assert "paused" in message


def test_redirect_message_says_the_url_must_be_updated():
    message = classify.classify_status(301, "Moved to https://new.example/hook").message
    assert "redirects are not followed" in message
    assert "endpoint URL must be updated" in message


def test_rejection_quotes_the_platform_reason():
    verdict = classify.classify_status(422, '  {"error": "unknown account GL-4000"}  ')
    assert 'unknown account GL-4000"}' in verdict.message
    assert not verdict.message.endswith(" ")


def test_long_reasons_are_shortened():
    verdict = classify.classify_status(400, "x" * 10_000)
    assert "x" * classify.REASON_LIMIT in verdict.message
    assert len(verdict.message) < classify.REASON_LIMIT + 200


def test_empty_reason_adds_nothing():
    assert classify.classify_status(400, "   ").message == classify.classify_status(400).message
    assert not classify.classify_status(400).message.endswith(": ")


# --- transport errors, produced for real ------------------------------------------------------------


def test_connection_refused_is_retried_in_plain_words():
    with pytest.raises(requests.ConnectionError) as err:
        requests.post(f"http://127.0.0.1:{free_port()}/hooks/T0K3N-in-path?sig=abc", data=b"{}", timeout=2)
    assert "T0K3N" in str(err.value)  # urllib3 quotes the URL's path...
    verdict = classify.classify_error(err.value)
    assert (verdict.outcome, verdict.category) == ("retry", "transport")
    assert "connection refused" in verdict.message
    assert "127.0.0.1" in verdict.message
    assert "T0K3N" not in verdict.message  # ...which the message leaves out
    assert "sig=abc" not in verdict.message
    # The technical detail is the system's error, not urllib3's reprs of its connection objects.
    assert verdict.message.endswith("[Errno 111] Connection refused")
    assert "object at 0x" not in verdict.message
    assert "HTTPConnectionPool" not in verdict.message


def test_read_timeout_is_retried_with_the_time_waited():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections (in the backlog) but never answers
        port = silent.getsockname()[1]
        with pytest.raises(requests.Timeout) as err:
            requests.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=(2, 0.3))
    verdict = classify.classify_error(err.value)
    assert (verdict.outcome, verdict.category) == ("retry", "transport")
    assert "timed out after 0.3 s" in verdict.message


def test_timeout_without_a_known_duration():
    verdict = classify.classify_error(TimeoutError())
    assert verdict.outcome == "retry"
    assert "timed out" in verdict.message
    assert "after" not in verdict.message


def test_connection_refused_named_in_the_text_only():
    assert "connection refused" in classify.classify_error(requests.ConnectionError("Connection refused")).message


def test_unresolvable_host_is_retried_and_explained():
    cause = socket.gaierror(-2, "Name or service not known")
    wrapped = urllib3.exceptions.NameResolutionError("platform.invalid", None, cause)
    error = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/hook", reason=wrapped))
    verdict = classify.classify_error(error)
    assert verdict.outcome == "retry"
    assert "cannot resolve" in verdict.message
    assert "timed out" not in verdict.message  # urllib3 files resolution errors under its timeouts


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        urllib3.exceptions.ReadTimeoutError(None, "/hook", "Read timed out. (read timeout=2)"),
        requests.exceptions.ChunkedEncodingError("broken chunk"),
        requests.exceptions.SSLError(ssl.SSLError(1, "certificate verify failed")),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
        OSError(113, "No route to host"),
    ],
)
def test_network_errors_are_retried(error):
    verdict = classify.classify_error(error)
    assert (verdict.outcome, verdict.category) == ("retry", "transport")
    assert verdict.message


def test_tls_failures_are_named():
    verdict = classify.classify_error(requests.exceptions.SSLError(ssl.SSLError(1, "certificate verify failed")))
    assert "TLS" in verdict.message


def test_urllib3_read_timeout_reads_its_duration():
    error = urllib3.exceptions.ReadTimeoutError(None, "/hook", "Read timed out. (read timeout=2)")
    assert "timed out after 2 s" in classify.classify_error(error).message


def test_a_refused_url_fails_without_retry():
    verdict = classify.classify_error(url_guard.UnsafeURLError("url_https_only"))
    assert verdict.outcome == "failed"
    assert verdict.message == "only https:// addresses are accepted"


def test_an_invalid_url_fails_without_retry():
    with pytest.raises(requests.RequestException) as err:
        requests.post("http://", data=b"{}", timeout=1)
    assert classify.classify_error(err.value).outcome == "failed"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("x"), TypeError("bad")])
def test_anything_else_fails(error):
    verdict = classify.classify_error(error)
    assert verdict.outcome == "failed"
    assert verdict.message


def test_no_error_at_all_fails():
    assert classify.classify_error(None).outcome == "failed"


def test_long_technical_details_are_shortened():
    verdict = classify.classify_error(OSError("y" * 5000))
    assert len(verdict.message) < classify.DETAIL_LIMIT + 300


def test_a_self_referencing_chain_terminates():
    first, second = ConnectionError("a"), ConnectionError("b")
    first.__context__, second.__context__ = second, first
    assert classify.classify_error(first).outcome == "retry"


def test_a_connect_timeout_is_retried():
    assert classify.classify_error(requests.ConnectTimeout("x")).outcome == "retry"
