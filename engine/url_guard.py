"""Guard against server-side request forgery: where may a backend send data?"""

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.com", "instance-data"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class UnsafeURLError(ValueError):
    """The URL is not an acceptable endpoint; the message says why."""


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
        or not address.is_global
    )


def _resolve(host, port, resolver):
    """The addresses ``host`` stands for: itself when it is a literal address, else DNS's answer."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = resolver(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        infos = []
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeURLError(f"cannot resolve {host}")
    return addresses


def check_endpoint_url(url: str, allow_private: bool = False, resolver=socket.getaddrinfo) -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is an HTTPS address on the public internet.

    ``allow_private`` (a server-level setting for tests and local demos) also admits plain
    HTTP and private or loopback addresses, without any DNS lookup.
    """
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"the address is not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http"):
        raise UnsafeURLError("only https:// addresses are accepted")
    if parts.scheme == "http" and not allow_private:
        raise UnsafeURLError("only https:// addresses are accepted; plain http would expose finance data")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("the address has no host name")
    if parts.username or parts.password:
        raise UnsafeURLError("credentials must not be written into the URL; use the backend's authentication")
    if allow_private:
        return
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise UnsafeURLError(f"{host} is a cloud metadata service")
    addresses = _resolve(host, port or (443 if parts.scheme == "https" else 80), resolver)
    for address in addresses:
        if _is_internal(address):
            raise UnsafeURLError(
                f"{host} points to an internal address ({address}); private, loopback, link-local and "
                "metadata addresses are refused"
            )
