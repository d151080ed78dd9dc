"""The recommendation algorithms: numpy, scipy and scikit-learn, never Django."""

from recommendations.engine.base import NotFittedError, Recommender, load, registered
from recommendations.engine.blend import BlendRecommender
from recommendations.engine.content import ContentRecommender
from recommendations.engine.cooccurrence import CooccurrenceRecommender
from recommendations.engine.ease import CatalogTooLargeError, EASERecommender
from recommendations.engine.interactions import apply_weighting, build_interactions
from recommendations.engine.itemknn import ItemKNNRecommender
from recommendations.engine.metrics import (
    coverage_at_k,
    evaluate,
    ndcg_at_k,
    recall_at_k,
)
from recommendations.engine.mlp import MLPRecommender
from recommendations.engine.popularity import PopularityRecommender, TrendingRecommender
from recommendations.engine.rp3beta import RP3betaRecommender
from recommendations.engine.similar import SimilarBlendRecommender
from recommendations.engine.social import SocialBlendRecommender, SocialTrustRecommender
from recommendations.engine.socialmf import SocialMFRecommender
from recommendations.engine.split import holdout_new_items, temporal_split
from recommendations.engine.svd import SVDRecommender
from recommendations.engine.userknn import UserKNNRecommender

__all__ = [
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
    "registered",
    "temporal_split",
]
