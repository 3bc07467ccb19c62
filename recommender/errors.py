"""Typed errors of the recommender; all are ``ValueError`` so the CLI maps them to one line."""

from __future__ import annotations

__all__ = [
    "InputError",
    "ModelFormatError",
    "NotFittedError",
    "RecommenderError",
]


class RecommenderError(ValueError):
    """Base class of every error the recommender raises on purpose."""


class InputError(RecommenderError):
    """A DataFrame, file or argument does not match what the recommender expects."""


class NotFittedError(RecommenderError):
    """The model was used before ``fit`` (or ``load``)."""


class ModelFormatError(RecommenderError):
    """A saved model file is truncated, foreign, or of another format version."""
