"""The client address trusts X-Forwarded-For only as far as NUM_PROXIES says."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from recommendations.checks import check_settings
from recommendations.clients import client_address


def _request(forwarded: str | None = None) -> object:
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return RequestFactory().get("/", REMOTE_ADDR="192.0.2.10", **headers)


def _proxies(settings, number) -> None:
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NUM_PROXIES": number}


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    _proxies(settings, 0)

    assert client_address(_request("203.0.113.7")) == "192.0.2.10"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        # What the client wrote itself, left of what the proxies appended, is ignored.
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_proxies_the_client_is_what_the_outermost_one_appended(
    settings, proxies, forwarded, client
):
    _proxies(settings, proxies)

    assert client_address(_request(forwarded)) == client


@pytest.mark.parametrize("forwarded", [None, "", "203.0.113.7", "unknown, 10.0.0.2"])
def test_a_missing_short_or_unparsable_chain_falls_back_to_remote_addr(settings, forwarded):
    _proxies(settings, 2)

    assert client_address(_request(forwarded)) == "192.0.2.10"


@pytest.mark.parametrize("number", [-1, "1", 1.5, True, None])
def test_num_proxies_must_be_a_non_negative_integer(settings, number):
    _proxies(settings, number)

    errors = [error for error in check_settings() if error.id == "recommendations.E013"]

    assert len(errors) == 1
    assert "NUM_PROXIES" in errors[0].msg
