"""Privacy of the recommendations app: opt-out, export, and forgetting a user at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.files.storage import FileSystemStorage
from django.db import DatabaseError
from rest_framework.test import APIClient

from recommendations import privacy, selectors, serving, tombstones
from recommendations.admin import preview_pages
from recommendations.artifacts import artifact_read, recommender_without_rows
from recommendations.conf import app_settings
from recommendations.engine.base import Recommender
from recommendations.models import Click, ForgottenUser, Impression, TrainingRun
from recommendations.services import (
    training_run_promote,
    training_run_rollback,
    training_run_start,
)
from recommendations.serving.keys import (
    FEATURES_CACHE_NAME,
    LIST_CACHE_PREFIX,
    UserCache,
    user_cache_get,
    user_cache_set,
)
from recommendations.serving.loading import model_of
from recommendations.training import registered_algorithms
from tests.factories import OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_loader(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "RELOAD_INTERVAL": 60,
    }
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def shop():
    return make_small_shop()


@pytest.fixture
def trained(shop):
    run = training_run_start(algorithms=["item_knn"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    return run


def _one_time_buyer(product: Any) -> Any:
    """A customer whose one purchase leaves the rest of its group to recommend."""
    user = UserFactory()
    OrderLineFactory(order=OrderFactory(user=user), product=product)
    return user


def _consent(user: Any, value: bool) -> None:
    user.profile.personalisation_consent = value
    user.profile.save()


# -- the engine contract: every user-indexed state is dropped ---------------------------

BLEND_PARAMS = {"components": [["item_knn", {}], ["popularity", {}]], "weights": [1.0, 0.5]}


def _user_sized(recommender: Recommender, n_users: int) -> dict[str, tuple[int, ...]]:
    """Every attribute (nested recommenders included) with ``n_users`` rows."""
    found = {}
    for key, value in vars(recommender).items():
        parts = value if isinstance(value, list | tuple) else [value]
        for i, part in enumerate(parts):
            if isinstance(part, Recommender):
                nested = _user_sized(part, n_users)
                found.update({f"{key}.{i}/{k}": v for k, v in nested.items()})
        shape = getattr(value, "shape", None)
        if shape and shape[0] == n_users:
            found[key] = shape
    return found


SOCIAL_USERS = 30


def _social_blend_with_times():
    """A social blend fitted with follows and a recency scale, so it keeps when each
    user had each item; its times; and a mask forgetting two users."""
    matrix = sp.random(
        SOCIAL_USERS, 17, density=0.3, format="csr", random_state=1, dtype=np.float32
    )
    times = matrix.copy()
    times.data = np.linspace(1.6e9, 1.7e9, times.nnz)
    social = sp.random(SOCIAL_USERS, SOCIAL_USERS, density=0.2, format="csr", random_state=4)
    recommender = registered_algorithms()["social_blend"](weight=1.0, recency_grid=(30.0,)).fit(
        matrix, timestamps=times, social=social
    )
    keep = np.ones(SOCIAL_USERS, dtype=bool)
    keep[[0, 7]] = False
    return recommender, times, keep


def test_forgetting_rows_drops_a_social_blends_times_and_follows():
    recommender, times, keep = _social_blend_with_times()
    assert recommender.times_ is not None and "times_" in _user_sized(recommender, SOCIAL_USERS)

    recommender_without_rows(recommender, keep)

    assert _user_sized(recommender, SOCIAL_USERS) == {}
    expected = times[np.flatnonzero(keep)].toarray()
    assert np.allclose(recommender.times_.toarray(), expected)


def test_a_social_blend_rewritten_before_its_times_were_dropped_serves_without_them():
    recommender, _, keep = _social_blend_with_times()
    old_times = recommender.times_
    recommender_without_rows(recommender, keep)
    recommender.times_ = old_times  # as the earlier code left it: a row per old user

    recommender._after_load()  # as a load does

    assert recommender.times_ is None
    items, _ = recommender.recommend(5, 5)
    assert items.size > 0


@pytest.mark.parametrize("name", sorted(registered_algorithms()))
def test_forgetting_rows_drops_every_user_indexed_state_of_every_algorithm(name):
    n_users, n_items = 30, 17
    matrix = sp.random(
        n_users, n_items, density=0.3, format="csr", random_state=1, dtype=np.float32
    )
    times = matrix.copy()
    times.data[:] = 1.6e9
    params = BLEND_PARAMS if name == "blend" else {}
    recommender = registered_algorithms()[name](**params).fit(
        matrix,
        user_features=sp.random(n_users, 5, density=0.5, format="csr", random_state=2),
        item_features=sp.random(n_items, 6, density=0.5, format="csr", random_state=3),
        timestamps=times,
    )
    before = _user_sized(recommender, n_users)
    assert "interactions_" in before
    keep = np.ones(n_users, dtype=bool)
    keep[[0, 7]] = False

    recommender_without_rows(recommender, keep)

    assert _user_sized(recommender, n_users) == {}
    assert set(_user_sized(recommender, n_users - 2)) == set(before)
    expected = matrix[np.flatnonzero(keep)].toarray()
    assert np.allclose(recommender.interactions_.toarray(), expected)
    items, _ = recommender.recommend_interactions(matrix[0], 5, exclude_seen=False)
    assert items.size > 0


@pytest.mark.parametrize("name", ["ease", "item_knn", "svd", "rp3beta", "blend"])
def test_forgetting_rows_keeps_the_recency_state_aligned(name):
    n_users, n_items = 30, 17
    matrix = sp.random(
        n_users, n_items, density=0.3, format="csr", random_state=4, dtype=np.float32
    )
    times = matrix.copy()
    times.data = 1.6e9 + np.arange(times.nnz, dtype=np.float64) * 86_400.0
    recency = {"recency_half_life_days": 30.0}
    params = (
        {"components": [["ease", recency], ["svd", recency]], "weights": [1.0, 1.0]}
        if name == "blend"
        else recency
    )
    recommender = registered_algorithms()[name](**params).fit(matrix, timestamps=times)
    keep = np.ones(n_users, dtype=bool)
    keep[[0, 7]] = False
    # The decayed history of the user who becomes row 0 (scored before forgetting).
    expected = recommender.recommend(1, 5)

    recommender_without_rows(recommender, keep)

    parts = recommender.components_ if name == "blend" else [recommender]
    for part in parts:
        assert part.timestamps_.shape[0] == n_users - 2
    items, scores = recommender.recommend(0, 5)
    assert np.array_equal(items, expected[0]) and np.allclose(scores, expected[1])


# -- forgetting a user ------------------------------------------------------------------


def test_forget_removes_the_user_from_the_active_model_here_and_in_storage(
    trained, shop, django_capture_on_commit_callbacks
):
    gone, kept = shop.users[0], shop.users[1]
    before = serving.active_model()
    assert before.user_row(gone.pk) is not None
    old_artifact = trained.artifact

    with django_capture_on_commit_callbacks(execute=True):
        rewritten = privacy.user_forget(user_pk=gone.pk)

    trained.refresh_from_db()
    assert [run.pk for run in rewritten] == [trained.pk]
    assert trained.artifact != old_artifact
    # This process serves the new version at once, although RELOAD_INTERVAL is 60 s.
    model = serving.active_model()
    assert model.user_row(gone.pk) is None
    assert model.user_row(kept.pk) is not None
    assert model.user_pks.size == before.user_pks.size - 1
    assert model.recommender.interactions_.shape[0] == model.user_pks.size
    # A fresh load from storage, as any other process makes, does not know the user.
    stored = artifact_read(trained.artifact)
    assert gone.pk not in stored.user_pks.tolist()
    assert kept.pk in stored.user_pks.tolist()
    for name in ("recommender", "similar", "trending", "popularity"):
        assert getattr(stored, name).interactions_.shape[0] == stored.user_pks.size


def test_the_old_artifact_file_is_deleted_after_commit(
    trained, shop, settings, django_capture_on_commit_callbacks
):
    old = app_settings.ARTIFACT_ROOT / trained.artifact
    assert old.is_file()

    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=shop.users[0].pk)

    trained.refresh_from_db()
    assert not old.exists()
    assert (app_settings.ARTIFACT_ROOT / trained.artifact).is_file()


def test_another_process_reloads_when_the_artifact_changes_under_the_same_run(
    trained, shop, settings, django_capture_on_commit_callbacks
):
    gone = shop.users[0]
    other = serving.ServingState()  # the loaded state of another worker process
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 0}
    assert model_of(other).user_row(gone.pk) is not None

    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=gone.pk)

    reloaded = model_of(other)
    assert reloaded.run_id == trained.pk
    assert reloaded.user_row(gone.pk) is None


def test_forget_deletes_the_users_cache_and_no_one_elses(
    trained, shop, django_capture_on_commit_callbacks
):
    gone, kept = shop.users[0], shop.users[1]
    for user in (gone, kept):
        user_cache_set(user.pk, "for_you", [1, 2, 3])
        user_cache_set(user.pk, "assignment", "challenger")
    gone_before = UserCache.of(gone.pk)

    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=gone.pk)

    assert user_cache_get(gone.pk, "for_you") is None
    assert user_cache_get(gone.pk, "assignment") is None
    assert UserCache.of(gone.pk).generation != gone_before.generation
    assert user_cache_get(kept.pk, "for_you") == [1, 2, 3]


def test_a_user_the_model_never_saw_leaves_the_artifact_alone(
    trained, django_capture_on_commit_callbacks
):
    newcomer = UserFactory()
    artifact = trained.artifact

    with django_capture_on_commit_callbacks(execute=True):
        assert privacy.user_forget(user_pk=newcomer.pk) == []

    trained.refresh_from_db()
    assert trained.artifact == artifact


def test_a_failed_forget_changes_nothing_and_leaves_no_file(trained, shop, settings, monkeypatch):
    media = app_settings.ARTIFACT_ROOT
    files = set(media.rglob("*.npz"))

    def fail(*args, **kwargs):
        raise DatabaseError("connection lost")

    # The new artifact is written, then pointing the run at it fails.
    monkeypatch.setattr(TrainingRun, "save", fail)

    with pytest.raises(DatabaseError, match="connection lost"):
        privacy.user_forget(user_pk=shop.users[0].pk)

    monkeypatch.undo()
    trained.refresh_from_db()
    assert set(media.rglob("*.npz")) == files
    assert artifact_read(trained.artifact).user_pks.size == len(shop.users)


def test_a_training_after_forgetting_never_sees_the_deleted_user(trained, shop):
    gone = shop.users[0]
    gone_pk = gone.pk
    gone.delete()  # CASCADE/SET_NULL: the orders stay, unattributed

    run = training_run_start(algorithms=["item_knn"], promote=False)

    assert run.n_users == trained.n_users - 1
    assert gone_pk not in artifact_read(run.artifact).user_pks.tolist()


# -- export -----------------------------------------------------------------------------


def test_export_holds_the_users_model_row_records_and_cache_only(trained, shop):
    alice, bob = shop.users[0], shop.users[1]
    mine, theirs = [], []
    for user, kept in ((alice, mine), (bob, theirs)):
        for block in ("for_you", "similar"):
            impression = Impression.objects.create(
                block=block, user=user, item_pks=["1", "2"], run=trained, bucket="control"
            )
            click = Click.objects.create(impression=impression, position=1, item_pk="2", user=user)
            kept.append((impression, click))
    # Shown before signing in, followed after: the click is Alice's, the impression nobody's.
    anonymous = Impression.objects.create(block="trending", item_pks=["3", "4"])
    late_click = Click.objects.create(impression=anonymous, position=0, item_pk="3", user=alice)
    user_cache_set(alice.pk, FEATURES_CACHE_NAME, {"COUNTRY": "FR"})

    data = privacy.user_data_export(user=alice)

    bought = sorted(
        OrderLineFactory._meta.model.objects.filter(order__user=alice).values_list(
            "product_id", flat=True
        )
    )
    row = data["active_model"]
    assert row["run"] == trained.pk and row["knows_user"] is True
    assert sorted(entry["item"] for entry in row["interactions"]) == bought
    assert all(entry["weight"] > 0 for entry in row["interactions"])
    assert data["personalisation_consent"] is True
    assert [i["impression"] for i in data["impressions"]] == [imp.token for imp, _ in mine]
    assert data["impressions"][0] == {
        "impression": mine[0][0].token,
        "block": "for_you",
        "items_shown": ["1", "2"],
        "run": trained.pk,
        "algorithm": "item_knn",
        "experiment": None,
        "experiment_group": "control",
        "shown_at": mine[0][0].created_at,
    }
    assert [c["click"] for c in data["clicks"]] == [c.pk for _, c in mine] + [late_click.pk]
    assert [c["block"] for c in data["clicks"]] == ["for_you", "similar", "trending"]
    assert data["clicks"][0]["item"] == "2" and data["clicks"][0]["position"] == 1
    dumped = str(data)
    assert not any(imp.token in dumped for imp, _ in theirs)
    assert anonymous.token in dumped  # only as the impression of Alice's own click
    assert "recommendations.impression.user" not in data["records"]
    assert data["records"]["recommendations.trainingrun.created_by"] == []
    assert data["cached"] == ["your profile as the recommendations see it"]


def test_export_of_a_user_the_model_does_not_know(trained):
    data = privacy.user_data_export(user=UserFactory())

    assert data["active_model"]["knows_user"] is False
    assert data["active_model"]["interactions"] == []


# -- opt-out ----------------------------------------------------------------------------


def test_an_opted_out_user_gets_only_non_personal_lists_and_reasons(trained, shop):
    alice = _one_time_buyer(shop.products[0])
    viewed = [shop.products[5].pk, shop.products[6].pk]
    personal = selectors.recommendations_for_user(user=alice, n=4, session_item_pks=viewed)
    assert {r.source for r in personal} & {selectors.PERSONAL}

    _consent(alice, False)
    lists = [
        selectors.recommendations_for_user(user=alice, n=4, session_item_pks=viewed),
        selectors.similar_products(item=shop.products[0], user=alice, n=4),
    ]

    # Nothing of their own is shown, nor anything else under "Recently viewed".
    assert selectors.recently_viewed(user=alice, session_item_pks=viewed, n=4) == []
    for recommendations in lists:
        assert recommendations
        assert not {r.source for r in recommendations} & {
            selectors.PERSONAL,
            selectors.SESSION,
            selectors.RECENTLY_VIEWED,
        }
        assert not any(r.reason.startswith("Because you") for r in recommendations)

    _consent(alice, True)
    again = selectors.recommendations_for_user(user=alice, n=4, session_item_pks=viewed)
    assert selectors.PERSONAL in {r.source for r in again}


def test_the_me_endpoint_is_non_personal_for_an_opted_out_user(trained, shop):
    alice = _one_time_buyer(shop.products[0])
    client = APIClient()
    client.force_authenticate(alice)
    personal = client.get("/api/recommendations/me/", {"n": 4}).json()["results"]
    assert any(r["reason"].startswith("Because you") for r in personal)

    _consent(alice, False)
    response = client.get("/api/recommendations/me/", {"n": 4})

    assert response.status_code == 200
    results = response.json()["results"]
    assert results and not any(r["reason"].startswith("Because you") for r in results)


def test_an_opted_out_users_events_are_left_out_of_the_next_training(trained, shop):
    alice = shop.users[0]
    _consent(alice, False)

    run = training_run_start(algorithms=["item_knn"], promote=False)

    assert run.n_users == trained.n_users - 1
    assert alice.pk not in artifact_read(run.artifact).user_pks.tolist()
    assert (
        run.n_events
        == trained.n_events - OrderFactory._meta.model.objects.filter(user=alice).count()
    )


def test_runs_of_a_live_experiment_forget_the_user_too(
    trained, shop, django_capture_on_commit_callbacks
):
    from recommendations.models import Experiment

    challenger = training_run_start(algorithms=["popularity"], promote=False)
    assert challenger.status == TrainingRun.Status.SUCCEEDED
    Experiment.objects.create(name="test", challenger_run=challenger, share=0.5)
    gone = shop.users[0]

    with django_capture_on_commit_callbacks(execute=True):
        rewritten = privacy.user_forget(user_pk=gone.pk)

    assert {run.pk for run in rewritten} == {trained.pk, challenger.pk}
    challenger.refresh_from_db()
    assert gone.pk not in artifact_read(challenger.artifact).user_pks.tolist()


def test_export_describes_the_cache_without_its_internal_keys(trained, shop):
    alice = shop.users[0]
    # A purchase since the training: her history is read, and cached with a list.
    OrderLineFactory(order=OrderFactory(user=alice), product=shop.products[-1])
    selectors.recommendations_for_user(user=alice, n=4)
    names = set(privacy.CACHED_KINDS)

    cached = privacy.user_data_export(user=alice)["cached"]

    assert "recommendation lists shown to you" in cached
    assert "your recent history (the items you viewed and bought)" in cached
    assert set(cached) <= {str(kind) for kind in privacy.CACHED_KINDS.values()}
    assert not names & set(cached)
    dumped = str(cached)
    assert "recommendations:" not in dumped and LIST_CACHE_PREFIX not in dumped


# -- deletion is final: tombstones, kept artifacts, a storage that is down ---------------


@pytest.fixture
def kept_and_active(trained, shop):
    """An older version kept for rollback (``trained``) and a newer one serving."""
    newer = training_run_start(algorithms=["item_knn"], promote=False)
    newer = training_run_promote(run=newer)
    trained.refresh_from_db()
    assert trained.artifact and not trained.is_active and newer.is_active
    serving.reset()
    return trained, newer


@pytest.fixture
def storage_down(monkeypatch):
    """The artifact storage answers nothing: every read and write fails."""

    def fail(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(FileSystemStorage, "open", fail)
    monkeypatch.setattr(FileSystemStorage, "_save", fail)
    return monkeypatch


def _forget_while_the_storage_is_down(user_pk, storage_down, capture):
    """Forget a user while the storage fails, then bring it back with the files unchanged."""
    with capture(execute=True):
        privacy.user_forget(user_pk=user_pk)
    storage_down.undo()


def _stored_user_pks(run):
    run.refresh_from_db()
    return artifact_read(run.artifact).user_pks.tolist()


def test_forgetting_erases_the_user_from_kept_artifacts_too(
    kept_and_active, shop, django_capture_on_commit_callbacks
):
    kept, active = kept_and_active
    gone = shop.users[0]
    assert gone.pk in _stored_user_pks(kept)

    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=gone.pk)

    assert gone.pk not in _stored_user_pks(kept)
    assert gone.pk not in _stored_user_pks(active)
    assert shop.users[1].pk in _stored_user_pks(kept)
    assert not ForgottenUser.objects.get(user_pk=str(gone.pk)).artifacts_pending


def test_forgetting_succeeds_and_is_recorded_while_the_storage_is_down(
    kept_and_active, shop, storage_down, django_capture_on_commit_callbacks
):
    kept, active = kept_and_active
    gone = shop.users[0]
    artifacts = {run.pk: run.artifact for run in (kept, active)}

    with django_capture_on_commit_callbacks(execute=True):
        assert privacy.user_forget(user_pk=gone.pk) == []

    tombstone = ForgottenUser.objects.get(user_pk=str(gone.pk))
    assert tombstone.artifacts_pending
    for run in (kept, active):
        run.refresh_from_db()
        assert run.artifact == artifacts[run.pk]  # nothing could be rewritten yet

    storage_down.undo()
    rewritten = tombstones.forgotten_artifacts_rewrite()

    assert {run.pk for run in rewritten} == {kept.pk, active.pk}
    assert gone.pk not in _stored_user_pks(kept) and gone.pk not in _stored_user_pks(active)
    tombstone.refresh_from_db()
    assert not tombstone.artifacts_pending


def test_the_next_training_rewrites_artifacts_a_failed_storage_left(
    kept_and_active, shop, storage_down, django_capture_on_commit_callbacks
):
    kept, _active = kept_and_active
    gone = shop.users[0]
    _forget_while_the_storage_is_down(gone.pk, storage_down, django_capture_on_commit_callbacks)

    training_run_start(algorithms=["popularity"], promote=False)

    assert gone.pk not in _stored_user_pks(kept)
    assert not ForgottenUser.objects.filter(artifacts_pending=True).exists()


def test_rolling_back_to_a_kept_artifact_never_serves_a_forgotten_user(
    kept_and_active, shop, storage_down, django_capture_on_commit_callbacks
):
    kept, _active = kept_and_active
    gone, other = shop.users[0], shop.users[1]
    _forget_while_the_storage_is_down(gone.pk, storage_down, django_capture_on_commit_callbacks)
    # The kept file still holds the user: only the tombstone is left to hide them.
    assert gone.pk in artifact_read(kept.artifact).user_pks.tolist()

    assert training_run_rollback().pk == kept.pk
    serving.expire()
    model = serving.active_model()

    assert model.run_id == kept.pk
    assert model.user_row(gone.pk) is None
    assert model.user_row(other.pk) is not None
    assert model.recommender.interactions_.shape[0] == model.user_pks.size
    assert privacy.user_data_export(user=gone)["active_model"]["knows_user"] is False


def test_promoting_a_kept_run_or_an_experiment_arm_never_serves_a_forgotten_user(
    kept_and_active, shop, storage_down, django_capture_on_commit_callbacks
):
    from recommendations.models import Experiment

    kept, _active = kept_and_active
    gone = shop.users[0]
    _forget_while_the_storage_is_down(gone.pk, storage_down, django_capture_on_commit_callbacks)

    arm = serving.run_model(kept)  # an experiment's arm, as the admin preview loads it
    assert arm.run_id == kept.pk and arm.user_row(gone.pk) is None
    Experiment.objects.create(name="test", challenger_run=kept, share=1.0)
    serving.expire()
    pages = preview_pages(user=gone)
    assert pages and not any(
        "Because you" in str(block) for _title, blocks in pages for block in blocks
    )
    training_run_promote(run=kept)
    serving.expire()
    assert serving.active_model().user_row(gone.pk) is None
    serving.reset()


def test_a_deletion_after_a_failed_one_erases_both_users(
    trained, shop, monkeypatch, django_capture_on_commit_callbacks
):
    first, second = shop.users[0], shop.users[1]

    def fail(**kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(tombstones, "artifact_write", fail)
    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=first.pk)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        privacy.user_forget(user_pk=second.pk)

    stored = _stored_user_pks(trained)
    assert first.pk not in stored and second.pk not in stored
