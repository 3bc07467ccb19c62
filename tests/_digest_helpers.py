"""Shared pieces of the digest tests: a toy corpus, a tiny keyword ranker, real SMTP servers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ssl
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pandas as pd
from aiosmtpd.controller import Controller
from paperdigest.store import Store
from paperdigest.store.papers import NewBatch, NewPaper, upsert_batch
from paperdigest.store.readers import ReaderFields, add_reader

GRAPH = [
    ("Graph attention networks for molecules", "We apply graph neural networks to molecule graphs."),
    ("Message passing on large graphs", "Scalable graph message passing with sampling."),
    ("Graph transformers revisited", "Positional encodings for graph transformers."),
]
VISION = [
    ("Vision transformers for tiny images", "Image classification with patch embeddings."),
    ("Diffusion models for image editing", "Text guided image editing with diffusion."),
]


@dataclass(frozen=True)
class Rec:
    paper_id: str
    score: float
    reason: str


class KeywordRanker:
    """Scores a paper by how many of the reader's keywords its title holds; 0 never passes.

    Stands in for the recommender where a test is about digests, not about ranking quality.
    """

    def __init__(self, keywords: Mapping[str, Sequence[str]]) -> None:
        self.keywords = {k: [w.lower() for w in v] for k, v in keywords.items()}
        self.calls: list[tuple[list[str], list[str]]] = []

    def rank(self, readers: Sequence[str], candidates: pd.DataFrame, k: int = 10,
             exclude: Mapping[str, set[str]] | None = None, threshold: float | None = None,
             diversity: float = 0.0) -> dict[str, list[Rec]]:
        self.calls.append((list(readers), list(candidates["id"])))
        out: dict[str, list[Rec]] = {}
        for reader in readers:
            words = self.keywords.get(reader, [])
            recs = []
            for row in candidates.itertuples():
                if exclude and row.id in exclude.get(reader, set()):
                    continue
                hits = [w for w in words if w in str(row.title).lower()]
                if hits:
                    recs.append(Rec(row.id, float(len(hits)), f"mentions {hits[0]}"))
            out[reader] = sorted(recs, key=lambda r: (-r.score, r.paper_id))[:k]
        return out


def add_batch(store: Store, papers: Sequence[tuple[str, str]], *, label: str = "toy",
              url: str | None = "https://example.org/p/{i}", **extra: Any) -> list[str]:
    """Ingest one batch; returns the paper ids in order."""
    new = []
    for i, (title, abstract) in enumerate(papers):
        new.append(NewPaper(title=title, abstract=abstract, authors=["Ada Lovelace", "Alan Turing"],
                            url=url.format(i=i) if url else None, **extra))
    with store.transaction() as session:
        result = upsert_batch(session, NewBatch(source="test", label=label, papers=new))
    return list(result.paper_ids)


def add_readers(store: Store, *specs: tuple[str, list[str]], **fields: Any) -> list[int]:
    ids = []
    with store.transaction() as session:
        for mail, keywords in specs:
            ids.append(add_reader(session, ReaderFields(email=mail, keywords=keywords, **fields)).id)
    return ids


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# --- real SMTP servers (aiosmtpd on loopback) -------------------------------------------------


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    options: list[str] = field(default_factory=list)


@dataclass
class Recorder:
    """Accepts everything; ``reject`` recipients get 550, ``busy`` answers 421 that many times."""

    received: list[Received] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    busy: int = 0
    drop_after_data: bool = False
    rcpt_calls: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        self.rcpt_calls += 1
        if self.busy > 0:
            self.busy -= 1
            return "421 4.3.2 busy, try again later"
        if address in self.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_after_data:
            # Take the message, then vanish before the final reply: the client cannot know.
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
            server.transport.close()
            await asyncio.sleep(0)
            return "250 OK"
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content,
                                      list(envelope.mail_options)))
        return "250 OK"


@dataclass
class Server:
    port: int
    handler: Recorder
    controller: Controller


def start_smtp(port: int, handler: Recorder, **kwargs: Any) -> Server:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return Server(port, handler, controller)


@contextlib.contextmanager
def smtp_server(port: int, handler: Recorder | None = None, **kwargs: Any) -> Iterator[Server]:
    server = start_smtp(port, handler or Recorder(), **kwargs)
    try:
        yield server
    finally:
        server.controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """A throwaway certificate for 127.0.0.1 made with the openssl CLI; None without openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
