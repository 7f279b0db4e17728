"""Recommendations: the seed's ``VectorDB``, and user-KNN recommendations on Redis."""

from redvec.recommend.recommender import (
    Item,
    Recommendation,
    Recommendations,
    Recommender,
    UnknownItemError,
    UnknownUserError,
    aggregate,
)
from redvec.recommend.vectordb import VectorDB

__all__ = [
    "Item",
    "Recommendation",
    "Recommendations",
    "Recommender",
    "UnknownItemError",
    "UnknownUserError",
    "VectorDB",
    "aggregate",
]
