"""Ridge solves, and the views that place brand-new papers next to seen ones (maps, popularity)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from paperdigest.recommender.content import (
    FactorMap,
    NeighbourFactorMap,
    RidgeSolver,
    RidgeView,
    ridge_lambda,
)
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


@pytest.mark.parametrize(("n", "f"), [(30, 80), (120, 40)])
def test_ridge_solver_dual_and_primal_give_the_textbook_solution(n: int, f: int) -> None:
    x = sp.random(n, f, density=0.1, random_state=1, format="csr", dtype=np.float32)
    gram = (x.T @ x).toarray().astype(np.float64)
    lam = ridge_lambda(gram, 2.0, n)
    inverse = np.linalg.inv(gram + lam * np.eye(f))
    solver = RidgeSolver(x)
    assert solver.dual == (n < f)
    assert solver.lam(2.0) == pytest.approx(lam)
    assert np.allclose(solver.precision(2.0), inverse, atol=1e-5)
    profiles = sp.random(5, f, density=0.3, random_state=2, format="csr")
    cands = sp.random(7, f, density=0.2, random_state=3, format="csr")
    assert np.allclose(solver.scores(2.0, profiles, cands), profiles @ inverse @ cands.T.toarray(), atol=1e-5)
    target = np.random.default_rng(0).normal(size=(n, 3))
    assert np.allclose(FactorMap(2.0).fit(x, target).map_, inverse @ (x.T @ target), atol=1e-5)
    assert np.allclose(RidgeView("v", 2.0).fit(x).precision_, inverse, atol=1e-5)


def test_ridge_penalty_is_relative_to_the_non_zero_eigenvalues() -> None:
    # 10 orthonormal rows in 1,000 features: ten eigenvalues of 1, the rest 0. The penalty is
    # alpha times the mean non-zero eigenvalue (1), not the mean over all features (0.01).
    x = np.eye(1000)[:10]
    gram = x.T @ x
    assert ridge_lambda(gram, 3.0, n_rows=10) == pytest.approx(3.0)
    assert ridge_lambda(gram, 3.0) == pytest.approx(0.03)
    assert RidgeSolver(sp.csr_matrix(x)).lam(3.0) == pytest.approx(3.0)
