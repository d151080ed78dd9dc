"""The SOCIAL setting: parsing, system checks (E014), reading follows, training,
forgetting, and serving: the "Popular with people you follow" block, social reasons and
their privacy rules, the fold-in of follows made after training.

The serving tests run on the demo store's real follow model (``shop.Follow``, the
setting of config/settings.py), as a host project would configure it.
"""

from __future__ import annotations

import copy
import pickle
import re

import numpy as np
import pytest
import scipy.sparse as sp
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from recommendations import adapters as adapters_module
from recommendations import privacy, serving
from recommendations import receivers as receivers_module
from recommendations.adapters import SettingsAdapter, SocialEdges, get_adapter
from recommendations.checks import check_settings
from recommendations.conf import (
    DEFAULT_ALGORITHMS,
    DEFAULT_SOCIAL_ALGORITHMS,
    SocialRelation,
    app_settings,
)
from recommendations.engine import SocialBlendRecommender, SocialTrustRecommender
from recommendations.selectors import popular_with_followed, recommendations_for_user
from recommendations.services import social_changed, training_run_start
from recommendations.serving.keys import user_generation_bump
from recommendations.serving.social import Circle, Evidence, follows_anyone, social_reason
from recommendations.training import SECONDS_PER_DAY, social_matrix, training_data_prepare
from shop.models import CustomerProfile, Follow
from tests.factories import FollowFactory, ReviewFactory, UserFactory
from tests.recommendations.store import buyer, item_names, store_build, store_train
from tests.recommendations.test_training import make_small_shop

VALID = {
    "MODEL": "shop.OrderLine",
    "FOLLOWER_FIELD": "order__user",
    "FOLLOWED_FIELD": "order__user",
}


def _social(settings, value) -> None:
    recommendations = copy.deepcopy(django_settings.RECOMMENDATIONS)
    recommendations["SOCIAL"] = value
    settings.RECOMMENDATIONS = recommendations


# -- the setting ------------------------------------------------------------------------


def _without_social(settings) -> None:
    recommendations = copy.deepcopy(django_settings.RECOMMENDATIONS)
    recommendations.pop("SOCIAL", None)
    settings.RECOMMENDATIONS = recommendations


def test_no_social_setting_means_the_feature_is_off(settings):
    _without_social(settings)

    assert app_settings.SOCIAL is None


def test_the_social_setting_is_read_into_a_typed_relation(settings):
    _social(settings, {**VALID, "WEIGHT_FIELD": "quantity", "TIME_FIELD": "order__created_at"})
    relation = app_settings.SOCIAL

    assert relation == SocialRelation(
        model="shop.OrderLine",
        follower_field="order__user",
        followed_field="order__user",
        weight_field="quantity",
        time_field="order__created_at",
        mutual=False,
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("shop.Follow", "must be a dict"),
        ({"MODEL": "shop.Follow", "FOLLOWER_FIELD": "a"}, "lacks FOLLOWED_FIELD"),
        ({**VALID, "MUTUAL": "yes"}, "MUTUAL"),
        ({**VALID, "COUNT_NON_SHARING": 0}, "['COUNT_NON_SHARING'] must be True or False"),
        ({**VALID, "FOLLOWERS": "x"}, "unknown key(s) FOLLOWERS"),
    ],
)
def test_a_malformed_social_setting_is_improperly_configured(settings, value, text):
    _social(settings, value)

    with pytest.raises(ImproperlyConfigured, match=re.escape(text)):
        _ = app_settings.SOCIAL


def test_the_default_algorithms_add_the_social_models_when_follows_are_configured(settings):
    recommendations = copy.deepcopy(django_settings.RECOMMENDATIONS)
    recommendations.pop("ALGORITHMS", None)
    recommendations.pop("SOCIAL", None)
    settings.RECOMMENDATIONS = recommendations
    assert app_settings.ALGORITHMS == DEFAULT_ALGORITHMS

    settings.RECOMMENDATIONS = {**recommendations, "SOCIAL": VALID}

    assert app_settings.ALGORITHMS == {**DEFAULT_ALGORITHMS, **DEFAULT_SOCIAL_ALGORITHMS}
    assert {"social_rerank", "social_mf"} <= set(app_settings.ALGORITHMS)


