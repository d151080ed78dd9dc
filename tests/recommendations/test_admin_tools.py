"""Staff tools of the demo: finding a customer to preview, the admin index panel, a chart
readable with one training or a hundred, the runs list's short columns."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from recommendations.admin import CHART_LABELS, CHART_PAD, CHART_WIDTH, quality_chart
from recommendations.models import TrainingRun
from shop.models import CustomerProfile
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PREVIEW = reverse("admin:recommendations_preview")
CHANGELIST = reverse("admin:recommendations_trainingrun_changelist")


def _customer(number: str, username: str | None = None):
    user = UserFactory(username=username or f"customer-{number}")
    CustomerProfile.objects.filter(user=user).update(external_id=number)
    return user


def _previewed(html: str) -> str | None:
    found = re.search(r'<div class="module" id="preview-summary">\s*<h2>([^<]+) \(id', html)
    return found.group(1) if found else None


def test_the_preview_finds_a_customer_by_customer_number(staff_client):
    _customer("17850")
    _customer("178501")  # contains the number too

    html = staff_client.get(PREVIEW, {"customer": "17850"}).content.decode()

    assert "No single customer matches" not in html
    assert _previewed(html) == "customer-17850"


def test_an_exact_username_wins_over_a_customer_number_and_partial_matches(staff_client):
    _customer("555", username="customer-555")
    _customer("556", username="555")  # whose username is another's customer number
    UserFactory(username="5550")

    html = staff_client.get(PREVIEW, {"customer": "555"}).content.decode()

    assert _previewed(html) == "555"


def test_a_single_partial_match_is_previewed_and_several_are_listed(staff_client):
    UserFactory(username="dora")
    UserFactory(username="edith1")
    UserFactory(username="edith2")

    assert _previewed(staff_client.get(PREVIEW, {"customer": "dor"}).content.decode()) == "dora"
    html = staff_client.get(PREVIEW, {"customer": "edi"}).content.decode()
    assert "No single customer matches; pick one below." in html
    assert "edith1" in html and "edith2" in html
    html = staff_client.get(PREVIEW, {"customer": "zelda"}).content.decode()
    assert "No customer matches &#x27;zelda&#x27;." in html


@pytest.mark.parametrize("query", ["\u00b2", "\u2460", "12\u00b3"])
def test_a_digit_int_refuses_is_no_customer_not_an_error(staff_client, query):
    # str.isdigit() admits superscripts and circled digits, which int() refuses.
    response = staff_client.get(PREVIEW, {"customer": query})

    assert response.status_code == 200
    assert "No customer matches" in response.content.decode()


def test_the_admin_index_links_every_staff_tool(staff_client, client):
    html = staff_client.get(reverse("admin:index")).content.decode()

    panel = html.split('id="recommendations-tools"')[1].split("</div>")[0]
    for name in (
        "admin:recommendations_trainingrun_changelist",
        "admin:recommendations_preview",
        "admin:recommendations_click_through",
        "admin:recommendations_experiment_changelist",
    ):
        assert f'href="{reverse(name)}"' in panel
    app_index = reverse("admin:app_list", kwargs={"app_label": "recommendations"})
    assert 'id="recommendations-tools"' in staff_client.get(app_index).content.decode()


def test_the_index_panel_is_left_out_for_staff_without_the_permission(client):
    clerk = UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)

    html = client.get(reverse("admin:index")).content.decode()

    assert 'id="recommendations-tools"' not in html


def _runs(trainings: int, *, algorithms=("ease", "item_knn")) -> None:
    start = timezone.now() - dt.timedelta(days=trainings)
    for day in range(trainings):
        for offset, algorithm in enumerate(algorithms):
            TrainingRun.objects.create(
                algorithm=algorithm,
                batch=f"b{day}",
                status=TrainingRun.Status.SUCCEEDED,
                # A batch's runs start seconds apart.
                created_at=start + dt.timedelta(days=day, seconds=offset * 7),
                metrics={"ndcg": 0.1 + offset / 100, "users": 500},
            )


def test_one_training_sits_in_the_middle_with_one_label():
    _runs(1)

    chart = quality_chart("ndcg")

    xs = {x for series in chart["series"] for x, *_ in series.dots}
    assert xs == {CHART_WIDTH / 2}
    assert len(chart["x_labels"]) == 1 and chart["x_labels"][0][:2] == (CHART_WIDTH / 2, "middle")


def test_a_hundred_trainings_spread_evenly_with_thinned_labels():
    _runs(100)

    chart = quality_chart("ndcg")

    xs = sorted({x for series in chart["series"] for x, *_ in series.dots})
    assert len(xs) == 100
    assert CHART_PAD < xs[0] < xs[-1] < CHART_WIDTH - CHART_PAD
    gaps = {round(b - a, 1) for a, b in itertools.pairwise(xs)}
    assert max(gaps) - min(gaps) <= 0.2  # even, up to rounding
    labels = chart["x_labels"]
    assert len(labels) == CHART_LABELS
    assert [anchor for _, anchor, _ in labels][:: CHART_LABELS - 1] == ["start", "end"]
    assert len({when for *_, when in labels}) == CHART_LABELS


def test_the_runs_list_keeps_long_notes_short(staff_client):
    note = "Not promoted: " + "within the noise " * 20
    TrainingRun.objects.create(
        algorithm="ease", status=TrainingRun.Status.SUCCEEDED, promotion_note=note
    )

    html = staff_client.get(CHANGELIST).content.decode()

    assert f'title="{note}"' in html
    assert note not in html.replace(f'title="{note}"', "")
