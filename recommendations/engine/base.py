"""The interface every recommender of the engine implements.

A recommender is fitted on a CSR matrix of users x items holding float weights
(purchases, views, ratings already turned into positive signal by the caller) and
ranks item indices for users. It never sees Django: ids are integer row and column
indices, the mapping to database keys lives with the caller.

Subclasses implement ``_fit`` and ``_score_rows`` (and may override
``_score_users``, ``_item_similarities`` and ``_contributions``); everything else,
validation, exclusion of seen and blocked items, top-n selection, explanation and
persistence, is shared here so every algorithm behaves the same.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

FORMAT_VERSION = 1

#: Where each built-in recommender is defined, by registry name. A class is imported
#: when it is first asked for, so a process that loads one model imports only the
#: algorithms in it (serving a blend never imports scikit-learn).
BUILT_IN: dict[str, str] = {
    "als": "recommendations.engine.socialmf.ALSRecommender",
    "blend": "recommendations.engine.blend.BlendRecommender",
    "content": "recommendations.engine.content.ContentRecommender",
    "cooccurrence": "recommendations.engine.cooccurrence.CooccurrenceRecommender",
    "ease": "recommendations.engine.ease.EASERecommender",
    "item_knn": "recommendations.engine.itemknn.ItemKNNRecommender",
    "mlp": "recommendations.engine.mlp.MLPRecommender",
    "popularity": "recommendations.engine.popularity.PopularityRecommender",
    "rp3beta": "recommendations.engine.rp3beta.RP3betaRecommender",
    "similar_blend": "recommendations.engine.similar.SimilarBlendRecommender",
    "social_blend": "recommendations.engine.social.SocialBlendRecommender",
    "social_mf": "recommendations.engine.socialmf.SocialMFRecommender",
    "social_rerank": "recommendations.engine.social_rerank.SocialRerankRecommender",
    "social_trust": "recommendations.engine.social.SocialTrustRecommender",
    "svd": "recommendations.engine.svd.SVDRecommender",
    "trending": "recommendations.engine.popularity.TrendingRecommender",
    "user_knn": "recommendations.engine.userknn.UserKNNRecommender",
}
#: The recommender classes defined so far (built in or not), by registry name.
_REGISTRY: dict[str, type[Recommender]] = {}

FileLike = str | os.PathLike[str] | IO[bytes]


class NotFittedError(RuntimeError):
    """Raised when a recommender is used before ``fit``."""


def check_interactions(interactions: Any, *, name: str = "interactions") -> sp.csr_matrix:
    """Validate a users x items matrix and return it as a float32 CSR matrix.

    Raises ``ValueError`` for non-2-D input, negative or NaN/inf weights.
    """
    if not sp.issparse(interactions):
        array = np.asarray(interactions)
        if array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got {array.ndim} dimension(s).")
        interactions = sp.csr_matrix(array)
    matrix = sp.csr_matrix(interactions, dtype=np.float32)
    if matrix.shape[0] < 0 or matrix.shape[1] < 0:
        raise ValueError(f"{name} has a negative size {matrix.shape}.")
    if not np.all(np.isfinite(matrix.data)):
        raise ValueError(f"{name} contains NaN or infinite weights.")
    if matrix.data.size and matrix.data.min() < 0:
        raise ValueError(f"{name} contains negative weights; encode dislikes before fitting.")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _check_features(features: Any, n_rows: int, *, name: str) -> sp.csr_matrix | None:
    if features is None:
        return None
    matrix = sp.csr_matrix(features, dtype=np.float32)
    if matrix.shape[0] != n_rows:
        raise ValueError(f"{name} has {matrix.shape[0]} rows, expected {n_rows}.")
    if not np.all(np.isfinite(matrix.data)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return matrix


def check_social(
    social: Any, n_users: int, *, n_rows: int | None = None, name: str = "social"
) -> sp.csr_matrix:
    """Validate a users x users relation matrix and return it as float32 CSR.

    Row ``u`` holds the users that ``u`` follows (trusts, befriended), weighted; on a
    square matrix the diagonal (following oneself) is dropped. ``n_rows`` (default
    ``n_users``) is the expected number of rows. Raises ``ValueError`` for a wrong shape
    and for negative, NaN or infinite weights.
    """
    matrix = check_interactions(social, name=name)
    expected = (n_users if n_rows is None else n_rows, n_users)
    if matrix.shape != expected:
        raise ValueError(f"{name} has shape {matrix.shape}, expected {expected}.")
    if n_rows is None and matrix.nnz:
        rows = np.repeat(np.arange(n_users), np.diff(matrix.indptr))
        matrix.data[rows == matrix.indices] = 0.0
        matrix.eliminate_zeros()
    return matrix


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    return int(n)


def _index_array(values: Any, size: int, *, name: str) -> np.ndarray:
    array = np.asarray([] if values is None else values, dtype=np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = array[(array < 0) | (array >= size)][0]
        raise ValueError(f"{name} contains unknown index {bad} (valid: 0 to {size - 1}).")
    return array


# The items the ranking call under way leaves out (blocked, or outside ``allowed``), as
# a boolean mask, for models that pick candidates before ranking (the blend): excluded
# items then never take a candidate's place. Per call and per thread, never stored.
_EXCLUDED: ContextVar[np.ndarray | None] = ContextVar("recommendations_excluded", default=None)


def excluded_items() -> np.ndarray | None:
    """Boolean mask of the items the current ranking call excludes, or None for none."""
    return _EXCLUDED.get()


def csr_row(matrix: sp.csr_matrix, row: int) -> sp.csr_matrix:
    """Row ``row`` of a CSR matrix as a 1 x n CSR view, without scipy's fancy indexing."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return sp.csr_matrix(
        (matrix.data[start:end], matrix.indices[start:end], np.array([0, end - start])),
        shape=(1, matrix.shape[1]),
    )


