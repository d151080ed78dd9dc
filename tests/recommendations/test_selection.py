"""Per-shop model selection: folds before the holdout, the budget, the choice, the run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from recommendations import engine
from recommendations.checks import check_settings
from recommendations.conf import DEFAULT_SELECTION_SPACE
from recommendations.engine.cache import shared_fits
from recommendations.engine.interactions import SECONDS_PER_DAY, build_interactions
from recommendations.engine.split import holdout_new_items
from recommendations.models import TrainingRun
from recommendations.selection import (
    PER_USER_FOLDS,
    TIME_FOLDS,
    Selection,
    _search_values,
    model_select,
    selection_folds,
)
from recommendations.services import training_run_start
from recommendations.training import TrainingData, registered_algorithms
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory, UserFactory

DAY = SECONDS_PER_DAY
NOW = 1_700_000_000.0
HOLDOUT_DAYS = 30.0
N_GROUPS, GROUP_SIZE, STEPS, SPACING_DAYS = 4, 8, 7, 15


def co_purchase_events(n_users: int = 120, *, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Each user buys, every 15 days, one more item of their group (of eight items), in a
    random order: co-purchases predict the next item, popularity does not."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for user in range(n_users):
        group = user % N_GROUPS
        order = rng.permutation(GROUP_SIZE)[:STEPS]
        for step, item in enumerate(order):
            users.append(user)
            items.append(group * GROUP_SIZE + item)
            times.append(NOW - (STEPS - 1 - step) * SPACING_DAYS * DAY - 2 * DAY)
    return np.asarray(users), np.asarray(items), np.asarray(times, dtype=np.float64)


def training_data(
    users: np.ndarray, items: np.ndarray, times: np.ndarray, *, n_items: int | None = None
) -> TrainingData:
    """A TrainingData as training_data_prepare builds it, without the database."""
    n_users = int(users.max()) + 1
    n_items = n_items or int(items.max()) + 1
    weight = np.ones(users.size)
    shape = {"n_users": n_users, "n_items": n_items}
    newest = float(times.max())
    holdout_start = newest - HOLDOUT_DAYS * DAY
    before = times < holdout_start
    matrix, latest = build_interactions(users, items, weight, times=times, **shape)
    train, train_times = build_interactions(
        users[before], items[before], weight[before], times=times[before], **shape
    )
    test = None
    if train.nnz:
        relevant, _ = build_interactions(users[~before], items[~before], weight[~before], **shape)
        test = holdout_new_items(train, relevant)
    return TrainingData(
        user_pks=np.arange(n_users),
        item_pks=np.arange(n_items),
        matrix=matrix,
        times=latest,
        train=train,
        train_times=train_times,
        test=test,
        user_features=sp.csr_matrix((n_users, 0), dtype=np.float32),
        item_features=sp.csr_matrix((n_items, 0), dtype=np.float32),
        user_idx=users,
        item_idx=items,
        weight=weight,
        time=times,
        newest=newest,
        holdout_start=holdout_start,
        holdout_end=newest,
        trending_now=newest,
        future_ignored=0,
    )


def folds_of(data: TrainingData, **overrides):
    options = {
        "n_folds": 2,
        "fold_days": 14.0,
        "min_users": 10,
        "half_life_days": None,
        "share": 0.2,
    }
    return selection_folds(data, **{**options, **overrides})


def select(data: TrainingData, base, space=None, **options):
    kind, folds = folds_of(data)
    return model_select(
        data,
        folds,
        kind=kind,
        algorithms=options.pop("algorithms", registered_algorithms()),
        base=base,
        space=space or {},
        budget_seconds=options.pop("budget_seconds", 600.0),
        **options,
    )


def test_selection_picks_the_configuration_that_is_clearly_better_on_the_folds():
    data = training_data(*co_purchase_events())

    result = select(data, {"popularity": {}, "item_knn": {"k": 20}})

    assert result.kind == TIME_FOLDS and len(result.folds) == 2
    assert result.best is not None
    assert result.best.candidate.algorithm == "item_knn"
    report = result.report()
    assert report["chosen"]["algorithm"] == "item_knn"
    assert report["runner_up"]["algorithm"] == "popularity"
    assert len(report["chosen"]["fold_scores"]) == 2
    assert report["margin"] > 0.1
    low, high = report["margin_interval"]
    assert 0.0 < low <= report["margin"] <= high


def test_selection_searches_the_space_one_parameter_at_a_time_around_the_best():
    data = training_data(*co_purchase_events())
    space = {"item_knn": {"k": [1, 50], "shrinkage": [0.0, 10.0]}}

    result = select(data, {"popularity": {}, "item_knn": {"k": 20}}, space)

    tried = [e.candidate.params for e in result.evaluations if e.candidate.algorithm == "item_knn"]
    # The base, then k varied, then shrinkage varied at the best k found.
    assert tried[0] == {"k": 20}
    assert {"k": 1} in tried and {"k": 50} in tried
    best_k = max(
        (e for e in result.evaluations if set(e.candidate.params) == {"k"}), key=lambda e: e.score
    ).candidate.params["k"]
    assert {"k": best_k, "shrinkage": 0.0} in tried and {"k": best_k, "shrinkage": 10.0} in tried
    assert len(tried) == 5


def walked(current, values, peak: float) -> list:
    """The values :func:`_search_values` tries when quality peaks at ``peak`` (the
    closer, the better) and the best so far is ``current``."""
    best = {"value": current}
    tried = []

    def improves(value) -> bool:
        tried.append(value)
        if abs(value - peak) < abs(best["value"] - peak):
            best["value"] = value
            return True
        return False

    _search_values(current, values, improves)
    return tried


def test_a_numeric_grid_is_walked_from_the_current_value_while_it_improves():
    grid = [50.0, 100.0, 250.0, 1000.0, 2000.0, 4000.0]

    # Both neighbours of 500 first, then upwards while better: 4000 is past the peak's
    # loser (2000 is the best), and the values below 250 are never tried.
    assert walked(500.0, grid, peak=1900.0) == [250.0, 1000.0, 2000.0, 4000.0]
    assert walked(500.0, grid, peak=2100.0) == [250.0, 1000.0, 2000.0, 4000.0]
    assert walked(500.0, grid, peak=1200.0) == [250.0, 1000.0, 2000.0]
    # Downwards: 100 beats 250, 50 does not.
    assert walked(500.0, grid, peak=90.0) == [250.0, 1000.0, 100.0, 50.0]
    # The current value is the best: its neighbours only.
    assert walked(500.0, grid, peak=480.0) == [250.0, 1000.0]
    # At the end of the grid: one neighbour.
    assert walked(4000.0, grid, peak=5000.0) == [2000.0]


def test_values_that_are_not_numbers_are_tried_in_their_order_except_the_current_one():
    tried = []
    _search_values(None, [120.0, 30.0], lambda value: tried.append(value) or value == 120.0)
    assert tried == [120.0, 30.0]  # a half-life where there was none: not a grid
    tried.clear()
    _search_values(True, [False, True], lambda value: tried.append(value) or False)
    assert tried == [False]


def test_the_folds_never_include_the_holdout_period():
    data = training_data(*co_purchase_events())

    kind, folds = folds_of(data)

    assert kind == TIME_FOLDS
    for fold in folds:
        assert fold.train_times.data.max() < data.holdout_start
        # Every relevant pair was bought before the holdout starts.
        rows, cols = fold.relevant.nonzero()
        bought = {
            (u, i): t for u, i, t in zip(data.user_idx, data.item_idx, data.time, strict=True)
        }
        assert all(bought[(u, i)] < data.holdout_start for u, i in zip(rows, cols, strict=True))
    # Fold 2 is the period before fold 1.
    assert folds[1].train_times.data.max() < folds[0].train_times.data.max()


def test_a_signal_only_in_the_holdout_changes_nothing_the_search_sees():
    users, items, times = co_purchase_events()
    clean = training_data(users, items, times)
    # In the holdout every user also buys one item of another group: a pattern that
    # would make popularity win, if the search could see it.
    extra_users = np.arange(120)
    extra_items = np.full(120, (N_GROUPS * GROUP_SIZE) - 1)
    extra_times = np.full(120, clean.newest - 1 * DAY)
    poisoned = training_data(
        np.r_[users, extra_users], np.r_[items, extra_items], np.r_[times, extra_times]
    )
    assert poisoned.holdout_start == clean.holdout_start

    base = {"popularity": {}, "item_knn": {"k": 20}}
    seen_clean, seen_poisoned = select(clean, base).report(), select(poisoned, base).report()

    for key in ("chosen", "runner_up", "margin", "margin_interval", "fold_users"):
        if key in ("chosen", "runner_up"):
            assert seen_clean[key]["fold_scores"] == seen_poisoned[key]["fold_scores"]
            assert seen_clean[key]["algorithm"] == seen_poisoned[key]["algorithm"]
        else:
            assert seen_clean[key] == seen_poisoned[key]


class FakeClock:
    """Seconds that pass only when a recommender is fitted."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def slow(cls, clock: FakeClock, seconds: float):
    """``cls`` whose every fit takes ``seconds`` on ``clock``."""

    class Slow(cls):
        def _fit(self, *args, **kwargs):
            clock.now += seconds
            return super()._fit(*args, **kwargs)

    return Slow


