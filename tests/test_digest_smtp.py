"""Delivery to a real SMTP server (aiosmtpd on a loopback port): messages, outcomes, retries."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _digest_helpers import (
    GRAPH,
    KeywordRanker,
    Recorder,
    Server,
    add_batch,
    add_readers,
    client_context,
    now,
    parse,
    self_signed,
    server_context,
    smtp_server,
)
from conftest import free_port, need
from paperdigest.core import load_settings
from paperdigest.core.settings import SmtpConfig
from paperdigest.digest import SmtpBackend, TokenCodec, send_digests
from paperdigest.digest.send import resend_digest
from paperdigest.store import Store
from paperdigest.store.digests import list_digests


def _config(port: int, **kw: object) -> SmtpConfig:
    values: dict[str, object] = {"host": "127.0.0.1", "port": port, "implicit_tls": False,
                                 "starttls": False, "username": None, "password": None, "timeout": 5}
    values.update(kw)
    return SmtpConfig(**values)  # type: ignore[arg-type]


def _backend(port: int, **kw: object) -> SmtpBackend:
    ctx = kw.pop("ssl_context", None)
    return SmtpBackend(_config(port, **kw), retries=2, backoff=0.01, ssl_context=ctx)  # type: ignore[arg-type]


@pytest.fixture
def smtp() -> Iterator[Server]:
    with smtp_server(free_port()) as server:
        yield server


def _seed(store: Store, *emails: str) -> tuple[list[int], KeywordRanker]:
    add_batch(store, GRAPH)
    ids = add_readers(store, *((e, ["graph"]) for e in emails))
    return ids, KeywordRanker({str(i): ["graph"] for i in ids})


def test_messages_arrive_with_headers_parts_links_and_tokens(store: Store, smtp: Server) -> None:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(store.settings.home),
                                  "PAPERDIGEST_BASE_URL": "https://digest.example.org",
                                  "PAPERDIGEST_FROM": "Paper Digest <digest@example.org>"})
    ids, ranker = _seed(store, "ann@example.org", "bob@example.org")
    backend = _backend(smtp.port)
    report = send_digests(store, settings, now=now(), backend=backend, ranker=ranker)
    assert report.sent == 2 and backend.connections == 1  # one connection for the whole run
    assert sorted(r.recipients[0] for r in smtp.handler.received) == ["ann@example.org", "bob@example.org"]
    codec = TokenCodec(store.secret_keys())
    with store.transaction() as session:
        rows = {d.reader_id: d for d in list_digests(session)}
    for received in smtp.handler.received:
        assert received.sender == "digest@example.org"
        msg = parse(received.data)
        rid = ids[0] if msg["To"] == "ann@example.org" else ids[1]
        assert msg["From"] == "Paper Digest <digest@example.org>"
        assert msg["Message-ID"] == rows[rid].message_id
        assert msg["Subject"].startswith("3 new papers for you — ")
        assert msg["List-Id"] == "paperdigest <paperdigest.localhost>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert dt.datetime.now(dt.UTC) - msg["Date"].datetime < dt.timedelta(minutes=5)
        [https] = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])  # no mailto: nothing reads it
        assert https.startswith("https://digest.example.org/u/")
        assert codec.read_unsubscribe(https.rsplit("/", 1)[1]).reader_id == rid
        assert "ann@" not in https and "bob@" not in https  # no address inside any link
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        text_links = re.findall(r"https://digest\.example\.org/[fc]/\S+", text.get_content())
        html_links = re.findall(r'href="(https://digest\.example\.org/[fc]/[^"]+)"', html.get_content())
        assert sorted(text_links) == sorted(html_links) and len(text_links) == 9  # 3 x (read, more, less)
        kinds = []
        for link in text_links:
            kind, token = urlsplit(link).path.split("/")[1:]
            data = codec.read_feedback(token) if kind == "f" else codec.read_click(token)
            assert data.reader_id == rid and data.digest_id == rows[rid].id
            kinds.append(getattr(data, "kind", "click"))
        assert sorted(kinds) == ["click"] * 3 + ["dislike"] * 3 + ["like"] * 3
        content = html.get_content()
        assert "@media (prefers-color-scheme: dark)" in content and 'style="' in content


def test_rejected_recipient_does_not_stop_the_run(store: Store) -> None:
    ids, ranker = _seed(store, "ann@example.org", "gone@example.org", "cid@example.org")
    with smtp_server(free_port(), Recorder(reject={"gone@example.org"})) as server:
        report = send_digests(store, store.settings, now=now(), backend=_backend(server.port),
                              ranker=ranker)
        assert report.sent == 2 and report.failed == 1
        failed = next(o for o in report.outcomes if o.status == "failed")
        assert failed.reader_id == ids[1] and "550" in failed.detail
        assert sorted(r.recipients[0] for r in server.handler.received) == ["ann@example.org",
                                                                            "cid@example.org"]
    with store.transaction() as session:
        assert sorted(d.status for d in list_digests(session)) == ["failed", "sent", "sent"]


def test_421_is_retried_with_backoff(store: Store) -> None:
    _, ranker = _seed(store, "ann@example.org")
    with smtp_server(free_port(), Recorder(busy=2)) as server:
        backend = _backend(server.port)
        report = send_digests(store, store.settings, now=now(), backend=backend, ranker=ranker)
        assert report.sent == 1 and len(server.handler.received) == 1
        assert server.handler.rcpt_calls == 3 and backend.connections == 3  # 421 closes the channel


def test_421_every_time_defers_and_a_later_run_delivers(store: Store) -> None:
    _, ranker = _seed(store, "ann@example.org")
    port = free_port()
    when = now()
    with smtp_server(port, Recorder(busy=100)) as server:
        report = send_digests(store, store.settings, now=when, backend=_backend(port), ranker=ranker)
        assert report.deferred == 1 and "421" in report.outcomes[0].detail
        assert server.handler.received == []
    with store.transaction() as session:
        [row] = list_digests(session)
        assert row.status == "pending" and "421" in (row.error or "")
    with smtp_server(port) as server:
        assert send_digests(store, store.settings, now=when, backend=_backend(port), ranker=ranker).sent == 1
        assert len(server.handler.received) == 1


def test_refused_connection_defers_everything_quickly(store: Store) -> None:
    _, ranker = _seed(store, "ann@example.org", "bob@example.org")
    backend = _backend(free_port())  # nothing listens there
    report = send_digests(store, store.settings, now=now(), backend=backend, ranker=ranker)
    assert report.deferred == 2 and report.sent == 0
    assert all("cannot connect" in o.detail for o in report.outcomes)
    with store.transaction() as session:
        assert [d.status for d in list_digests(session)] == ["pending", "pending"]


def test_drop_after_data_marks_unknown_and_is_not_resent(store: Store) -> None:
    _, ranker = _seed(store, "ann@example.org")
    when = now()
    port = free_port()
    with smtp_server(port, Recorder(drop_after_data=True)) as server:
        report = send_digests(store, store.settings, now=when, backend=_backend(port), ranker=ranker)
        assert report.unknown == 1 and "after the message was sent" in report.outcomes[0].detail
    with smtp_server(port) as server:
        again = send_digests(store, store.settings, now=when, backend=_backend(port), ranker=ranker)
        assert again.skipped == 1 and server.handler.received == []
        # Only the operator's explicit resend delivers it again, with the same Message-ID.
        with store.transaction() as session:
            [row] = list_digests(session)
        out = resend_digest(store, store.settings, row.id, now=when, backend=_backend(port))
        assert out.status == "sent"
        assert parse(server.handler.received[0].data)["Message-ID"] == row.message_id


def test_5xx_after_data_is_permanent(store: Store) -> None:
    class Refuse(Recorder):
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "554 5.7.1 message refused"

    _, ranker = _seed(store, "ann@example.org")
    with smtp_server(free_port(), Refuse()) as server:
        report = send_digests(store, store.settings, now=now(), backend=_backend(server.port),
                              ranker=ranker)
        assert report.failed == 1 and "554" in report.outcomes[0].detail


def test_starttls(store: Store, tmp_path: Path) -> None:
    pair = self_signed(tmp_path)
    need(pair is not None, "the openssl CLI is needed to make a test certificate")
    assert pair is not None
    cert, key = pair
    _, ranker = _seed(store, "ann@example.org")
    with smtp_server(free_port(), tls_context=server_context(cert, key), require_starttls=True) as server:
        backend = _backend(server.port, starttls=True, ssl_context=client_context(cert))
        assert send_digests(store, store.settings, now=now(), backend=backend, ranker=ranker).sent == 1
        assert len(server.handler.received) == 1


def test_starttls_refused_without_it(store: Store, tmp_path: Path) -> None:
    pair = self_signed(tmp_path)
    need(pair is not None, "the openssl CLI is needed to make a test certificate")
    assert pair is not None
    cert, key = pair
    _, ranker = _seed(store, "ann@example.org")
    with smtp_server(free_port(), tls_context=server_context(cert, key), require_starttls=True) as server:
        # A client that skips STARTTLS gets 530 on MAIL: nothing is delivered.
        report = send_digests(store, store.settings, now=now(), backend=_backend(server.port),
                              ranker=ranker)
        assert report.sent == 0 and server.handler.received == []


def test_implicit_tls(store: Store, tmp_path: Path) -> None:
    pair = self_signed(tmp_path)
    need(pair is not None, "the openssl CLI is needed to make a test certificate")
    assert pair is not None
    cert, key = pair
    _, ranker = _seed(store, "ann@example.org")
    with smtp_server(free_port(), ssl_context=server_context(cert, key)) as server:
        backend = _backend(server.port, implicit_tls=True, ssl_context=client_context(cert))
        assert send_digests(store, store.settings, now=now(), backend=backend, ranker=ranker).sent == 1
        assert len(server.handler.received) == 1


def test_8bit_body_is_announced_and_converts_for_old_servers(store: Store, smtp: Server) -> None:
    from paperdigest.digest.delivery import to_seven_bit

    add_batch(store, [("Graph 📈 Übersicht: שלום", "Résumé of graph methods. " * 30)])
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    send_digests(store, store.settings, now=now(), backend=_backend(smtp.port),
                 ranker=KeywordRanker({str(rid): ["graph"]}))
    [received] = smtp.handler.received
    assert "BODY=8BITMIME" in received.options
    assert all(len(line) <= 998 for line in received.data.split(b"\r\n"))
    seven = to_seven_bit(received.data)
    assert seven.isascii() and all(len(line) <= 78 for line in seven.split(b"\r\n")[20:])
    before, after = parse(received.data), parse(seven)
    for kind in ("plain", "html"):
        old, new = before.get_body((kind,)), after.get_body((kind,))
        assert old.get_content().rstrip() == new.get_content().rstrip()
    assert "Graph 📈 Übersicht: שלום" in after.get_body(("plain",)).get_content()


def test_dot_stuffing_matches_the_rfc_rules() -> None:
    import random

    from paperdigest.digest.delivery import _dot_stuff

    def by_regex(data: bytes) -> bytes:  # RFC 5321 4.5.2, written the obvious (slow) way
        data = re.sub(rb"(?m)^\.", b"..", re.sub(rb"\r?\n", b"\r\n", data))
        return (data if data.endswith(b"\r\n") else data + b"\r\n") + b".\r\n"

    rng = random.Random(5)
    pieces = [b"a", b".", b"\r", b"\n", b"\r\n", b"..", b" ", b"\n.\r\n"]
    samples = [b"", b".", b".\r\n", b"a\nb", b"a\r\n.b", b"\r\r\n."]
    samples += [b"".join(rng.choice(pieces) for _ in range(rng.randrange(24))) for _ in range(5000)]
    for data in samples:
        assert _dot_stuff(data) == by_regex(data), data
