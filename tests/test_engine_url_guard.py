"""Server-side request forgery guard (engine/url_guard.py). No database, no real DNS: the
resolver is the guard's own injection point, answering what a DNS server could answer."""

import ipaddress
import socket

import pytest

from odoo.addons.finance_sync.engine import url_guard

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeResolver:
    """Answers every name with fixed addresses (like socket.getaddrinfo) and records the questions."""

    def __init__(self, *addresses):
        self.addresses = addresses
        self.questions = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.questions.append((host, port))
        if not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = []
        for address in self.addresses:
            if ":" in address:
                answers.append((socket.AF_INET6, socket.SOCK_STREAM, proto, "", (address, port, 0, 0)))
            else:
                answers.append((socket.AF_INET, socket.SOCK_STREAM, proto, "", (address, port)))
        return answers


def refused(url, resolver=None, **kwargs):
    """The message of the UnsafeURLError raised for ``url``."""
    with pytest.raises(url_guard.UnsafeURLError) as err:
        url_guard.check_endpoint_url(url, resolver=resolver or FakeResolver(PUBLIC_V4), **kwargs)
    assert isinstance(err.value, ValueError)
    return str(err.value)


# --- accepted -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://platform.example/hook",
        "https://platform.example:8443/finance/events?tenant=42",
        "HTTPS://Platform.Example/hook",
    ],
)
def test_public_https_endpoints_are_accepted(url):
    resolver = FakeResolver(PUBLIC_V4, PUBLIC_V6)
    assert url_guard.check_endpoint_url(url, resolver=resolver) is None
    assert resolver.questions and resolver.questions[0][0] == "platform.example"


def test_the_resolver_is_asked_with_the_port():
    resolver = FakeResolver(PUBLIC_V4)
    url_guard.check_endpoint_url("https://platform.example/hook", resolver=resolver)
    url_guard.check_endpoint_url("https://platform.example:8443/hook", resolver=resolver)
    assert resolver.questions == [("platform.example", 443), ("platform.example", 8443)]


def test_public_literal_addresses_need_no_dns():
    resolver = FakeResolver()
    url_guard.check_endpoint_url(f"https://{PUBLIC_V4}/hook", resolver=resolver)
    url_guard.check_endpoint_url(f"https://[{PUBLIC_V6}]/hook", resolver=resolver)
    assert resolver.questions == []


# --- scheme, host, credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://platform.example/", "file:///etc/passwd", "gopher://x/", "platform.example/hook", ""]
)
def test_only_http_schemes(url):
    assert "https://" in refused(url)


def test_plain_http_is_refused_by_default():
    assert "plain http" in refused("http://platform.example/hook")


def test_a_refused_scheme_says_why_http_may_pass_in_development():
    """Where the development setting admits http:// for private endpoints, the refusal of
    another scheme does not claim that only https:// is accepted."""
    with pytest.raises(url_guard.UnsafeURLError) as err:
        url_guard.check_endpoint_url("ftp://127.0.0.1/hook", allow_private=True, resolver=FakeResolver())
    assert "http:// ones while this server allows private endpoints" in str(err.value)


def test_a_url_without_host_is_refused():
    assert "no host" in refused("https:///hook")


@pytest.mark.parametrize(
    "url",
    ["https://user:pw@platform.example/hook", "https://token@platform.example/hook", "https://@platform.example/"],
)
def test_credentials_in_the_url_are_refused(url):
    assert "credentials" in refused(url)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("https://platform.example/hook\r\nHost: 127.0.0.1", "U+000D at position 30"),
        ("https://platform.example/ho ok", "U+0020 at position 28"),
        ("  https://platform.example/hook  ", "U+0020 at position 1"),
        ("https://platform.example/hook\n", "U+000A"),
        ("https://platform.example/\thook", "U+0009"),
        ("https://platform\u200b.example/hook", "U+200B"),  # zero width space: invisible
        ("https://platform.example/\u202ekooh", "U+202E"),  # right-to-left override: invisible
        ("https://platform.example/\x00", "U+0000"),
        ("https://platform.example/\x85", "U+0085"),  # next line (C1)
        ("https://platform.example/\u2028", "U+2028"),  # line separator
        ("https://platform.example/\xa0", "U+00A0"),  # no-break space
    ],
)
def test_control_invisible_and_white_space_characters_are_refused_anywhere(url, where):
    """Python's URL parser drops tabs and line breaks silently; the guard refuses them, where they
    stand, even for private endpoints: ``\\r\\n`` in a URL starts another header line."""
    for allow_private in (False, True):
        message = refused(url, allow_private=allow_private)
        assert where in message
        assert "without spaces, tabs or line breaks" in message


def test_an_invalid_port_is_refused():
    assert "not a valid URL" in refused("https://platform.example:99999/hook")


# --- internal addresses, written literally ------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "[::1]",
        "10.1.2.3",  # private
        "172.16.0.5",
        "192.168.1.1",
        "[fc00::1]",
        "[fd12:3456::1]",
        "169.254.1.1",  # link-local
        "[fe80::1]",
        "[fe80::1%25eth0]",
        "224.0.0.1",  # multicast
        "[ff02::1]",
        "240.0.0.1",  # reserved
        "0.0.0.0",  # noqa: S104 - unspecified
        "[::]",
        "[fec0::1]",  # site-local
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "192.0.2.10",  # documentation
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[2002:7f00:1::]",  # 6to4 carrying 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 carrying 169.254.169.254
    ],
)
def test_internal_literal_addresses_are_refused(host):
    assert "internal address" in refused(f"https://{host}/hook", resolver=FakeResolver())


