"""Live A/B tests: stable assignment, the configured share, the challenger serving."""

from __future__ import annotations

import pytest

from recommendations import experiments, selectors
from recommendations.experiments import CHALLENGER, CONTROL, bucket_of
from recommendations.models import Experiment, TrainingRun
from recommendations.services import training_run_start
from tests.factories import UserFactory
from tests.recommendations.store import store_build, store_train

pytestmark = pytest.mark.usefixtures("isolated_experiments")


@pytest.mark.parametrize("share", [0.1, 0.5, 0.8])
def test_assignment_splits_users_in_the_configured_share(share):
    buckets = [bucket_of(experiment_id=7, user_pk=pk, share=share) for pk in range(10_000)]

    assert abs(buckets.count(CHALLENGER) / len(buckets) - share) < 0.02


def test_assignment_is_stable_and_depends_on_the_experiment():
    first = [bucket_of(experiment_id=1, user_pk=pk, share=0.5) for pk in range(1000)]
    again = [bucket_of(experiment_id=1, user_pk=pk, share=0.5) for pk in range(1000)]
    other = [bucket_of(experiment_id=2, user_pk=pk, share=0.5) for pk in range(1000)]

    assert first == again
    # A new experiment reshuffles users, so one test's groups do not carry over.
    assert 400 < sum(a != b for a, b in zip(first, other, strict=True)) < 600


def test_share_zero_and_one_put_everybody_in_one_group():
    assert {bucket_of(experiment_id=3, user_pk=pk, share=0.0) for pk in range(500)} == {CONTROL}
    assert {bucket_of(experiment_id=3, user_pk=pk, share=1.0) for pk in range(500)} == {CHALLENGER}


@pytest.fixture
def arms(db):
    store = store_build()
    control = store_train(["item_knn"])
    challenger = training_run_start(algorithms=["popularity"], promote=False)
    assert challenger.status == TrainingRun.Status.SUCCEEDED
    return store, control, challenger


def test_the_challenger_serves_its_group_and_the_control_the_rest(arms):
    _, control, challenger = arms
    experiment = Experiment.objects.create(
        name="popularity vs knn", challenger_run=challenger, share=0.5
    )
    users = [UserFactory() for _ in range(30)]

    served = {}
    for user in users:
        bucket = bucket_of(experiment_id=experiment.pk, user_pk=user.pk, share=0.5)
        recommendations = selectors.recommendations_for_user(user=user, n=4)
        served[user.pk] = (bucket, {rec.run_id for rec in recommendations})

    assert all(runs == {challenger.pk} for b, runs in served.values() if b == CHALLENGER)
    assert all(runs == {control.pk} for b, runs in served.values() if b == CONTROL)
    assert {b for b, _ in served.values()} == {CONTROL, CHALLENGER}
    # Anonymous shoppers are not split: the control serves them.
    assert {rec.run_id for rec in selectors.trending_products(n=4)} == {control.pk}


def test_an_inactive_experiment_changes_nothing(arms):
    _, control, challenger = arms
    Experiment.objects.create(name="off", challenger_run=challenger, share=1.0, active=False)
    user = UserFactory()

    assert {rec.run_id for rec in selectors.recommendations_for_user(user=user, n=4)} == {
        control.pk
    }


def test_concluding_promotes_the_winner_and_ends_the_experiment(arms):
    _, _, challenger = arms
    experiment = Experiment.objects.create(name="x", challenger_run=challenger, share=0.5)

    run = experiments.experiment_conclude(experiment=experiment, winner=CHALLENGER)

    experiment.refresh_from_db()
    assert run == challenger and TrainingRun.objects.get(is_active=True) == challenger
    assert not experiment.active and experiment.ended_at is not None
    assert experiments.active_experiment() is None
