"""The one guard for every outbound request to a URL a user supplied (SSRF).

Callbacks, imports' S3 endpoints, KServe model URLs and storage endpoints all pass here:

- only `http://` and `https://` with a host;
- unless the host (or one of its addresses) is allow-listed, every address it resolves to must be a
  public one: loopback, private, link-local (the cloud metadata service at 169.254.169.254),
  multicast and reserved ranges are refused, and so are IPv4-mapped forms of them;
- the name is resolved once, here, and the HTTP client connects to that checked address (TLS still
  verifies the certificate for the name), so a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot send the request elsewhere. Redirects are checked the same way.

A URL an administrator configured (a KServe model) is `trusted`: it may be private, but it is still
resolved once and connected to as checked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(ValueError):
    """The URL may not be called; the message says why (safe to show to whoever supplied it)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its host and port, and the address the connection must go to."""

    url: str
    host: str
    port: int
    address: Address


@dataclass(frozen=True)
class OutboundGuard:
    """`allowlist`: host names, addresses or networks that may be reached although private.
    `trusted`: every address may be reached (a URL an administrator configured)."""

    allowlist: tuple[str, ...] = ()
    trusted: bool = False

    @classmethod
    def of(cls, allowlist: Sequence[str], *, trusted: bool = False) -> OutboundGuard:
        return cls(tuple(allowlist), trusted)

    def allow_listed(self, host: str) -> bool:
        """True when `host` itself, or every address it names, is on the allow-list."""
        if host.lower() in {item.lower() for item in self.allowlist}:
            return True
        literal = _literal(host)
        return literal is not None and self._in_networks(literal)

    def check(self, url: str) -> Target:
        """The checked target of `url`, or `OutboundRefused`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused("the URL must be http:// or https:// with a host")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise OutboundRefused("the URL's port is not a number from 0 to 65535") from exc
        addresses = _resolve(host, port)
        named = self.trusted or host.lower() in {item.lower() for item in self.allowlist}
        for address in addresses:
            if not named and not self._in_networks(address) and not _is_public(address):
                raise OutboundRefused(
                    f"{host!r} resolves to {address}, a private or reserved address; an "
                    "administrator can allow-list it in LABELBAY_OUTBOUND_ALLOWLIST"
                )
        return Target(url=url, host=host, port=port, address=addresses[0])

    def client(self, **options: Any) -> httpx.Client:
        """An httpx client whose every request (redirects included) passes `check` and goes to
        the checked address. Proxies from the environment are not used: they would connect
        for us, to whatever the name resolves to then."""
        options.setdefault("follow_redirects", False)
        return httpx.Client(transport=_GuardedTransport(self), trust_env=False, **options)

    def _in_networks(self, address: Address) -> bool:
        for item in self.allowlist:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                continue
            if address in network:
                return True
        return False


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[Address]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"{host!r} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OutboundRefused(f"{host!r} does not resolve")
    return addresses


def _is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
    return address.is_global and not address.is_multicast


class _GuardedTransport(httpx.BaseTransport):
    """Checks each request's URL and sends it to the checked address, keeping the name for the
    Host header and for TLS (SNI and certificate checks)."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            target = self._guard.check(str(request.url))
        except OutboundRefused as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        request.url = request.url.copy_with(host=str(target.address))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": target.host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
