"""Per-shop model selection: candidate configurations compared on validation folds.

The nightly training judges its runs on a holdout (the last ``HOLDOUT_DAYS``). The
configuration it serves is chosen before that, on folds carved out of the shop's own
history *before the holdout*, so the period a run is judged on never takes part in the
choice:

- **time-forward folds** where events carry real times: fold 1 is the last
  ``fold_days`` before the holdout (placed where there are buyers, as the holdout is),
  fold 2 the period before it, and so on; each candidate is fitted on the events
  before a fold and scored on the items new to each user bought in it;
- **per-user folds** where times say nothing (all equal, or too few buyers in any
  period): fold 1 holds out each user's last events (a ``share`` of them, at least
  one), fold 2 the events before those.

The search is a budgeted coordinate search: every candidate algorithm at its configured
parameters first (always), then, within the time budget, best algorithm first, one
parameter of the space at a time around the best values found so far; a numeric
parameter walks its grid from the current value, both neighbours first, then onwards
while it improves. A candidate's
score is the mean over folds of the mean per-user metric. Pure numpy/scipy over
:class:`~recommendations.training.TrainingData` and the engine: no Django here.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender
from recommendations.engine.interactions import SECONDS_PER_DAY, build_interactions
from recommendations.engine.metrics import evaluate_per_user, paired_bootstrap
from recommendations.engine.progress import progress_reporting, progress_step
from recommendations.engine.split import holdout_new_items, window_end

if TYPE_CHECKING:
    from recommendations.training import TrainingData

logger = logging.getLogger(__name__)

TIME_FOLDS = "time"
PER_USER_FOLDS = "per_user"
PER_USER_METRICS = ("ndcg", "recall")
#: Candidates listed with their fold scores in the report (the rest are only counted).
REPORTED_CANDIDATES = 12
#: How much of the way from a candidate's start to its end its own steps (a blend's
#: component fits) may show: the line that ends it always says more.
RUNNING_SHARE = 0.9
#: The most a candidate's line says: 100 % is the line that ends the search.
CANDIDATE_SHARE_MAX = 0.99


@dataclass(frozen=True)
class Fold:
    """One validation fold: the matrices a candidate fits on and the items it must find."""

    label: str
    train: sp.csr_matrix
    train_times: sp.csr_matrix
    relevant: sp.csr_matrix  # new items of the fold, per user
    users: np.ndarray  # the scored users: a training row and a new item in the fold


@dataclass(frozen=True)
class Candidate:
    """One configuration: a registered algorithm and its hyper-parameters."""

    algorithm: str
    params: dict[str, Any]

    @property
    def key(self) -> str:
        """A canonical text of the configuration (equal configurations, equal keys)."""
        return f"{self.algorithm} {json.dumps(self.params, sort_keys=True, default=str)}"


@dataclass
class Evaluation:
    """A candidate's scores on every fold, or why it could not be scored."""

    candidate: Candidate
    fold_scores: list[float] = field(default_factory=list)
    per_user: np.ndarray | None = None  # the metric of every scored user, folds concatenated
    seconds: float = 0.0
    error: str | None = None

    @property
    def score(self) -> float:
        """Mean of the fold means (each fold counts alike); -inf when not scored."""
        return float(np.mean(self.fold_scores)) if self.error is None else -math.inf

    def as_dict(self) -> dict[str, Any]:
        """The evaluation as JSON-ready values."""
        result: dict[str, Any] = {
            "algorithm": self.candidate.algorithm,
            "params": self.candidate.params,
            "seconds": round(self.seconds, 2),
        }
        if self.error is None:
            result["score"] = self.score
            result["fold_scores"] = self.fold_scores
        else:
            result["error"] = self.error
        return result


