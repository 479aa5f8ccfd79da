"""Which webhook URLs are accepted: http(s) only, and (unless the operator allows it) no
host that resolves to a loopback, private, link-local, multicast or otherwise reserved
address, so that a webhook cannot make the service call into its own network. The check runs
when a URL is saved and again before every delivery: what a name resolves to can change."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
RESOLVE_SECONDS = 2.0

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def url_problem(url: str) -> str | None:
    """What is wrong with the URL's form, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"url is too long (at most {MAX_URL_LENGTH} characters)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "url must start with http:// or https://"
    if not parts.hostname:
        return "url has no host"
    if port == 0:
        return "url is not a valid URL"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "url is not a valid URL"
    return None


def _is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def addresses_of(host: str, port: int) -> list[IpAddress]:
    """The addresses a host name resolves to (or the literal address itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
    )
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def destination_problem(url: str, allow_private: bool) -> str | None:
    """Why the URL's host may not be called, or None (the URL's form is already checked)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await addresses_of(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return f"url host {host} cannot be resolved"
    if not addresses:
        return f"url host {host} cannot be resolved"
    if allow_private:
        return None
    for address in addresses:
        if not _is_public(address):
            return (
                f"url host {host} resolves to a loopback, private, link-local or multicast "
                f"address ({address}), which webhooks may not call"
            )
    return None
