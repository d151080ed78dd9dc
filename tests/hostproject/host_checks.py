"""Checks run with tests.hostproject.settings (a library, no shop) in a subprocess.

Fixtures: tests/hostproject/fixtures.py.

Not collected by the main run (the file name has no ``test_`` prefix): see
tests/recommendations/test_drop_in_host.py, which runs this module.
"""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.template import Context, Template
from django.test import RequestFactory

from recommendations import selectors, serving
from recommendations.adapters import get_adapter
from recommendations.artifacts import artifact_read
from recommendations.checks import check_settings
from recommendations.engine import SocialTrustRecommender
from recommendations.models import ForgottenUser, TrainingRun
from recommendations.privacy import CACHED_KINDS
from recommendations.services import training_run_start
from recommendations.serving.keys import UserCache
from recommendations.training import training_data_prepare
from tests.hostproject.library.models import Follow, Loan


@pytest.fixture
def library(books):
    run = training_run_start(promote=True)
    assert run.is_active, run.error
    serving.reset()
    return books


def test_shop_is_not_installed_and_never_imported(library):
    from django.apps import apps

    selectors.trending_products(n=3)
    assert not apps.is_installed("shop")
    assert not [name for name in sys.modules if name == "shop" or name.startswith("shop.")]


def test_selectors_recommend_books_with_reasons(library):
    reader = get_user_model().objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["crime0"])

    personal = selectors.recommendations_for_user(user=reader, n=4)
    similar = selectors.similar_products(item=library["crime0"], n=3)

    assert personal[0].item == library["poetry0"]
    assert personal[0].reason == "Because you borrowed Crime 0"
    assert library["crime0"] not in [r.item for r in personal]
    # Similar books are alternatives: the crime novel the same readers borrow.
    assert similar[0].item == library["crime1"]
    assert similar[0].reason == "Similar to Crime 0"


def test_loans_within_a_minute_are_one_basket_without_a_group_field(library):
    model = serving.active_model()
    crime0 = model.item_col(library["crime0"].pk)

    cols, _ = model.bought_together.similar_items(crime0, 3)

    # Four readers borrow Poetry 0 with Crime 0 at once, two borrow Crime 1 with it.
    assert model.item_pks_of(cols) == [library["poetry0"].pk, library["crime1"].pk]


def test_unavailable_books_are_never_recommended(library):
    library["poetry0"].is_available = False
    library["poetry0"].save()

    items = [r.item for r in selectors.similar_products(item=library["crime0"], n=8)]
    trending = [r.item for r in selectors.trending_products(n=8)]

    assert items and library["poetry0"] not in items
    assert len(trending) == 8 and library["poetry0"] not in trending


def test_the_template_tags_render_books(library):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = {}
    template = Template(
        "{% load recommendations_tags %}{% similar_products book n=2 %}{% trending_products n=3 %}"
    )

    html = template.render(Context({"request": request, "book": library["crime0"]}))

    assert "Similar to Crime 0" in html
    assert "Trending in " in html
    assert html.count('class="rec-item"') == 5


def test_the_api_serves_books(library, client):
    reader = get_user_model().objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["crime0"])
    client.force_login(reader)

    me = client.get("/api/recommendations/me/", {"n": 3})
    similar = client.get(f"/api/recommendations/products/{library['crime0'].pk}/similar/")
    trending = client.get("/api/recommendations/trending/", {"n": 2, "category": "travel"})
    schema = client.get("/api/schema/", {"format": "json"})

    assert me.status_code == 200
    assert me.json()["results"][0]["label"] == "Poetry 0"
    assert similar.json()["results"][0]["item_id"] == str(library["crime1"].pk)
    assert [r["reason"] for r in trending.json()["results"]] == ["Trending in travel"] * 2
    assert "/api/recommendations/me/" in schema.json()["paths"]


def test_follows_are_read_and_train_a_social_model(library, settings):
    User = get_user_model()
    reader = User.objects.create_user("reader")
    Loan.objects.create(reader=reader, book=library["travel0"])
    fans = [User.objects.get(username=f"crime-fan{i}") for i in range(2)]
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    for fan, weight in zip(fans, (1.0, 0.5), strict=True):
        Follow.objects.create(follower=reader, followed=fan, weight=weight, created_at=when)
    Follow.objects.create(follower=reader, followed=reader)  # following oneself: ignored

    edges = get_adapter().social_edges()
    data = training_data_prepare()
    recommender = SocialTrustRecommender().fit(data.matrix, social=data.social)
    row = int(np.searchsorted(data.user_pks, reader.pk))
    items, _ = recommender.recommend(row, 2)
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "SOCIAL": {**settings.RECOMMENDATIONS["SOCIAL"], "MUTUAL": True},
    }
    mutual = get_adapter().social_edges()

    assert check_settings() == []
    assert edges.follower_pk.tolist() == [reader.pk, reader.pk]
    assert sorted(zip(edges.followed_pk.tolist(), edges.weight.tolist(), strict=True)) == [
        (fans[0].pk, 1.0),
        (fans[1].pk, 0.5),
    ]
    assert edges.time.tolist() == [when.timestamp()] * 2
    assert data.social.nnz == 2 and data.social[row].sum() == 1.5
    assert {data.item_pks[i] for i in items} == {library["crime0"].pk, library["crime1"].pk}
    assert sorted(mutual.follower_pk.tolist()) == sorted([reader.pk] * 2 + [f.pk for f in fans])


def _cached(user_pk) -> dict:
    user_cache = UserCache.current(user_pk)
    return {} if user_cache is None else user_cache.get_many(CACHED_KINDS)


def test_a_reader_deleted_by_a_queryset_is_forgotten_without_the_host_asking(
    library, django_capture_on_commit_callbacks
):
    User = get_user_model()
    reader = User.objects.get(username="crime-fan0")
    pk = reader.pk
    assert serving.active_model().user_row(pk) is not None
    assert selectors.recommendations_for_user(user=reader, n=4)
    assert _cached(pk)

    # A failed deletion leaves everything as it was.
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.filter(username="crime-fan0").delete()
        raise RuntimeError("the host's deletion fails later")
    assert User.objects.filter(pk=pk).exists() and not ForgottenUser.objects.exists()
    assert serving.active_model().user_row(pk) is not None and _cached(pk)

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(username="crime-fan0").delete()

    assert ForgottenUser.objects.filter(user_pk=str(pk)).exists()
    assert _cached(pk) == {}
    assert serving.active_model().user_row(pk) is None
    run = TrainingRun.objects.get(is_active=True)
    assert pk not in artifact_read(run.artifact).user_pks.tolist()
    assert serving.active_model().user_row(User.objects.get(username="crime-fan1").pk) is not None