def slow_select(space: dict, budget_seconds: float, **options) -> Selection:
    """Popularity and item-kNN k 20 then ``space``, each fit taking 10 s on a fake clock
    (2 folds x 10 s = 20 s an evaluation)."""
    data = training_data(*co_purchase_events())
    clock = FakeClock()
    known = registered_algorithms()
    algorithms = {name: slow(known[name], clock, 10.0) for name in ("popularity", "item_knn")}
    return select(
        data,
        {"popularity": {}, "item_knn": {"k": 20}},
        space,
        algorithms=algorithms,
        clock=clock,
        budget_seconds=budget_seconds,
        **options,
    )


def test_selection_starts_no_evaluation_after_the_time_budget():
    # Half-lives where the configuration has none: tried in their order, not walked.
    space = {"item_knn": {"recency_half_life_days": [1.0, 5.0, 10.0, 50.0, 100.0, 200.0]}}
    result = slow_select(space, budget_seconds=70.0)

    # 0-20 popularity, 20-40 item_knn, then the budget counts: 40-60 1 day, 60-80 5,
    # 80-100 10; at 100 s an item_knn evaluation (20 s) no longer fits in the 10 s
    # left: the three other values are skipped.
    assert len(result.evaluations) == 5
    assert result.skipped == 3
    assert result.elapsed_seconds == 100.0
    assert result.report()["skipped"] == 3


