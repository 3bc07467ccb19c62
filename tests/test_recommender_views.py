"""The views that place brand-new papers next to seen ones: factor maps and predicted popularity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from paperdigest.recommender.content import NeighbourFactorMap
from paperdigest.recommender.tuning import popularity_target


def test_neighbour_factor_map_takes_the_factors_of_the_closest_seen_papers() -> None:
    seen = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    factors = np.array([[1, 0], [3, 0], [0, 5], [7, 7]], dtype=np.float32)
    one = NeighbourFactorMap(k=1).fit(seen, factors)
    new = np.array([[2, 0, 0], [0, 0, 0.5]], dtype=np.float32)  # scale does not matter (cosine)
    assert np.allclose(one.transform(new), [[1, 0], [7, 7]])
    two = NeighbourFactorMap(k=2).fit(seen, factors)
    mixed = two.transform(new[:1])[0]
    # Weighted by cosine: the exact match (1.0) counts a little more than the near one (0.994).
    assert 1.9 < mixed[0] < 2.0 and mixed[1] == 0


def test_neighbour_factor_map_handles_sparse_input_empty_batches_and_large_k() -> None:
    seen = sp.csr_matrix(np.eye(3, dtype=np.float32))
    fmap = NeighbourFactorMap(k=50).fit(seen, np.arange(6, dtype=np.float32).reshape(3, 2))
    assert fmap.transform(sp.csr_matrix((0, 3), dtype=np.float32)).shape == (0, 2)
    # With k above the number of seen papers every seen paper counts; orthogonal ones weigh 0.
    assert np.allclose(fmap.transform(sp.csr_matrix([[0, 1, 0]], dtype=np.float32)), [[2, 3]])


def test_popularity_target_counts_likes_only() -> None:
    prefs = sp.csr_matrix(np.array([[1, -1, 0], [1, 1, 0], [0.3, 0, 0]], dtype=np.float32))
    assert np.allclose(popularity_target(prefs), np.log1p([3, 1, 0]))
