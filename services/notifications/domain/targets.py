"""Which webhook targets may be called: http(s) only, and no private network by default.

A webhook is a request our servers make on a subscriber's behalf, so a URL must not point
into our own network (SSRF). The URL is checked when subscribing, and every address its
host resolves to is checked again right before each send (DNS may have changed).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.notifications.domain.errors import InvalidInput

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TargetPolicy:
    """``allow_private`` lets every address through; ``allow_loopback`` only 127/8 and ::1."""

    allow_private: bool = False
    allow_loopback: bool = False

    def refusal(self, address: IpAddress) -> str | None:
        """Why this address may not be called, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address):
            # an IPv4 address carried in IPv6 (mapped, 6to4, Teredo's client) is judged as
            # the IPv4 address it reaches
            embedded = address.ipv4_mapped or address.sixtofour or (
                address.teredo[1] if address.teredo else None)
            if embedded is not None:
                address = embedded
        if self.allow_private:
            return None
        if address.is_loopback:
            return None if self.allow_loopback else f"{address} is a loopback address"
        if address.is_link_local:
            return f"{address} is a link-local address"
        if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
            return f"{address} is a site-local address"  # fec0::/10, not "private" to Python
        if address.is_private or address.is_reserved or address.is_multicast \
                or address.is_unspecified or not address.is_global:
            return f"{address} is a private or reserved address"
        return None


def check_webhook_url(url: str, policy: TargetPolicy) -> str:
    """Return the host of a well-formed http(s) URL, or raise ``InvalidInput``.

    Port 0 is refused: no receiver listens there, and code that reads a missing port as
    "no port given" (``port or 443``) would check one port and name another.

    A literal IP address is checked here; a host name is checked after resolution.
    """
    if len(url) > 2000:
        raise InvalidInput("the URL is longer than 2000 characters", "url")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range
    except ValueError as error:
        raise InvalidInput(f"{url!r} is not a valid URL: {error}", "url") from None
    if port == 0:  # not a port one can connect to; sockets read it as "any port"
        raise InvalidInput("a webhook URL cannot use port 0: give a port from 1 to 65535, "
                           "or none for the scheme's default", "url")
    if parts.scheme not in {"http", "https"}:
        raise InvalidInput(f"webhook URLs must be http or https, not {parts.scheme or 'none'!r}",
                           "url")
    host = parts.hostname
    if not host:
        raise InvalidInput(f"{url!r} has no host", "url")
    if parts.username or parts.password:
        raise InvalidInput("webhook URLs must not carry credentials", "url")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            address = ipaddress.ip_address("127.0.0.1")
        else:
            return _host_name(host)
    reason = policy.refusal(address)
    if reason:
        raise InvalidInput(f"refused webhook target: {reason}; an operator may allow it "
                           "with OKR_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "url")
    return host


def _host_name(host: str) -> str:
    """``host`` if it can be a DNS name (each label 1 to 63 characters once encoded, as
    the resolver encodes it), else ``InvalidInput``: the resolver would refuse it with a
    ``UnicodeError``, not an ``OSError``."""
    try:
        host.encode("idna")
    except UnicodeError as error:
        raise InvalidInput(f"{host!r} is not a valid host name: {error}", "url") from None
    return host
