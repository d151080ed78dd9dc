"""Staff pages of issue 5: the quality chart, the preview, click-through, experiments."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from recommendations.models import Experiment, Impression, TrainingRun
from recommendations.services import training_run_promote, training_run_start
from recommendations.tracking import click_record
from tests.factories import OrderFactory, OrderLineFactory, ProductViewFactory, UserFactory
from tests.recommendations.store import store_build, store_train
from tests.recommendations.test_training import make_small_shop

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_experiments")]
CHANGELIST = reverse("admin:recommendations_trainingrun_changelist")
PREVIEW = reverse("admin:recommendations_preview")
CLICK_THROUGH = reverse("admin:recommendations_click_through")
EXPERIMENTS = reverse("admin:recommendations_experiment_changelist")


@pytest.fixture(autouse=True)
def _reload_check_every_time(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 0}


@pytest.fixture
def store(isolated_experiments):
    """Overrides the shared store: two runs, trained on the store and a small shop."""
    store = store_build()
    # Customers with purchases before and inside the holdout, so runs have metrics.
    make_small_shop()
    store.knn = store_train(["item_knn"])
    store.popularity = training_run_start(algorithms=["popularity"], promote=False)
    return store


@pytest.fixture
def customer(store):
    customer = UserFactory(username="carol")
    OrderLineFactory(order=OrderFactory(user=customer), product=store.product(2, 0))
    ProductViewFactory(user=customer, product=store.product(5, 1))
    return customer


def _items(html: str, attribute: str, name: str) -> list[str]:
    """Item keys of the block ``name`` of a page, in order."""
    sections = re.findall(rf'{attribute}="{name}"(.*?)</(?:section|table)>', html, re.S)
    assert sections, f"no block {name}"
    return re.findall(r'data-(?:rec-)?item="([^"]+)"', sections[0])


def test_the_runs_changelist_draws_quality_over_time_per_algorithm(staff_client, store):
    response = staff_client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<svg role="img"') == 3 and "NDCG@20" in html
    charts = re.findall(r'<figure class="rec-chart" data-metric="(\w+)"(.*?)</figure>', html, re.S)
    ndcg = dict(charts)["ndcg"]
    # One line per algorithm with a point per run.
    assert re.findall(r'data-algorithm="([\w_]+)"', ndcg) == ["item_knn", "popularity"]
    assert ndcg.count("<circle") == 2


def test_the_chart_has_one_point_per_succeeded_run(staff_client, store):
    TrainingRun.objects.create(algorithm="ease", status="failed")
    training_run_start(algorithms=["item_knn"], promote=False)

    html = staff_client.get(CHANGELIST).content.decode()

    ndcg = html.split('data-metric="ndcg"')[1].split("</figure>")[0]
    assert ndcg.count("<circle") == 3 and "ease" not in ndcg


def test_staff_train_now_promote_and_roll_back(
    staff_client, store, django_capture_on_commit_callbacks
):
    def act(action, *runs):
        data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [r.pk for r in runs]}
        return staff_client.post(CHANGELIST, data, follow=True).content.decode()

    assert "now serves" in act("promote", store.popularity)
    assert TrainingRun.objects.get(is_active=True) == store.popularity
    assert "serves again" in act("rollback")
    assert TrainingRun.objects.get(is_active=True) == store.knn
    before = TrainingRun.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert "Training queued" in act("train_now")
    assert TrainingRun.objects.count() > before


def test_the_preview_shows_each_block_with_reasons(staff_client, customer, store):
    response = staff_client.get(PREVIEW, {"customer": "carol", "product": store.product(0, 0).pk})

    html = response.content.decode()
    assert response.status_code == 200
    for block in ("for_you", "trending", "recently_viewed", "similar", "bought_together"):
        assert f'data-block="{block}"' in html
    assert "Because you bought" in html or "Customers who bought" in html
    assert f"item_knn #{store.knn.pk}" in html
    # Looking is not showing: the preview records no impression.
    assert not Impression.objects.exists()


def test_the_preview_lists_candidates_when_the_customer_is_ambiguous(staff_client, store):
    UserFactory(username="dora1")
    UserFactory(username="dora2")

    html = staff_client.get(PREVIEW, {"customer": "dora"}).content.decode()

    assert "No single customer matches" in html and "dora1" in html and "dora2" in html


def test_the_preview_equals_what_the_customer_gets(staff_client, customer, store):
    product = store.product(0, 0)
    preview = staff_client.get(PREVIEW, {"customer": customer.pk, "product": product.pk})
    preview_html = preview.content.decode()
    home_preview = preview_html.split('class="preview-page">Product page')[0]
    product_preview = preview_html.split('class="preview-page">Product page')[1]

    shopper = Client()
    shopper.force_login(customer)
    home = shopper.get("/").content.decode()
    page = shopper.get(product.get_absolute_url()).content.decode()

    for block in ("for_you", "trending", "recently_viewed"):
        expected = _items(home, "data-rec-block", block)
        assert expected and _items(home_preview, "data-block", block) == expected
    # The product page records a view first; the blocks that do not use views must match.
    for block in ("similar", "bought_together"):
        expected = _items(page, "data-rec-block", block)
        assert expected and _items(product_preview, "data-block", block) == expected


def test_the_preview_follows_the_customers_experiment_group(staff_client, customer, store):
    Experiment.objects.create(name="all in", challenger_run=store.popularity, share=1.0)

    html = staff_client.get(PREVIEW, {"customer": customer.pk}).content.decode()

    assert f"popularity #{store.popularity.pk}" in html and "challenger group" in html


def test_the_click_through_report_per_block_and_version(staff_client, store, customer):
    keys = [str(store.product(1, 1).pk), str(store.product(1, 2).pk)]
    shown = [
        Impression.objects.create(block="for_you", run=store.knn, item_pks=keys) for _ in range(4)
    ]
    click_record(token=shown[0].token, position=1, item_pk=keys[1], user=customer)

    html = staff_client.get(CLICK_THROUGH, {"days": "7"}).content.decode()

    assert f"item_knn #{store.knn.pk}" in html
    # Blocks go by the names staff know from the storefront, not by their codes.
    assert ">for_you<" not in html
    row = re.search(
        r'<td data-block="for_you">Recommended for you</td>\s*<td>item_knn #\d+</td>(.*?)</tr>',
        html,
        re.S,
    ).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row)[:4] == ["4", "1", "1", "0.2500"]


def test_staff_run_an_experiment_and_promote_the_winner(staff_client, store, customer):
    response = staff_client.post(
        reverse("admin:recommendations_experiment_add"),
        {
            "name": "popularity challenge",
            "challenger_run": store.popularity.pk,
            "share": "0.5",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get()
    Impression.objects.create(
        block="for_you", run=store.popularity, experiment=experiment, bucket="challenger"
    )

    change = staff_client.get(
        reverse("admin:recommendations_experiment_change", args=[experiment.pk])
    ).content.decode()
    assert 'data-group="control"' in change and 'data-group="challenger"' in change

    response = staff_client.post(
        EXPERIMENTS,
        {"action": "promote_challenger", "index": 0, ACTION_CHECKBOX_NAME: [experiment.pk]},
        follow=True,
    )
    assert f"run #{store.popularity.pk} (popularity) serves" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == store.popularity


def test_an_experiment_whose_challenger_is_the_active_control_is_refused(staff_client, store):
    # No control: the control group gets the active run, here the challenger too.
    response = staff_client.post(
        reverse("admin:recommendations_experiment_add"),
        {"name": "same", "challenger_run": store.knn.pk, "share": "0.5", "active": "on"},
    )

    assert response.status_code == 200
    assert "The challenger must differ from the control." in response.content.decode()
    assert not Experiment.objects.exists()


def test_an_experiment_with_a_failed_challenger_is_refused(staff_client, store):
    failed = TrainingRun.objects.create(algorithm="ease", status="failed")

    response = staff_client.post(
        reverse("admin:recommendations_experiment_add"),
        {"name": "bad", "challenger_run": failed.pk, "share": "0.5", "active": "on"},
    )

    assert response.status_code == 200 and not Experiment.objects.exists()


@pytest.mark.parametrize(
    "url",
    [CHANGELIST, PREVIEW, CLICK_THROUGH, EXPERIMENTS],
)
def test_pages_are_refused_to_anonymous_and_non_staff(client, store, url):
    assert client.get(url).status_code == 302
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_non_staff_cannot_promote_or_conclude(client, store):
    experiment = Experiment.objects.create(name="x", challenger_run=store.popularity, share=0.5)
    client.force_login(UserFactory())

    client.post(
        CHANGELIST,
        {"action": "promote", "index": 0, ACTION_CHECKBOX_NAME: [store.popularity.pk]},
    )
    client.post(
        EXPERIMENTS,
        {"action": "promote_challenger", "index": 0, ACTION_CHECKBOX_NAME: [experiment.pk]},
    )

    assert TrainingRun.objects.get(is_active=True) == store.knn
    assert Experiment.objects.get().active


def test_staff_who_may_only_view_experiments_see_them_and_cannot_end_them(client, store):
    experiment = Experiment.objects.create(name="x", challenger_run=store.popularity, share=0.5)
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_experiment"))
    client.force_login(viewer)

    page = client.get(reverse("admin:recommendations_experiment_change", args=[experiment.pk]))
    client.post(
        EXPERIMENTS,
        {"action": "promote_challenger", "index": 0, ACTION_CHECKBOX_NAME: [experiment.pk]},
    )

    assert page.status_code == 200
    assert TrainingRun.objects.get(is_active=True) == store.knn
    assert Experiment.objects.get().active


def test_an_ended_experiment_cannot_be_ended_again(staff_client, store):
    experiment = Experiment.objects.create(name="x", challenger_run=store.popularity, share=0.5)
    conclude = {"action": "promote_challenger", "index": 0, ACTION_CHECKBOX_NAME: [experiment.pk]}
    staff_client.post(EXPERIMENTS, conclude)
    assert TrainingRun.objects.get(is_active=True) == store.popularity
    training_run_promote(run=store.knn)  # a later decision
    ended_at = Experiment.objects.get().ended_at

    response = staff_client.post(EXPERIMENTS, conclude, follow=True)

    assert "is not running: there is nothing to conclude" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == store.knn
    assert Experiment.objects.get().ended_at == ended_at


def test_staff_without_permission_get_403_on_the_custom_pages(client, store):
    client.force_login(UserFactory(username="intern", is_staff=True))

    assert client.get(PREVIEW).status_code == 403
    assert client.get(CLICK_THROUGH).status_code == 403
