"""Where the store meets the pure recommender: fit, save, load and fold in feedback.

Public face (the scheduler, the CLI and ``digest`` call exactly these):

- :func:`refit_model` ``(store, settings) -> dict``: fit on the whole store; model and
  watermark are saved as one unit.
- :func:`load_model` ``(store, settings) -> Ranker``: the saved model with newer feedback folded in.
- :func:`model_info` ``(settings) -> dict | None``: what the saved model says about itself.
- :class:`Ranker`: what building a digest needs from a recommender.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Ranker", "load_model", "model_info", "refit_model"]

if TYPE_CHECKING:
    from paperdigest.ranking.model_store import Ranker, load_model, model_info, refit_model


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not pull pandas in for commands that never rank.
    if name not in __all__:
        raise AttributeError(f"module 'paperdigest.ranking' has no attribute {name!r}")
    from paperdigest.ranking import model_store

    return getattr(model_store, name)
