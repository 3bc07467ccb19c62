"""One contract every ranker honours: the hybrid and each baseline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from paperdigest.recommender import HybridRecommender, NotFittedError, Recommendation
from paperdigest.recommender.baselines import BASELINES
from paperdigest.recommender.text import embeddings_available

from tests._recommender_helpers import toy_candidates, toy_interactions, toy_papers

_EMB = {"embedding-similarity", "logreg-embedding", "ridge-embedding", "als-content-map"}


def _have_lightfm() -> bool:
    try:
        import lightfm  # noqa: F401
    except ImportError:
        return False
    return True


def _factories() -> list[Any]:
    out: list[Any] = [pytest.param(lambda: HybridRecommender(content="tfidf"), id="hybrid-tfidf")]
    for name, cls in BASELINES.items():
        marks = []
        if name in _EMB and not embeddings_available():
            marks.append(pytest.mark.skip(reason="sentence-transformers not installed"))
        if name == "lightfm-tfidf" and not _have_lightfm():
            marks.append(pytest.mark.skip(reason="lightfm not installed"))
        out.append(pytest.param(cls, id=name, marks=marks))
    return out


@pytest.fixture(params=_factories())
def factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    return request.param


class TestRankerContract:
    def test_unfitted_raises(self, factory: Callable[[], Any]) -> None:
        with pytest.raises(NotFittedError):
            factory().rank(["graph-fan-0"], toy_candidates(), k=2)

    def test_fit_returns_self_and_ranks_every_reader(self, factory: Callable[[], Any]) -> None:
        ranker = factory()
        assert ranker.fit(toy_papers(), toy_interactions()) is ranker
        readers = ["graph-fan-0", "vision-fan-1", "nobody"]
        ranked = ranker.rank(readers, toy_candidates(), k=3)
        assert set(ranked) == set(readers)
        for recs in ranked.values():
            assert len(recs) <= 3
            assert all(isinstance(r, Recommendation) and np.isfinite(r.score) for r in recs)
            assert len({r.paper_id for r in recs}) == len(recs)
            assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)

    def test_score_shape_and_exclusion(self, factory: Callable[[], Any]) -> None:
        ranker = factory().fit(toy_papers(), toy_interactions())
        cands = toy_candidates()
        assert ranker.score(["graph-fan-0", "x"], cands).shape == (2, len(cands))
        ranked = ranker.rank(["graph-fan-0"], cands, k=4, exclude={"graph-fan-0": {"new-g1"}})
        assert "new-g1" not in {r.paper_id for r in ranked["graph-fan-0"]}

    def test_empty_candidates(self, factory: Callable[[], Any]) -> None:
        ranker = factory().fit(toy_papers(), toy_interactions())
        empty = pd.DataFrame({"id": [], "title": []})
        assert ranker.rank(["graph-fan-0"], empty, k=5) == {"graph-fan-0": []}