def csr_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows of a CSR matrix; a single row (the serving case) as a cheap view."""
    if len(rows) == 1:
        return csr_row(matrix, int(rows[0]))
    return matrix[rows]


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``n`` highest finite scores of a 1-D array, best first.

    Ties are broken by the lower index so results are deterministic.
    """
    if scores.size > n:
        part = np.argpartition(-scores, n - 1)[:n]
        if np.isfinite(scores[part]).all():
            # The usual case, n finite scores at the top (so no +inf anywhere): no pass
            # to find the finite ones. argpartition splits ties arbitrarily: take every
            # score equal to the n-th too.
            chosen = np.flatnonzero(scores >= scores[part].min())
            return _best_first(chosen, scores[chosen], n)
    finite = np.flatnonzero(np.isfinite(scores))
    candidate_scores = scores[finite]
    if finite.size > n:
        part = np.argpartition(-candidate_scores, n - 1)[:n]
        threshold = candidate_scores[part].min()
        part = np.flatnonzero(candidate_scores >= threshold)
        finite, candidate_scores = finite[part], candidate_scores[part]
    return _best_first(finite, candidate_scores, n)


def _best_first(indices: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((indices, -scores))[:n]
    return indices[order].astype(np.int64), scores[order].astype(np.float32)


class Recommender:
    """Base class of every engine recommender.

    Hyper-parameters are keyword arguments of ``__init__`` stored as given;
    learned state ends in ``_``. ``fit`` returns ``self``; fitting again replaces
    what was learned.
    """

    #: Registry name used by :func:`load`; set with ``class X(Recommender, name="x")``.
    name: ClassVar[str] = ""
    #: Whether ``_fit`` takes the users x users ``social`` matrix; others never see it.
    uses_social: ClassVar[bool] = False

    def __init_subclass__(cls, *, name: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            built_in = BUILT_IN.get(name, f"{cls.__module__}.{cls.__qualname__}")
            taken = name in _REGISTRY and _REGISTRY[name].__qualname__ != cls.__qualname__
            if taken or built_in.rpartition(".")[2] != cls.__qualname__:
                raise TypeError(f"Recommender name {name!r} is already taken.")
            cls.name = name
            _REGISTRY[name] = cls

    # -- parameters -----------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def variants(self) -> list[dict[str, Any]]:
        """Hyper-parameter sets for a caller that holds pairs out itself to try, each
        fitted as given, instead of ``fit`` choosing among them on pairs it holds out
        (by default, the parameters given: nothing is chosen)."""
        return [self.get_params()]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fitting --------------------------------------------------------------

    def fit(
        self,
        interactions: Any,
        *,
        user_features: Any = None,
        item_features: Any = None,
        timestamps: Any = None,
        social: Any = None,
    ) -> Self:
        """Learn from a users x items matrix of non-negative weights.

        Parameters
        ----------
        interactions : scipy.sparse matrix of shape (n_users, n_items)
            Weight of each (user, item) pair; zero means no interaction.
        user_features : sparse or dense matrix of shape (n_users, n_user_features), optional
            Attributes of users (country, age band, ...), used by hybrid models.
        item_features : sparse or dense matrix of shape (n_items, n_item_features), optional
            Attributes of items (category, price band, text), used by content and hybrid
            models; items without interactions can still be ranked by those that use it.
        timestamps : sparse matrix of shape (n_users, n_items), optional
            Unix time of the latest event of each pair, same sparsity as
            ``interactions``; used by time-aware models such as trending.
        social : sparse matrix of shape (n_users, n_users), optional
            Who follows (trusts) whom: row ``u`` weighs the users ``u`` follows. Used by
            the social models (:mod:`recommendations.engine.social`), ignored by others.

        Returns
        -------
        self
        """
        matrix = check_interactions(interactions)
        n_users, n_items = matrix.shape
        if n_users == 0 or n_items == 0:
            raise ValueError(f"interactions is empty (shape {matrix.shape}).")
        user_features = _check_features(user_features, n_users, name="user_features")
        item_features = _check_features(item_features, n_items, name="item_features")
        if timestamps is not None:
            timestamps = sp.csr_matrix(timestamps, dtype=np.float64)
            if timestamps.shape != matrix.shape:
                raise ValueError(
                    f"timestamps has shape {timestamps.shape}, expected {matrix.shape}."
                )
        extra = {}
        if self.uses_social:
            extra["social"] = None if social is None else check_social(social, n_users)
        self.interactions_ = matrix
        self.n_users_, self.n_items_ = n_users, n_items
        self._fit(
            matrix,
            user_features=user_features,
            item_features=item_features,
            timestamps=timestamps,
            **extra,
        )
        return self

    def _fit(
        self,
        interactions: sp.csr_matrix,
        *,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
        timestamps: sp.csr_matrix | None,
    ) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "interactions_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit() first.")

    # -- scoring (implemented by subclasses) ----------------------------------

    def _score_rows(self, rows: sp.csr_matrix, user_features: sp.csr_matrix | None) -> np.ndarray:
        """Scores of every item for ad-hoc interaction rows: (n_rows, n_items) float32."""
        raise NotImplementedError

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        """Scores of every item for known users: (len(user_ids), n_items) float32."""
        return self._score_rows(csr_rows(self.interactions_, user_ids), None)

    def _score_social_rows(
        self, rows: sp.csr_matrix, user_features: sp.csr_matrix | None, social: sp.csr_matrix
    ) -> np.ndarray:
        """:meth:`_score_rows` for rows whose users follow ``social`` (a social model's
        fold-in); models without a social part ignore it."""
        return self._score_rows(rows, user_features)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        """Similarity of every item to ``item_id``: (n_items,) float32."""
        raise NotImplementedError(f"{type(self).__name__} has no item similarities.")

    def _contributions(self, row: sp.csr_matrix, item_id: int) -> np.ndarray:
        """How much each of ``row.indices`` contributed to the score of ``item_id``."""
        return self._contributions_batch(row, np.array([item_id]))[0]

    # -- public ranking API ---------------------------------------------------

    def _rank(
        self,
        scores: np.ndarray,
        seen: np.ndarray,
        n: int,
        blocked: np.ndarray,
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.asarray(scores, dtype=np.float32).copy()
        if allowed is not None:
            mask = np.ones(scores.shape[0], dtype=bool)
            mask[allowed] = False
            scores[mask] = -np.inf
        scores[seen] = -np.inf
        scores[blocked] = -np.inf
        return top_n(scores, n)

    def _filters(self, blocked: Any, allowed: Any) -> tuple[np.ndarray, np.ndarray | None]:
        blocked_ids = _index_array(blocked, self.n_items_, name="blocked")
        allowed_ids = (
            None if allowed is None else _index_array(allowed, self.n_items_, name="allowed")
        )
        return blocked_ids, allowed_ids

    @contextmanager
    def _excluding(self, blocked: np.ndarray, allowed: np.ndarray | None) -> Iterator[None]:
        """Set :func:`excluded_items` while one call scores."""
        mask = None
        if blocked.size or allowed is not None:
            mask = np.zeros(self.n_items_, dtype=bool)
            if allowed is not None:
                mask[:] = True
                mask[allowed] = False
            mask[blocked] = True
        token = _EXCLUDED.set(mask)
        try:
            yield
        finally:
            _EXCLUDED.reset(token)

    def recommend(
        self,
        user_id: int,
        n: int = 20,
        *,
        exclude_seen: bool = True,
        blocked: Any = None,
        allowed: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for a user seen in training.

        Parameters
        ----------
        user_id : int
            Row index of the user in the training matrix.
        n : int
            How many items at most; fewer come back when fewer are eligible.
        exclude_seen : bool
            Leave out items the user interacted with in training.
        blocked : array-like of int, optional
            Item indices never to return (out of stock, in the cart, ...).
        allowed : array-like of int, optional
            If given, only these item indices may be returned.

        Returns
        -------
        items : ndarray of int64, scores : ndarray of float32
            Best first, at most ``n`` each.
        """
        items, scores = self.recommend_batch(
            [user_id], n, exclude_seen=exclude_seen, blocked=blocked, allowed=allowed
        )
        keep = items[0] >= 0
        return items[0][keep], scores[0][keep]

    def recommend_batch(
        self,
        user_ids: Any,
        n: int = 20,
        *,
        exclude_seen: bool = True,
        blocked: Any = None,
        allowed: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for many known users at once.

        Returns two arrays of shape (len(user_ids), min(n, n_items)); rows with fewer
        eligible items are padded with index -1 and score -inf.
        """
        self._check_fitted()
        n = _check_n(n)
        users = _index_array(user_ids, self.n_users_, name="user_ids")
        blocked_ids, allowed_ids = self._filters(blocked, allowed)
        width = min(n, self.n_items_)
        out_items = np.full((users.size, width), -1, dtype=np.int64)
        out_scores = np.full((users.size, width), -np.inf, dtype=np.float32)
        if users.size == 0:
            return out_items, out_scores
        with self._excluding(blocked_ids, allowed_ids):
            all_scores = self._score_users(users)
        for row, user in enumerate(users):
            seen = (
                self.interactions_.indices[
                    self.interactions_.indptr[user] : self.interactions_.indptr[user + 1]
                ]
                if exclude_seen
                else np.empty(0, dtype=np.int64)
            )
            items, scores = self._rank(all_scores[row], seen, width, blocked_ids, allowed_ids)
            out_items[row, : items.size] = items
            out_scores[row, : items.size] = scores
        return out_items, out_scores

    def _as_row(self, interactions: Any) -> sp.csr_matrix:
        if sp.issparse(interactions):
            row = sp.csr_matrix(interactions, dtype=np.float32)
        else:
            row = sp.csr_matrix(np.asarray(interactions, dtype=np.float32).reshape(1, -1))
        if row.shape != (1, self.n_items_):
            raise ValueError(
                f"interactions must have shape (1, {self.n_items_}), got {row.shape}."
            )
        return check_interactions(row)

    def recommend_interactions(
        self,
        interactions: Any,
        n: int = 20,
        *,
        user_features: Any = None,
        social_row: Any = None,
        exclude_seen: bool = True,
        blocked: Any = None,
        allowed: Any = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items for an ad-hoc interaction vector, without refitting.

        For an anonymous session or a user who arrived after training: a vector of
        length n_items (dense or a 1 x n_items sparse row) of weights, and optionally
        that user's feature row for hybrid models and ``social_row``, a vector of
        length n_users weighing the training users they follow now, for social models.
        """
        self._check_fitted()
        n = _check_n(n)
        row = self._as_row(interactions)
        features = None
        if user_features is not None:
            features = sp.csr_matrix(user_features, dtype=np.float32).reshape(1, -1)
        social = None
        if social_row is not None:
            if not sp.issparse(social_row):
                social_row = np.atleast_2d(np.asarray(social_row, dtype=np.float32))
            social = check_social(social_row, self.n_users_, n_rows=1, name="social_row")
        blocked_ids, allowed_ids = self._filters(blocked, allowed)
        with self._excluding(blocked_ids, allowed_ids):
            if social is None:
                scores = self._score_rows(row, features)[0]
            else:
                scores = self._score_social_rows(row, features, social)[0]
        seen = row.indices if exclude_seen else np.empty(0, dtype=np.int64)
        return self._rank(scores, seen, min(n, self.n_items_), blocked_ids, allowed_ids)

    def similar_items(
        self, item_id: int, n: int = 10, *, blocked: Any = None, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to ``item_id`` (never the item itself)."""
        self._check_fitted()
        n = _check_n(n)
        (item,) = _index_array([item_id], self.n_items_, name="item_id")
        blocked_ids, allowed_ids = self._filters(blocked, allowed)
        similarities = np.asarray(self._item_similarities(int(item)), dtype=np.float32)
        similarities = np.where(similarities > 0, similarities, -np.inf)
        return self._rank(
            similarities, np.array([item]), min(n, self.n_items_), blocked_ids, allowed_ids
        )

    def explain(
        self,
        item_id: int,
        *,
        user_id: int | None = None,
        interactions: Any = None,
        n: int = 3,
    ) -> list[tuple[int, float]]:
        """The user's own items that contributed most to recommending ``item_id``.

        Give either a training ``user_id`` or an ad-hoc ``interactions`` vector.
        Returns up to ``n`` pairs (item index, share of the positive contributions),
        largest first; an empty list when nothing in the history explains the item.
        """
        self._check_fitted()
        _index_array([item_id], self.n_items_, name="item_id")  # names the argument
        (explanation,) = self.explain_batch(
            [item_id], user_id=user_id, interactions=interactions, n=n
        )
        return explanation

    # -- persistence ----------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in vars(self).items()
            if key.endswith("_") and not key.startswith("_")
        }

    def _arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flatten the learned state into named arrays (no pickled objects)."""
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for key, value in self._state().items():
            name = prefix + key
            if sp.issparse(value):
                csr = sp.csr_matrix(value)
                meta[key] = {"kind": "csr", "shape": list(csr.shape)}
                arrays[f"{name}.data"] = csr.data
                arrays[f"{name}.indices"] = csr.indices
                arrays[f"{name}.indptr"] = csr.indptr
            elif isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise TypeError(f"{key} is an object array and cannot be saved safely.")
                meta[key] = {"kind": "array"}
                arrays[name] = value
            elif isinstance(value, Recommender):
                meta[key] = {"kind": "recommender"}
                arrays.update(value._arrays(prefix=f"{name}/"))
            elif isinstance(value, list | tuple) and all(isinstance(v, np.ndarray) for v in value):
                meta[key] = {"kind": "array_list", "length": len(value)}
                for i, v in enumerate(value):
                    arrays[f"{name}.{i}"] = v
            elif isinstance(value, list | tuple) and all(
                isinstance(v, Recommender) for v in value
            ):
                meta[key] = {"kind": "recommender_list", "length": len(value)}
                for i, v in enumerate(value):
                    arrays.update(v._arrays(prefix=f"{name}.{i}/"))
            elif value is None or isinstance(value, bool | int | float | str):
                meta[key] = {"kind": "scalar", "value": value}
            elif isinstance(value, np.generic):
                meta[key] = {"kind": "scalar", "value": value.item()}
            else:
                raise TypeError(f"{key} of type {type(value).__name__} cannot be saved safely.")
        header = {
            "format": FORMAT_VERSION,
            "name": self.name,
            "params": self.get_params(),
            "state": meta,
        }
        arrays[f"{prefix}__header__"] = np.array(json.dumps(header))
        return arrays

    @classmethod
    def _from_arrays(cls, arrays: Any, prefix: str = "") -> Recommender:
        header = json.loads(str(arrays[f"{prefix}__header__"]))
        if header.get("format") != FORMAT_VERSION:
            raise ValueError(f"Unsupported artifact format {header.get('format')!r}.")
        try:
            klass = recommender_class(header.get("name", ""))
        except LookupError:
            raise ValueError(f"Unknown recommender {header.get('name')!r} in artifact.") from None
        recommender = klass(**header["params"])
        for key, meta in header["state"].items():
            name = prefix + key
            kind = meta["kind"]
            if kind == "csr":
                value: Any = sp.csr_matrix(
                    (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                    shape=tuple(meta["shape"]),
                )
            elif kind == "array":
                value = arrays[name]
            elif kind == "recommender":
                value = Recommender._from_arrays(arrays, prefix=f"{name}/")
            elif kind == "array_list":
                value = [arrays[f"{name}.{i}"] for i in range(meta["length"])]
            elif kind == "recommender_list":
                value = [
                    Recommender._from_arrays(arrays, prefix=f"{name}.{i}/")
                    for i in range(meta["length"])
                ]
            elif kind == "scalar":
                value = meta["value"]
            else:
                raise ValueError(f"Unknown state kind {kind!r} in artifact.")
            setattr(recommender, key, value)
        recommender._after_load()
        return recommender

    def _after_load(self) -> None:
        """Rebuild derived, unsaved caches after loading (optional)."""

    def save(self, file: FileLike) -> None:
        """Write the fitted recommender as an ``.npz`` archive (no pickle).

        A path is written atomically: to a temporary file, then renamed.
        """
        self._check_fitted()
        arrays = self._arrays()
        if isinstance(file, str | os.PathLike):
            path = Path(file)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    np.savez(handle, **arrays)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        else:
            np.savez(file, **arrays)

    def to_bytes(self) -> bytes:
        """The saved archive as bytes (for storage backends)."""
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    # -- explaining many items at once ------------------------------------------

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        """Contributions of ``row.indices`` to each item: (len(item_ids), row.nnz).

        By default each history item's weight times its similarity to the item; models
        override it, each with one vectorised product for the whole list.
        """
        similarities = [np.asarray(self._item_similarities(int(i))) for i in item_ids]
        if not similarities:
            return np.zeros((0, row.nnz))
        return row.data[None, :] * np.stack(similarities)[:, row.indices]

    def explain_batch(
        self,
        item_ids: Any,
        *,
        user_id: int | None = None,
        interactions: Any = None,
        n: int = 1,
    ) -> list[list[tuple[int, float]]]:
        """:meth:`explain` for several items, one list per item, in the order given.

        The history is validated once and the contributions of all items are computed
        together, so explaining a whole recommendation list costs about one ``explain``.
        """
        self._check_fitted()
        n = _check_n(n)
        items = _index_array(item_ids, self.n_items_, name="item_ids")
        if (user_id is None) == (interactions is None):
            raise ValueError("Give exactly one of user_id or interactions.")
        if user_id is not None:
            (user,) = _index_array([user_id], self.n_users_, name="user_id")
            row = csr_row(self.interactions_, int(user))
        else:
            row = self._as_row(interactions)
        if row.nnz == 0 or items.size == 0:
            return [[] for _ in range(items.size)]
        contributions = np.asarray(self._contributions_batch(row, items), dtype=np.float64)
        # An item never explains itself.
        contributions[row.indices[None, :] == items[:, None]] = 0.0
        positive = np.clip(contributions, 0.0, None)
        result = []
        for shares in positive:
            total = shares.sum()
            if total <= 0:
                result.append([])
                continue
            order = np.lexsort((row.indices, -shares))[:n]
            result.append(
                [(int(row.indices[i]), float(shares[i] / total)) for i in order if shares[i] > 0]
            )
        return result


def load(file: FileLike | bytes) -> Recommender:
    """Load a recommender written by :meth:`Recommender.save`, never unpickling."""
    if isinstance(file, bytes):
        file = io.BytesIO(file)
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"Not a readable recommender artifact: {exc}") from exc
    if "__header__" not in arrays:
        raise ValueError("Not a recommender artifact: no header.")
    try:
        return Recommender._from_arrays(arrays)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Corrupt recommender artifact: {exc}") from exc


def import_object(path: str) -> Any:
    """The object a dotted path ``package.module.name`` names, importing its module."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def registered_names() -> list[str]:
    """The registry name of every recommender, built in or defined so far, sorted."""
    return sorted({*BUILT_IN, *_REGISTRY})


def recommender_class(name: str) -> type[Recommender]:
    """The recommender class registered as ``name``, importing only its own module.

    Raises ``LookupError`` for a name nothing is registered as.
    """
    if name not in _REGISTRY and name in BUILT_IN:
        import_object(BUILT_IN[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LookupError(f"No recommender is registered as {name!r}.") from None


def registered() -> dict[str, type[Recommender]]:
    """Every recommender class by its registry name (imports every built-in algorithm)."""
    return {name: recommender_class(name) for name in registered_names()}