@pytest.mark.parametrize("host", ["169.254.169.254", "[fd00:ec2::254]"])
def test_cloud_metadata_addresses_are_refused(host):
    assert "internal address" in refused(f"https://{host}/latest/meta-data/")


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.google.internal", "metadata", "metadata.google.internal."]
)
def test_cloud_metadata_names_are_refused_without_asking_dns(host):
    resolver = FakeResolver(PUBLIC_V4)
    assert "metadata" in refused(f"https://{host}/computeMetadata/v1/", resolver=resolver)
    assert resolver.questions == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0x7f.1", "127.1", "017700000001", "10.1"])
def test_numeric_hosts_in_unusual_forms_are_refused(host):
    # inet_aton() reads each of these as an address (most of them 127.0.0.1): refused before DNS.
    assert "unusual numeric form" in refused(f"https://{host}/hook")


# --- internal addresses, answered by DNS ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "::1", "fd00:ec2::254", "::ffff:192.168.0.1"]
)
def test_names_resolving_to_internal_addresses_are_refused(answer):
    message = refused("https://rebind.example/hook", resolver=FakeResolver(answer))
    assert "internal address" in message
    assert "rebind.example" in message


def test_one_internal_answer_among_public_ones_is_enough_to_refuse():
    assert "internal address" in refused("https://mixed.example/", resolver=FakeResolver(PUBLIC_V4, "10.0.0.1"))


def test_an_ipv6_answer_with_a_zone_is_read():
    assert "internal address" in refused("https://zone.example/", resolver=FakeResolver("fe80::1%eth0"))


def test_names_that_do_not_resolve_are_refused():
    assert "cannot resolve" in refused("https://nowhere.example/hook", resolver=FakeResolver())


def test_a_resolver_refusing_the_name_is_a_resolution_failure():
    def refusing(host, port, **kwargs):
        raise UnicodeError("label too long")

    assert "cannot resolve" in refused("https://bad.example/", resolver=refusing)


# --- allow_private ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "https://10.0.0.5/hook", "http://localhost/hook", "https://nowhere.example/hook"],
)
def test_allow_private_admits_http_and_internal_addresses_without_dns(url):
    resolver = FakeResolver()
    assert url_guard.check_endpoint_url(url, allow_private=True, resolver=resolver) is None
    assert resolver.questions == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://127.0.0.1/", "https://"),
        ("http:///hook", "no host"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
    ],
)
def test_allow_private_still_checks_scheme_host_and_credentials(url, why):
    assert why in refused(url, allow_private=True)


def test_the_real_resolver_refuses_localhost():
    # socket.getaddrinfo itself, on a name every system resolves locally.
    with pytest.raises(url_guard.UnsafeURLError, match="internal address"):
        url_guard.check_endpoint_url("https://localhost/hook")


def test_is_internal_on_addresses():
    assert url_guard.is_internal(ipaddress.ip_address("127.0.0.1"))
    assert url_guard.is_internal(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not url_guard.is_internal(ipaddress.ip_address(PUBLIC_V4))
    assert not url_guard.is_internal(ipaddress.ip_address(PUBLIC_V6))


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:10.0.0.1", ["10.0.0.1"]),  # IPv4-mapped
        ("2002:7f00:1::", ["127.0.0.1"]),  # 6to4
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ["65.54.227.120", "192.0.2.45"]),  # Teredo: server, client
        ("64:ff9b::a9fe:a9fe", ["169.254.169.254"]),  # NAT64
        (PUBLIC_V6, []),
        ("10.0.0.1", []),
    ],
)
def test_ipv4_addresses_carried_inside_ipv6_are_found(address, carried):
    assert [str(inner) for inner in url_guard.embedded_ipv4(ipaddress.ip_address(address))] == carried


# --- pinning -----------------------------------------------------------------------------------


def test_pin_is_the_first_vetted_address_under_the_url_host_name():
    pin = url_guard.pin_endpoint("https://Platform.example:8443/hook", resolver=FakeResolver(PUBLIC_V4, PUBLIC_V6))
    assert pin == url_guard.Pin(host="platform.example", address=PUBLIC_V4)


def test_a_literal_address_is_its_own_pin():
    assert url_guard.pin_endpoint(f"https://[{PUBLIC_V6}]/hook", resolver=FakeResolver()).address == PUBLIC_V6


def test_pinning_refuses_what_the_check_refuses():
    with pytest.raises(url_guard.UnsafeURLError, match="internal address"):
        url_guard.pin_endpoint("https://rebind.example/hook", resolver=FakeResolver(PUBLIC_V4, "127.0.0.1"))


def test_a_name_without_dns_answer_is_a_resolution_failure_worth_a_retry():
    with pytest.raises(url_guard.UnresolvedHostError, match="cannot resolve"):
        url_guard.pin_endpoint("https://nowhere.example/hook", resolver=FakeResolver())


def test_allow_private_pins_nothing_and_asks_no_dns():
    resolver = FakeResolver(PUBLIC_V4)
    pin = url_guard.pin_endpoint("http://localhost:8069/hook", allow_private=True, resolver=resolver)
    assert pin == url_guard.Pin(host="localhost", address=None)
    assert resolver.questions == []