# -- system checks ----------------------------------------------------------------------


def test_a_social_relation_between_users_passes_the_checks(settings):
    _social(settings, {**VALID, "WEIGHT_FIELD": "quantity", "TIME_FIELD": "order__created_at"})

    assert check_settings() == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({**VALID, "MODEL": "shop.Follow"}, "shop.Follow"),
        ({**VALID, "FOLLOWED_FIELD": "product"}, "must lead to auth.User"),
        ({**VALID, "FOLLOWER_FIELD": "order__buyer"}, "buyer"),
        ({**VALID, "FOLLOWER_FIELD": ""}, "FOLLOWER_FIELD"),
        ({**VALID, "TIME_FIELD": "followed_at"}, "followed_at"),
        ({**VALID, "WEIGHT_FIELD": "strength"}, "strength"),
        ({"MODEL": "shop.OrderLine"}, "lacks FOLLOWER_FIELD, FOLLOWED_FIELD"),
    ],
)
def test_each_bad_social_value_is_reported_as_e014(settings, value, text):
    _social(settings, value)

    errors = check_settings()

    assert {error.id for error in errors} == {"recommendations.E014"}, [e.msg for e in errors]
    assert any(text in error.msg for error in errors), [e.msg for e in errors]


# -- reading follows and training ---------------------------------------------------------


@pytest.mark.django_db
def test_without_a_social_setting_reading_follows_costs_no_query(
    settings, django_assert_num_queries
):
    _without_social(settings)
    with django_assert_num_queries(0):
        assert SettingsAdapter().social_edges() is None
        assert SettingsAdapter().user_followed(1) == []