def test_every_configured_algorithm_is_compared_even_past_the_time_budget():
    result = slow_select({"item_knn": {"recency_half_life_days": [1.0, 5.0]}}, budget_seconds=5.0)

    # popularity alone overruns the budget; item_knn is still compared, its space is not.
    tried = {(e.candidate.algorithm, e.candidate.params.get("k")) for e in result.evaluations}
    assert tried == {("popularity", None), ("item_knn", 20)}
    assert result.skipped == 2


def test_the_budget_grows_with_what_the_configured_candidates_cost():
    space = {"item_knn": {"recency_half_life_days": [1.0, 5.0, 10.0, 50.0]}}

    seconds_only = slow_select(space, budget_seconds=5.0, budget_share=0.0)
    shared = slow_select(space, budget_seconds=5.0, budget_share=1.0)

    # The configured candidates took 40 s: a share of 1 gives the space 40 s, two
    # evaluations of 20 s, where 5 s alone gave none.
    assert len(seconds_only.evaluations) == 2
    assert len(shared.evaluations) == 4 and shared.skipped == 2
    assert shared.budget_seconds == 40.0


def progress_lines(base: dict, space: dict, budget_seconds: float) -> list[str]:
    """The progress lines of a selection whose every fit of a ``base`` algorithm takes
    10 s on a fake clock (2 folds x 10 s = 20 s an evaluation)."""
    data = training_data(*co_purchase_events())
    clock = FakeClock()
    known = registered_algorithms()
    lines: list[str] = []
    select(
        data,
        base,
        space,
        algorithms={name: slow(known[name], clock, 10.0) for name in base},
        clock=clock,
        budget_seconds=budget_seconds,
        progress=lines.append,
    )
    return lines


