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


def _textbook_with_zero_rows(x: np.ndarray, lam: float, y: np.ndarray, disliked: list[int],
                             cands: np.ndarray, lam_u: float | None = None) -> np.ndarray:
    """One reader's ridge with its dislikes as extra observations of target 0, solved directly."""
    xd = x[disliked]
    a = x.T @ x + (lam if lam_u is None else lam_u) * np.eye(x.shape[1]) + xd.T @ xd
    return cands @ np.linalg.solve(a, x.T @ y)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("size_power", [0.0, 0.5])
def test_a_dislike_is_an_observed_zero_of_that_readers_ridge(sparse: bool, size_power: float) -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=(3, 12))
    # Papers from three topics; reader 0 likes topic-0 papers and dislikes two more of topic 0 (the
    # likes score those high, so the observed zero pulls them and their topic down); reader 1 has
    # no dislike and must be scored exactly as before; reader 2 dislikes a paper of a topic it
    # never liked, already scored below zero: the correction is clipped, nothing changes.
    x = np.vstack([base[i % 3] + 0.3 * rng.normal(size=12) for i in range(30)]).astype(np.float64)
    prefs = np.zeros((3, 30), dtype=np.float32)
    prefs[0, [0, 3, 6, 9]] = 1
    prefs[0, [12, 15]] = -1
    prefs[1, [1, 4, 7]] = 1
    prefs[2, [2, 5, 8]] = 1
    cands = np.vstack([base[i % 3] + 0.3 * rng.normal(size=12) for i in range(9)])
    known = sp.csr_matrix(x) if sparse else x
    view = RidgeView("v", 1.0, size_power=size_power, n_ref=4.0).fit(known)
    got = view.scores(sp.csr_matrix(prefs), known, sp.csr_matrix(cands) if sparse else cands)
    lams = [view.lam_ * (4.0 / n) ** size_power for n in (4, 3, 3)]  # likes only
    plain = [cands @ np.linalg.solve(x.T @ x + lams[r] * np.eye(12), x.T @ np.maximum(prefs[r], 0))
             for r in range(3)]
    expected0 = _textbook_with_zero_rows(x, view.lam_, prefs[0].clip(0), [12, 15], cands, lams[0])
    assert np.allclose(got[0], expected0, atol=1e-4)
    assert (got[0] < plain[0] - 1e-3)[[0, 3, 6]].all()  # topic 0 went down
    assert np.allclose(got[1], plain[1], atol=1e-4)
    prefs[2, 13] = -1  # topic 1, which reader 2's likes (topic 2) score below zero
    clipped = view.scores(sp.csr_matrix(prefs), known, sp.csr_matrix(cands) if sparse else cands)[2]
    lam2 = view.lam_ * (4.0 / 3) ** size_power
    score_13 = x[13] @ np.linalg.solve(x.T @ x + lam2 * np.eye(12), x.T @ prefs[2].clip(0))
    assert score_13 < 0
    assert np.allclose(clipped, cands @ np.linalg.solve(x.T @ x + lam2 * np.eye(12), x.T @ prefs[2].clip(0)),
                       atol=1e-4)


def test_a_smaller_dislike_is_a_lighter_zero_observation() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 8))
    prefs = np.zeros((1, 20), dtype=np.float32)
    prefs[0, [0, 1, 2]] = 1
    prefs[0, [3, 4]] = [-0.5, -2.0]
    cands = rng.normal(size=(6, 8))
    view = RidgeView("v", 0.5).fit(x)
    got = view.scores(sp.csr_matrix(prefs), x, cands)[0]
    weighted = x[[3, 4]] * np.sqrt([[0.5], [2.0]])  # observation weight c: rows scaled by sqrt(c)
    w = np.linalg.solve(x.T @ x + view.lam_ * np.eye(8) + weighted.T @ weighted, x.T @ prefs[0].clip(0))
    plain = np.linalg.solve(x.T @ x + view.lam_ * np.eye(8), x.T @ prefs[0].clip(0))
    assert (x[[3, 4]] @ plain > 0).all()  # both disliked papers pulled down (no clipping) ...
    assert np.allclose(got, cands @ w, atol=1e-4)  # ... so it is exactly the weighted ridge


def test_dislike_corrections_in_blocks_equal_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from paperdigest.recommender import content

    rng = np.random.default_rng(6)
    x = sp.random(60, 40, density=0.2, random_state=7, format="csr", dtype=np.float32)
    prefs = np.zeros((25, 60), dtype=np.float32)
    for r in range(25):
        liked, disliked = rng.choice(60, 6, replace=False).reshape(2, 3)
        prefs[r, liked], prefs[r, disliked[: r % 4]] = 1, -1
    view = RidgeView("v", 1.0).fit(x)
    cands = sp.random(9, 40, density=0.3, random_state=8, format="csr", dtype=np.float32)
    whole = view.scores(sp.csr_matrix(prefs), x, cands)
    monkeypatch.setattr(content, "_DISLIKE_ROWS", 2)  # several readers per block, some alone
    assert np.allclose(view.scores(sp.csr_matrix(prefs), x, cands), whole, atol=1e-5)
    assert [len(b) for b in content._blocks(np.arange(4), np.array([1, 1, 3, 1]))] == [2, 1, 1]
