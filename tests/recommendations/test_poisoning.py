"""Fake accounts posting views through the events API cannot push a product anywhere.

The prober's experiment, replayed end to end: ten free sign-ups each post five views of
a target product T and five of a best seller P to ``POST /api/recommendations/events/``,
then a real training runs. Without the defences (``RECOMMENDATIONS["TRUST"]``) T becomes
trending, similar to P, bought with P and recommended to P's buyers; with them, nowhere.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from recommendations import selectors, serving, trust
from recommendations.models import TrainingRun
from recommendations.services import training_run_promote, training_run_start
from tests.factories import UserFactory
from tests.recommendations.store import Store, caches_clear

FAKE_ACCOUNTS = 10
SIGNAL_JUMPS = reverse("admin:recommendations_signal_jumps")
VIEWS_EACH = 5

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _attack(store: Store, target: Any, bestseller: Any) -> None:
    """Sign up fake accounts and post their views through the real events API."""
    url = reverse("recommendations:events")
    for number in range(FAKE_ACCOUNTS):
        client = Client()
        client.force_login(UserFactory(username=f"fake{number}"))
        for product in (target, bestseller):
            for _ in range(VIEWS_EACH):
                response = client.post(
                    url, {"product": product.pk, "kind": "view"}, content_type="application/json"
                )
                assert response.status_code == 202


def _retrain(algorithm: str) -> None:
    """The next training, served at once (it has no holdout to beat the last one on)."""
    run = training_run_start(algorithms=[algorithm], promote=False)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    training_run_promote(run=run)
    serving.reset()


def _lists_with(target: Any, bestseller: Any) -> dict[str, bool]:
    """Which lists show ``target`` after the attack: every one a shopper could see it in."""
    caches_clear()
    victims = list(get_user_model().objects.filter(orders__lines__product=bestseller).distinct())
    assert len(victims) >= 10
    return {
        "trending": target in [r.item for r in selectors.trending_products(n=10)],
        "similar": target in [r.item for r in selectors.similar_products(item=bestseller, n=10)],
        "bought_together": target
        in [r.item for r in selectors.bought_together(item=bestseller, n=10)],
        "victims": any(
            target in [r.item for r in selectors.recommendations_for_user(user=victim, n=20)]
            for victim in victims
        ),
    }


@pytest.fixture
def attacked(store: Store) -> tuple[Any, Any]:
    """The store after the attack: (target T, best seller P)."""
    target, bestseller = store.product(7, 4), store.product(0, 0)
    _attack(store, target, bestseller)
    return target, bestseller


@pytest.mark.parametrize("algorithm", ["item_knn", "ease"])
def test_ten_fake_accounts_cannot_push_a_product_into_any_list(attacked, algorithm):
    target, bestseller = attacked

    _retrain(algorithm)

    assert _lists_with(target, bestseller) == {
        "trending": False,
        "similar": False,
        "bought_together": False,
        "victims": False,
    }


def test_without_the_defences_the_same_attack_poisons_every_list(attacked, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRUST": {"ENABLED": False}}
    target, bestseller = attacked

    _retrain("item_knn")

    assert _lists_with(target, bestseller) == {
        "trending": True,
        "similar": True,
        # Views make no basket: bought together showed T only while trending padded it.
        "bought_together": False,
        "victims": True,
    }


def test_the_staff_report_lists_the_product_pushed_by_new_accounts_only(attacked, staff_client):
    target, bestseller = attacked

    jumps = trust.signal_jumps()
    response = staff_client.get(SIGNAL_JUMPS)

    # P's fake viewers are outnumbered by its real buyers: only T is reported.
    assert [jump.item for jump in jumps] == [target]
    assert (jumps[0].users, jumps[0].new_accounts, jumps[0].previous_users) == (11, 10, 0)
    assert response.status_code == 200
    # As words: a random token of the page may hold the letters of a short name.
    html = response.content.decode()
    assert re.search(rf"\b{re.escape(target.name)}\b", html)
    assert not re.search(rf"\b{re.escape(bestseller.name)}\b", html)


def test_the_staff_report_needs_the_permission_to_view_training_runs(client, attacked):
    client.force_login(UserFactory(username="intern", is_staff=True))
    assert client.get(SIGNAL_JUMPS).status_code == 403

    client.force_login(UserFactory(username="customer"))
    assert client.get(SIGNAL_JUMPS).status_code == 302
