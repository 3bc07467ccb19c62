"""The light update's in-place CSR edits agree with dense arithmetic, and the model stays consistent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _recommender_helpers import synthetic_corpus
from paperdigest.recommender import HybridRecommender
from paperdigest.recommender.collab import neighbour_graph, unit_rows
from paperdigest.recommender.sparse_edit import grow, replace_rows, set_entries


def _random_csr(rng: np.random.Generator, shape: tuple[int, int], density: float) -> sp.csr_matrix:
    dense = np.where(rng.random(shape) < density, rng.integers(1, 5, shape), 0).astype(np.float32)
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("seed", range(6))
def test_set_entries_matches_dense_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = _random_csr(rng, (30, 20), 0.2)
    expected = m.toarray()
    cells = rng.choice(30 * 20, size=12, replace=False)
    rows, cols = np.divmod(cells, 20)
    values = rng.choice([0.0, 1.0, -1.0, 2.5], size=12).astype(np.float32)
    expected[rows, cols] = values
    out = set_entries(m, rows, cols, values)
    assert np.array_equal(out.toarray(), expected)
    assert out.has_sorted_indices and not (out.data == 0).any()  # zeros are removed, not stored


def test_replace_rows_in_place_and_with_new_lengths() -> None:
    rng = np.random.default_rng(1)
    m = _random_csr(rng, (10, 8), 0.4)
    same = sp.csr_matrix(np.where(m.toarray()[[2, 7]] != 0, 9.0, 0.0).astype(np.float32))
    dense = m.toarray()
    dense[[2, 7]] = same.toarray()
    out = replace_rows(m, np.array([2, 7]), same)
    assert out is m and np.array_equal(out.toarray(), dense)  # same lengths: edited in place
    other = _random_csr(rng, (3, 8), 0.7)
    dense[[9, 0, 4]] = other.toarray()
    out = replace_rows(m, np.array([9, 0, 4]), other)
    assert np.array_equal(out.toarray(), dense)
    with pytest.raises(ValueError, match="shape"):
        replace_rows(m, np.array([1]), other)


def test_grow_adds_empty_rows_and_columns() -> None:
    m = _random_csr(np.random.default_rng(2), (4, 3), 0.5)
    out = grow(m, (6, 5))
    assert out.shape == (6, 5) and np.array_equal(out.toarray()[:4, :3], m.toarray())
    assert out[4:].nnz == 0 and grow(out, (6, 5)) is out
    with pytest.raises(ValueError, match="shrink"):
        grow(out, (5, 5))


def test_update_leaves_the_model_as_a_recomputation_would() -> None:
    papers, inter = synthetic_corpus(seed=3)
    model = HybridRecommender(content="tfidf", random_state=0).fit(papers, inter)
    reader, other = inter["reader"].iloc[0], inter["reader"].iloc[-1]
    liked = set(inter.loc[inter.reader == reader, "paper"])
    fresh = [p for p in papers["id"] if p not in liked][:2]
    change = pd.DataFrame({
        "reader": [reader, reader, reader, other, "newcomer"],
        "paper": [fresh[0], fresh[1], sorted(liked)[0], fresh[0], fresh[1]],
        "kind": ["like", "dislike", "dislike", "like", "like"],
    })
    before = model.prefs_.toarray()
    model.update(interactions=change)
    assert model.prefs_.shape[0] == before.shape[0] + 1
    expected = np.zeros(model.prefs_.shape, dtype=np.float32)
    expected[: before.shape[0]] = before
    for r, p, kind in change.itertuples(index=False):
        expected[model.reader_index_[r], model.paper_index_[p]] = 1.0 if kind == "like" else -1.0
    assert np.allclose(model.prefs_.toarray(), expected)
    assert np.allclose(model.unit_.toarray(), unit_rows(model.prefs_).toarray(), atol=1e-6)
    touched = np.array(sorted(model.reader_index_[r] for r in set(change["reader"])))
    fresh_graph = neighbour_graph(model.unit_, model.n_neighbours, touched)
    assert np.allclose(model.graph_[touched].toarray(), fresh_graph.toarray(), atol=1e-6)