def test_the_follow_matrix_keeps_the_batchs_users_and_the_relations_made_before():
    user_pks = np.array([3, 5, 8])
    edges = SocialEdges(
        follower_pk=np.array([3, 3, 5, 9, 8]),
        followed_pk=np.array([5, 8, 3, 3, 5]),
        weight=np.array([1.0, 2.0, 0.5, 1.0, 1.0]),
        time=np.array([10.0, 20.0, np.nan, 10.0, 30.0]),
    )

    every = social_matrix(edges, user_pks).toarray()
    before = social_matrix(edges, user_pks, before=20.0).toarray()

    # User 9 is not in the batch; the relation dated 30 is after the cut, the undated counts.
    np.testing.assert_array_equal(every, [[0, 1, 2], [0.5, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(before, [[0, 1, 0], [0.5, 0, 0], [0, 0, 0]])
    assert social_matrix(None, user_pks) is None


class FollowsAdapter(SettingsAdapter):
    """An adapter whose follows come from the overridable hook, not from a model."""

    edges: SocialEdges | None = None

    def social_edges(self) -> SocialEdges | None:
        return self.edges


@pytest.mark.django_db
def test_training_builds_the_follow_matrices_and_a_social_model_uses_them(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    shop = make_small_shop(n_users=9)
    first, second, third = (user.pk for user in shop.users[:3])
    adapter = FollowsAdapter()
    now = shop.now.timestamp()
    adapter.edges = SocialEdges(
        follower_pk=np.array([first, first]),
        followed_pk=np.array([second, third]),
        weight=np.array([1.0, 1.0]),
        time=np.array([now - 90 * SECONDS_PER_DAY, now - SECONDS_PER_DAY]),
    )

    data = training_data_prepare(adapter=adapter)
    rows = np.searchsorted(data.user_pks, [first, second, third])
    model = SocialTrustRecommender().fit(data.matrix, social=data.social)

    assert data.social.shape == (9, 9) and data.social.nnz == 2
    assert data.social[rows[0], rows[2]] == 1.0
    # The relation made during the holdout is not known to the model evaluated on it.
    assert data.train_social.nnz == 1 and data.train_social[rows[0], rows[1]] == 1.0
    assert model.social_.nnz == 2
    assert training_data_prepare(adapter=FollowsAdapter()).social is None


# -- forgetting a user --------------------------------------------------------------------


def test_forgetting_a_user_drops_their_row_and_column_of_follows():
    rng = np.random.default_rng(0)
    interactions = sp.csr_matrix(rng.random((6, 8)) < 0.4, dtype=np.float32)
    social = sp.csr_matrix(np.ones((6, 6), dtype=np.float32) - np.eye(6, dtype=np.float32))
    model = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0).fit(
        interactions, social=social
    )
    keep = np.array([True, False, True, True, True, True])

    privacy.recommender_without_rows(model, keep)

    assert model.social_.shape == (5, 5) and model.social_.nnz == 20
    assert model.recommend(0, 3)[0].size > 0


# -- system checks of the sharing and name lookups -----------------------------------------

FOLLOW = {
    "MODEL": "shop.Follow",
    "FOLLOWER_FIELD": "follower",
    "FOLLOWED_FIELD": "followed",
    "TIME_FIELD": "created_at",
}


def test_the_demo_follow_model_with_sharing_and_names_passes_the_checks(settings):
    _social(
        settings,
        {
            **FOLLOW,
            "SHARING_FIELD": "profile__shares_activity",
            "DISPLAY_NAME_FIELD": "profile__display_name",
        },
    )

    assert check_settings() == []
    assert app_settings.SOCIAL.names_people


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (
            {"SHARING_FIELD": "profile__shares", "DISPLAY_NAME_FIELD": "profile__display_name"},
            "shares",
        ),
        ({"SHARING_FIELD": "profile__shares_activity"}, "both SHARING_FIELD and DISPLAY_NAME"),
        (
            {
                "SHARING_FIELD": "profile__user__profile__shares_activity",
                "DISPLAY_NAME_FIELD": "profile__display_name",
            },
            "one relation away",
        ),
    ],
)
def test_a_bad_sharing_or_name_lookup_is_e014(settings, extra, text):
    _social(settings, {**FOLLOW, **extra})

    errors = check_settings()

    assert {error.id for error in errors} == {"recommendations.E014"}, [e.msg for e in errors]
    assert any(text in error.msg for error in errors), [e.msg for e in errors]


# -- what a reason may tell -----------------------------------------------------------------


def _circle(followed, names):
    return Circle(tuple(followed), {str(pk): name for pk, name in names.items()})


@pytest.mark.parametrize(
    ("buyers", "ratings", "names", "expected"),
    [
        ({1}, {}, {}, ""),  # one person who does not share: never revealed
        ({1, 2}, {}, {}, "Bought by 2 people you follow"),
        ({1, 2, 3}, {}, {}, "Bought by 3 people you follow"),
        ({1}, {}, {1: "Alice"}, "Bought by Alice, whom you follow"),
        # Alice shares; Bob alone does not: he is not counted.
        ({1, 2}, {}, {1: "Alice"}, "Bought by Alice, whom you follow"),
        ({1, 2, 3}, {}, {1: "Alice"}, "Bought by Alice and 2 more people you follow"),
        ({1, 2}, {}, {1: "Alice", 2: "Bob"}, "Bought by Alice and 1 more person you follow"),
        (set(), {1: "5"}, {1: "Alice"}, "Rated 5 stars by Alice, whom you follow"),
        ({2, 3}, {1: "4"}, {1: "Alice"}, "Rated 4 stars by Alice, whom you follow"),
        (set(), {1: "5"}, {}, ""),
        (set(), {1: "5", 2: "4"}, {}, "Rated highly by 2 people you follow"),
    ],
)
def test_a_social_reason_names_only_sharers_and_counts_at_least_two(
    buyers, ratings, names, expected
):
    evidence = Evidence(
        item_pk=9,
        buyers={str(pk) for pk in buyers},
        ratings={str(pk): value for pk, value in ratings.items()},
    )

    assert social_reason(evidence, _circle([1, 2, 3], names)) == expected


def test_one_person_who_does_not_share_never_changes_what_a_reason_tells():
    people = range(1, 7)
    for sharers in range(0, 4):
        circle = _circle(people, {pk: f"P{pk}" for pk in range(1, sharers + 1)})
        for told_sharers in range(0, sharers + 1):
            buyers = {str(pk) for pk in range(1, told_sharers + 1)}
            without = social_reason(Evidence(9, buyers=buyers), circle)
            with_one = social_reason(Evidence(9, buyers=buyers | {"6"}), circle)
            assert with_one == without, (sharers, told_sharers)
            # Two who do not share may be counted: the reason says 2 more at least.
            with_two = social_reason(Evidence(9, buyers=buyers | {"5", "6"}), circle)
            count = int(re.search(r"(\d+) (?:more )?people", str(with_two)).group(1))
            expected = len(buyers) + 1 if buyers else 2  # "P1 and N more" / "N people"
            assert count == expected, with_two


@pytest.mark.parametrize(
    ("buyers", "ratings", "names", "english", "german"),
    [
        (
            {1, 2},
            {},
            {},
            "Bought by 2 people you follow",
            "Gekauft von 2 Personen, denen Sie folgen",
        ),
        (
            {1, 2},
            {},
            {1: "Alice", 2: "Bob"},
            "Bought by Alice and 1 more person you follow",
            "Gekauft von Alice und 1 weiteren Person, der Sie folgen",
        ),
        (
            set(),
            {1: "1"},
            {1: "Alice"},
            "Rated 1 star by Alice, whom you follow",
            "Mit 1 Stern bewertet von Alice, dem/der Sie folgen",
        ),
        (
            set(),
            {1: "5", 2: "4"},
            {},
            "Rated highly by 2 people you follow",
            "Gut bewertet von 2 Personen, denen Sie folgen",
        ),
    ],
)
def test_a_social_reason_is_worded_when_shown_and_pickles_without_a_language(
    buyers, ratings, names, english, german
):
    evidence = Evidence(
        item_pk=9,
        buyers={str(pk) for pk in buyers},
        ratings={str(pk): value for pk, value in ratings.items()},
    )
    with translation.override("de"):
        reason = social_reason(evidence, _circle([1, 2, 3], names))
        stored = pickle.dumps(reason)

    with translation.override("en"):
        assert str(reason) == english
        assert str(pickle.loads(stored)) == english
        # One class, not one per value unpickled (issue 12: 250 KB per list read back).
        assert type(pickle.loads(stored)) is type(pickle.loads(stored)) is type(reason)
    with translation.override("de"):
        assert str(pickle.loads(stored)) == german


# -- serving: the block, the reasons, privacy ------------------------------------------------


@pytest.fixture
def social_store(db, isolated_serving):
    """The serving tests' store, item-kNN trained; B follows people who bought from it."""
    store = store_build()
    store.run = store_train()
    return store


def _follower(username="bee"):
    return UserFactory(username=username)


def _sharing(user, name: str, shares: bool = True) -> None:
    profile = user.profile
    profile.display_name, profile.shares_activity = name, shares
    profile.save()


def _reasons(recommendations):
    return {r.item.name: (r.reason, r.social_reason) for r in recommendations}


def test_a_shopper_who_follows_nobody_gets_no_followed_block(social_store):
    bee = buyer(social_store.product(0, 0), username="bee")

    assert popular_with_followed(user=bee) == []
    assert popular_with_followed(user=AnonymousUser()) == []


def test_the_block_lists_what_two_followed_people_bought_counted_and_hides_a_single_one(
    social_store,
):
    bee = _follower()
    alice = buyer(social_store.product(3, 4), social_store.product(5, 4), username="alice")
    bob = buyer(social_store.product(3, 4), username="bob")
    FollowFactory(follower=bee, followed=alice)
    FollowFactory(follower=bee, followed=bob)

    listed = _reasons(popular_with_followed(user=bee))

    # D4 was bought by both (neither shares): counted. F4 by Alice alone: never shown.
    assert listed == {"D4": ("Bought by 2 people you follow", "")}


def test_a_shop_that_counts_sharers_only_tells_nothing_of_people_who_do_not_share(
    social_store, settings
):
    # Following a person and an account of one's own, a count of 2 would tell what
    # that person bought: COUNT_NON_SHARING False closes that.
    _social(settings, {**django_settings.RECOMMENDATIONS["SOCIAL"], "COUNT_NON_SHARING": False})
    bee = _follower()
    alice = buyer(social_store.product(3, 4), social_store.product(5, 4), username="alice")
    bob = buyer(social_store.product(3, 4), username="bob")
    carol = buyer(social_store.product(3, 4), username="carol")
    _sharing(carol, "Carol")
    for person in (alice, bob, carol):
        FollowFactory(follower=bee, followed=person)

    ReviewFactory(user=alice, product=social_store.product(6, 4), rating=5)
    ReviewFactory(user=bob, product=social_store.product(6, 4), rating=5)

    listed = _reasons(popular_with_followed(user=bee))

    # D4: Alice and Bob (not sharing) and Carol (sharing) bought it: only Carol is told.
    # G4, rated 5 stars by Alice and Bob alone, is not told at all.
    assert listed == {"D4": ("Bought by Carol, whom you follow", "")}


def test_a_sharing_person_is_named_and_turning_sharing_off_unnames_them_at_once(social_store):
    bee = _follower()
    alice = buyer(social_store.product(5, 4), username="alice")
    ReviewFactory(user=alice, product=social_store.product(6, 4), rating=5)
    _sharing(alice, "Alice")
    FollowFactory(follower=bee, followed=alice)

    listed = _reasons(popular_with_followed(user=bee))
    assert listed == {
        "F4": ("Bought by Alice, whom you follow", ""),
        "G4": ("Rated 5 stars by Alice, whom you follow", ""),
    }

    _sharing(alice, "Alice", shares=False)  # the list above is cached: it must not stay

    assert popular_with_followed(user=bee) == []


@pytest.mark.parametrize(
    ("name", "told"),
    [
        ("\u200b", None),  # invisible: counted like someone who does not share
        ("\u202e\u2066", None),
        ("\u3164\u2800", None),  # a Hangul filler and the blank Braille pattern
        ("Zed\u202eevil", "Zedevil"),  # the direction override would turn the sentence
        (" Ali\u200bce\n", "Alice"),
    ],
)
def test_a_name_is_told_only_as_far_as_it_is_visible(social_store, name, told):
    bee = _follower()
    alice = buyer(social_store.product(5, 4), username="alice")
    bob = buyer(social_store.product(5, 4), username="bob")
    _sharing(alice, name)  # a host's own names are not validated by the app
    FollowFactory(follower=bee, followed=alice)
    FollowFactory(follower=bee, followed=bob)

    listed = _reasons(popular_with_followed(user=bee))

    if told is None:
        assert listed == {"F4": ("Bought by 2 people you follow", "")}
    else:
        assert listed == {"F4": (f"Bought by {told}, whom you follow", "")}


def test_social_reasons_show_on_the_other_blocks_where_true(social_store):
    bee = buyer(social_store.product(0, 0), username="bee")
    for name in ("alice", "bob"):
        FollowFactory(follower=bee, followed=buyer(social_store.product(1, 0), username=name))

    mine = {r.item.name: r for r in recommendations_for_user(user=bee, n=10)}

    # B0 goes with A0 (bee's purchase): its reason says so, and what the people she follows did.
    assert mine["B0"].reason == "Because you bought A0"
    assert mine["B0"].social_reason == "Bought by 2 people you follow"
    assert all(r.social_reason == "" for name, r in mine.items() if name != "B0")


def test_a_social_reason_of_a_cached_list_reads_in_the_language_it_is_shown_in(social_store):
    bee = buyer(social_store.product(0, 0), username="bee")
    for name in ("alice", "bob"):
        FollowFactory(follower=bee, followed=buyer(social_store.product(1, 0), username=name))

    def listed():
        return {r.item.name: r for r in recommendations_for_user(user=bee, n=10)}

    with translation.override("de"):
        listed()
        serving.process_state.reset(lists_only=True)
        cached = listed()  # from the shared cache, unpickled

    with translation.override("en"):
        assert str(cached["B0"].social_reason) == "Bought by 2 people you follow"
    with translation.override("de"):
        assert str(cached["B0"].social_reason) == "Gekauft von 2 Personen, denen Sie folgen"


def test_a_follow_and_an_unfollow_change_the_lists_at_once(social_store):
    bee = _follower()
    alice = buyer(social_store.product(2, 4), username="alice")
    _sharing(alice, "Alice")
    assert popular_with_followed(user=bee) == []  # cached empty for bee

    follow = FollowFactory(follower=bee, followed=alice)
    assert item_names(popular_with_followed(user=bee)) == ["C4"]

    follow.delete()
    assert popular_with_followed(user=bee) == []


def test_a_shopper_who_follows_nobody_costs_no_query_for_whom_they_follow(social_store):
    bee, alice = _follower(), buyer(social_store.product(2, 4), username="alice")
    recommendations_for_user(user=alice, n=4)  # the process learns who follows anyone

    with CaptureQueriesContext(connection) as queries:
        recommendations_for_user(user=bee, n=4)

    assert not [q for q in queries if '"shop_follow"' in q["sql"]]


def test_a_follow_saved_by_another_process_is_seen_by_the_next_list(social_store):
    bee, alice = _follower(), buyer(social_store.product(2, 4), username="alice")
    _sharing(alice, "Alice")
    assert popular_with_followed(user=bee) == []  # this process holds: nobody follows

    # Another process: a row without this process's signals, then its notices.
    Follow.objects.bulk_create([Follow(follower=bee, followed=alice)])
    social_changed()
    user_generation_bump(bee.pk)

    assert item_names(popular_with_followed(user=bee)) == ["C4"]


def test_deleting_a_followed_account_removes_them_from_every_followers_list_at_once(
    social_store,
):
    alice = buyer(social_store.product(2, 4), username="alice")
    _sharing(alice, "Alice")
    followers = [_follower(f"fan{i}") for i in range(3)]
    for fan in followers:
        FollowFactory(follower=fan, followed=alice)
        assert item_names(popular_with_followed(user=fan)) == ["C4"]

    alice.delete()

    for fan in followers:
        assert popular_with_followed(user=fan) == []
    assert not Follow.objects.filter(follower__in=followers).exists()


def test_a_deactivated_account_leaves_every_followers_signal_until_it_is_active_again(
    social_store,
):
    bee = _follower()
    alice = buyer(social_store.product(2, 4), username="alice")
    bob = buyer(social_store.product(2, 4), username="bob")
    _sharing(alice, "Alice")
    for person in (alice, bob):
        FollowFactory(follower=bee, followed=person)
    assert _reasons(popular_with_followed(user=bee)) == {
        "C4": ("Bought by Alice, whom you follow", "")
    }

    alice.is_active = False
    alice.save()  # the list above is cached: it must not stay

    # Bob alone, who does not share: nothing may be told.
    assert popular_with_followed(user=bee) == []
    assert get_adapter().user_followed(bee.pk) == [bob.pk]

    alice.is_active = True
    alice.save(update_fields=["is_active"])

    assert item_names(popular_with_followed(user=bee)) == ["C4"]


def test_a_deactivated_follower_follows_nobody_in_training_and_serving(social_store):
    bee = _follower()
    alice = buyer(social_store.product(2, 4), username="alice")
    FollowFactory(follower=bee, followed=alice)
    assert get_adapter().social_followers() == [bee.pk]

    bee.is_active = False
    bee.save(update_fields=["is_active"])

    assert get_adapter().social_followers() == []
    assert get_adapter().social_edges().follower_pk.size == 0
    assert follows_anyone(get_adapter(), bee) is False


def test_only_a_users_save_that_changes_being_active_refreshes_followers(
    social_store, monkeypatch
):
    bee, alice = _follower(), buyer(social_store.product(2, 4), username="alice")
    FollowFactory(follower=bee, followed=alice)
    bumped: list[list] = []
    monkeypatch.setattr(receivers_module, "_generations_bump", bumped.append)

    alice.email = "alice@example.com"
    alice.save()  # a new e-mail: nothing lists tell
    alice.set_password("another-password-1")
    alice.save()
    assert bumped == []

    alice.is_active = False
    alice.save()
    alice.save()  # saved again unchanged

    assert bumped == [[bee.pk]]


def test_a_profile_created_sharing_names_its_user_at_once(social_store):
    bee = _follower()
    alice = buyer(social_store.product(2, 4), username="alice")
    FollowFactory(follower=bee, followed=alice)
    alice.profile.delete()
    assert popular_with_followed(user=bee) == []  # cached: one who does not share

    CustomerProfile.objects.create(user=alice, display_name="Alice", shares_activity=True)

    assert _reasons(popular_with_followed(user=bee)) == {
        "C4": ("Bought by Alice, whom you follow", "")
    }


def test_a_followed_person_who_refused_personalisation_is_not_counted(social_store):
    bee = _follower()
    people = [buyer(social_store.product(4, 4), username=n) for n in ("alice", "bob")]
    for person in people:
        FollowFactory(follower=bee, followed=person)
    assert item_names(popular_with_followed(user=bee)) == ["E4"]

    profile = people[0].profile
    profile.personalisation_consent = False
    profile.save()

    # One buyer left who does not share: nothing may be told.
    assert popular_with_followed(user=bee) == []


@pytest.mark.django_db
def test_the_social_model_folds_in_a_follow_made_after_training(isolated_serving, settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "SIMILAR_ALGORITHM": "item_knn",
        "SELECTION": {"ENABLED": False},
    }
    store = store_build()
    # Alice's taste is her own: items nobody else bought much.
    alice = buyer(store.product(7, 4), store.product(6, 4), username="alice")
    bee = _follower()
    run = training_run_start(algorithms=["social_trust"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    before = item_names(recommendations_for_user(user=bee, n=4))

    FollowFactory(follower=bee, followed=alice)  # after the training
    after = recommendations_for_user(user=bee, n=4)

    assert not {"H4", "G4"} <= set(before)
    assert set(item_names(after)[:2]) == {"H4", "G4"}
    assert all(r.source == "personal" for r in after[:2])


def test_the_staff_preview_shows_the_social_layer(staff_client, social_store):
    bee = buyer(social_store.product(0, 0), username="bee")
    alice = buyer(social_store.product(5, 4), username="alice")
    _sharing(alice, "Alice")
    carol = buyer(social_store.product(5, 4), username="carol")
    _sharing(carol, "Carol", shares=False)
    dora = buyer(social_store.product(5, 4), username="dora")
    _sharing(dora, "Dora")
    dora.profile.personalisation_consent = False  # shares, but refused: never told
    dora.profile.save()
    for person in (alice, carol, dora):
        FollowFactory(follower=bee, followed=person)

    html = staff_client.get(
        reverse("admin:recommendations_preview"), {"customer": bee.username}
    ).content.decode()

    summary = re.search(r'<p id="preview-social">(.*?)</p>', html, re.S).group(1)
    assert "<strong>3</strong> people" in summary
    assert "Alice" in summary and "Carol" not in summary  # only sharers may be named
    assert "Dora" not in summary  # nor one who refused personalisation
    assert 'data-block="followed"' in html
    assert "Bought by Alice, whom you follow" in html


# -- reading what followed people did ------------------------------------------------------


def _activity_store(social_store):
    """Three people who bought and rated products of the store, one of whom refused
    personalisation; the products they touched and one nobody touched."""
    products = [social_store.product(c, r) for c, r in ((0, 1), (1, 2), (2, 3), (3, 4))]
    alice = buyer(products[0], products[1], username="alice")
    bob = buyer(products[1], products[2], username="bob")
    carol = buyer(products[2], username="carol")
    ReviewFactory(user=alice, product=products[2], rating=5)
    ReviewFactory(user=bob, product=products[0], rating=2)
    ReviewFactory(user=carol, product=products[1], rating=4)
    profile = carol.profile
    profile.personalisation_consent = False
    profile.save()
    return [alice.pk, bob.pk, carol.pk], [p.pk for p in products]


def _events(events):
    return sorted((e.user_pk, e.item_pk, e.source, e.purchase, e.value) for e in events)


def test_the_compiled_social_statement_reads_what_the_orm_queries_read(social_store, monkeypatch):
    people, products = _activity_store(social_store)
    compiled = SettingsAdapter()
    with CaptureQueriesContext(connection) as captured:
        events = compiled.social_activity(people, item_pks=products)
    monkeypatch.setattr(adapters_module, "SOCIAL_STATEMENT_SIZES", ())
    expected = SettingsAdapter().social_activity(people, item_pks=products)

    assert len(captured) == 1  # every source and the consent in one statement
    assert _events(events) == _events(expected)
    # Carol refused personalisation: nothing of hers. Bob's 2 stars are no positive
    # rating; Alice's 5 are.
    assert {e.user_pk for e in events} == set(people[:2])
    assert [(e.user_pk, e.value) for e in events if not e.purchase] == [(people[0], 5)]
    assert sum(e.purchase for e in events) == 4


def test_the_compiled_social_statement_pads_short_lists_and_leaves_long_ones_to_the_orm(
    social_store, monkeypatch
):
    people, products = _activity_store(social_store)
    monkeypatch.setattr(adapters_module, "SOCIAL_STATEMENT_SIZES", (2,))
    adapter = SettingsAdapter()

    padded = adapter.social_activity(people[:1], item_pks=products[:1])  # 1 key, size 2
    longer = adapter.social_activity(people, item_pks=products)  # 3 keys: the ORM's queries

    assert list(adapter._social_statements) == [(2, 2, 5000)]
    monkeypatch.setattr(adapters_module, "SOCIAL_STATEMENT_SIZES", ())
    orm = SettingsAdapter()
    assert _events(padded) == _events(orm.social_activity(people[:1], item_pks=products[:1]))
    assert _events(padded) == [(people[0], products[0], "purchase", True, None)]
    assert _events(longer) == _events(orm.social_activity(people, item_pks=products))


def _circle_store():
    """Bee follows Alice (shares, named), Bob (shares, no name) and Carol (named, does
    not share), in that order."""
    bee = _follower()
    people = []
    for username, name, shares in (
        ("alice", "Alice", True),
        ("bob", " ", True),
        ("carol", "Carol", False),
    ):
        person = UserFactory(username=username)
        _sharing(person, name, shares)
        FollowFactory(follower=bee, followed=person)
        people.append(person)
    return bee, people


def test_whom_a_shopper_follows_and_who_of_them_is_named_is_one_statement(social_store):
    bee, people = _circle_store()
    adapter = SettingsAdapter()
    followed = adapter.user_followed(bee.pk)

    with CaptureQueriesContext(connection) as captured:
        circle = adapter.social_circle(bee.pk, limit=500)

    assert len(captured) == 1
    assert circle == (followed, adapter.social_names(followed))
    assert sorted(circle[0]) == sorted(p.pk for p in people)
    assert circle[1] == {people[0].pk: "Alice"}
    assert adapter.social_circle(bee.pk, limit=2)[0] == followed[:2]


def test_an_adapter_that_reads_follows_its_own_way_is_asked_for_the_circle(social_store):
    bee, people = _circle_store()

    class OwnFollows(SettingsAdapter):
        def user_followed(self, user_pk):
            return [people[2].pk]

    assert OwnFollows().social_circle(bee.pk, limit=500) == ([people[2].pk], {})
