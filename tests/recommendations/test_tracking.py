"""Impressions and clicks: one insert per block, attributed clicks, nothing lost, consent."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from recommendations import tracking
from recommendations.models import Click, Impression
from shop.models import CustomerProfile
from tests.factories import OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.store import (
    caches_clear,
    page_request,
    store_build,
    store_train,
    tag_render,
)

EVENTS = reverse("recommendations:events")


pytestmark = pytest.mark.usefixtures("isolated_experiments")


@pytest.fixture(autouse=True)
def _no_reload_check(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}


def test_a_rendered_block_is_one_impression_with_its_items_in_order(store):
    alice = UserFactory(username="alice")
    html = tag_render("{% trending_products n=6 %}", page_request(alice))

    impression = Impression.objects.get()
    shown = re.findall(r'data-rec-item="([^"]+)"', html)
    assert impression.item_pks == shown and len(shown) == 6
    assert impression.block == "trending" and impression.run_id == store.run.pk
    assert impression.user == alice
    assert f'data-rec-impression="{impression.token}"' in html
    assert html.count("data-rec-position=") == 6


def test_recording_costs_one_insert_per_block_whatever_its_length(store):
    tag_render("{% trending_products n=2 %}", page_request())  # load the model once

    inserts = {}
    for n in (2, 20):
        caches_clear()  # both lists computed, not one of them served from the cache
        with CaptureQueriesContext(connection) as queries:
            tag_render(f"{{% trending_products n={n} %}}", page_request())
        inserts[n] = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
        inserts[n, "all"] = len(queries)

    assert len(inserts[2]) == len(inserts[20]) == 1
    assert "recommendations_impression" in inserts[20][0]
    assert inserts[2, "all"] == inserts[20, "all"]


def test_a_page_stores_the_impressions_of_all_its_blocks_in_one_insert(store, settings):
    assert "recommendations.middleware.ImpressionMiddleware" in settings.MIDDLEWARE
    client = Client()
    client.force_login(UserFactory(username="alice"))
    url = store.product(4, 0).get_absolute_url()
    client.get(url)  # load the model once
    Impression.objects.all().delete()

    with CaptureQueriesContext(connection) as queries:
        html = client.get(url).content.decode()

    inserts = [q["sql"] for q in queries if "INSERT" in q["sql"] and "_impression" in q["sql"]]
    tokens = re.findall(r'data-rec-impression="([^"]+)"', html)
    assert len(inserts) == 1
    assert len(tokens) == 3  # similar products, bought together, recommended for you
    stored = {i.token: i for i in Impression.objects.all()}
    assert set(stored) == set(tokens)
    assert {i.block for i in stored.values()} == {"similar", "bought_together", "for_you"}
    for token in tokens:
        section = html[html.index(f'data-rec-impression="{token}"') :].split("</section>")[0]
        assert stored[token].item_pks == re.findall(r'data-rec-item="([^"]+)"', section)


def test_a_user_without_consent_is_not_remembered(store):
    bob = UserFactory(username="bob")
    CustomerProfile.objects.filter(user=bob).update(personalisation_consent=False)
    html = tag_render("{% trending_products n=3 %}", page_request(bob))
    impression = Impression.objects.get()
    assert impression.user is None

    client = Client()
    client.force_login(bob)
    item = impression.item_pks[1]
    response = client.post(
        EVENTS, {"kind": "click", "product": item, "impression": impression.token, "position": 1}
    )
    assert response.status_code == 202, response.content
    assert Click.objects.get().user is None
    assert "data-rec-position" in html


def test_a_click_is_attributed_to_its_impression_and_position(store):
    impression = Impression.objects.create(block="similar", run=store.run, item_pks=["1", "2"])
    alice = UserFactory()
    client = Client()
    client.force_login(alice)
    product = store.product(0, 0)
    impression.item_pks = [str(store.product(1, 0).pk), str(product.pk)]
    impression.save()

    response = client.post(
        EVENTS,
        {"kind": "click", "product": product.pk, "impression": impression.token, "position": 1},
    )

    assert response.status_code == 202
    click = Click.objects.get()
    assert (click.impression, click.position, click.item_pk, click.user) == (
        impression,
        1,
        str(product.pk),
        alice,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"impression": "nope", "position": 0}, "impression"),
        ({"impression": "TOKEN", "position": 5}, "position"),
        ({"impression": "TOKEN", "position": 1}, "position"),  # another item was there
        ({"impression": "TOKEN"}, "position"),
    ],
)
def test_a_forged_or_malformed_click_is_a_400_naming_the_field(store, client, data, field):
    product = store.product(0, 0)
    impression = Impression.objects.create(
        block="trending", item_pks=[str(product.pk), str(store.product(1, 0).pk)]
    )
    data = {k: impression.token if v == "TOKEN" else v for k, v in data.items()}

    response = client.post(EVENTS, {"kind": "click", "product": product.pk, **data})

    assert response.status_code == 400
    assert field in response.json()
    assert not Click.objects.exists()


def test_a_click_on_another_shoppers_impression_is_not_theirs(store):
    alice, bob = UserFactory(), UserFactory()
    product = store.product(0, 0)
    impression = Impression.objects.create(block="for_you", item_pks=[str(product.pk)], user=alice)
    body = {"kind": "click", "product": product.pk, "impression": impression.token, "position": 0}
    client = Client()
    client.force_login(bob)

    assert client.post(EVENTS, body).status_code == 202

    # Bob's later purchase must not convert Alice's impression.
    assert Click.objects.get().user is None


def test_a_click_repeated_counts_once_and_names_its_impressions_block(store, client):
    product = store.product(0, 0)
    impression = Impression.objects.create(block="similar", item_pks=[str(product.pk)])
    body = {"kind": "click", "product": product.pk, "impression": impression.token, "position": 0}

    codes = [client.post(EVENTS, body).status_code for _ in range(3)]
    other_block = client.post(EVENTS, {**body, "block": "trending"})

    assert codes == [202] * 3 and Click.objects.count() == 1
    assert other_block.status_code == 400
    assert other_block.json() == {"block": ["The impression is of another block."]}


def test_the_report_counts_ctr_and_conversions_per_block_and_run(store):
    alice, bob = UserFactory(), UserFactory()
    product, other = store.product(2, 1), store.product(3, 1)
    keys = [str(product.pk), str(other.pk)]
    shown = [
        Impression.objects.create(block="for_you", run=store.run, item_pks=keys, user=user)
        for user in (alice, bob, alice, alice)
    ]
    Impression.objects.create(block="trending", run=store.run, item_pks=keys)
    tracking.click_record(token=shown[0].token, position=0, item_pk=product.pk, user=alice)
    tracking.click_record(token=shown[0].token, position=1, item_pk=other.pk, user=alice)
    tracking.click_record(token=shown[1].token, position=0, item_pk=product.pk, user=bob)
    # Alice buys the clicked item two days later: a conversion. Bob buys it too late.
    soon = timezone.now() + dt.timedelta(days=2)
    OrderLineFactory(order=OrderFactory(user=alice, created_at=soon), product=product)
    late = timezone.now() + dt.timedelta(days=30)
    OrderLineFactory(order=OrderFactory(user=bob, created_at=late), product=product)

    rows = {row.block: row for row in tracking.click_through_report(by=("block", "run"))}

    for_you = rows["for_you"]
    assert (for_you.impressions, for_you.clicks, for_you.clicked_impressions) == (4, 3, 2)
    assert for_you.ctr == 0.5 and for_you.conversions == 1
    assert for_you.run_id == store.run.pk and for_you.algorithm == "item_knn"
    assert (rows["trending"].impressions, rows["trending"].clicks, rows["trending"].ctr) == (
        1,
        0,
        0.0,
    )


def _in_threads(n, target):
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            target(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_impressions_and_clicks_lose_nothing(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    store = store_build()
    store_train()
    users = [UserFactory(username=f"concurrent{i}") for i in range(8)]
    tag_render("{% trending_products n=4 %}", page_request())  # warm the model
    Impression.objects.all().delete()
    rounds = 5

    def render(i):
        for _ in range(rounds):
            request = page_request(users[i])
            # Half the threads store a page's impressions at once, as the middleware does.
            if i % 2:
                tracking.impressions_collect(request)
            tag_render("{% trending_products n=4 %}{% recommended_for_you n=4 %}", request)
            assert tracking.impressions_flush(request) == (2 if i % 2 else 0)

    _in_threads(len(users), render)
    assert Impression.objects.count() == len(users) * rounds * 2

    impressions = list(Impression.objects.filter(block="trending"))

    def click(i):
        client = Client()
        client.force_login(users[i])
        for impression in [shown for shown in impressions if shown.user_id == users[i].pk]:
            response = client.post(
                EVENTS,
                {
                    "kind": "click",
                    "product": impression.item_pks[0],
                    "impression": impression.token,
                    "position": 0,
                },
            )
            assert response.status_code == 202, response.content

    _in_threads(len(users), click)
    assert Click.objects.count() == len(impressions)
    assert store.categories


@pytest.mark.django_db(transaction=True)
def test_one_click_sent_several_times_at_once_counts_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    store = store_build()
    product = store.product(0, 0)
    impressions = [
        Impression.objects.create(block="similar", item_pks=[str(product.pk)]) for _ in range(5)
    ]

    def click(i):
        for impression in impressions:
            tracking.click_record(token=impression.token, position=0, item_pk=product.pk)

    _in_threads(4, click)

    assert Click.objects.count() == len(impressions)
