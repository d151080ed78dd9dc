"""Staff in a real browser: sign in to the admin, the training runs chart, a customer preview."""

from __future__ import annotations

import pytest

from recommendations.services import training_run_start
from tests.factories import OrderFactory, OrderLineFactory, StaffFactory, UserFactory
from tests.recommendations.store import store_build, store_train
from tests.recommendations.test_training import make_small_shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("isolated_experiments"),
]


def test_staff_see_the_quality_chart_and_preview_a_customer(live_server, page, screenshot):
    store = store_build()
    make_small_shop()
    store_train(["item_knn"])
    training_run_start(algorithms=["popularity"], promote=False)
    customer = UserFactory(username="carol")
    OrderLineFactory(order=OrderFactory(user=customer), product=store.product(2, 0))
    StaffFactory(username="boss")

    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    page.goto(f"{live_server.url}/admin/recommendations/trainingrun/")
    chart = page.locator('figure[data-metric="ndcg"] svg')
    chart.wait_for()
    assert chart.locator("polyline").count() == 2
    assert chart.locator("circle").count() == 2
    shot = screenshot("admin-training-chart")
    assert shot.stat().st_size > 10_000

    page.click("text=Preview a customer")
    page.fill("#id_customer", "carol")
    page.fill("#id_product", str(store.product(0, 0).pk))
    page.click("input[value=Preview]")
    page.wait_for_selector("#preview-summary")
    assert "carol" in page.locator("#preview-summary h2").inner_text()
    for block in ("for_you", "trending", "similar", "bought_together"):
        assert page.locator(f'.preview-block[data-block="{block}"] .preview-item').count() > 0
    screenshot("admin-preview")
