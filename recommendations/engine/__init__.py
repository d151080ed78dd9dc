"""The recommendation algorithms: numpy, scipy and scikit-learn, never Django."""

from recommendations.engine.base import NotFittedError, Recommender, load, registered
from recommendations.engine.popularity import PopularityRecommender

__all__ = [
    "NotFittedError",
    "PopularityRecommender",
    "Recommender",
    "load",
    "registered",
]
