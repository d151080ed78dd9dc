"""Sign-in attempts are limited per account and per address, with a clear form error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from shop.login_attempts import login_attempt_record
from shop.models import LoginAttempt
from shop.tasks import housekeeping_task
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


def test_attempts_just_before_and_after_a_fixed_windows_end_are_counted_together(rf, db, limits):
    # Fixed 15-minute windows allowed 2 attempts at 14:59 and 2 more at 15:00.
    start = datetime(2026, 12, 6, 14, 59, 50, tzinfo=UTC)
    request = rf.post("/login/")

    def attempt(seconds: float) -> float | None:
        now = start + timedelta(seconds=seconds)
        return login_attempt_record(request=request, username="alice", now=now)

    assert [attempt(0), attempt(5)] == [None, None]
    # Free again once the one at 5 s is a window old: then the next makes 2 with 15 s's.
    assert attempt(15) == pytest.approx(905 - 15)
    assert attempt(899) is not None  # the refused one at 15 s counts too
    assert attempt(916) is None  # 0, 5 and 15 s are a window old: 899 s's and this one
    assert LoginAttempt.objects.filter(at__lte=start).count() == 0  # old ones are purged


def test_the_nightly_housekeeping_purges_attempts_past_their_window(rf, db, limits):
    # A quiet site: no attempt comes after these to purge them.
    login_attempt_record(request=rf.post("/login/"), username="bob")
    old = timezone.now() - timedelta(hours=1)
    LoginAttempt.objects.create(key="account:x", at=old)

    assert housekeeping_task() == {"carts": 0, "login_attempts": 1}
    assert LoginAttempt.objects.count() == 2  # bob's, by account and by address
