"""The saved-model format: one ``.npz`` of numeric arrays plus JSON metadata, no code.

A model file is a NumPy ``.npz`` (a zip of ``.npy`` arrays) written with ``allow_pickle=False``
and read the same way, so loading it can never run code, whoever wrote the model folder. Dense
arrays are stored as they are; a CSR matrix ``m`` as ``m.data``, ``m.indices``, ``m.indptr``,
``m.shape``. Everything else (format version, hyper-parameters, reader and paper ids, titles,
keywords, the TF-IDF vocabulary, the chosen blend parameters, and the caller's ``extra``
metadata such as the store's watermark) is one UTF-8 JSON document kept in the same file as the
``uint8`` array ``meta``, so the model and what describes it change in one atomic write.
Objects of other libraries are rebuilt from their arrays on load (scikit-learn's TF-IDF from
vocabulary + idf, implicit's ALS from its factors).

:data:`SAVED_ATTRIBUTES` lists every attribute of a fitted model this format stores; saving a
model with any other attribute fails, so new state cannot be added without extending the format
and bumping :data:`FORMAT_VERSION` (a test pins both).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import scipy.sparse as sp
from paperdigest.core.files import atomic_writer
from paperdigest.recommender.calibration import Calibrator
from paperdigest.recommender.collab import als_from_factors
from paperdigest.recommender.content import (
    FactorMap,
    NeighbourFactorMap,
    RandomFourierMap,
    RidgeView,
    lead_view,
)
from paperdigest.recommender.errors import ModelFormatError
from paperdigest.recommender.text import TfidfEncoder, make_encoder
from paperdigest.recommender.tuning import BlendParams

if TYPE_CHECKING:
    from paperdigest.recommender.hybrid import HybridRecommender

__all__ = ["FORMAT_VERSION", "SAVED_ATTRIBUTES", "load_model", "read_extra", "save_model"]

# 1: a pickle of the model's __dict__ (refused now: loading a pickle can run code).
# 2: arrays + JSON in one .npz.
# 3: + the like-probability calibrator (calibrator_).
FORMAT_VERSION = 4
_FORMAT = "paperdigest-recommender"
_OLD_MAGIC = b"PAPERDIGEST-RECOMMENDER\n"
_ZIP_MAGIC = b"PK\x03\x04"
_HYPER = ("content", "n_neighbours", "als_factors", "tune", "warm_fraction", "tfidf_features", "random_state")

SAVED_ATTRIBUTES: tuple[str, ...] = (
    *_HYPER, "cache_dir",  # cache_dir is not stored: it is the loader's choice
    "keywords_", "papers_", "paper_index_", "readers_", "reader_index_", "prefs_", "tfidf_",
    "encoder_", "rff_", "features_", "base_view_", "params_", "views_", "unit_", "graph_", "als_",
    "n_als_papers_", "fit_liked_", "factor_map_", "knn_map_", "pop_map_", "calibrator_",
)


def _put_csr(arrays: dict[str, np.ndarray], name: str, m: Any) -> None:
    m = sp.csr_matrix(m)
    arrays[f"{name}.data"], arrays[f"{name}.indices"] = m.data, m.indices
    arrays[f"{name}.indptr"], arrays[f"{name}.shape"] = m.indptr, np.array(m.shape, dtype=np.int64)


def _get_csr(arrays: Mapping[str, np.ndarray], name: str) -> sp.csr_matrix:
    shape = tuple(int(n) for n in arrays[f"{name}.shape"])
    return sp.csr_matrix((arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                         shape=shape)


def _state(model: HybridRecommender) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON metadata and the named arrays that describe ``model`` completely."""
    unknown = sorted(set(vars(model)) - set(SAVED_ATTRIBUTES))
    if unknown:
        raise TypeError(f"HybridRecommender attribute(s) {', '.join(unknown)} have no place in model "
                        f"format {FORMAT_VERSION}: extend recommender/persist.py and bump FORMAT_VERSION")
    arrays: dict[str, np.ndarray] = {}
    for name in ("prefs", "unit", "graph"):
        _put_csr(arrays, name, getattr(model, f"{name}_"))
    for name, x in model.features_.items():
        if sp.issparse(x):
            _put_csr(arrays, f"features.{name}", x)
        else:
            arrays[f"features.{name}"] = np.asarray(x)
    arrays["papers.upvotes"] = model.papers_["upvotes"].to_numpy()
    arrays["fit_liked"] = np.asarray(model.fit_liked_, dtype=np.uint8)
    arrays["rff.weights"], arrays["rff.offset"] = model.rff_.weights_, model.rff_.offset_
    vectorizer = model.tfidf_.vectorizer_
    vocabulary = None
    if vectorizer is not None:
        arrays["tfidf.idf"] = np.asarray(vectorizer.idf_)
        vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
    views = {}
    for name, view in model.views_.items():
        views[name] = {"alpha": view.alpha, "size_power": view.size_power, "n_ref": view.n_ref,
                       "lam": view.lam_}
        if view.precision_ is not None:
            arrays[f"view.{name}.precision"] = view.precision_
        else:
            arrays[f"view.{name}.eigval"], arrays[f"view.{name}.eigvec"] = view.eigval_, view.eigvec_
    if model.als_ is not None:
        arrays["als.user_factors"] = np.asarray(model.als_.user_factors)
        arrays["als.item_factors"] = np.asarray(model.als_.item_factors)
    maps: dict[str, Any] = {}
    for name, fmap in (("factor_map", model.factor_map_), ("pop_map", model.pop_map_)):
        if fmap is not None:
            maps[name] = fmap.alpha
            arrays[f"{name}.map"] = fmap.map_
    if model.knn_map_ is not None:
        maps["knn_map"] = model.knn_map_.k
        arrays["knn_map.unit"], arrays["knn_map.factors"] = model.knn_map_.unit_, model.knn_map_.factors_
    meta = {
        "format": _FORMAT,
        "version": FORMAT_VERSION,
        "hyper": {name: getattr(model, name) for name in _HYPER},
        "encoder": model.encoder_.name,
        "readers": list(model.readers_),
        "keywords": model.keywords_,
        "papers": {col: model.papers_[col].tolist() for col in ("id", "title", "abstract")},
        "tfidf": {
            "max_features": model.tfidf_.max_features,
            "vocabulary": vocabulary,
        },
        "rff": {"n_components": model.rff_.n_components, "gamma": model.rff_.gamma,
                "random_state": model.rff_.random_state},
        "params": dataclasses.asdict(model.params_),
        "views": views,
        "maps": maps,
        "n_als_papers": int(model.n_als_papers_),
    }
    meta["calibrator"], cal_arrays = model.calibrator_.to_state()
    arrays.update({f"calibrator.{name}": a for name, a in cal_arrays.items()})
    return meta, arrays


