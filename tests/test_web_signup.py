"""Subscribe with double opt-in, in process: file delivery, rate limits, nothing revealed."""

from __future__ import annotations

import email
import email.policy
import re
import time
from pathlib import Path
from typing import Any

import pytest
from _digest_helpers import add_readers
from _web_helpers import Site, site
from paperdigest.core import Settings
from paperdigest.core.errors import ConfigError
from paperdigest.store import Store
from paperdigest.store.models import Reader
from paperdigest.web.signup import PER_ADDRESS, PER_CLIENT, RateLimiter


@pytest.fixture
def web(settings: Settings) -> Any:
    with site(settings, PAPERDIGEST_SIGNUP="open") as s:
        yield s


def _mails(store: Store) -> list[email.message.EmailMessage]:
    out = []
    for path in sorted(Path(store.settings.outbox_dir).glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        out.append(msg)
    return out


def _readers(store: Store) -> list[tuple[str, str, list[str]]]:
    with store.transaction() as session:
        return [(r.email, r.status, list(r.keywords)) for r in session.query(Reader).order_by(Reader.id)]


def _link(msg: email.message.EmailMessage, web: Site) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    match = re.search(r"(http\S+)", body.get_content())
    assert match
    return match.group(1).removeprefix(web.store.settings.base_url)


def test_signup_is_off_by_default(settings: Settings) -> None:
    with site(settings) as web:
        assert web.client.get("/subscribe").status_code == 404
        assert web.client.post("/subscribe", data={"email": "a@example.org"}).status_code == 404
        assert _mails(web.store) == []


def test_double_opt_in(web: Site) -> None:
    form = web.client.get("/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text
    answer = web.client.post("/subscribe", data={"email": "ann@example.org", "name": "Ann",
                                                 "keywords": "graphs, proteins"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert _readers(web.store) == []  # nothing stored before the click
    [mail] = _mails(web.store)
    assert mail["To"] == "ann@example.org" and mail["Subject"] == "Confirm your paperdigest subscription"
    link = _link(mail, web)
    assert link.startswith("/subscribe/confirm/")
    assert "Yes, subscribe me" in web.client.get(link).text  # a mail scanner's GET subscribes no one
    assert _readers(web.store) == []
    done = web.client.post(link)
    assert "You are subscribed" in done.text
    assert _readers(web.store) == [("ann@example.org", "active", ["graphs", "proteins"])]
    settings_link = re.search(r'href="(http[^"]+/s/[^"]+)"', done.text)
    assert settings_link
    assert web.client.get(settings_link.group(1).removeprefix(web.store.settings.base_url)).status_code == 200
    web.client.post(link)  # the confirmation replayed: still one reader
    assert len(_readers(web.store)) == 1


def test_the_answer_never_tells_whether_an_address_is_subscribed(web: Site) -> None:
    add_readers(web.store, ("old@example.org", ["graph"]))
    known = web.client.post("/subscribe", data={"email": "old@example.org"})
    new = web.client.post("/subscribe", data={"email": "new@example.org"})
    assert known.status_code == new.status_code == 200
    assert known.text.replace("old@", "X@") == new.text.replace("new@", "X@")
    subjects = {m["To"]: m["Subject"] for m in _mails(web.store)}
    assert subjects == {"old@example.org": "You already get paperdigest",
                        "new@example.org": "Confirm your paperdigest subscription"}


def test_an_unsubscribed_reader_can_come_back_by_confirming(web: Site) -> None:
    [rid] = add_readers(web.store, ("old@example.org", ["graph"]), status="unsubscribed")
    web.client.post("/subscribe", data={"email": "old@example.org", "keywords": "proteins"})
    [mail] = _mails(web.store)
    web.client.post(_link(mail, web))
    assert _readers(web.store) == [("old@example.org", "active", ["proteins"])]
    assert rid == 1


@pytest.mark.parametrize(("fields", "says"), [
    ({"email": "not an address"}, "invalid email address"),
    ({"email": ""}, "email address is empty"),
    ({"email": "a@example.org", "keywords": "x" * 10_000}, "longer than 2000"),
    ({"email": "a@example.org\r\nBcc: b@example.org"}, "invalid email address"),
])
def test_bad_signups_are_400_and_send_nothing(web: Site, fields: dict[str, str], says: str) -> None:
    answer = web.client.post("/subscribe", data=fields)
    assert answer.status_code == 400 and says in answer.text
    assert _mails(web.store) == [] and _readers(web.store) == []


def test_bad_confirmation_links_are_400(web: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    token = web.codec.signup("ann@example.org", "Ann", ["graphs"])
    for bad in (token[:-3] + "AAA", web.codec.page("settings", 1, 0), token + "="):
        assert web.client.post(f"/subscribe/confirm/{bad}").status_code == 400
    later = time.time() + 3 * 86_400
    monkeypatch.setattr(time, "time", lambda: later)
    expired = web.client.post(f"/subscribe/confirm/{token}")
    assert expired.status_code == 400 and "expired" in expired.text
    assert _readers(web.store) == []


def test_script_in_every_signup_field_is_escaped(web: Site) -> None:
    evil = '<script>alert(1)</script>'
    answer = web.client.post("/subscribe", data={"email": "ann@example.org", "name": evil, "keywords": evil})
    assert answer.status_code == 200
    done = web.client.post(_link(_mails(web.store)[0], web))
    assert "<script>" not in done.text
    with web.store.transaction() as session:
        reader = session.query(Reader).one()
        assert reader.name == evil and reader.keywords == [evil]


def test_a_huge_body_is_refused_unread(web: Site) -> None:
    huge = web.client.post("/subscribe", data={"email": "a@example.org", "x": "y" * 100_000})
    assert huge.status_code == 413
    assert _mails(web.store) == []


def test_a_flood_from_one_client_is_rate_limited(web: Site) -> None:
    answers = [web.client.post("/subscribe", data={"email": f"r{i}@example.org"}).status_code
               for i in range(4 * PER_CLIENT[0])]
    assert answers == [200] * PER_CLIENT[0] + [429] * (3 * PER_CLIENT[0])
    assert len(_mails(web.store)) == PER_CLIENT[0]


def test_one_address_gets_a_bounded_number_of_emails(settings: Settings) -> None:
    assert PER_ADDRESS[0] + 2 <= PER_CLIENT[0]  # so the address limit is the one that bites
    with site(settings, PAPERDIGEST_SIGNUP="open") as web:
        answers = [web.client.post("/subscribe", data={"email": "ann@example.org"})
                   for _ in range(PER_ADDRESS[0] + 2)]
        # Past the limit the answer is the same page (it must not reveal anything); no email.
        assert {a.status_code for a in answers} == {200} and len({a.text for a in answers}) == 1
        assert len(_mails(web.store)) == PER_ADDRESS[0]


def test_domain_policy(settings: Settings) -> None:
    with site(settings, PAPERDIGEST_SIGNUP="domain:example.org") as web:
        assert "example.org" in web.client.get("/subscribe").text
        outside = web.client.post("/subscribe", data={"email": "eve@elsewhere.test"})
        assert outside.status_code == 400 and "open only to addresses at example.org" in outside.text
        assert web.client.post("/subscribe", data={"email": "ann@EXAMPLE.org"}).status_code == 200
        assert len(_mails(web.store)) == 1
    from paperdigest.core import load_settings

    for bad in ("sometimes", "domain:", "domain:bad domain"):
        with pytest.raises(ConfigError, match="PAPERDIGEST_SIGNUP"):
            load_settings(env={"PAPERDIGEST_HOME": str(settings.home), "PAPERDIGEST_SIGNUP": bad})


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0], max_keys=3)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    now[0] = 10.5
    assert limiter.allow("a")
    for key in "bcdef":  # more keys than max_keys: old ones are forgotten, memory stays bounded
        limiter.allow(key)
    assert len(limiter._hits) <= 3
