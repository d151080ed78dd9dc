"""The SOCIAL setting: parsing, system checks (E014), reading follows, training, forgetting.

Reading a real follow model is tested in the library host project
(tests/hostproject/host_checks.py); the demo store has no follow model yet.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import scipy.sparse as sp
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from recommendations import privacy
from recommendations.adapters import SettingsAdapter, SocialEdges
from recommendations.checks import check_settings
from recommendations.conf import (
    DEFAULT_ALGORITHMS,
    DEFAULT_SOCIAL_ALGORITHMS,
    SocialRelation,
    app_settings,
)
from recommendations.engine import SocialBlendRecommender, SocialTrustRecommender
from recommendations.training import SECONDS_PER_DAY, social_matrix, training_data_prepare
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


def test_no_social_setting_means_the_feature_is_off():
    assert "SOCIAL" not in django_settings.RECOMMENDATIONS
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
    settings.RECOMMENDATIONS = recommendations
    assert app_settings.ALGORITHMS == DEFAULT_ALGORITHMS

    settings.RECOMMENDATIONS = {**recommendations, "SOCIAL": VALID}

    assert app_settings.ALGORITHMS == {**DEFAULT_ALGORITHMS, **DEFAULT_SOCIAL_ALGORITHMS}
    assert {"social_blend", "social_mf"} <= set(app_settings.ALGORITHMS)


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
def test_without_a_social_setting_reading_follows_costs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert SettingsAdapter().social_edges() is None


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