def _shares(lines: list[str]) -> list[int]:
    return [int(line.rsplit("(", 1)[1].rstrip("%)")) for line in lines]


def test_the_selection_reports_its_share_done_configured_candidates_first():
    lines = progress_lines(
        {"popularity": {}, "item_knn": {"k": 20}},
        {"item_knn": {"recency_half_life_days": [1.0, 5.0, 10.0, 50.0]}},
        70.0,
    )

    # The two configured candidates (0-40 s) are the first half; in the second, the
    # budget's 70 s count from their end: each value tried takes 20 s (its share of the
    # budget beats its share of the 4 values, rounded down), and a fourth would not fit
    # in what is left; the last line ends the search.
    assert _shares(lines) == [25, 50, 64, 78, 92, 100]
    assert lines[0].startswith("selection: popularity {}: ndcg@20 ")
    assert lines[-1] == "selection: 5 evaluated, 1 skipped (100%)"


BLEND = {"components": [["popularity", {}], ["item_knn", {"k": 20}]], "validation_folds": 1}


@pytest.mark.parametrize(
    ("base", "space", "budget_seconds"),
    [
        # The blend alone: its last fold's last fit is the search's last step.
        ({"blend": BLEND}, {}, 600.0),
        # A variant of the blend starts within the budget and spends it while it runs.
        (
            {"popularity": {}, "blend": BLEND},
            {"blend": {"candidates": [30, 80]}},
            20.0,
        ),
    ],
    ids=["configured blend last", "budget spent inside a blend"],
)
def test_the_selection_progress_never_goes_back_and_says_100_only_at_the_end(
    base, space, budget_seconds
):
    lines = progress_lines(base, space, budget_seconds)

    shares = _shares(lines)
    # The blend's component fits report from inside it, each line at least the last.
    assert any("blend: " in line and "all events" in line for line in lines[:-1])
    assert shares == sorted(shares)
    assert shares[-1] == 100 and 100 not in shares[:-1], lines


def test_selection_evaluates_at_most_max_evaluations():
    data = training_data(*co_purchase_events())
    space = {"item_knn": {"recency_half_life_days": [1.0, 5.0, 10.0, 50.0]}}

    result = select(data, {"popularity": {}, "item_knn": {"k": 20}}, space, max_evaluations=3)

    assert len(result.evaluations) == 3
    assert result.skipped == 3


def test_a_candidate_that_cannot_fit_is_left_out_with_its_error():
    data = training_data(*co_purchase_events())

    result = select(data, {"item_knn": {"k": 20}, "ease": {"l2": 500.0, "max_items": 5}})

    assert result.best.candidate.algorithm == "item_knn"
    failed = result.report()["failed"]
    assert [entry["algorithm"] for entry in failed] == ["ease"]
    assert "max_items=5" in failed[0]["error"]


