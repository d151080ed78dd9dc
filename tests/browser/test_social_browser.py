"""Follow, sharing and the social block in a real browser: a shopper is named to the
people who follow them only while they share, and counts never single anyone out."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.factories import FollowFactory, OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.store import store_build, store_train

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("isolated_serving"),
]
PASSWORD = "correct-horse-battery"


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_selector("text=Sign out")


def _bought(username: str, *products) -> object:
    user = UserFactory(username=username)
    order = OrderFactory(user=user)
    for product in products:
        OrderLineFactory(order=order, product=product)
    return user


def _shot(page, name: str) -> int:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path.stat().st_size


def test_a_sharer_is_named_to_followers_and_unnamed_once_sharing_is_off(
    live_server, browser, page, screenshot
):
    store = store_build()
    alice = _bought("alice", store.product(3, 4), store.product(5, 4))
    carol = _bought("carol", store.product(3, 4))  # never shares
    bee = UserFactory(username="bee")
    FollowFactory(follower=bee, followed=carol)
    store_train()
    base = live_server.url

    # Alice chooses a public name and shares her activity with her followers.
    _sign_in(page, base, "alice")
    page.goto(f"{base}/account/")
    page.fill("#sharing-form input[name=display_name]", "Alice")
    page.check("#sharing-form input[name=shares_activity]")
    page.click("#sharing-form button[type=submit]")
    page.wait_for_selector("text=Your sharing settings are saved.")
    assert screenshot("social-sharing-on").stat().st_size > 10_000

    # Bee, in a browser of her own, follows Alice from her public profile.
    bee_page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    bee_page.set_default_timeout(15_000)
    _sign_in(bee_page, base, "bee")
    bee_page.goto(f"{base}/people/{alice.pk}/")
    assert bee_page.locator("h1").inner_text() == "Alice"
    bee_page.click("button#follow")
    bee_page.wait_for_selector("button#unfollow")
    # Alice shares: her purchases are on her profile for her followers.
    assert "F4" in bee_page.locator(".shared-activity").inner_text()
    assert _shot(bee_page, "social-profile-followed") > 10_000

    bee_page.goto(f"{base}/")
    block = bee_page.locator("[data-rec-block=followed]")
    assert block.locator("h2").inner_text() == "Popular with people you follow"
    reasons = block.locator(".rec-item__reason").all_inner_texts()
    assert "Bought by Alice, whom you follow" in reasons
    # D4 was bought by Alice and Carol; Carol does not share and is not counted alone.
    assert not any("Carol" in r or re.search(r"\b1 (?:more )?person", r) for r in reasons)
    assert _shot(bee_page, "social-block-named") > 10_000

    bee_page.goto(f"{base}/account/following/")
    following = bee_page.locator("ul.following").inner_text()
    assert "Alice" in following and carol.profile.display_name in following

    # Alice stops sharing: Bee's block stops naming her at once.
    page.goto(f"{base}/account/")
    page.uncheck("#sharing-form input[name=shares_activity]")
    page.click("#sharing-form button[type=submit]")
    page.wait_for_selector("text=Your sharing settings are saved.")

    bee_page.goto(f"{base}/")
    reasons = (
        bee_page.locator("[data-rec-block=followed]")
        .locator(".rec-item__reason")
        .all_inner_texts()
    )
    assert reasons == ["Bought by 2 people you follow"]  # D4; F4 (Alice alone) is gone
    assert not any("Alice" in r for r in reasons)
    assert _shot(bee_page, "social-block-unnamed") > 10_000
    bee_page.goto(f"{base}/people/{alice.pk}/")
    assert bee_page.locator(".shared-activity").count() == 0
    assert "does not share" in bee_page.locator("main").inner_text()
