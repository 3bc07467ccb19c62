"""Input checking and indexing: DataFrames in, clean frames and sparse matrices out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.recommender.errors import InputError

__all__ = [
    "KIND_WEIGHTS",
    "Recommendation",
    "clean_interactions",
    "clean_papers",
    "clean_readers",
    "paper_texts",
    "preference_matrix",
]

# Value of one interaction of each kind in the preference matrix. A click is a weak like. A
# dislike is negative: the content ridge reads it as an observed zero of that reader, weighted by
# its size (content.dislike_correction; a target of -1 undid the likes in the simulation's loop,
# docs/simulation.md); ALS and the neighbour graph ignore it (positive feedback only).
KIND_WEIGHTS: dict[str, float] = {"like": 1.0, "click": 0.3, "dislike": -1.0}


class Recommendation(NamedTuple):
    """One ranked paper for one reader (an immutable named tuple: cheap for 1M results).

    Attributes
    ----------
    paper_id : str
        Id of the recommended paper.
    score : float
        Blended score, higher is better; comparable within one reader's list only.
    reason : str
        Short human explanation, e.g. "similar to ‘Graph attention networks’".
    probability : float
        Estimated probability that the reader likes the paper, calibrated on validation data
        (comparable across readers and batches); NaN from rankers without a calibrator.
    highlight : str or None
        The sentence of the abstract closest to what the reader likes (embedding backend and an
        abstract of two or more sentences only), else None.
    """

    paper_id: str
    score: float
    reason: str
    probability: float = float("nan")
    highlight: str | None = None


def _require(df: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{name} is missing column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}"
        )
    return df


def _text(col: pd.Series) -> pd.Series:
    return col.astype("string").fillna("").astype(str).str.strip()


def clean_papers(papers: pd.DataFrame, name: str = "papers") -> pd.DataFrame:
    """Return papers with string ``id``, ``title``, ``abstract`` and float ``upvotes``.

    Missing or NaN text becomes ""; a duplicated id keeps its last row.
    """
    df = _require(papers, name, ["id", "title"])
    out = pd.DataFrame({"id": _text(df["id"]), "title": _text(df["title"])})
    if (out["id"] == "").any():
        raise InputError(f"{name} has an empty paper id (row {int((out['id'] == '').argmax())})")
    out["abstract"] = _text(df["abstract"]) if "abstract" in df.columns else ""
    if "upvotes" in df.columns:
        out["upvotes"] = pd.to_numeric(df["upvotes"], errors="coerce").fillna(0.0).to_numpy()
    else:
        out["upvotes"] = 0.0
    return out.drop_duplicates("id", keep="last").reset_index(drop=True)


def paper_texts(papers: pd.DataFrame) -> list[str]:
    """Title and abstract joined, one string per paper (may be empty)."""
    return [f"{t}. {a}" if a else t for t, a in zip(papers["title"], papers["abstract"], strict=True)]


def clean_interactions(interactions: pd.DataFrame, name: str = "interactions") -> pd.DataFrame:
    """Return interactions with string ``reader``/``paper``, ``kind``, float ``value``.

    ``value`` is ``KIND_WEIGHTS[kind] * weight``; duplicates of one (reader, paper) keep the
    latest row (by ``time`` when given), so a like followed by a dislike ends as a dislike.
    """
    df = _require(interactions, name, ["reader", "paper"])
    out = pd.DataFrame({"reader": _text(df["reader"]), "paper": _text(df["paper"])})
    kind = _text(df["kind"]).str.lower() if "kind" in df.columns else pd.Series("like", index=df.index)
    kind = kind.where(kind != "", "like")  # a missing kind is a like (a save)
    bad = ~kind.isin(list(KIND_WEIGHTS))
    if bad.any():
        raise InputError(
            f"{name} has unknown kind {kind[bad].iloc[0]!r}; expected one of {', '.join(KIND_WEIGHTS)}"
        )
    weight = (
        pd.to_numeric(df["weight"], errors="coerce").fillna(1.0)
        if "weight" in df.columns
        else pd.Series(1.0, index=df.index)
    )
    out["kind"] = kind.to_numpy()
    out["value"] = kind.map(KIND_WEIGHTS).to_numpy(dtype=float) * weight.to_numpy(dtype=float)
    if "time" in df.columns:
        out["time"] = pd.to_datetime(df["time"], errors="coerce", utc=True).to_numpy()
        out = out.sort_values("time", kind="stable", na_position="first")
    out = out[(out["reader"] != "") & (out["paper"] != "")]
    out = out.drop_duplicates(["reader", "paper"], keep="last")
    return out[["reader", "paper", "kind", "value"]].reset_index(drop=True)


def clean_readers(readers: pd.DataFrame | None) -> dict[str, list[str]]:
    """Map reader id → interest keywords from a frame with ``reader`` and ``keywords`` columns."""
    if readers is None:
        return {}
    df = _require(readers, "readers", ["reader", "keywords"])
    out: dict[str, list[str]] = {}
    for reader, kws in zip(_text(df["reader"]), df["keywords"], strict=True):
        if isinstance(kws, str):
            kws = [k for k in kws.replace(";", ",").split(",")]
        if kws is None or (isinstance(kws, float) and np.isnan(kws)):
            kws = []
        out[reader] = [str(k).strip() for k in kws if str(k).strip()]
    return out


def preference_matrix(
    interactions: pd.DataFrame,
    reader_index: Mapping[str, int],
    paper_index: Mapping[str, int],
) -> sp.csr_matrix:
    """Build the ``(n_readers, n_papers)`` CSR matrix of interaction values.

    Rows whose reader or paper is not in the index are dropped.
    """
    r = interactions["reader"].map(reader_index)
    p = interactions["paper"].map(paper_index)
    keep = r.notna() & p.notna()
    return sp.csr_matrix(
        (
            interactions["value"][keep].to_numpy(np.float32),
            (r[keep].to_numpy(np.int64), p[keep].to_numpy(np.int64)),
        ),
        shape=(len(reader_index), len(paper_index)),
        dtype=np.float32,
    )
