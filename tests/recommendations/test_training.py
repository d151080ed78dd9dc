"""The training pipeline and its services: runs, metrics, promotion, rollback, failures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from recommendations import services, training
from recommendations.artifacts import artifact_delete, artifact_read
from recommendations.conf import app_settings
from recommendations.engine.blend import DEFAULT_COMPONENTS
from recommendations.engine.itemknn import ItemKNNRecommender
from recommendations.models import TrainingRun
from recommendations.selectors import popular_products, trending_products
from recommendations.services import (
    training_run_promote,
    training_run_rollback,
    training_run_start,
)
from recommendations.training import training_data_prepare
from shop.models import OrderLine
from shop.selectors import products_popular
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

FAST_ALGORITHMS = {"popularity": {}, "item_knn": {"k": 20}}
# The blend's ranker on the small shop: its history is too short for the default two
# validation periods, and the ranker ties EASE alone there (so no comparison).
SMALL_SHOP_BLEND = {
    "new_items_only": False,
    "candidates": 5,
    "validation_folds": 1,
    "compare_components": False,
}


@dataclass
class SmallShop:
    products: list
    users: list
    now: dt.datetime


def make_small_shop(*, n_users: int = 24, now: dt.datetime | None = None) -> SmallShop:
    """Three groups of four products; each user buys three of their group's products
    before the last 30 days and the fourth inside them, so co-purchases predict the holdout."""
    now = now or timezone.now()
    categories = [CategoryFactory() for _ in range(3)]
    products = [ProductFactory(category=categories[i // 4]) for i in range(12)]
    users = [UserFactory() for _ in range(n_users)]
    for position, user in enumerate(users):
        group = products[(position % 3) * 4 : (position % 3) * 4 + 4]
        shift = (position // 3) % 4
        ordered = group[shift:] + group[:shift]
        for step, product in enumerate(ordered):
            days_ago = 100 - 20 * step if step < 3 else 5
            order = OrderFactory(user=user, created_at=now - dt.timedelta(days=days_ago))
            OrderLineFactory(order=order, product=product)
    return SmallShop(products=products, users=users, now=now)


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The factories set a password for every user; the real hasher takes most of the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return app_settings.ARTIFACT_ROOT


@pytest.fixture
def fast_algorithms(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}


@pytest.fixture
def shop(fast_algorithms):
    return make_small_shop()


def test_training_records_one_succeeded_run_per_algorithm_with_metrics(shop, artifact_root):
    result = training_run_start()

    runs = {run.algorithm: run for run in TrainingRun.objects.filter(batch=result.batch)}
    assert set(runs) == {"popularity", "item_knn"}
    for run in runs.values():
        assert run.status == TrainingRun.Status.SUCCEEDED, run.error
        assert run.n_users == 24
        assert run.n_items == 12
        assert run.n_events == 24 * 4
        assert run.duration_seconds is not None and run.duration_seconds >= 0
        assert 0.0 <= run.metrics["ndcg"] <= 1.0
        assert run.metrics["users"] == 24
        assert (artifact_root / run.artifact).is_file()
    # Co-purchases predict the held-out item; popularity cannot.
    assert runs["item_knn"].metrics["ndcg"] > runs["popularity"].metrics["ndcg"]


def test_training_promotes_the_best_run_when_nothing_serves(shop):
    result = training_run_start()

    active = TrainingRun.objects.get(is_active=True)
    assert active == result
    assert active.algorithm == "item_knn"
    assert active.promoted_at is not None


def test_a_worse_version_is_not_promoted(shop):
    best = training_run_start(algorithms=["item_knn"])
    worse = training_run_start(algorithms=["popularity"])

    assert worse.metrics["ndcg"] < best.metrics["ndcg"]
    assert TrainingRun.objects.get(is_active=True) == best


def test_an_equal_version_needs_the_minimum_improvement(shop, settings):
    first = training_run_start(algorithms=["item_knn"])
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "PROMOTION": {**settings.RECOMMENDATIONS["PROMOTION"], "MIN_IMPROVEMENT": 0.01},
    }
    second = training_run_start(algorithms=["item_knn"])

    assert second.metrics["ndcg"] == pytest.approx(first.metrics["ndcg"])
    assert TrainingRun.objects.get(is_active=True) == first


def test_no_promote_keeps_the_runs_but_nothing_serves(shop):
    run = training_run_start(promote=False)

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert not TrainingRun.objects.filter(is_active=True).exists()


def test_manual_promote_and_rollback(shop):
    first = training_run_start(algorithms=["item_knn"])
    second = training_run_start(algorithms=["popularity"], promote=False)

    training_run_promote(run=second)
    assert TrainingRun.objects.get(is_active=True) == second

    rolled_back = training_run_rollback()
    assert rolled_back == first
    assert TrainingRun.objects.get(is_active=True) == first
    with pytest.raises(ValidationError, match="no earlier version"):
        training_run_rollback()
    assert TrainingRun.objects.get(is_active=True) == first


def test_a_rollback_to_a_version_whose_artifact_cannot_be_read_changes_nothing(shop):
    first = training_run_start(algorithms=["item_knn"])
    second = training_run_start(algorithms=["popularity"], promote=False)
    training_run_promote(run=second)
    artifact_delete(first.artifact)  # lost from the storage since

    with pytest.raises(ValidationError, match=f"Run #{first.pk} cannot serve again"):
        training_run_rollback()

    assert TrainingRun.objects.get(is_active=True) == second


def test_a_failed_run_cannot_be_promoted(shop, monkeypatch):
    def explode(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ItemKNNRecommender, "_fit", explode)
    run = training_run_start(algorithms=["item_knn"])

    with pytest.raises(ValidationError, match="did not succeed"):
        training_run_promote(run=run)


def test_a_crash_mid_training_fails_that_run_and_keeps_the_previous_version(shop, monkeypatch):
    previous = training_run_start(algorithms=["popularity"])

    def explode(self, *args, **kwargs):
        raise RuntimeError("similarity matrix exploded")

    monkeypatch.setattr(ItemKNNRecommender, "_fit", explode)
    # item_knn is also the similar-items model, so the whole batch fails before fitting.
    training_run_start(algorithms=["item_knn", "popularity"])

    failed = TrainingRun.objects.exclude(pk=previous.pk)
    assert {run.status for run in failed} == {TrainingRun.Status.FAILED}
    assert all("similarity matrix exploded" in run.error for run in failed)
    assert all(run.artifact == "" for run in failed)
    assert TrainingRun.objects.get(is_active=True) == previous


def test_one_algorithm_failing_leaves_the_others_trained(shop, settings, monkeypatch):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "SIMILAR_ALGORITHM": "popularity"}
    real_fit = ItemKNNRecommender._fit

    def explode(self, *args, **kwargs):
        raise MemoryError("out of memory in item_knn")

    monkeypatch.setattr(ItemKNNRecommender, "_fit", explode)
    result = training_run_start(algorithms=["item_knn", "popularity"])
    monkeypatch.setattr(ItemKNNRecommender, "_fit", real_fit)

    runs = {run.algorithm: run for run in TrainingRun.objects.filter(batch=result.batch)}
    assert runs["item_knn"].status == TrainingRun.Status.FAILED
    assert "MemoryError: out of memory in item_knn" in runs["item_knn"].error
    assert runs["popularity"].status == TrainingRun.Status.SUCCEEDED
    assert result == runs["popularity"] and result.is_active


def test_unknown_algorithm_is_refused_before_any_run(shop):
    with pytest.raises(ValueError, match="Unknown algorithm"):
        training_run_start(algorithms=["no_such_thing"])
    assert not TrainingRun.objects.exists()


def test_no_data_fails_with_a_clear_message(fast_algorithms):
    ProductFactory()
    run = training_run_start()

    assert run.status == TrainingRun.Status.FAILED
    assert "No events to train on" in run.error
    assert not TrainingRun.objects.filter(is_active=True).exists()


def test_tiny_data_trains_without_holdout_metrics(fast_algorithms):
    products = ProductFactory.create_batch(3)
    for user in UserFactory.create_batch(2):
        for product in products[:2]:
            OrderLineFactory(order=OrderFactory(user=user), product=product)

    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.metrics["ndcg"] is None and run.metrics["users"] == 0
    assert run.is_active
    assert (run.n_users, run.n_items, run.n_events) == (2, 3, 4)


def test_users_without_consent_are_left_out_of_training(shop):
    refuser = shop.users[0]
    refuser.profile.personalisation_consent = False
    refuser.profile.save()

    data = training_data_prepare()

    assert refuser.pk not in data.user_pks.tolist()
    assert data.matrix.shape[0] == 23
    assert data.n_events == 23 * 4


def test_stale_runs_of_a_killed_training_are_failed_by_the_next_one(shop):
    stale = TrainingRun.objects.create(algorithm="ease", status=TrainingRun.Status.RUNNING)

    training_run_start(algorithms=["popularity"])

    stale.refresh_from_db()
    assert stale.status == TrainingRun.Status.FAILED
    assert stale.error == services.STALE_ERROR


def test_the_holdout_ends_at_the_newest_purchase_not_at_fresher_views(fast_algorithms):
    old = make_small_shop(now=timezone.now() - dt.timedelta(days=365))
    ProductViewFactory(user=old.users[0], product=old.products[0], viewed_at=timezone.now())

    run = training_run_start(algorithms=["item_knn"])

    assert run.metrics["users"] == 24
    assert run.metrics["ndcg"] is not None


@pytest.mark.parametrize("consent_field", ["profile__personalisation_consent", None])
def test_an_account_deleted_during_training_is_not_in_the_artifact(
    shop, settings, monkeypatch, consent_field
):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CONSENT_FIELD": consent_field}
    gone, withdrawn = shop.users[0], shop.users[1]
    gone_pk = gone.pk
    evaluate = training.holdout_evaluate

    def delete_then_evaluate(*args, **kwargs):
        # The events were read already; the deletion forgot the serving runs only.
        gone.delete()
        if consent_field:
            withdrawn.profile.personalisation_consent = False
            withdrawn.profile.save()
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(training, "holdout_evaluate", delete_then_evaluate)

    run = training_run_start(algorithms=["item_knn"], promote=False)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    artifact = artifact_read(run.artifact)
    users = artifact.user_pks.tolist()
    assert gone_pk not in users
    # Consent withdrawn meanwhile counts too.
    assert (withdrawn.pk in users) is (consent_field is None)
    assert run.n_users == len(users) == len(shop.users) - (2 if consent_field else 1)
    for name in ("recommender", "similar", "trending", "popularity"):
        assert getattr(artifact, name).interactions_.shape[0] == len(users)
    kept = shop.users[2]
    row = artifact.user_pks.tolist().index(kept.pk)
    bought = set(OrderLine.objects.filter(order__user=kept).values_list("product", flat=True))
    stored = artifact.recommender.interactions_[row].indices
    assert {artifact.item_pks[col] for col in stored} == bought


def test_the_configured_blend_trains_on_decayed_weights(shop, settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"blend": SMALL_SHOP_BLEND},
    }

    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.is_active
    blend = artifact_read(run.artifact).recommender
    assert len(blend.components_) == len(DEFAULT_COMPONENTS) and blend.item_prior_ is not None


def min_users(settings, value: int) -> None:
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "PROMOTION": {**settings.RECOMMENDATIONS["PROMOTION"], "MIN_USERS": value},
    }


def fresh_order(products: list, *, at: dt.datetime | None = None) -> None:
    """One new shopper's order of two products, today (or ``at``)."""
    order = OrderFactory(user=UserFactory(), created_at=at or timezone.now())
    for product in products:
        OrderLineFactory(order=order, product=product)


