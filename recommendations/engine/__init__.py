"""The recommendation algorithms: numpy, scipy and scikit-learn, never Django.

The algorithm classes are imported when first used (``engine.BlendRecommender``,
:func:`recommender_class`, :func:`load`), not with the package: a process serving one
model imports only its algorithms, and scikit-learn only where one of them fits with it.
"""

from typing import Any

from recommendations.engine.base import (
    BUILT_IN,
    NotFittedError,
    Recommender,
    import_object,
    load,
    recommender_class,
    registered,
    registered_names,
)
from recommendations.engine.interactions import apply_weighting, build_interactions
from recommendations.engine.metrics import (
    coverage_at_k,
    evaluate,
    ndcg_at_k,
    recall_at_k,
)
from recommendations.engine.split import holdout_new_items, temporal_split

#: Names the package offers and imports from their own module on first access.
_LAZY = {
    **{path.rpartition(".")[2]: path for path in BUILT_IN.values()},
    "CatalogTooLargeError": "recommendations.engine.ease.CatalogTooLargeError",
}


def __getattr__(name: str) -> Any:
    """An algorithm class (or the error EASE raises), imported on first access."""
    if name in _LAZY:
        return import_object(_LAZY[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALSRecommender",
    "BlendRecommender",
    "CatalogTooLargeError",
    "ContentRecommender",
    "CooccurrenceRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "MLPRecommender",
    "NotFittedError",
    "PopularityRecommender",
    "RP3betaRecommender",
    "Recommender",
    "SVDRecommender",
    "SimilarBlendRecommender",
    "SocialBlendRecommender",
    "SocialMFRecommender",
    "SocialRerankRecommender",
    "SocialTrustRecommender",
    "TrendingRecommender",
    "UserKNNRecommender",
    "apply_weighting",
    "build_interactions",
    "coverage_at_k",
    "evaluate",
    "holdout_new_items",
    "load",
    "ndcg_at_k",
    "recall_at_k",
    "recommender_class",
    "registered",
    "registered_names",
    "temporal_split",
]
