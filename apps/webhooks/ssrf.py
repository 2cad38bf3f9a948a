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


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("The URL's port is invalid.", fields={"url": ["Invalid port."]}) from None
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