def save_model(model: HybridRecommender, path: str | Path, *, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` (and JSON-able ``extra``) to ``path`` in one atomic write."""
    meta, arrays = _state(model)
    meta["extra"] = dict(extra or {})
    # numpy scalars (e.g. a warm share computed with numpy) become plain numbers, exactly.
    text = json.dumps(meta, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    arrays["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_writer(path) as handle:
        np.savez(handle, allow_pickle=False, **arrays)


def _open(path: str | Path) -> tuple[dict[str, Any], Any, BinaryIO]:
    """Check the header and version; return ``(meta, npz, file)``, the caller closes ``file``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_OLD_MAGIC) + 4)
    except OSError as exc:
        raise ModelFormatError(f"cannot read model file {path}: {exc.strerror}") from exc
    if head.startswith(_OLD_MAGIC):
        old = int.from_bytes(head[len(_OLD_MAGIC):], "big")
        raise ModelFormatError(f"{path} has model format version {old}; this paperdigest reads version "
                               f"{FORMAT_VERSION} (refit and save the model again)")
    if not head.startswith(_ZIP_MAGIC):
        raise ModelFormatError(f"{path} is not a paperdigest recommender model")
    handle = open(path, "rb")  # noqa: SIM115 (closed below, or by the caller through npz)
    try:
        npz = np.load(handle, allow_pickle=False)
        meta = json.loads(npz["meta"].tobytes().decode("utf-8")) if "meta" in npz.files else None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        handle.close()
        raise ModelFormatError(f"{path} is truncated or corrupt ({type(exc).__name__})") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        handle.close()
        raise ModelFormatError(f"{path} is not a paperdigest recommender model")
    if meta.get("version") != FORMAT_VERSION:
        handle.close()
        raise ModelFormatError(f"{path} has model format version {meta.get('version')}; this paperdigest "
                               f"reads version {FORMAT_VERSION} (refit and save the model again)")
    return meta, npz, handle


def read_extra(path: str | Path) -> dict[str, Any]:
    """The ``extra`` metadata saved with the model at ``path`` (reads no model arrays)."""
    meta, _, handle = _open(path)
    handle.close()
    return dict(meta.get("extra") or {})


def load_model(cls: type[HybridRecommender], path: str | Path,
               cache_dir: str | Path | None = None) -> HybridRecommender:
    """Rebuild a model saved by :func:`save_model`; raises ``ModelFormatError`` for a bad file."""
    meta, npz, handle = _open(path)
    try:
        with handle, npz:
            arrays = {name: npz[name] for name in npz.files}
        return _rebuild(cls, meta, arrays, cache_dir)
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFormatError(f"{path} is truncated or corrupt ({type(exc).__name__})") from exc


def _rebuild(cls: type[HybridRecommender], meta: dict[str, Any], arrays: dict[str, np.ndarray],
             cache_dir: str | Path | None) -> HybridRecommender:
    model = cls(**meta["hyper"], cache_dir=cache_dir)
    model.keywords_ = {str(r): list(k) for r, k in meta["keywords"].items()}
    papers = pd.DataFrame(meta["papers"])
    papers["upvotes"] = arrays["papers.upvotes"]
    model.papers_ = papers
    model.paper_index_ = {p: i for i, p in enumerate(papers["id"])}
    model.readers_ = list(meta["readers"])
    model.reader_index_ = {r: i for i, r in enumerate(model.readers_)}
    model.prefs_, model.unit_, model.graph_ = (_get_csr(arrays, n) for n in ("prefs", "unit", "graph"))
    tfidf = TfidfEncoder(meta["tfidf"]["max_features"])
    tfidf.vectorizer_ = None
    if meta["tfidf"]["vocabulary"] is not None:
        tfidf.vectorizer_ = tfidf.make_vectorizer(n_texts=len(papers))
        tfidf.vectorizer_.vocabulary_ = dict(meta["tfidf"]["vocabulary"])
        tfidf.vectorizer_.idf_ = arrays["tfidf.idf"]
    model.tfidf_ = tfidf
    model.encoder_ = make_encoder(meta["encoder"], cache_dir)
    model.rff_ = RandomFourierMap(**meta["rff"])
    model.rff_.weights_, model.rff_.offset_ = arrays["rff.weights"], arrays["rff.offset"]
    names = [n[len("features."):] for n in arrays if n.startswith("features.") and n.count(".") == 1]
    sparse_names = {n.split(".")[1] for n in arrays if n.startswith("features.") and n.endswith(".indptr")}
    model.features_ = {}
    for name in ("tfidf", "embedding", "embedding_rbf"):  # the order featurize() builds them in
        if name in sparse_names:
            model.features_[name] = _get_csr(arrays, f"features.{name}")
        elif name in names:
            model.features_[name] = arrays[f"features.{name}"]
    model.base_view_ = lead_view(model.features_)
    model.params_ = BlendParams(**meta["params"])
    model.views_ = {}
    for name, v in meta["views"].items():
        view = RidgeView(name, v["alpha"], v["size_power"], v["n_ref"])
        view.lam_ = v["lam"]
        if f"view.{name}.precision" in arrays:
            view.precision_ = arrays[f"view.{name}.precision"]
        else:
            view.precision_ = None
            view.eigval_, view.eigvec_ = arrays[f"view.{name}.eigval"], arrays[f"view.{name}.eigvec"]
        model.views_[name] = view
    model.als_ = None
    if "als.user_factors" in arrays:
        model.als_ = als_from_factors(arrays["als.user_factors"], arrays["als.item_factors"],
                                      model.random_state)
    model.n_als_papers_ = int(meta["n_als_papers"])
    model.fit_liked_ = arrays["fit_liked"].astype(bool)
    maps = meta["maps"]
    model.factor_map_ = model.pop_map_ = model.knn_map_ = None
    if "factor_map" in maps:
        model.factor_map_ = FactorMap(maps["factor_map"])
        model.factor_map_.map_ = arrays["factor_map.map"]
    if "pop_map" in maps:
        model.pop_map_ = FactorMap(maps["pop_map"])
        model.pop_map_.map_ = arrays["pop_map.map"]
    if "knn_map" in maps:
        model.knn_map_ = NeighbourFactorMap(maps["knn_map"])
        model.knn_map_.unit_, model.knn_map_.factors_ = arrays["knn_map.unit"], arrays["knn_map.factors"]
    cal_arrays = {n[len("calibrator."):]: a for n, a in arrays.items() if n.startswith("calibrator.")}
    model.calibrator_ = Calibrator.from_state(meta["calibrator"], cal_arrays)
    return model