def test_equal_times_give_per_user_folds_of_each_users_last_events():
    users, items, _ = co_purchase_events()
    # No usable time: every event at the same instant, in each user's buying order.
    data = training_data(users, items, np.full(users.size, NOW))

    kind, folds = folds_of(data)

    assert data.test is None  # the holdout is empty: nothing to protect
    assert kind == PER_USER_FOLDS and len(folds) == 2
    last = {user: items[users == user][-1] for user in range(120)}
    second_last = {user: items[users == user][-2] for user in range(120)}
    for user in folds[0].users:
        assert list(folds[0].relevant[user].indices) == [last[user]]
        assert folds[0].train[user, last[user]] == 0
    for user in folds[1].users:
        assert list(folds[1].relevant[user].indices) == [second_last[user]]
    result = select(data, {"popularity": {}, "item_knn": {"k": 20}})
    assert result.best.candidate.algorithm == "item_knn"


def test_folds_too_small_to_score_leave_the_choice_to_the_holdout():
    users, items, times = co_purchase_events(n_users=8)
    data = training_data(users, items, times)

    result = select(data, {"popularity": {}, "item_knn": {"k": 20}})

    assert result.folds == [] and result.evaluations == []
    assert result.best is None


# -- in the training --------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_shop(n_users: int = 60) -> None:
    """Users buy their group's products one every 15 days, the last one in the holdout."""
    now = timezone.now()
    products = [ProductFactory() for _ in range(N_GROUPS * GROUP_SIZE)]
    rng = np.random.default_rng(1)
    for user_index in range(n_users):
        user = UserFactory()
        group = user_index % N_GROUPS
        for step, item in enumerate(rng.permutation(GROUP_SIZE)[:STEPS]):
            days_ago = (STEPS - 1 - step) * SPACING_DAYS + 2
            order = OrderFactory(user=user, created_at=now - dt.timedelta(days=days_ago))
            OrderLineFactory(order=order, product=products[group * GROUP_SIZE + item])


def selection_settings(settings, **selection) -> None:
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"popularity": {}, "item_knn": {"k": 20}},
        "PROMOTION": {**settings.RECOMMENDATIONS.get("PROMOTION", {}), "HOLDOUT_DAYS": 10},
        "SELECTION": {"FOLD_DAYS": 14, "MIN_USERS": 10, **selection},
    }


@pytest.mark.django_db
def test_training_promotes_the_configuration_chosen_on_the_folds_and_records_why(settings, media):
    make_shop()
    selection_settings(settings, SPACE={"item_knn": {"k": [2]}})

    served = training_run_start()

    assert served.is_active
    report = served.metrics["selection"]
    assert report["folds"] == TIME_FOLDS and len(report["fold_users"]) == 2
    assert report["chosen"]["algorithm"] == served.algorithm == "item_knn"
    assert report["chosen"]["params"] == served.params
    assert len(report["chosen"]["fold_scores"]) == 2
    assert report["margin"] > 0
    assert report["runner_up"] is not None
    others = TrainingRun.objects.filter(batch=served.batch).exclude(pk=served.pk)
    assert all("selection" not in (run.metrics or {}) for run in others)


@pytest.mark.django_db
def test_a_configuration_found_in_the_space_is_trained_as_its_own_run(settings, media):
    make_shop()
    # k=1 ranks one neighbour per history item: worse; the base k=20 ties with k=50, so
    # make the base poor (k=1) and offer a better value in the space.
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"item_knn": {"k": 1, "shrinkage": 1000.0}},
        "PROMOTION": {**settings.RECOMMENDATIONS.get("PROMOTION", {}), "HOLDOUT_DAYS": 10},
        "SELECTION": {"FOLD_DAYS": 14, "MIN_USERS": 10, "SPACE": {"item_knn": {"k": [20]}}},
    }

    served = training_run_start()

    runs = TrainingRun.objects.filter(batch=served.batch).order_by("pk")
    assert [run.params for run in runs] == [
        {"k": 1, "shrinkage": 1000.0},
        {"k": 20, "shrinkage": 1000.0},
    ]
    assert all(run.status == TrainingRun.Status.SUCCEEDED for run in runs)
    assert served == runs[1] and served.is_active
    assert served.metrics["selection"]["chosen"]["params"] == {"k": 20, "shrinkage": 1000.0}


