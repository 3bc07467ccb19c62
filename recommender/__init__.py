"""paperdigest recommender: rank new papers for readers (pure library: no database, no network).

Public API
----------
``HybridRecommender(content="auto", n_neighbours=50, als_factors=64, tune=True,
warm_fraction=0.2, tfidf_features=4000, cache_dir=None, random_state=0)``

- ``fit(papers, interactions, readers=None) -> self``
  papers: DataFrame ``id, title[, abstract, authors, upvotes]``; interactions: DataFrame
  ``reader, paper[, kind in {like, dislike, click}, weight, time]``; readers: DataFrame
  ``reader, keywords`` (list of str or comma-separated str).
- ``rank(readers, candidates, k=10, exclude=None, threshold=None, diversity=0.0)
  -> dict[str, list[Recommendation]]``; candidates may be papers never seen in ``fit``.
  Readers without likes are ranked by their keywords, else by batch popularity.
- ``update(interactions=None, papers=None, readers=None) -> self``: light update, no refit.
- ``save(path, extra=None)`` (one ``.npz`` of arrays + JSON, atomic, no pickle) and
  ``HybridRecommender.load(path, cache_dir=None)`` (raises ``ModelFormatError`` for a truncated
  or foreign file or another format version); see :mod:`recommender.persist`.
- ``cache_dir``: on-disk embedding cache folder, None for memory only (the library reads no
  environment; the application passes its ``cache_dir`` setting).

``Recommendation(paper_id: str, score: float, reason: str, probability: float,
highlight: str | None)``: ``probability``
is the calibrated chance of a like (:mod:`recommender.calibration`); ``rank(threshold=p)`` keeps
papers with probability >= p (p in [0, 1]); ``probability(readers, candidates) -> ndarray``.
``highlight`` is the abstract sentence closest to what the reader likes (embedding backend only).
Errors: ``RecommenderError`` (a ``ValueError``) and its subclasses ``InputError``,
``NotFittedError``, ``ModelFormatError``.
Evaluation: :mod:`recommender.evaluation` (``run_evaluation`` and metric functions).
"""

from paperdigest.recommender.data import Recommendation
from paperdigest.recommender.errors import InputError, ModelFormatError, NotFittedError, RecommenderError
from paperdigest.recommender.hybrid import HybridRecommender

__all__ = [
    "HybridRecommender",
    "InputError",
    "ModelFormatError",
    "NotFittedError",
    "Recommendation",
    "RecommenderError",
]
