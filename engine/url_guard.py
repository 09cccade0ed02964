"""Guard against server-side request forgery: where may a backend send finance data?

Only ``https://`` addresses on the public internet, by default: never loopback, private,
link-local, multicast, reserved or unspecified addresses, nor a cloud provider's metadata
service, whether written literally in the URL or answered by DNS (also IPv4 addresses
carried inside IPv6 ones). A server-level setting (``allow_private``, for tests and local
demos) lifts the address checks and admits plain ``http://``.

The check runs when a backend is saved and again whenever the dispatcher prepares to send
(every few seconds), since DNS answers can change between the two. :func:`pin_endpoint` returns
the address it vetted, and the transport connects to that address (with the URL's host name for
the ``Host`` header, TLS SNI and the certificate check) instead of asking DNS again: an answer
that changes to an internal address after the check (DNS rebinding) is never connected to.
"""

import dataclasses
import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

from .messages import MessageError, message

ALLOWED_SCHEMES = ("https", "http")
DEFAULT_PORTS = {"https": 443, "http": 80}
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")
# A host written only with numbers in forms inet_aton() accepts ("2130706433", "0x7f.1", "127.1").
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)

# Characters no URL or host name of a backend may hold anywhere: control characters (a CR LF
# would start another header line: ``https://host/\r\nHost: 127.0.0.1``), invisible format
# characters and every kind of white space. Unicode categories: Cc, Cf, Zs, Zl, Zp.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURLError(MessageError):
    """The URL is not an acceptable endpoint; the message (``note``) says why, for the person who
    typed it."""

    def __init__(self, code: str, /, **params):
        super().__init__(message(code, **params))


class UnresolvedHostError(UnsafeURLError):
    """DNS gave no address for the host now. Refused when a backend is saved; when sending, a
    failure of the network worth a retry (see :func:`pin_endpoint`)."""


@dataclasses.dataclass(frozen=True)
class Pin:
    """Where a request to an endpoint goes: the URL's host name (``Host`` header, TLS SNI and
    certificate check) and the one address the guard vetted for it."""

    host: str
    address: str | None  # None: not vetted (private endpoints allowed), DNS decides


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped, 6to4, Teredo or NAT64."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if address in NAT64_NETWORK:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_internal_address(address: IPAddress) -> bool:
    """Whether ``address`` itself is not a public unicast address (or is a metadata service)."""
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
        or not address.is_global  # also shared address space (100.64.0.0/10) and documentation ranges
    )


def is_internal(address: IPAddress) -> bool:
    """Whether a request to ``address`` could reach something that is not the public internet."""
    return _is_internal_address(address) or any(_is_internal_address(inner) for inner in embedded_ipv4(address))


def _literal_address(host: str) -> IPAddress | None:
    """The address written in the URL's host, or None for a host name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") names no other host
    except ValueError:
        return None


def _resolve(host: str, port: int, resolver) -> list[IPAddress]:
    """The addresses DNS gives for ``host``; refuses a host that does not resolve."""
    try:
        infos = resolver(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        infos = []
    addresses = []
    for info in infos or ():
        literal = _literal_address(str(info[4][0]))
        if literal is not None:
            addresses.append(literal)
    if not addresses:
        raise UnresolvedHostError("url_unresolved", host=host)
    return addresses


def unsafe_character(text: str) -> tuple[int, str] | None:
    """(1-based position, ``U+XXXX``) of the first control, invisible or white space character of
    ``text``, or None when it has none."""
    for position, char in enumerate(text or "", start=1):
        if char.isspace() or unicodedata.category(char) in UNSAFE_CATEGORIES:
            return position, f"U+{ord(char):04X}"
    return None


def check_characters(text: str) -> None:
    """Raise :class:`UnsafeURLError` when ``text`` (a URL or a host name, as typed) holds a control,
    invisible or white space character anywhere, leading and trailing ones included."""
    found = unsafe_character(text)
    if found:
        raise UnsafeURLError("url_unsafe_character", position=found[0], character=found[1])


def _split(url: str):
    """``urlsplit`` of the trimmed URL and its port, refusing what cannot be parsed."""
    try:
        parts = urlsplit((url or "").strip())
        return parts, parts.port
    except ValueError as exc:
        raise UnsafeURLError("url_invalid", detail=str(exc)) from None


def check_endpoint_url(url: str, allow_private: bool = False, resolver=socket.getaddrinfo) -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is an HTTPS address on the public internet,
    written without control, invisible or white space characters.

    ``allow_private`` also admits plain ``http://`` and any address, and then looks nothing
    up in DNS. ``resolver`` has the signature of :func:`socket.getaddrinfo`.
    """
    _vetted_addresses(url, allow_private, resolver)


def _vetted_addresses(url: str, allow_private: bool, resolver) -> list | None:
    """The checks of :func:`check_endpoint_url`; the addresses vetted (None: not looked up)."""
    check_characters(url)
    parts, port = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError("url_scheme_dev" if allow_private else "url_https_only")
    if scheme == "http" and not allow_private:
        raise UnsafeURLError("url_plain_http")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("url_no_host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("url_credentials")
    if allow_private:
        return None
    if host.rstrip(".") in METADATA_HOSTS:
        raise UnsafeURLError("url_metadata", host=host)
    literal = _literal_address(host)
    if literal is None and _NUMERIC_HOST.fullmatch(host):
        raise UnsafeURLError("url_numeric", host=host)
    addresses = [literal] if literal is not None else _resolve(host, port or DEFAULT_PORTS[scheme], resolver)
    for address in addresses:
        if is_internal(address):
            raise UnsafeURLError("url_internal", host=host, address=str(address))
    return addresses


def pin_endpoint(url: str, allow_private: bool = False, resolver=socket.getaddrinfo) -> Pin:
    """Check ``url`` as :func:`check_endpoint_url` does and return where its requests must go:
    the first address vetted. With ``allow_private`` nothing is vetted and nothing pinned
    (``address`` is None): connections go wherever DNS says, as for any development server.

    Raises :class:`UnsafeURLError`, or :class:`UnresolvedHostError` when DNS has no answer now.
    """
    addresses = _vetted_addresses(url, allow_private, resolver)
    return Pin(host=_split(url)[0].hostname, address=str(addresses[0]) if addresses else None)
