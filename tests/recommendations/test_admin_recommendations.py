"""The admin of training runs and item rules."""

from __future__ import annotations

import socket
import threading

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from recommendations import background
from recommendations.models import ItemRule, TrainingRun
from recommendations.services import training_run_start
from recommendations.tasks import training_run_task
from tests.factories import UserFactory
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:recommendations_trainingrun_changelist")


@pytest.fixture(autouse=True)
def small_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}


@pytest.fixture
def two_versions():
    make_small_shop()
    first = training_run_start(algorithms=["item_knn"])
    second = training_run_start(algorithms=["popularity"], promote=False)
    return first, second


def _action(client, action: str, *runs: TrainingRun):
    return client.post(
        CHANGELIST,
        {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [run.pk for run in runs]},
        follow=True,
    )


def test_the_changelist_shows_runs_with_their_metrics(staff_client, two_versions):
    first, _ = two_versions

    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "NDCG@20" in html and "Recall@20" in html and "Coverage@20" in html
    assert f"{first.metrics['ndcg']:.4f}" in html
    assert "item_knn" in html and "popularity" in html


def test_runs_are_read_only(staff_client, two_versions):
    first, _ = two_versions
    change_url = reverse("admin:recommendations_trainingrun_change", args=[first.pk])

    staff_client.post(change_url, {"algorithm": "hacked", "is_active": ""})

    first.refresh_from_db()
    assert first.algorithm == "item_knn" and first.is_active
    assert staff_client.get(reverse("admin:recommendations_trainingrun_add")).status_code == 403


def test_staff_promote_and_roll_back(staff_client, two_versions):
    first, second = two_versions

    response = _action(staff_client, "promote", second)
    assert f"Run #{second.pk} (popularity) now serves." in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == second

    response = _action(staff_client, "rollback")
    assert f"run #{first.pk} (item_knn) serves again" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == first


def test_promote_refuses_a_failed_run_with_a_message(staff_client, two_versions):
    failed = TrainingRun.objects.create(algorithm="ease", status=TrainingRun.Status.FAILED)

    response = _action(staff_client, "promote", failed)

    assert "did not succeed" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == two_versions[0]


def test_train_now_queues_the_task_on_commit(staff_client, django_capture_on_commit_callbacks):
    make_small_shop()
    with django_capture_on_commit_callbacks(execute=True):
        response = _action(staff_client, "train_now")

    assert "Training queued" in response.content.decode()
    run = TrainingRun.objects.get(is_active=True)
    assert run.status == TrainingRun.Status.SUCCEEDED


@pytest.fixture
def broker_down(settings):
    """Celery with a real broker address where nothing listens, as when Redis is down."""
    with socket.socket() as probe:  # a port free now, so nothing answers on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_RUNNER": "celery"}
    conf = training_run_task.app.conf
    before = {"task_always_eager": conf.task_always_eager, "broker_url": conf.broker_url}
    conf.update(task_always_eager=False, broker_url=f"redis://127.0.0.1:{port}/0")
    yield
    conf.update(before)


def test_train_now_with_the_broker_down_says_so_and_queues_nothing(
    staff_client, broker_down, django_capture_on_commit_callbacks
):
    make_small_shop()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _action(staff_client, "train_now")

    assert response.status_code == 200
    html = response.content.decode()
    assert "No training was queued: the Celery broker cannot be reached" in html
    assert "Training queued" not in html
    assert callbacks == []
    assert not TrainingRun.objects.exists()


def test_a_broker_that_accepts_and_never_answers_is_refused_not_waited_for(monkeypatch):
    # A Redis socket waits forever by default: the check bounds every operation.
    monkeypatch.setattr(background, "BROKER_CHECK_TIMEOUT", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nothing ever replies
        conf = training_run_task.app.conf
        before = {"task_always_eager": conf.task_always_eager, "broker_url": conf.broker_url}
        conf.update(
            task_always_eager=False, broker_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        )
        outcome = []

        def check() -> None:
            try:
                background._broker_check()
            except background.TrainingQueueUnavailable as exc:
                outcome.append(exc)

        try:
            worker = threading.Thread(target=check, daemon=True)
            worker.start()
            worker.join(60)  # a bound for a hang, far above the 0.5 s asked for
        finally:
            conf.update(before)

    assert not worker.is_alive(), "the broker check waited for a broker that never answers"
    assert len(outcome) == 1 and "cannot be reached" in str(outcome[0])


def test_non_staff_cannot_reach_or_run_actions(client, two_versions):
    first, second = two_versions
    client.force_login(UserFactory())

    assert client.get(CHANGELIST).status_code == 302
    response = client.post(
        CHANGELIST, {"action": "promote", "index": 0, ACTION_CHECKBOX_NAME: [second.pk]}
    )

    assert response.status_code == 302
    assert TrainingRun.objects.get(is_active=True) == first


@pytest.mark.parametrize(
    ("typed", "stored"), [("abc", None), ("4.5", None), ("\u0661\u0662", "12")]
)
def test_an_item_rules_key_is_written_as_the_catalogs_keys_are(staff_client, typed, stored):
    response = staff_client.post(
        reverse("admin:recommendations_itemrule_add"),
        {
            "item_pk": typed,
            "kind": "exclude",
            "block": "",
            "position": 0,
            "active": "on",
            "created_at_0": "2024-06-01",
            "created_at_1": "10:00:00",
        },
    )

    if stored is None:
        assert response.status_code == 200
        errors = response.context["adminform"].form.errors["item_pk"]
        assert errors == [f"{typed!r} is not a key of product."]
        assert not ItemRule.objects.exists()
    else:
        assert response.status_code == 302
        assert ItemRule.objects.get().item_pk == stored


def test_staff_manage_item_rules(staff_client):
    response = staff_client.post(
        reverse("admin:recommendations_itemrule_add"),
        {
            "item_pk": "42",
            "kind": "pin",
            "block": "for_you",
            "position": 1,
            "active": "on",
            "note": "Summer sale",
            "created_at_0": "2024-06-01",
            "created_at_1": "10:00:00",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    rule = ItemRule.objects.get()
    assert (rule.item_pk, rule.kind, rule.block, rule.position) == ("42", "pin", "for_you", 1)
    assert (
        staff_client.get(reverse("admin:recommendations_itemrule_changelist")).status_code == 200
    )