def test_one_fresh_order_years_after_the_history_leaves_the_holdout_where_the_data_is(
    fast_algorithms,
):
    old = make_small_shop(n_users=60, now=timezone.now() - dt.timedelta(days=15 * 365))
    fresh_order(old.products[:2])

    run = training_run_start(algorithms=["item_knn"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.metrics["users"] == 60
    assert run.metrics["holdout_end"].startswith(str((old.now - dt.timedelta(days=5)).year))


def test_one_fresh_order_does_not_fail_the_blend(fast_algorithms, settings):
    old = make_small_shop(n_users=60, now=timezone.now() - dt.timedelta(days=15 * 365))
    fresh_order(old.products[:2])
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        # The ranker's path, not whether it beats EASE alone on a tiny shop (it ties).
        "ALGORITHMS": {
            "blend": {
                "new_items_only": False,
                "candidates": 5,
                "validation_folds": 1,
                "compare_components": False,
            }
        },
    }

    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.metrics["users"] == 60
    assert "fallback" not in run.metrics


def test_a_blend_without_enough_validation_users_falls_back_and_the_run_says_so(
    fast_algorithms, settings
):
    make_small_shop(n_users=6)
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"blend": {"validation_folds": 1}},
    }

    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "no validation period" in run.metrics["fallback"]
    assert len(artifact_read(run.artifact).recommender.components_) == 1


