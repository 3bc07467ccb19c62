"""Synthetic batches of ``n`` papers in each ingest format, for the parser-linearity benchmark.

Every record has a unique title and arXiv id and a ~220-character abstract, so 50,000 records stay
under the 32 MiB batch limit in every format. JSON is indented, as exports usually are, so records
span many lines: line numbering is part of what is measured.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from xml.sax.saxutils import escape

__all__ = ["FORMAT_WRITERS", "records"]

_WORDS = ("graph", "sparse", "diffusion", "token", "retrieval", "agent", "vision", "language", "model",
          "policy", "kernel", "causal", "robust", "federated", "contrastive", "attention", "memory")


def records(n: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(30))
        out.append({"id": f"2507.{i:05d}", "title": f"Paper {i}: {rng.choice(_WORDS)} {rng.choice(_WORDS)}",
                    "abstract": f"We study {words}.", "author": f"Ada Lovelace {i % 97}",
                    "date": "2025-07-04"})
    return out


def _page(rows: list[dict[str, str]]) -> bytes:
    parts = ["new", "Get trending papers in your email inbox!", "Jul 4"]
    for row in rows:
        parts += [row["title"], row["abstract"]]
    return ("\n\n".join(parts) + "\n").encode()


def _json(rows: list[dict[str, str]]) -> bytes:
    return json.dumps([{"title": r["title"], "abstract": r["abstract"], "id": r["id"],
                        "authors": [r["author"]], "upvotes": 3, "date": r["date"]} for r in rows],
                      indent=2).encode()


def _hf(rows: list[dict[str, str]]) -> bytes:
    return json.dumps([{"paper": {"id": r["id"], "title": r["title"], "summary": r["abstract"],
                                  "authors": [{"name": r["author"]}], "upvotes": 3,
                                  "publishedAt": f"{r['date']}T00:00:00.000Z"},
                        "title": r["title"], "publishedAt": f"{r['date']}T00:00:00.000Z"} for r in rows],
                      indent=2).encode()


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["title", "abstract", "id", "authors", "date"])
    for r in rows:
        writer.writerow([r["title"], r["abstract"], r["id"], r["author"], r["date"]])
    return out.getvalue().encode()


def _atom(rows: list[dict[str, str]]) -> bytes:
    entries = "".join(
        f"<entry>\n<id>http://arxiv.org/abs/{r['id']}v1</id>\n<published>{r['date']}T00:00:00Z</published>\n"
        f"<title>{escape(r['title'])}</title>\n<summary>{escape(r['abstract'])}</summary>\n"
        f"<author><name>{escape(r['author'])}</name></author>\n"
        f'<link href="http://arxiv.org/abs/{r["id"]}v1" rel="alternate" type="text/html"/>\n</entry>\n'
        for r in rows)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f"<updated>2025-07-04T00:00:00Z</updated>\n{entries}</feed>\n").encode()


def _rss(rows: list[dict[str, str]]) -> bytes:
    items = "".join(
        f"<item>\n<title>{escape(r['title'])}</title>\n<link>https://arxiv.org/abs/{r['id']}</link>\n"
        f"<description>arXiv:{r['id']}v1 Announce Type: new Abstract: {escape(r['abstract'])}</description>\n"
        f"<guid isPermaLink=\"false\">oai:arXiv.org:{r['id']}v1</guid>\n"
        f"<dc:creator>{escape(r['author'])}</dc:creator>\n</item>\n"
        for r in rows)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n<title>cs.LG</title>\n'
            f"<pubDate>Fri, 04 Jul 2025 00:00:00 -0400</pubDate>\n{items}</channel>\n</rss>\n").encode()


FORMAT_WRITERS: dict[str, Callable[[list[dict[str, str]]], bytes]] = {
    "page": _page, "hf": _hf, "atom": _atom, "rss": _rss, "csv": _csv, "json": _json,
}
