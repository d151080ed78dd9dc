"""A staff member in a real browser at 1280 pixels: the admin index's staff tools, the
training runs page (chart, a table that fits, "Train now" followed live until the
result shows), a customer previewed by customer number, the click-through report."""

from __future__ import annotations

import pytest

from recommendations.models import Impression, TrainingRun
from recommendations.services import training_run_start
from shop.models import CustomerProfile
from tests.factories import OrderFactory, OrderLineFactory, StaffFactory, UserFactory
from tests.processes import database_environment
from tests.recommendations.test_training import make_small_shop

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("isolated_experiments"),
]
WIDTH = 1280


def test_staff_follow_a_training_preview_a_customer_and_read_click_through(
    live_server, page, screenshot, settings, monkeypatch, tmp_path
):
    shop = make_small_shop()
    training_run_start(algorithms=["item_knn"])
    training_run_start(algorithms=["popularity"], promote=False)
    customer = UserFactory(username="customer-17850")
    CustomerProfile.objects.filter(user=customer).update(external_id="17850")
    OrderLineFactory(order=OrderFactory(user=customer), product=shop.products[0])
    Impression.objects.create(
        block="for_you", run=TrainingRun.objects.get(is_active=True), item_pks=["1"]
    )
    StaffFactory(username="boss")
    # "Train now" starts a process of its own on the test database, held while reading.
    hold = tmp_path / "hold"
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_RUNNER": "process"}
    environment = {
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "tests.recommendations.faults_settings",
        "FAULTS_ARTIFACT_ROOT": str(tmp_path / "var"),
        "FAULTS_HOLD_MARKER": str(hold),
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)

    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("input[type=submit]")
    tools = page.locator("#recommendations-tools")
    tools.wait_for()
    screenshot("walkthrough-1-admin-index")

    tools.locator("text=Training runs").click()
    page.locator('figure[data-metric="ndcg"] svg').wait_for()
    assert page.locator('figure[data-metric="ndcg"] circle').count() == 2
    screenshot("walkthrough-2-training-runs")
    # The runs table fits the screen: nothing cut off or scrolled on the right.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert page.evaluate(
        "document.querySelector('.results').scrollWidth"
        " <= document.querySelector('.results').clientWidth"
    )
    assert (
        page.evaluate("document.querySelector('#result_list').getBoundingClientRect().right")
        <= WIDTH
    )

    page.select_option("select[name=action]", "train_now")
    page.click("button[name=index]")
    page.locator("text=Training started in the background").wait_for()
    stage = page.locator("#training-progress .training-progress__stage")
    # The page polls: the process's own stage appears without a reload.
    page.wait_for_function(
        "document.querySelector('#training-progress .training-progress__stage')"
        ".textContent.includes('Reading events')",
        timeout=120_000,
    )
    assert page.locator("#training-progress").is_visible()
    assert page.locator("#training-progress progress").get_attribute("value") == "0"
    screenshot("walkthrough-3-training-live-progress")
    assert "Reading events" in stage.inner_text()

    hold.unlink()  # let the training go on
    # When it ends the page reloads itself: two more runs, no training panel.
    page.wait_for_function(
        "document.querySelectorAll('#result_list tbody tr').length === 4", timeout=120_000
    )
    assert not page.locator("#training-progress").is_visible()
    assert TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).count() == 4
    screenshot("walkthrough-4-training-finished")

    page.goto(f"{live_server.url}/admin/")
    page.locator("#recommendations-tools >> text=Preview a customer").click()
    page.fill("#id_customer", "17850")
    page.click("input[value=Preview]")
    page.wait_for_selector("#preview-summary")
    assert "customer-17850" in page.locator("#preview-summary h2").inner_text()
    screenshot("walkthrough-5-preview-by-customer-number")

    page.goto(f"{live_server.url}/admin/")
    page.locator("#recommendations-tools >> text=Click-through").click()
    cell = page.locator('td[data-block="for_you"]').first
    assert cell.inner_text() == "Recommended for you"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    screenshot("walkthrough-6-click-through")