def test_nothing_is_promoted_on_a_tiny_holdout_and_the_note_says_why(fast_algorithms, settings):
    shop = make_small_shop(n_users=24)
    first = training_run_start(algorithms=["popularity"])
    assert first.is_active and first.promotion_note == "Promoted: no version was serving."
    fresh_order(shop.products[:2])

    second = training_run_start(algorithms=["item_knn"])

    assert second.metrics["ndcg"] > first.metrics["ndcg"]
    assert TrainingRun.objects.get(is_active=True) == first
    assert second.promotion_note.startswith("Not promoted: evaluated on 24 users")
    assert "MIN_USERS (50)" in second.promotion_note


def test_a_clearly_better_run_wins_the_paired_bootstrap_and_is_promoted(fast_algorithms, settings):
    min_users(settings, 20)
    make_small_shop(n_users=24)
    first = training_run_start(algorithms=["popularity"])

    second = training_run_start(algorithms=["item_knn"])

    assert second.is_active
    assert second.promotion_note.startswith("Promoted: ndcg +0.")
    assert f"over run #{first.pk} on the same 24 users" in second.promotion_note


def test_a_run_only_noise_better_is_not_promoted(fast_algorithms, settings, monkeypatch):
    min_users(settings, 20)
    make_small_shop(n_users=24)
    first = training_run_start(algorithms=["item_knn"])
    real = training.holdout_evaluate

    def popularity_with_luck(name, params, data):
        metrics, scores = real(name, params, data)
        if name == "popularity" and scores is not None:
            # As good as item-kNN plus a little on one user: better, but by luck.
            knn = real("item_knn", FAST_ALGORITHMS["item_knn"], data)[1]
            scores["ndcg"] = knn["ndcg"].copy()
            scores["ndcg"][0] += 0.5
            metrics["ndcg"] = float(scores["ndcg"].mean())
        return metrics, scores

    monkeypatch.setattr(training, "holdout_evaluate", popularity_with_luck)
    second = training_run_start(algorithms=["popularity"])

    assert second.metrics["ndcg"] > first.metrics["ndcg"]
    assert TrainingRun.objects.get(is_active=True) == first
    assert "within the noise" in second.promotion_note


