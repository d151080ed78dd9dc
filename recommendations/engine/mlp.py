"""A hybrid neural recommender: a small MLP over collaborative and content features.

Each (user, item) pair is described by

* the user: mean collaborative and content embedding of their items, history size and
  their own features (country, age band);
* the item: collaborative factors, reduced content (text, category, price), popularity
  and a "no purchases yet" flag;
* their element-wise products, which an MLP would otherwise struggle to learn.

Items nobody has bought get collaborative factors predicted from their content, so
they are ranked by what they are. Training uses sampled negatives; some pairs are
shown with the item's purchase history hidden ("cold dropout") so the network learns to
rank cold items too. Popularity helps warm ranking but is zero for every cold item, so
it is handled with care: each purchase is described leave-one-out (the user's own
purchase counts neither in their profile nor in the item's popularity), negatives are
drawn among bought items only (else "never bought" would simply mean "negative"), and
hidden pairs carry the cold flag with both labels.

Serving never touches scikit-learn: the weights are plain arrays and the forward pass
is a few numpy products, vectorised over the whole catalog.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from recommendations.engine.base import Recommender, csr_rows
from recommendations.engine.content import describe_features, usable_item_features
from recommendations.engine.interactions import WEIGHTINGS, apply_weighting
from recommendations.engine.itemknn import check_non_negative, check_positive_int

# Users are scored in chunks so one chunk's hidden activations hold at most this many cells.
BLOCK_CELLS = 8_000_000


def svd_embedding(matrix: sp.csr_matrix, n_components: int, random_state: int) -> np.ndarray:
    """Rows of ``matrix`` projected on its top singular directions, float32.

    Falls back to an exact SVD when the matrix is too small for a truncated one.
    """
    limit = min(matrix.shape) - 1
    if limit >= n_components:
        svd = TruncatedSVD(n_components=n_components, random_state=random_state)
        # A matrix without variance (constant columns) makes scikit-learn divide 0 by 0
        # for explained_variance_ratio_, which is not used here.
        with np.errstate(invalid="ignore", divide="ignore"):
            return svd.fit_transform(matrix).astype(np.float32)
    dense = matrix.toarray().astype(np.float64)
    u, s, _ = np.linalg.svd(dense, full_matrices=False)
    keep = min(n_components, s.size)
    return (u[:, :keep] * s[:keep]).astype(np.float32)


def _relu(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0, out=values)


class MLPRecommender(Recommender, name="mlp"):
    """Score (user, item) pairs with a multi-layer perceptron over hybrid features.

    Parameters
    ----------
    factors : int
        Collaborative dimensions (truncated SVD of the interaction matrix).
    content_factors : int
        Dimensions the item features are reduced to (truncated SVD).
    hidden_layer_sizes : sequence of int
        Width of each hidden layer (ReLU). The default (32, 16) ranked better than
        (64, 32) and (48, 24) on validation folds of Online Retail, warm and cold, at
        under half the cost per user (``benchmarks/README.md``).
    negatives : int
        Sampled non-purchased items per purchase in the training pairs.
    max_pairs : int
        Upper bound on training pairs (purchases are sub-sampled beyond it), which
        bounds fit time.
    cold_dropout : float
        Share of training pairs shown as if the item had no purchases.
    max_iter : int
        Training epochs.
    alpha : float
        L2 penalty of the network.
    weighting : {"raw", "binary", "log"}
        Transform of the interaction weights before anything else.
    random_state : int
        Seed of the SVDs, the sampling and the network initialisation.

    Any item features will do (text only, a category only, ...). Without usable ones
    (None, no columns, all zeros) the model is a purely collaborative MLP: no content
    part, and items nobody bought are scored as the average bought item, flagged cold.

    Attributes
    ----------
    features_used_ : str
        What the model learned from, e.g. "item features (12 columns), no user features".
    """

    def __init__(
        self,
        *,
        factors: int = 24,
        content_factors: int = 12,
        hidden_layer_sizes: tuple[int, ...] | list[int] = (32, 16),
        negatives: int = 3,
        max_pairs: int = 120_000,
        cold_dropout: float = 0.2,
        max_iter: int = 8,
        alpha: float = 1e-4,
        weighting: str = "log",
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.content_factors = content_factors
        self.hidden_layer_sizes = hidden_layer_sizes
        self.negatives = negatives
        self.max_pairs = max_pairs
        self.cold_dropout = cold_dropout
        self.max_iter = max_iter
        self.alpha = alpha
        self.weighting = weighting
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------

    def _check_params(self) -> tuple[int, ...]:
        for name in ("factors", "content_factors", "negatives", "max_pairs", "max_iter"):
            check_positive_int(getattr(self, name), name)
        if isinstance(self.hidden_layer_sizes, str | int) or not self.hidden_layer_sizes:
            raise ValueError(
                f"hidden_layer_sizes must be a non-empty sequence of positive integers, "
                f"got {self.hidden_layer_sizes!r}."
            )
        layers = tuple(
            check_positive_int(size, "hidden_layer_sizes") for size in self.hidden_layer_sizes
        )
        dropout = check_non_negative(self.cold_dropout, "cold_dropout")
        if dropout >= 1:
            raise ValueError(f"cold_dropout must be below 1, got {dropout!r}.")
        check_non_negative(self.alpha, "alpha")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"weighting must be one of {', '.join(WEIGHTINGS)}; got {self.weighting!r}."
            )
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}.")
        return layers

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        layers = self._check_params()
        features = usable_item_features(item_features)
        seed = self.random_state
        weighted = apply_weighting(interactions, self.weighting)
        buyers = np.diff(weighted.tocsc().indptr)
        warm = buyers > 0
        if np.count_nonzero(warm) < 2:
            raise ValueError("mlp needs purchases of at least two different items to learn from.")

        collaborative = svd_embedding(weighted.T.tocsr(), self.factors, seed)
        if features is None:
            # Purely collaborative: no content, and an item nobody bought looks like
            # the average bought item (the cold flag tells the network it is new).
            predicted = np.tile(collaborative[warm].mean(axis=0), (collaborative.shape[0], 1))
            content = np.zeros((collaborative.shape[0], 0), dtype=np.float32)
        else:
            # Items without purchases get the collaborative factors their content predicts.
            ridge = Ridge(alpha=1.0).fit(features[warm], collaborative[warm])
            predicted = ridge.predict(features)
            content = svd_embedding(normalize(features), self.content_factors, seed)
        predicted = predicted.astype(np.float32)
        collaborative[~warm] = predicted[~warm]
        self.features_used_ = ", ".join(
            [describe_features(features, "item"), describe_features(user_features, "user")]
        )
        popularity = (np.log1p(buyers) / np.log1p(buyers.max())).astype(np.float32)

        self.item_factors_ = collaborative
        self.item_content_ = content
        self.item_popularity_ = popularity
        self.item_cold_ = (~warm).astype(np.float32)
        self.user_features_ = user_features
        self.n_user_features_ = 0 if user_features is None else int(user_features.shape[1])

        inputs, labels = self._training_pairs(weighted, user_features, predicted, warm)
        if labels.min() == labels.max():
            raise ValueError(
                "mlp found no item a user has not bought to learn from: it needs a catalog "
                "larger than every user's history."
            )
        mean = inputs.mean(axis=0)
        scale = inputs.std(axis=0)
        scale[scale < 1e-6] = 1.0
        network = MLPClassifier(
            hidden_layer_sizes=layers,
            activation="relu",
            alpha=float(self.alpha),
            batch_size=min(256, labels.size),
            learning_rate_init=1e-3,
            max_iter=int(self.max_iter),
            shuffle=True,
            random_state=seed,
        )
        # Mini-batch products are tiny: BLAS threads only add synchronisation cost.
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # A bounded number of epochs is the point: fit time stays predictable.
            warnings.simplefilter("ignore", ConvergenceWarning)
            network.fit((inputs - mean) / scale, labels)
        coefs = [np.asarray(c, dtype=np.float32) for c in network.coefs_]
        intercepts = [np.asarray(b, dtype=np.float32) for b in network.intercepts_]
        # Fold the standardisation into the first layer so serving uses raw features.
        intercepts[0] = intercepts[0] - ((mean / scale) @ coefs[0]).astype(np.float32)
        coefs[0] = (coefs[0] / scale[:, None]).astype(np.float32)
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        self._after_load()

    def _training_pairs(
        self,
        weighted: sp.csr_matrix,
        user_features: sp.csr_matrix | None,
        predicted: np.ndarray,
        warm: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows and labels of sampled purchases and non-purchases."""
        rng = np.random.default_rng(self.random_state)
        n_items = weighted.shape[1]
        coo = weighted.tocoo()
        per_positive = 1 + int(self.negatives)
        n_positive = min(coo.nnz, max(1, int(self.max_pairs) // per_positive))
        chosen = np.sort(rng.choice(coo.nnz, size=n_positive, replace=False))
        pos_users, pos_items = coo.row[chosen].astype(np.int64), coo.col[chosen].astype(np.int64)
        pos_weights = coo.data[chosen].astype(np.float64)

        # Negatives: items with purchases the user does not have. Items nobody bought
        # are left out, or the network would learn that "no purchases" means "no".
        warm_items = np.flatnonzero(warm)
        neg_users = np.repeat(pos_users, self.negatives)
        neg_items = warm_items[rng.integers(0, warm_items.size, size=neg_users.size)]
        keys = np.sort(coo.row.astype(np.int64) * n_items + coo.col)
        candidate = neg_users * n_items + neg_items
        found = np.searchsorted(keys, candidate)
        owned = keys[np.minimum(found, keys.size - 1)] == candidate
        neg_users, neg_items = neg_users[~owned], neg_items[~owned]

        users = np.concatenate([pos_users, neg_users])
        items = np.concatenate([pos_items, neg_items])
        labels = np.concatenate([np.ones(pos_users.size), np.zeros(neg_users.size)])
        # Leave-one-out: a purchase is described without itself, as it will be at serving.
        left_out = np.concatenate([pos_weights, np.zeros(neg_users.size)])
        own = (left_out > 0).astype(np.float64)

        totals = np.asarray(weighted.sum(axis=1), dtype=np.float64).ravel()
        counts = np.diff(weighted.indptr).astype(np.float64)
        sums_cf = weighted @ self.item_factors_
        sums_content = weighted @ self.item_content_
        remaining = totals[users] - left_out
        divisor = np.where(remaining > 1e-9, remaining, np.inf)[:, None]
        user_cf = (sums_cf[users] - left_out[:, None] * self.item_factors_[items]) / divisor
        user_content = (
            sums_content[users] - left_out[:, None] * self.item_content_[items]
        ) / divisor
        history = np.log1p(counts[users] - own)[:, None]

        item_buyers = np.diff(weighted.tocsc().indptr).astype(np.float64)
        others = item_buyers[items] - own
        popularity = np.log1p(others) / np.log1p(item_buyers.max())
        # Hide the purchase history of some pairs, and of items only this user bought.
        hidden = (rng.random(items.size) < float(self.cold_dropout)) | (others <= 0)
        item_cf = self.item_factors_[items].astype(np.float64)
        item_cf[hidden] = predicted[items[hidden]]
        popularity[hidden] = 0.0
        cold = hidden.astype(np.float64)

        parts = [user_cf, user_content, history]
        if user_features is not None:
            parts.append(user_features[users].toarray())
        content = self.item_content_[items]
        parts += [item_cf, content, popularity[:, None], cold[:, None]]
        parts += [user_cf * item_cf, user_content * content]
        return np.hstack(parts).astype(np.float32), labels

    def _after_load(self) -> None:
        # The first layer of a pair is u @ W_user + v @ W_item + (e_u * e_v) @ W_product,
        # with v = [e_v, popularity, cold]. Per user it is one product over the catalog:
        # [e_v, popularity, cold, 1] @ [diag(e_u) W_product + W_embedding; W_flags;
        # u @ W_user + b], so the item half needs no (n_items x width) sum of its own.
        n_user = self.factors_dim + self.content_dim + 1 + self.n_user_features_
        n_embedding = self.factors_dim + self.content_dim
        first = self.coefs_[0]
        self._user_weights = first[:n_user]
        self._embedding_weights = first[n_user : n_user + n_embedding]
        self._flag_weights = first[n_user + n_embedding : n_user + n_embedding + 2]
        self._product_weights = first[n_user + n_embedding + 2 :]
        self._item_embedding = np.hstack([self.item_factors_, self.item_content_])
        self._item_directions = normalize(self._item_embedding)
        self._item_inputs = np.hstack(
            [
                self._item_embedding,
                self.item_popularity_[:, None],
                self.item_cold_[:, None],
                np.ones((self.n_items_, 1), dtype=np.float32),
            ]
        ).astype(np.float32)

    @property
    def factors_dim(self) -> int:
        """Collaborative dimensions actually learned (fewer than asked on tiny data)."""
        return int(self.item_factors_.shape[1])

    @property
    def content_dim(self) -> int:
        """Content dimensions actually learned."""
        return int(self.item_content_.shape[1])

    # -- scoring --------------------------------------------------------------

    def _user_inputs(
        self, rows: sp.csr_matrix, user_features: sp.csr_matrix | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-user first-layer inputs: (user part, embedding multiplied with each item)."""
        weighted = apply_weighting(rows, self.weighting)
        totals = np.asarray(weighted.sum(axis=1), dtype=np.float32).ravel()
        divisor = np.where(totals > 0, totals, np.inf)[:, None]
        user_cf = (weighted @ self.item_factors_) / divisor
        user_content = (weighted @ self.item_content_) / divisor
        history = np.log1p(np.diff(weighted.indptr).astype(np.float32))[:, None]
        parts = [user_cf, user_content, history]
        if self.n_user_features_:
            if user_features is None:
                # An unknown user: no country, no age band, like a blank profile.
                user_features = sp.csr_matrix((rows.shape[0], self.n_user_features_))
            if user_features.shape != (rows.shape[0], self.n_user_features_):
                raise ValueError(
                    f"user_features must have shape ({rows.shape[0]}, "
                    f"{self.n_user_features_}), got {user_features.shape}."
                )
            parts.append(user_features.toarray())
        user_part = np.hstack(parts).astype(np.float32)
        return user_part, np.hstack([user_cf, user_content]).astype(np.float32)

    def _forward(self, user_part: np.ndarray, embedding: np.ndarray) -> np.ndarray:
        n_users, n_embedding = embedding.shape
        width = self._user_weights.shape[1]
        # Each user's first-layer matrix (see _after_load): (n_users, n_embedding + 3, width).
        mixing = np.empty((n_users, n_embedding + 3, width), dtype=np.float32)
        mixing[:, :n_embedding] = embedding[:, :, None] * self._product_weights[None]
        mixing[:, :n_embedding] += self._embedding_weights[None]
        mixing[:, n_embedding : n_embedding + 2] = self._flag_weights[None]
        mixing[:, n_embedding + 2] = user_part @ self._user_weights + self.intercepts_[0]
        n_items = self._item_inputs.shape[0]
        scores = np.empty((n_users, n_items), dtype=np.float32)
        chunk = max(1, BLOCK_CELLS // max(n_items * width, 1))
        last = len(self.coefs_) - 1
        for start in range(0, n_users, chunk):
            stop = min(start + chunk, n_users)
            hidden = _relu(np.matmul(self._item_inputs[None], mixing[start:stop]))
            for layer in range(1, last + 1):
                hidden = hidden @ self.coefs_[layer]
                hidden += self.intercepts_[layer]
                if layer < last:
                    hidden = _relu(hidden)
            # The logit, not the probability: same order, no ties from saturation.
            scores[start:stop] = hidden[..., 0]
        return scores

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return self._forward(*self._user_inputs(rows, user_features))

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        features = None if self.user_features_ is None else csr_rows(self.user_features_, user_ids)
        return self._score_rows(csr_rows(self.interactions_, user_ids), features)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return (self._item_directions @ self._item_directions[item_id]).astype(np.float32)
