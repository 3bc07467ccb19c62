"""The bridge between the store and the recommender: frames in, a saved model artifact out.

``refit_model`` reads papers, readers and feedback in one transaction, fits a
``recommender.HybridRecommender``, and writes ``recommender.model`` under ``settings.model_dir``
in one atomic write, with the watermark (the newest interaction folded in) inside the file's
metadata, so model and watermark can never disagree.
``load_model`` reads the artifact back and folds in feedback newer than the watermark through the
recommender's light ``update`` path, so a like clicked a minute ago shapes the next digest without a
full refit. Nothing here runs inside a web request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from paperdigest.core import Settings
from paperdigest.store import Store
from paperdigest.store.digests import latest_interaction, papers_by_id, recommender_inputs
from paperdigest.store.feedback import interactions_frame
from paperdigest.store.models import Paper, Reader, utcnow
from paperdigest.store.readers import list_readers

__all__ = [
    "MODEL_FILE",
    "Ranker",
    "load_model",
    "model_info",
    "papers_frame",
    "readers_frame",
    "refit_model",
]

MODEL_FILE = "recommender.model"


class Ranker(Protocol):
    """What building a digest needs from a recommender (``HybridRecommender`` fits this)."""

    def rank(self, readers: Sequence[str], candidates: pd.DataFrame, k: int = 10,
             exclude: Mapping[str, set[str]] | None = None, threshold: float | None = None,
             diversity: float = 0.0) -> dict[str, list[Any]]: ...


def papers_frame(papers: Sequence[Paper]) -> pd.DataFrame:
    """Columns ``id, title, abstract, authors, upvotes``: the recommender's paper input."""
    return pd.DataFrame(
        [(p.id, p.title, p.abstract or "", list(p.authors or []), p.upvotes) for p in papers],
        columns=["id", "title", "abstract", "authors", "upvotes"],
    )


def readers_frame(readers: Sequence[Reader]) -> pd.DataFrame:
    """Columns ``reader`` (str id), ``keywords`` (list of str)."""
    return pd.DataFrame([(str(r.id), list(r.keywords or [])) for r in readers],
                        columns=["reader", "keywords"])


def _model_path(settings: Settings) -> Path:
    return settings.model_dir / MODEL_FILE


def _new_model(settings: Settings) -> Any:
    from paperdigest.recommender import HybridRecommender

    return HybridRecommender(content=settings.content_backend, cache_dir=settings.cache_dir, random_state=0)


def refit_model(store: Store, settings: Settings) -> dict[str, Any]:
    """Fit the recommender on everything in the store and save it atomically.

    Returns
    -------
    dict
        ``papers``, ``readers``, ``interactions`` (row counts), ``watermark_id``, ``seconds``,
        ``path``.
    """
    started = time.perf_counter()
    with store.read() as session:
        # One transaction: the frames and the watermark describe the same moment.
        watermark_id, watermark_time = latest_interaction(session)
        paper_rows, reader_rows = recommender_inputs(session)
        papers, readers = papers_frame(paper_rows), readers_frame(reader_rows)
        interactions = interactions_frame(session)
    interactions = interactions[interactions["time"].notna()] if len(interactions) else interactions
    model = _new_model(settings).fit(papers, interactions, readers=readers)
    model_path = _model_path(settings)
    mark = {
        "watermark_id": watermark_id,
        "watermark_time": watermark_time.isoformat() if watermark_time else None,
        "fitted_at": utcnow().isoformat(),
        "papers": len(papers), "readers": len(readers), "interactions": len(interactions),
        "content": settings.content_backend,
    }
    model.save(model_path, extra=mark)  # one atomic write: the model and its watermark
    return {**mark, "seconds": round(time.perf_counter() - started, 3), "path": str(model_path)}


def model_info(settings: Settings) -> dict[str, Any] | None:
    """The watermark saved inside the model file, or None when no model was fitted yet.

    Raises ``recommender.ModelFormatError`` (with its "refit" advice) for a file of an older
    format or a foreign or damaged file.
    """
    from paperdigest.recommender.persist import read_extra

    model_path = _model_path(settings)
    if not model_path.exists():
        return None
    return read_extra(model_path)


@dataclass
class _Folded:
    """A loaded model with the feedback since its watermark folded in, kept between calls."""

    stamp: tuple[int, int, int]  # the model file's (inode, mtime_ns, size): a refit changes it
    model: Any
    applied: dict[tuple[str, str], str]  # (reader, paper) -> kind folded in since the watermark


_FOLDED: dict[Path, _Folded] = {}
_FOLDED_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def load_model(store: Store, settings: Settings) -> Ranker:
    """The saved model with newer feedback folded in; fits one first if none exists yet.

    Feedback newer than the watermark goes through ``update(interactions=...)`` (seconds, not a
    refit); new papers need no update because ``rank`` scores unseen candidates by content.

    The folded model is kept in the process for the next call (the scheduler's next tick), which
    then folds in only what changed since: a reaction that is new or different, and, as a value of
    0, one withdrawn (an "unlike"). Reloading and refolding everything since the watermark each
    tick grew with the feedback (a simulated day with 24 ticks: 18 s on day 1, 80 s on day 4);
    a refit writes a new file, which is loaded afresh. The returned model is the kept one: callers
    in one process must not rank with it while another call folds feedback into it.
    """
    model_path = _model_path(settings)
    info = model_info(settings)
    if info is None:
        refit_model(store, settings)
        info = model_info(settings) or {}
    from paperdigest.recommender import HybridRecommender

    with _FOLDED_LOCK:
        with store.read() as session:
            fresh = interactions_frame(session, after_id=int(info.get("watermark_id") or 0))
            readers = readers_frame([r for r in list_readers(session) if r.status != "unsubscribed"])
            pairs = zip(fresh["reader"], fresh["paper"], strict=True)
            state = dict(zip(pairs, fresh["kind"], strict=True))
            stamp, kept = _stamp(model_path), _FOLDED.get(model_path)
            if kept is not None and kept.stamp == stamp:
                model = kept.model
                changed = [(r, p, k, 1.0) for (r, p), k in state.items() if kept.applied.get((r, p)) != k]
                changed += [(r, p, "like", 0.0) for (r, p) in kept.applied if (r, p) not in state]
                todo = pd.DataFrame(changed, columns=["reader", "paper", "kind", "weight"])
            else:
                model = HybridRecommender.load(model_path, cache_dir=settings.cache_dir)
                todo = fresh
            # Feedback may name papers ingested after the fit; the update adds those first.
            new_papers = [p for p in dict.fromkeys(todo["paper"]) if p not in model.paper_index_]
            papers = papers_frame(list(papers_by_id(session, new_papers).values()))
        _FOLDED.pop(model_path, None)  # a failed update below must not leave a half-folded model
        if len(todo):
            model.update(interactions=todo, papers=papers, readers=readers)
        else:
            model.update(readers=readers)
        _FOLDED[model_path] = _Folded(stamp, model, state)
    return model  # type: ignore[no-any-return]
