"""``manage.py setup_demo``: data dated up to yesterday, a fast first recommender, the
other configured algorithms trained after it, and a second run that changes nothing."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from recommendations.artifacts import artifact_delete
from recommendations.models import TrainingRun
from shop.importer import DATA_TIMEZONE
from shop.models import Follow, Order, Product
from tests.factories import OrderFactory, OrderLineFactory

User = get_user_model()
FIXTURE = Path(__file__).parent / "fixtures" / "online_retail_dirty.csv"


@pytest.fixture(autouse=True)
def demo_settings(settings, tmp_path, isolated_serving):
    settings.VAR_DIR = tmp_path / "var"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"popularity": {}, "item_knn": {"k": 20}},
    }


def setup_demo(*args: str) -> str:
    out = StringIO()
    call_command("setup_demo", "--data", str(FIXTURE), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_setup_demo_dates_the_data_to_yesterday_and_trains_first_then_the_rest(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True) as queued:
        output = setup_demo("--first-algorithms", "popularity")

    yesterday = timezone.now().astimezone(DATA_TIMEZONE).date() - timedelta(days=1)
    newest = max(Order.objects.values_list("created_at", flat=True))
    assert newest.astimezone(DATA_TIMEZONE).date() == yesterday
    assert "Created 8 products and 3 customers" in output  # the import's progress
    assert "Training a first recommender (popularity)" in output
    assert "not yet trained: item_knn" in output
    # Queued after the first training; the tests' Celery runs it at once, in-process.
    assert sum("training_run_enqueue" in callback.__qualname__ for callback in queued) == 1
    batches = list(TrainingRun.objects.order_by("pk").values_list("batch", "algorithm"))
    assert [algorithm for _, algorithm in batches] == ["popularity", "popularity", "item_knn"]
    assert batches[0][0] != batches[1][0] == batches[2][0]
    assert TrainingRun.objects.filter(is_active=True).count() == 1


@pytest.mark.django_db
def test_a_second_setup_demo_changes_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        setup_demo("--first-algorithms", "popularity")
    runs, orders = TrainingRun.objects.count(), Order.objects.count()

    with django_capture_on_commit_callbacks(execute=True) as queued:
        output = setup_demo("--first-algorithms", "popularity")

    assert "Data already imported." in output
    assert "A trained recommender is already active." in output
    assert "in the background" not in output
    assert not any("training_run_enqueue" in callback.__qualname__ for callback in queued)
    assert (TrainingRun.objects.count(), Order.objects.count()) == (runs, orders)


@pytest.mark.django_db
def test_the_demo_has_no_social_graph_unless_the_labelled_sample_is_asked_for():
    setup_demo("--skip-training")
    assert not Follow.objects.exists()
    # Two of the file's customers bought the same lantern: the only taste they share.
    lantern = Product.objects.get(sku="71053")
    OrderLineFactory(
        order=OrderFactory(user=User.objects.get(username="customer-13047")), product=lantern
    )

    output = setup_demo("--skip-training", "--sample-social-graph")

    assert "Created a SAMPLE social graph: 2 synthetic follows" in output
    assert set(Follow.objects.values_list("follower__username", "followed__username")) == {
        ("customer-13047", "customer-17850"),
        ("customer-17850", "customer-13047"),
    }
    assert not Follow.objects.filter(is_sample=False).exists()
    again = setup_demo("--skip-training", "--sample-social-graph")
    assert "already there" in again and Follow.objects.count() == 2


@pytest.mark.django_db
def test_setup_demo_keeps_the_data_dates_when_asked():
    setup_demo("--keep-dates", "--skip-training")

    assert max(Order.objects.values_list("created_at", flat=True)).year == 2011
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_an_active_model_without_its_file_is_trained_again():
    setup_demo("--first-algorithms", "popularity", "--no-background-training")
    lost = TrainingRun.objects.get(is_active=True)
    artifact_delete(lost.artifact)

    output = setup_demo("--first-algorithms", "popularity", "--no-background-training")

    assert "model file is missing" in output
    assert TrainingRun.objects.get(is_active=True).pk != lost.pk
