"""Who the client is, decided once per connection for HTTP and WebSocket alike.

The web server runs with its own proxy-header handling off (`--no-proxy-headers`): uvicorn's
trusts loopback peers by default, so in `make run` any client could name its own address in
`X-Forwarded-For`, and it passes a malformed entry on as the client's address. This ASGI
middleware applies one rule instead, from the `TRUSTED_PROXIES` setting (CIDRs; none by
default, as in `make run`):

- a peer outside `TRUSTED_PROXIES` is the client; its `X-Forwarded-*` headers are ignored;
- from a trusted peer, `X-Forwarded-For` is read right to left, skipping our own proxies; the
  first address that is not one of them is the client. An entry that is not an IP address
  ends the walk and the request goes on with the peer's address, so a malformed header never
  reaches a model field. `X-Forwarded-Proto` (http or https) sets the scheme.

Everything after it (DRF throttles, django-axes, the audit log, the admin and metrics allow
lists) reads `REMOTE_ADDR` through `apps.core.services.client_ip`.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: list[str], *, setting: str) -> list[Network]:
    """CIDRs (or single addresses) from a setting; a bad entry names the setting."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{setting}: {value!r} is not an IP address or CIDR network."
            ) from None
    return networks


def parse_address(value: str) -> Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _within(address: Address, networks: list[Network]) -> bool:
    return any(address in network for network in networks)


def forwarded_client(peer: str, forwarded_for: str, trusted: list[Network]) -> str:
    """The client behind the trusted proxy `peer`, from its `X-Forwarded-For` value."""
    client = peer
    for hop in reversed([hop for hop in forwarded_for.split(",") if hop.strip()]):
        address = parse_address(hop)
        if address is None:
            return peer
        client = str(address)
        if not _within(address, trusted):
            break
    return client


def _header(scope: dict, name: bytes) -> str:
    # Repeated headers are one list, in order (RFC 9110 §5.3).
    return ",".join(value.decode("latin-1") for key, value in scope["headers"] if key == name)


class ClientAddressMiddleware:
    """Sets `scope["client"]` and `scope["scheme"]` from trusted proxies' headers (see above)."""

    def __init__(self, app):
        self.app = app
        self.trusted = parse_networks(settings.TRUSTED_PROXIES, setting="TRUSTED_PROXIES")

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            peer = scope["client"][0]
            peer_address = parse_address(peer)
            if peer_address is not None and _within(peer_address, self.trusted):
                scope = {**scope, **self._forwarded(scope, peer)}
        return await self.app(scope, receive, send)

    def _forwarded(self, scope: dict, peer: str) -> dict:
        changes = {}
        forwarded_for = _header(scope, b"x-forwarded-for")
        if forwarded_for:
            changes["client"] = (forwarded_client(peer, forwarded_for, self.trusted), 0)
        proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                changes["scheme"] = "wss" if secure else "ws"
            else:
                changes["scheme"] = proto
        return changes
