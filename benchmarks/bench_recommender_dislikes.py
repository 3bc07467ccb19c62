"""What dislikes cost a rank call: ``RidgeView.scores`` with and without a correction per reader.

Usage: ``python benchmarks/bench_recommender_dislikes.py [--readers 10000] [--dislikes 10]``.
A TF-IDF-like view (4,000 sparse features, 8 terms per paper, 20,000 papers, 5,000 observed), 500
candidates; every reader has 10 likes and ``--dislikes`` dislikes. Prints the median of 3 calls each
way and the peak RSS. A dislike is an observed zero of the reader's ridge (``dislike_correction``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import scipy.sparse as sp
from paperdigest.recommender.content import RidgeView


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--dislikes", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_papers, f = 20_000, 4_000
    x = sp.random(n_papers, f, density=8 / f, random_state=1, format="csr", dtype=np.float32)
    view = RidgeView("tfidf", 1.0).fit(x[:5000])
    cands = sp.random(500, f, density=8 / f, random_state=2, format="csr", dtype=np.float32)
    per = 10 + args.dislikes
    rows = np.repeat(np.arange(args.readers), per)
    cols = np.concatenate([rng.choice(n_papers, per, replace=False) for _ in range(args.readers)])
    vals = np.tile(np.r_[np.ones(10), -np.ones(args.dislikes)].astype(np.float32), args.readers)
    both = sp.csr_matrix((vals, (rows, cols)), shape=(args.readers, n_papers))
    for name, prefs in (("likes only", both.maximum(0).tocsr()), (f"+{args.dislikes} dislikes each", both)):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            view.scores(prefs, x, cands)
            times.append(time.perf_counter() - began)
        print(f"{args.readers} readers, {name}: median {statistics.median(times):.2f} s "
              f"{[round(t, 2) for t in times]}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