@pytest.mark.django_db
def test_training_without_selection_promotes_the_holdouts_best(settings, media):
    make_shop()
    selection_settings(settings, ENABLED=False)

    served = training_run_start()

    assert TrainingRun.objects.filter(batch=served.batch).count() == 2
    assert "selection" not in served.metrics


def test_bad_selection_settings_fail_the_system_check(settings):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "SELECTION": {
            "TIME_BUDGET_SECONDS": -1,
            "FOLDS": 0,
            "SPACE": {"nope": {}, "ease": {"l3": [1]}, "svd": {"factors": 64}},
        },
    }

    messages = [error.msg for error in check_settings() if error.id == "recommendations.E016"]

    assert any("TIME_BUDGET_SECONDS" in m for m in messages)
    assert any("'FOLDS'" in m for m in messages)
    assert any("'nope'" in m for m in messages)
    assert any("'l3'" in m for m in messages)
    assert any("'factors'" in m and "list" in m for m in messages)


def test_the_default_selection_settings_pass_the_system_check():
    assert not [e for e in check_settings() if e.id == "recommendations.E016"]
    assert engine.registered()  # the check imported every algorithm
    call_command("check")


@pytest.mark.django_db
def test_the_admin_shows_the_folds_scores_and_margin_that_chose_a_run(
    settings, media, staff_client
):
    make_shop()
    selection_settings(settings)
    served = training_run_start()
    report = served.metrics["selection"]

    response = staff_client.get(
        reverse("admin:recommendations_trainingrun_change", args=[served.pk])
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Chosen on validation folds" in html
    assert "on periods before the holdout" in html
    assert f"{report['chosen']['fold_scores'][0]:.4f}" in html
    assert f"Margin over the runner-up: {report['margin']:.4f}" in html
    other = TrainingRun.objects.filter(batch=served.batch).exclude(pk=served.pk).first()
    response = staff_client.get(
        reverse("admin:recommendations_trainingrun_change", args=[other.pk])
    )
    assert "Margin over the runner-up" not in response.content.decode()


def test_configurations_that_score_every_user_alike_do_not_block_the_choice():
    users, items, _ = co_purchase_events()
    # Without times a recency half-life changes nothing: the variant is equivalent.
    data = training_data(users, items, np.full(users.size, NOW))
    space = {"item_knn": {"recency_half_life_days": [120.0]}}

    result = select(data, {"popularity": {}, "item_knn": {"k": 20}}, space)

    report = result.report()
    assert result.best is not None and result.best.candidate.params == {"k": 20}
    assert [e["params"] for e in report["equivalent"]] == [
        {"k": 20, "recency_half_life_days": 120.0}
    ]
    assert report["runner_up"]["algorithm"] == "popularity"
    assert report["margin"] > 0


def test_the_default_space_varies_eases_history_cap_first_reusing_the_configured_solves():
    data = training_data(*co_purchase_events())
    space = {"ease": DEFAULT_SELECTION_SPACE["ease"]}

    with shared_fits() as cache:
        result = select(data, {"ease": {"l2": 500.0}}, space, max_evaluations=3)

    tried = [e.candidate.params for e in result.evaluations]
    # The configured candidate, then the cap's two neighbours on its grid, l2 unchanged.
    assert tried[0] == {"l2": 500.0}
    assert [params.get("max_history") for params in tried[1:]] == [100, 400]
    assert all(params["l2"] == 500.0 for params in tried)
    # The cap changes the scoring, not the weights: one solve per fold, made once.
    assert cache.misses == len(result.folds)
    assert cache.hits == 2 * len(result.folds)
