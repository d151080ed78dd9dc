"""The address a request came from, trusting forwarded headers only as far as configured.

Behind ``RECOMMENDATIONS["NUM_PROXIES"]`` reverse proxies each one appends the address
it received the request from to ``X-Forwarded-For``: the client's address is the one
the outermost trusted proxy appended, that many entries from the end. Anything left of
it was sent by the client and is ignored, so rotating the header cannot make a client
look like many. With no proxies configured (the default) the header is ignored.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from recommendations.conf import app_settings


def client_address(request: Any) -> str:
    """The client's IP address: ``REMOTE_ADDR``, or as the trusted proxies saw it."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = app_settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",")]
    if len(addresses) < proxies:
        # Fewer entries than proxies: the request did not come through all of them.
        return remote
    candidate = addresses[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # not an address (a proxy that writes "unknown"): don't trust it
        return remote
