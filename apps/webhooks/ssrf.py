"""The SSRF guard: a webhook URL must be http(s) and its host must resolve only to public
addresses. Checked at registration and again before every delivery (the name may have been
re-pointed since: DNS rebinding), and the delivery connects to the address checked here."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.errors import ValidationFailed

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class UnsafeUrl(ValidationFailed):
    code = "unsafe_url"
    # A name that does not resolve now may later (DNS outage): a delivery retries it.
    transient = False


class Unresolvable(UnsafeUrl):
    code = "unresolvable_url"
    transient = True


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    ip: str


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765's IPv4-translated addresses
_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291's deprecated IPv4-compatible addresses


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address], bool]:
    """The IPv4 addresses an IPv6 address carries, the form's name, and whether the form is a
    plain translation (the packet goes to that IPv4 host, so it alone decides) or a tunnel
    (6to4, Teredo, ISATAP: the IPv6 address must be public too). ("", [], False) for none."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped address", [ip.ipv4_mapped], True
    if ip in _SIIT:
        return "an IPv4-translated address", [low32], True
    if ip in _NAT64:
        return "a NAT64 address", [low32], True
    if ip in _COMPATIBLE and int(ip) > 1:  # not :: or ::1, which are judged as themselves
        return "an IPv4-compatible address", [low32], True
    if ip.sixtofour is not None:
        return "a 6to4 address", [ip.sixtofour], False
    if ip.teredo is not None:
        return "a Teredo address", list(ip.teredo), False
    # ISATAP: the interface identifier is 0000:5efe or 0200:5efe, then the IPv4 address.
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x5EFE:
        return "an ISATAP address", [low32], False
    return "", [], False


def _own_reason(ip: IPAddress) -> str:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for name, flag in (
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("an unspecified address", ip.is_unspecified),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
        # Whatever else is not globally routable (shared address space 100.64/10, …).
        ("a non-public address", not ip.is_global),
    ):
        if flag:
            return name
    return ""


def _refused(ip: IPAddress) -> str:
    """Why `ip` is not a public address (empty when it is). The one rule: the address and every
    IPv4 address embedded in it (mapped, translated, NAT64, compatible, 6to4, Teredo, ISATAP)
    must be public, since any of those forms can carry a packet to the private IPv4 host."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _own_reason(ip)
    form, embedded, translation = _embedded_ipv4(ip)
    for inner in embedded:
        reason = _own_reason(inner)
        if reason:
            return f"{reason} ({inner} inside {form})"
    return "" if translation else _own_reason(ip)


def check_url(url: str) -> Target:
    """Return where to connect for `url`, or raise UnsafeUrl with a message for the user."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(
            "The URL must start with http:// or https://.", fields={"url": ["http(s) only."]}
        )
    host = parts.hostname or ""
    if not host:
        raise UnsafeUrl("The URL has no host.", fields={"url": ["No host."]})
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # out of range, or 0, which no server listens on (and `or 80` used to hide)
        raise UnsafeUrl("The URL's port is invalid.", fields={"url": ["Invalid port."]})
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(
            f"The host {host} does not resolve.", fields={"url": ["The host does not resolve."]}
        ) from None
    if not addresses:
        raise Unresolvable(f"The host {host} does not resolve.", fields={"url": ["No address."]})
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE
    for address in addresses:
        reason = _refused(ipaddress.ip_address(address.split("%")[0]))
        if reason and not allow_private:
            message = f"The host {host} resolves to {address}, {reason}: webhooks must be public."
            raise UnsafeUrl(message, fields={"url": [message]})
    return Target(scheme=parts.scheme, host=host, port=port, ip=addresses[0])
