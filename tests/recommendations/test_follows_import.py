"""The app's follows importer: any shop's graph from CSV into the model ``SOCIAL`` names."""

from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from recommendations.selectors import popular_with_followed
from shop.models import CustomerProfile, Follow
from tests.factories import FollowFactory, UserFactory
from tests.recommendations.store import buyer, store_build, store_train

pytestmark = pytest.mark.django_db


@pytest.fixture
def social_store(db, isolated_serving):
    """The serving tests' store, item-kNN trained."""
    store = store_build()
    store.run = store_train()
    return store


def _import(tmp_path, text: str) -> str:
    path = tmp_path / "follows.csv"
    path.write_text(text, encoding="utf-8")
    out = StringIO()
    call_command("import_follows", str(path), stdout=out)
    return out.getvalue()


def _social(settings, **changes) -> None:
    recommendations = copy.deepcopy(django_settings.RECOMMENDATIONS)
    recommendations["SOCIAL"] = {**recommendations["SOCIAL"], **changes}
    settings.RECOMMENDATIONS = recommendations


def test_users_are_found_by_username_the_shops_own_number_or_id_and_again_changes_nothing(
    tmp_path,
):
    numbered = UserFactory(username="customer-17850")
    CustomerProfile.objects.filter(user=numbered).update(external_id="17850")  # the adapter's
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    text = f"user,followed\n17850,alice\nalice,bob\n{bob.pk},17850\n"

    assert "3 follows created, 0 already there" in _import(tmp_path, text)
    assert "0 follows created, 3 already there" in _import(tmp_path, text)
    assert set(Follow.objects.values_list("follower", "followed")) == {
        (numbered.pk, alice.pk),
        (alice.pk, bob.pk),
        (bob.pk, numbered.pk),
    }


def test_an_exact_username_wins_over_a_number_that_is_also_an_id(tmp_path):
    alice = UserFactory(username="alice")
    other = UserFactory()
    digits = UserFactory(username=str(other.pk))  # whose username is another's id

    _import(tmp_path, f"user,followed\nalice,{other.pk}\n")

    assert list(Follow.objects.values_list("follower", "followed")) == [(alice.pk, digits.pk)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user,followed\nalice,bob\nalice,nobody\n", "Line 3: no user named or numbered 'nobody'"),
        ("user,followed\nalice,bob\nbob,bob\n", "Line 3: 'bob' cannot follow themself"),
        ("user,followed\nalice,\n", "Line 2: each row needs a user and a followed user"),
        ("user,followed\nalice,bob,extra\n", "Line 2: each row needs"),
        ("follower,followed\nalice,bob\n", "Line 1: the header lacks the column(s) user"),
        ("user,followed\nalice,\u00b2\n", "Line 2: no user named or numbered"),
        ("user,followed\nalice,99999999999999999999999999\n", "Line 2: no user named"),
        ("user,followed\nalice,-1\n", "Line 2: no user named or numbered '-1'"),
    ],
)
def test_a_bad_row_is_a_command_error_naming_the_line_and_nothing_is_imported(
    tmp_path, text, message
):
    UserFactory(username="alice"), UserFactory(username="bob")

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _import(tmp_path, text)

    assert not Follow.objects.exists()


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_header(tmp_path):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    path = tmp_path / "follows.csv"
    path.write_bytes("user,followed\nalice,bob\n".encode("utf-8-sig"))

    call_command("import_follows", str(path), stdout=StringIO())

    assert list(Follow.objects.values_list("follower", "followed")) == [(alice.pk, bob.pk)]


def test_a_file_that_is_not_utf8_is_a_command_error(tmp_path):
    path = tmp_path / "follows.csv"
    path.write_bytes(b"user,followed\n\xff,bob\n")

    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_follows", str(path), stdout=StringIO())


def test_a_relation_through_a_lookup_is_refused_before_any_row(tmp_path, settings):
    _social(settings, FOLLOWER_FIELD="follower__profile__user")
    UserFactory(username="alice"), UserFactory(username="bob")

    with pytest.raises(CommandError, match="is not a foreign key to the user model"):
        _import(tmp_path, "user,followed\nalice,bob\n")

    assert not Follow.objects.exists()


def test_a_friendship_is_one_row_either_way_round(tmp_path, settings):
    _social(settings, MUTUAL=True)
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")

    assert "1 follows created, 1 already there" in _import(
        tmp_path, "user,followed\nalice,bob\nbob,alice\n"
    )
    assert list(Follow.objects.values_list("follower", "followed")) == [(alice.pk, bob.pk)]


def test_imported_follows_count_at_once_in_the_followers_lists(
    tmp_path, social_store, django_capture_on_commit_callbacks
):
    bee = UserFactory(username="bee")
    alice = buyer(social_store.product(4, 4), username="alice")
    buyer(social_store.product(4, 4), username="bob")
    FollowFactory(follower=bee, followed=alice)
    # One buyer who does not share: nothing told, and bee's circle is now cached.
    assert popular_with_followed(user=bee) == []

    with django_capture_on_commit_callbacks(execute=True):
        _import(tmp_path, "user,followed\nbee,bob\n")

    assert [r.item.name for r in popular_with_followed(user=bee)] == ["E4"]
