"""The API's throttles: one counter per client and window, shared by every process."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from recommendations.clients import client_address
from recommendations.conf import app_settings
from recommendations.rate_batches import batches


class _LiveRates:
    """A cheap throttle: one counter per client and time window, shared by every process.

    DRF's own throttles keep (and pickle) the time of every request of the window, which
    costs more the busier a client is, and read-modify-write it, so concurrent workers
    lose counts; a counter (:mod:`recommendations.counters`) costs one increment whatever
    the rate, at the price of allowing up to twice the rate across a window boundary. A
    busy client's requests are counted in small batches (:mod:`recommendations.rate_batches`):
    never more than the rate in a window, up to one batch per other process (and thread
    counting at the same moment) fewer.
    The client is its address as :mod:`recommendations.clients` trusts it. The rate
    (``API_THROTTLE_RATES``) is read when a request is counted, from the setting's kept
    value: a changed ``RECOMMENDATIONS`` or ``REST_FRAMEWORK`` applies at once.
    """

    scope: str
    wait_seconds: float | None = None

    def __init__(self) -> None:
        # The rate is read when a request is counted, not when DRF makes the throttle:
        # a throttle that does not apply (the anonymous one for a signed-in shopper)
        # never reads it.
        pass

    def get_rate(self) -> str | None:
        return app_settings.API_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_address(request)

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        # A subclass's own rate, else the setting's; read per request, never kept on the
        # instance (ClientThrottle's scope is the request's).
        rate = getattr(type(self), "rate", None) or self.get_rate()
        if rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(rate)
        decision = batches.take(
            key, limit=self.num_requests, duration=self.duration, now=self.timer()
        )
        if not decision.allowed:
            self.wait_seconds = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return self.wait_seconds


class AnonThrottle(_LiveRates, AnonRateThrottle):
    """Anonymous requests per client address (the ``anon`` rate)."""


class UserThrottle(_LiveRates, UserRateThrottle):
    """Signed-in requests per user (the ``user`` rate)."""


class ClientThrottle(_LiveRates, SimpleRateThrottle):
    """Each request counted once: a signed-in shopper's per user (the ``user`` rate),
    anyone else's per client address (the ``anon`` rate). The default.

    DRF's pair of anonymous and user throttles counts an anonymous request twice (the
    user throttle falls back to the address) and checks a signed-in one twice; the
    counters' keys are the same as theirs.
    """

    def get_cache_key(self, request: Request, view: APIView) -> str:
        user = request.user
        if user is not None and user.is_authenticated:
            self.scope, ident = "user", user.pk
        else:
            self.scope, ident = "anon", self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