@dataclass
class Selection:
    """What the search tried, what it chose and by how much."""

    kind: str
    folds: list[Fold]
    metric: str
    evaluations: list[Evaluation]
    budget_seconds: float
    elapsed_seconds: float
    skipped: int  # candidates left out: out of time or of evaluations

    @property
    def ranked(self) -> list[Evaluation]:
        """The scored evaluations, best first (ties: the earlier candidate)."""
        scored = [e for e in self.evaluations if e.error is None]
        return sorted(scored, key=lambda e: -e.score)

    def _split_ranking(self) -> tuple[list[Evaluation], list[Evaluation]]:
        """The configurations of the best algorithm equivalent to the best (the same metric
        for every user of every fold: a recency half-life where there are no times), and
        the others, best first. Another algorithm scoring alike is a tie, not a twin."""
        ranked = self.ranked
        if not ranked:
            return [], []
        first = ranked[0]
        same = [
            e
            for e in ranked
            if e.candidate.algorithm == first.candidate.algorithm
            and e.per_user is not None
            and first.per_user is not None
            and np.array_equal(e.per_user, first.per_user)
        ]
        return same, [e for e in ranked if e not in same]

    @property
    def best(self) -> Evaluation | None:
        """The winning evaluation (of equivalent ones, the first tried); None when nothing
        could be scored, or when a different candidate scores as well (the holdout decides)."""
        same, others = self._split_ranking()
        if not same or (others and others[0].score >= same[0].score):
            return None
        return same[0]

    def report(self) -> dict[str, Any]:
        """The JSON a training run keeps: folds, choice, runner-up, margin, what was tried."""
        ranked = self.ranked
        same, others = self._split_ranking()
        best = same[0] if same else None
        runner_up = others[0] if others else None
        result: dict[str, Any] = {
            "metric": self.metric,
            "folds": self.kind,
            "fold_labels": [fold.label for fold in self.folds],
            "fold_users": [int(fold.users.size) for fold in self.folds],
            "evaluations": len(self.evaluations),
            "skipped": self.skipped,
            "budget_seconds": self.budget_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 2),
            "chosen": best.as_dict() if best else None,
            "equivalent": [e.as_dict() for e in same[1:]],
            "runner_up": runner_up.as_dict() if runner_up else None,
            "margin": None,
            "candidates": [e.as_dict() for e in ranked[:REPORTED_CANDIDATES]],
            "failed": [e.as_dict() for e in self.evaluations if e.error is not None],
        }
        if best is not None and runner_up is not None:
            result["margin"] = best.score - runner_up.score
            if best.per_user is not None and runner_up.per_user is not None:
                _, low, high = paired_bootstrap(best.per_user, runner_up.per_user)
                result["margin_interval"] = [low, high]
        return result


# -- folds ----------------------------------------------------------------------------