def test_the_serving_run_is_scored_on_the_new_holdout_not_by_its_stored_numbers(
    fast_algorithms, settings
):
    min_users(settings, 20)
    make_small_shop(n_users=24)
    first = training_run_start(algorithms=["item_knn"])
    # A stored number from an old, easy holdout must not block a better run.
    first.metrics = {**first.metrics, "ndcg": 1.0}
    first.save(update_fields=["metrics"])

    second = training_run_start(algorithms=["item_knn", "popularity"])

    runs = {run.algorithm: run for run in TrainingRun.objects.filter(batch=second.batch)}
    # The retrain of the serving configuration is the best: it serves, on newer data.
    assert runs["item_knn"].is_active
    assert "retrain of the serving configuration" in runs["item_knn"].promotion_note
    assert runs["popularity"].promotion_note == "Not the best of its batch."


def test_a_row_dated_2099_is_ignored_counted_and_does_not_decay_the_history(
    fast_algorithms, caplog
):
    shop = make_small_shop(n_users=24)
    fresh_order(shop.products[:1], at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))

    run = training_run_start(algorithms=["item_knn"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.metrics["future_events_ignored"] == 1
    assert "Ignoring 1 event(s) dated after" in caplog.text
    assert run.n_events == 24 * 4
    assert run.data_cutoff < timezone.now()
    artifact = artifact_read(run.artifact)
    for name in ("trending", "popularity"):
        scores = getattr(artifact, name).item_scores_
        # Every product sold before keeps a positive score, not only the 2099 one.
        assert np.count_nonzero(scores > 0) == 12, name


def test_trending_is_not_one_fresh_shoppers_basket(fast_algorithms):
    shop = make_small_shop(n_users=60, now=timezone.now() - dt.timedelta(days=15 * 365))
    fresh_order(shop.products[:2])

    run = training_run_start(algorithms=["popularity"])

    trending = artifact_read(run.artifact).trending.item_scores_
    assert np.count_nonzero(trending > 0) == 12
    # The fresh basket counts like one more shopper (at most 1), not like the only one.
    assert trending.max() > 2.0


def test_rollback_restores_the_popular_and_trending_blocks(
    fast_algorithms, isolated_serving, django_capture_on_commit_callbacks
):
    shop = make_small_shop(n_users=24)
    first = training_run_start(algorithms=["popularity"])
    before = (popular_products(n=4), trending_products(n=4))
    # A later version whose non-personal lists differ: one product bought by many.
    for _ in range(30):
        fresh_order(shop.products[11:])
    second = training_run_start(algorithms=["popularity"], promote=False)
    # Committing tells this process's serving to look for the new version at once.
    with django_capture_on_commit_callbacks(execute=True):
        training_run_promote(run=second)
    promoted = (popular_products(n=4), trending_products(n=4))
    assert promoted[0][0].item == shop.products[11]
    assert promoted[1][0].item == shop.products[11]

    with django_capture_on_commit_callbacks(execute=True):
        assert training_run_rollback() == first

    after = (popular_products(n=4), trending_products(n=4))
    for old, new in zip(before, after, strict=True):
        assert [r.item for r in new] == [r.item for r in old]
        assert {r.run_id for r in new} == {first.pk}
    assert products_popular(limit=4) == [r.item for r in before[0]]


def test_above_max_items_the_set_leaves_ease_out_and_the_runs_say_so(shop, settings, admin_client):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        # The small shop has 12 products: EASE refuses them above max_items=5.
        "ALGORITHMS": {
            "item_knn": {"k": 20},
            "ease": {"max_items": 5},
            "blend": {
                "components": [["ease", {"max_items": 5}], ["item_knn", {"k": 20}]],
                "candidates": 5,
                "validation_folds": 1,
            },
        },
    }

    training_run_start()

    runs = {run.algorithm: run for run in TrainingRun.objects.all()}
    # EASE was not trained, nor did it fail: the others were, and say it was left out.
    assert set(runs) == {"item_knn", "blend"}
    assert all(run.status == TrainingRun.Status.SUCCEEDED for run in runs.values())
    for run in runs.values():
        assert any("ease" in note and "max_items=5" in note for note in run.metrics["notes"]), (
            run.metrics
        )
    # The blend went on without its EASE, and says so too.
    assert any("blend component 'ease'" in note for note in runs["blend"].metrics["notes"])
    html = admin_client.get("/admin/recommendations/trainingrun/").content.decode()
    assert "Left out: ease" in html


def test_ease_asked_for_alone_above_max_items_still_fails_with_the_reason(shop, settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"ease": {"max_items": 5}},
    }

    run = training_run_start()

    assert run.status == TrainingRun.Status.FAILED
    assert "max_items=5" in run.error
