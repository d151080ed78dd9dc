"""Sign-in attempts are limited per account and per address, with a clear form error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory


@pytest.fixture
def limits(settings):
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 2
    settings.LOGIN_ATTEMPTS_PER_ADDRESS = 4
    settings.LOGIN_ATTEMPTS_WINDOW = 900


def _sign_in(client, username: str, password: str = "wrong"):
    return client.post(reverse("shop:login"), {"username": username, "password": password})


def test_attempts_beyond_the_limit_are_refused_with_when_to_try_again(client, user, limits):
    allowed = [_sign_in(client, user.username).status_code for _ in range(2)]
    refused = _sign_in(client, user.username, "correct-horse-battery")

    assert allowed == [200, 200]
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 900
    errors = refused.context["form"].non_field_errors()
    assert len(errors) == 1 and errors[0].startswith("Too many sign-in attempts. Try again in")
    assert "_auth_user_id" not in client.session  # the right password was not even checked


def test_another_account_is_not_refused_for_one_account_attempts(client, user, limits):
    for _ in range(3):
        _sign_in(client, user.username)

    other = UserFactory(username="other")

    assert _sign_in(client, other.username, "correct-horse-battery").status_code == 302


def test_one_address_trying_many_accounts_is_refused(client, db, limits):
    codes = [_sign_in(client, f"guess{i}").status_code for i in range(5)]

    assert codes == [200, 200, 200, 200, 429]


def test_a_successful_sign_in_clears_the_account_count(client, user, limits):
    _sign_in(client, user.username)
    assert _sign_in(client, user.username, "correct-horse-battery").status_code == 302
    client.post(reverse("shop:logout"))

    assert _sign_in(client, user.username).status_code == 200
    assert _sign_in(client, user.username).status_code == 200