def _matrices(
    data: TrainingData, keep: np.ndarray, *, half_life_days: float | None, now: float | None
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The pair weights and latest times of the positive events selected by ``keep``.

    A dislike only lowers the weight of a pair: comparing configurations does without it.
    """
    n_users, n_items = data.matrix.shape
    matrix, times = build_interactions(
        data.user_idx[keep], data.item_idx[keep], data.weight[keep],
        n_users=n_users, n_items=n_items, times=data.time[keep],
        half_life_days=half_life_days, now=now,
    )  # fmt: skip
    matrix.sort_indices()
    times.sort_indices()
    return matrix, times


def _fold(
    data: TrainingData,
    label: str,
    train: np.ndarray,
    target: np.ndarray,
    *,
    half_life_days: float | None,
    now: float | None,
    max_users: int,
) -> Fold:
    """A fold from masks of its training events and of its target events."""
    matrix, times = _matrices(data, train, half_life_days=half_life_days, now=now)
    relevant, _ = build_interactions(
        data.user_idx[target], data.item_idx[target], np.ones(int(target.sum())),
        n_users=matrix.shape[0], n_items=matrix.shape[1],
    )  # fmt: skip
    relevant = holdout_new_items(matrix, relevant)
    users = np.flatnonzero((np.diff(matrix.indptr) > 0) & (np.diff(relevant.indptr) > 0))
    if users.size > max_users:
        # A fixed sample bounds the scoring time of a large shop; same users every night.
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
    return Fold(label=label, train=matrix, train_times=times, relevant=relevant, users=users)


def _usable(data: TrainingData, target_codes: Sequence[int] | None) -> tuple[np.ndarray, ...]:
    """Masks of the events the folds may use (positive, trusted, before the holdout)
    and of the target events among them (purchases)."""
    usable = data.weight > 0
    if data.train.nnz:
        # The holdout judges the run: no fold may see it.
        usable &= data.time < data.holdout_start
    if data.trust is not None:
        trusted = data.trust >= 1.0
        # As in training: accounts trusted less teach the models nothing, unless nobody is.
        if trusted.any() and not trusted.all():
            usable &= trusted[data.user_idx]
    target = usable.copy()
    if target_codes is not None and data.events is not None:
        target &= np.isin(data.events.source, list(target_codes))
    return usable, target


def time_folds(
    data: TrainingData,
    *,
    n_folds: int,
    fold_days: float,
    min_users: int,
    half_life_days: float | None,
    target_codes: Sequence[int] | None = None,
    max_users: int = 2000,
) -> list[Fold]:
    """Up to ``n_folds`` consecutive periods of ``fold_days`` before the holdout, newest first.

    Each period ends where ``min_users`` buyers with an earlier event are (see
    :func:`~recommendations.engine.split.window_end`); the search stops at the first
    period with fewer scored users.
    """
    usable, target = _usable(data, target_codes)
    if not target.any() or np.ptp(data.time[usable]) == 0:
        return []
    first_seen = np.full(data.matrix.shape[0], np.inf)
    np.minimum.at(first_seen, data.user_idx[usable], data.time[usable])
    folds: list[Fold] = []
    before = math.inf
    for _ in range(n_folds):
        end = window_end(
            data.user_idx[target],
            data.time[target],
            days=fold_days,
            min_users=min_users,
            first_seen=first_seen,
            before=None if before == math.inf else before,
        )
        if end is None:
            break
        start = end - fold_days * SECONDS_PER_DAY
        in_period = target & (data.time >= start) & (data.time <= end)
        fold = _fold(
            data,
            _period_label(start, end),
            usable & (data.time < start),
            in_period,
            half_life_days=half_life_days,
            now=start,
            max_users=max_users,
        )
        if fold.users.size < min_users:
            break
        folds.append(fold)
        before = start
    return folds


def _period_label(start: float, end: float) -> str:
    day = "%Y-%m-%d"
    return f"{time.strftime(day, time.gmtime(start))} to {time.strftime(day, time.gmtime(end))}"


def per_user_folds(
    data: TrainingData,
    *,
    n_folds: int,
    share: float,
    min_users: int,
    target_codes: Sequence[int] | None = None,
    max_users: int = 2000,
) -> list[Fold]:
    """Folds of each user's last events: fold 1 the last ``share`` (at least one), fold 2
    the same number before them; events in array order where times are equal."""
    usable, target = _usable(data, target_codes)
    events = np.flatnonzero(usable)
    # Each user's events oldest first; the stable sort keeps the given order for ties.
    events = events[np.lexsort((events, data.time[events], data.user_idx[events]))]
    users = data.user_idx[events]
    starts = np.searchsorted(users, users, side="left")
    counts = np.bincount(users, minlength=data.matrix.shape[0])[users]
    position = np.arange(events.size) - starts  # 0 = the user's oldest event
    block = np.maximum(1, np.floor(counts * share)).astype(np.int64)
    from_end = counts - position  # 1 = the user's newest event
    folds: list[Fold] = []
    for fold in range(1, n_folds + 1):
        # Users need an event left to learn from before the block.
        kept = counts > fold * block
        held = (from_end > (fold - 1) * block) & (from_end <= fold * block) & kept
        train = np.zeros(usable.size, dtype=bool)
        # A user held out keeps the events before the block; any other keeps them all.
        train[events[(from_end > fold * block) | ~kept]] = True
        in_block = np.zeros(usable.size, dtype=bool)
        in_block[events[held]] = True
        candidate = _fold(
            data,
            f"each user's events {fold} block(s) from the end",
            train,
            in_block & target,
            half_life_days=None,
            now=None,
            max_users=max_users,
        )
        if candidate.users.size < min_users:
            break
        folds.append(candidate)
    return folds


# -- the search -------------------------------------------------------------------------


def _evaluate(
    candidate: Candidate,
    folds: Sequence[Fold],
    data: TrainingData,
    algorithms: Mapping[str, type[Recommender]],
    *,
    k: int,
    metric: str,
    clock: Callable[[], float],
    fatal: tuple[type[BaseException], ...],
) -> Evaluation:
    """Fit the candidate on every fold and score it; a failure is recorded, not raised."""
    started = clock()
    evaluation = Evaluation(candidate=candidate)
    values = []
    try:
        for index, fold in enumerate(folds):
            with progress_step(index, len(folds)):
                recommender = algorithms[candidate.algorithm](**candidate.params).fit(
                    fold.train,
                    user_features=data.user_features,
                    item_features=data.item_features,
                    timestamps=fold.train_times,
                    # The follows made before the holdout: a social candidate is
                    # compared with its social part (others ignore it).
                    social=data.train_social,
                )
            scores = evaluate_per_user(recommender, fold.train, fold.relevant, k, users=fold.users)
            evaluation.fold_scores.append(float(np.mean(scores[metric])))
            values.append(scores[metric])
        evaluation.per_user = np.concatenate(values)
    except fatal:
        raise
    except Exception as exc:  # a configuration that cannot fit this shop is not chosen
        logger.info("Selection: %s failed: %s", candidate.key, exc)
        evaluation.error = f"{type(exc).__name__}: {exc}"[:500]
        evaluation.fold_scores = []
    evaluation.seconds = clock() - started
    return evaluation


def model_select(
    data: TrainingData,
    folds: Sequence[Fold],
    *,
    kind: str,
    algorithms: Mapping[str, type[Recommender]],
    base: Mapping[str, Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Sequence[Any]]],
    budget_seconds: float,
    budget_share: float = 0.0,
    max_evaluations: int | None = None,
    k: int = 20,
    metric: str = "ndcg",
    clock: Callable[[], float] = time.perf_counter,
    fatal: tuple[type[BaseException], ...] = (),
    progress: Callable[[str], None] | None = None,
) -> Selection:
    """Search the configurations on ``folds`` within a time and an evaluation budget.

    Parameters
    ----------
    data : TrainingData
        Supplies the user and item features; the folds hold the events.
    folds : sequence of Fold
        From :func:`time_folds` or :func:`per_user_folds`; nothing is chosen without one.
    kind : str
        Which kind of folds they are (``"time"`` or ``"per_user"``), for the report.
    algorithms : mapping
        Registry name -> recommender class.
    base : mapping
        The candidate algorithms and their starting parameters (the ``ALGORITHMS``
        setting, or the algorithms a training was asked for).
    space : mapping
        Algorithm -> parameter -> the values to try; algorithms not in ``base`` are
        not candidates.
    budget_seconds : float
        No evaluation of the space starts once this many seconds have passed since
        the candidates of ``base`` were evaluated (they always are), nor one whose
        algorithm took longer than what is left the last time it was fitted.
    budget_share : float
        The budget is at least this share of the seconds the candidates of ``base``
        took: where every evaluation costs more (a larger catalog), the search still
        gets a few.
    max_evaluations : int, optional
        At most this many candidates are evaluated.
    k, metric : int, str
        The metric (``"ndcg"`` or ``"recall"``) at ``k`` that ranks the candidates.
    clock : callable
        Seconds, monotonic; a test passes its own to make the budget deterministic.
    fatal : tuple of exception types
        Raised through (a time limit); any other error only rules its candidate out.
    progress : callable, optional
        Called with a line of text after each evaluation and each step of a long one
        (a blend's component fits); the line ends with the share of the search done,
        as "(40%)", never less than the line before. The last line counts the
        candidates evaluated and skipped; it alone says "(100%)".
    """
    if metric not in PER_USER_METRICS:
        raise ValueError(f"metric must be one of {', '.join(PER_USER_METRICS)}, got {metric!r}.")
    say = progress or (lambda message: None)
    started = clock()
    space_started = started  # the budget counts from the end of the configured candidates
    evaluations: dict[str, Evaluation] = {}
    last_seconds: dict[str, float] = {}
    skipped = 0
    names = [name for name in base if name in algorithms]
    # For the progress shown while it runs: the configured candidates (always all of
    # them) are the first half, the space (candidates tried, or the budget spent if
    # further) the second.
    in_space = sum(len(values) for name in names for values in (space.get(name) or {}).values())

    searching = False  # True once the configured candidates were evaluated
    shown = 0.0  # the share said last: a line never says less

    def share(steps: int) -> float:
        """How far the search is after ``steps`` candidates (at this time)."""
        if not searching or not in_space:
            return min(steps / max(len(names), 1), 1.0) * (0.5 if in_space else 1.0)
        spent = (clock() - space_started) / budget_seconds if budget_seconds > 0 else 1.0
        searched = max((steps - len(names)) / in_space, min(spent, 1.0))
        return 0.5 + 0.5 * min(searched, 1.0)

    def said(what: str, done: float, *, last: bool = False) -> None:
        nonlocal shown
        shown = max(shown, done if last else min(done, CANDIDATE_SHARE_MAX))
        say(f"selection: {what} ({_percent(shown)})")

    def run(candidate: Candidate, *, configured: bool = False) -> Evaluation | None:
        nonlocal skipped
        if candidate.key in evaluations:
            return evaluations[candidate.key]
        left = budget_seconds - (clock() - space_started)
        estimate = last_seconds.get(candidate.algorithm, 0.0)
        out_of_count = max_evaluations is not None and len(evaluations) >= max_evaluations
        # The configured algorithms are compared whatever the budget: the training fits
        # each of them anyway, and the budget is for the search around them.
        out_of_time = not configured and (left <= 0 or estimate > left)
        if not folds or out_of_count or out_of_time:
            skipped += 1
            return None
        done = len(evaluations)
        start = share(done)

        def inner(part: float, what: str) -> None:
            # Part of the way to where the candidate would end now, never all of it: a
            # budget spent while it runs must not say 100 % before its last fits.
            way = (share(done + 1) - start) * min(max(part, 0.0), 1.0) * RUNNING_SHARE
            said(f"{candidate.algorithm}: {what}", start + way)

        with progress_reporting(inner):
            evaluation = _evaluate(
                candidate, folds, data, algorithms, k=k, metric=metric, clock=clock, fatal=fatal
            )
        evaluations[candidate.key] = evaluation
        last_seconds[candidate.algorithm] = evaluation.seconds
        said(f"{candidate.key}: {_outcome(evaluation, metric, k)}", share(len(evaluations)))
        return evaluation

    best: dict[str, Evaluation] = {}
    for name in names:
        evaluation = run(Candidate(name, dict(base.get(name, {}))), configured=True)
        if evaluation is not None and evaluation.error is None:
            best[name] = evaluation
    space_started, searching = clock(), True
    budget_seconds = max(budget_seconds, budget_share * (space_started - started))
    # Refine the most promising algorithm first: the budget may end before the others.
    for name in sorted(best, key=lambda n: -best[n].score):
        defaults = _defaults(algorithms[name])
        for param, values in (space.get(name) or {}).items():
            current = best[name].candidate.params.get(param, defaults.get(param))

            def improves(value: Any, name: str = name, param: str = param) -> bool:
                """Evaluate the best configuration with ``param`` at ``value``; True when
                it becomes the algorithm's best."""
                params = {**best[name].candidate.params, param: value}
                evaluation = run(Candidate(name, params))
                if evaluation is not None and evaluation.score > best[name].score:
                    best[name] = evaluation
                    return True
                return False

            _search_values(current, values, improves)
    said(f"{len(evaluations)} evaluated, {skipped} skipped", 1.0, last=True)
    return Selection(
        kind=kind,
        folds=list(folds),
        metric=metric,
        evaluations=list(evaluations.values()),
        budget_seconds=budget_seconds,
        elapsed_seconds=clock() - started,
        skipped=skipped,
    )


def _defaults(algorithm: type[Recommender]) -> dict[str, Any]:
    """The keyword defaults of an algorithm's ``__init__``: a parameter's current value
    when the configuration does not set it."""
    parameters = inspect.signature(algorithm.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _search_values(current: Any, values: Sequence[Any], improves: Callable[[Any], bool]) -> None:
    """Try the ``values`` of one parameter whose best value so far is ``current``.

    Numbers are a grid: the neighbours of ``current`` on either side first, then onwards
    in the direction that improved, while it improves (a value past one that lost is
    not tried: the budget goes to promising ones). Other values (components, flags, a
    parameter whose current value is not a number) are tried in the given order.
    """
    if not (_numeric(current) and all(_numeric(value) for value in values)):
        for value in values:
            if value != current:
                improves(value)
        return
    grid = sorted({float(value) for value in values} | {float(current)})
    original = {float(value): value for value in values}
    at = grid.index(float(current))
    down = at > 0 and improves(original[grid[at - 1]])
    up = at + 1 < len(grid) and improves(original[grid[at + 1]])
    if up or down:
        step, position = (1, at + 1) if up else (-1, at - 1)
        position += step
        while 0 <= position < len(grid) and improves(original[grid[position]]):
            position += step


def _percent(share: float) -> str:
    """ "40%": rounded down, so that only the whole search says 100 %."""
    # The epsilon keeps 0.57 (56.99999... in binary) from reading 56.
    return f"{math.floor(share * 100 + 1e-9)}%"


def _outcome(evaluation: Evaluation, metric: str, k: int) -> str:
    if evaluation.error is not None:
        return f"failed ({evaluation.error})"
    folds = " / ".join(f"{score:.4f}" for score in evaluation.fold_scores)
    return f"{metric}@{k} {evaluation.score:.4f} ({folds}) in {evaluation.seconds:.1f} s"


def selection_folds(
    data: TrainingData,
    *,
    n_folds: int,
    fold_days: float,
    min_users: int,
    half_life_days: float | None,
    share: float,
    target_codes: Sequence[int] | None = None,
    max_users: int = 2000,
) -> tuple[str, list[Fold]]:
    """Time-forward folds where the times allow them, else per-user folds, and their kind."""
    folds = time_folds(
        data,
        n_folds=n_folds,
        fold_days=fold_days,
        min_users=min_users,
        half_life_days=half_life_days,
        target_codes=target_codes,
        max_users=max_users,
    )
    if folds:
        return TIME_FOLDS, folds
    return PER_USER_FOLDS, per_user_folds(
        data,
        n_folds=n_folds,
        share=share,
        min_users=min_users,
        target_codes=target_codes,
        max_users=max_users,
    )
