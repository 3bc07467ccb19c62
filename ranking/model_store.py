"""The bridge between the store and the recommender: frames in, a saved model artifact out.

``refit_model`` reads papers, readers and feedback in one transaction, fits a
``recommender.HybridRecommender``, and writes ``recommender.model`` plus ``recommender.json`` (the
watermark: the newest interaction folded in) atomically under ``settings.model_dir``.
``load_model`` reads the artifact back and folds in feedback newer than the watermark through the
recommender's light ``update`` path, so a like clicked a minute ago shapes the next digest without a
full refit. Nothing here runs inside a web request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from paperdigest.core import Settings
from paperdigest.core.errors import ConfigError
from paperdigest.store import Store
from paperdigest.store.digests import latest_interaction, papers_by_id, recommender_inputs
from paperdigest.store.feedback import interactions_frame
from paperdigest.store.models import Paper, Reader, utcnow
from paperdigest.store.readers import list_readers

__all__ = [
    "MODEL_FILE",
    "WATERMARK_FILE",
    "Ranker",
    "load_model",
    "model_info",
    "papers_frame",
    "readers_frame",
    "refit_model",
    "watermark_age",
]

MODEL_FILE = "recommender.model"
WATERMARK_FILE = "recommender.json"


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


def _paths(settings: Settings) -> tuple[Path, Path]:
    return settings.model_dir / MODEL_FILE, settings.model_dir / WATERMARK_FILE


def _new_model(settings: Settings) -> Any:
    from paperdigest.recommender import HybridRecommender

    return HybridRecommender(content=settings.content_backend, random_state=0)


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
    model_path, mark_path = _paths(settings)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = model_path.with_name(f".{MODEL_FILE}.{os.getpid()}.tmp")
    model.save(tmp)
    os.replace(tmp, model_path)
    mark = {
        "watermark_id": watermark_id,
        "watermark_time": watermark_time.isoformat() if watermark_time else None,
        "fitted_at": utcnow().isoformat(),
        "papers": len(papers), "readers": len(readers), "interactions": len(interactions),
        "content": settings.content_backend,
    }
    mark_tmp = mark_path.with_name(f".{WATERMARK_FILE}.{os.getpid()}.tmp")
    mark_tmp.write_text(json.dumps(mark, indent=2), encoding="utf-8")
    os.replace(mark_tmp, mark_path)
    return {**mark, "seconds": round(time.perf_counter() - started, 3), "path": str(model_path)}


def model_info(settings: Settings) -> dict[str, Any] | None:
    """The saved watermark, or None when no model was fitted yet."""
    _, mark_path = _paths(settings)
    try:
        return dict(json.loads(mark_path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model watermark {mark_path} is unreadable: {exc}") from None


def load_model(store: Store, settings: Settings) -> Ranker:
    """The saved model with newer feedback folded in; fits one first if none exists yet.

    Feedback newer than the watermark goes through ``update(interactions=...)`` (seconds, not a
    refit); new papers need no update because ``rank`` scores unseen candidates by content.
    """
    model_path, _ = _paths(settings)
    info = model_info(settings)
    if info is None or not model_path.exists():
        refit_model(store, settings)
        info = model_info(settings) or {}
    from paperdigest.recommender import HybridRecommender

    model = HybridRecommender.load(model_path)
    with store.read() as session:
        fresh = interactions_frame(session, after_id=int(info.get("watermark_id") or 0))
        readers = readers_frame([r for r in list_readers(session) if r.status != "unsubscribed"])
        # Feedback may name papers ingested after the fit; the update adds those first.
        papers = papers_frame(list(papers_by_id(session, list(fresh["paper"])).values()))
    if len(fresh):
        model.update(interactions=fresh, papers=papers, readers=readers)
    else:
        model.update(readers=readers)
    return model  # type: ignore[no-any-return]


def watermark_age(settings: Settings, now: dt.datetime) -> float | None:
    """Hours since the last refit (None without a model): the scheduler's refit trigger."""
    info = model_info(settings)
    if not info or not info.get("fitted_at"):
        return None
    fitted = dt.datetime.fromisoformat(info["fitted_at"])
    return (now - fitted).total_seconds() / 3600

