"""The reader's settings page in process: save, pause, undo, reset, relink, and every bad input."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from _digest_helpers import GRAPH, KeywordRanker, add_batch, add_readers
from _web_helpers import Site, csrf_of, site
from conftest import Cli
from paperdigest.core import Settings
from paperdigest.digest import FileBackend, send_digests
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions, record_feedback
from paperdigest.store.models import Interaction, Reader


@pytest.fixture
def web(settings: Settings, store: Store) -> Any:
    with site(settings, store) as s:
        yield s


def _reader(store: Store, rid: int) -> dict[str, Any]:
    with store.transaction() as session:
        r = session.get(Reader, rid)
        assert r is not None
        return {k: getattr(r, k) for k in ("name", "keywords", "timezone", "cadence", "weekday",
                                           "send_hour", "digest_size", "format", "status",
                                           "paused_until", "min_relevance", "web_notice",
                                           "settings_rev", "link_generation", "nothing_strong")}


def _form(**over: str) -> dict[str, str]:
    base = {"action": "save", "name": "Ann", "keywords": "graphs, proteins", "cadence": "weekly",
            "weekday": "fri", "send_hour": "7", "timezone": "Europe/Berlin", "digest_size": "12",
            "format": "email", "web_notice": "on", "min_relevance": "0.3", "nothing_strong": "skip"}
    return {**base, **over}


def _post(web: Site, path: str, **fields: str) -> Any:
    page = web.client.get(path)
    assert page.status_code == 200
    return web.client.post(path, data={"csrf": csrf_of(page.text), **fields})


def test_save_settings_then_the_database_shows_them(web: Site) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    page = web.client.get(path)
    assert "ann@example.org" in page.text and 'value="graph"' not in page.text
    assert '<option value="Europe/Berlin">' in page.text  # the searchable zone list
    done = web.client.post(path, data={"csrf": csrf_of(page.text), **_form()})
    assert done.status_code == 303
    assert done.headers["location"] == f"{web.store.settings.base_url}{path}?done=save"
    row = _reader(web.store, rid)
    assert row["keywords"] == ["graphs", "proteins"] and row["cadence"] == "weekly"
    assert row["weekday"] == 4 and row["send_hour"] == 7 and row["timezone"] == "Europe/Berlin"
    assert row["digest_size"] == 12 and row["min_relevance"] == 0.3 and row["settings_rev"] == 1
    assert row["nothing_strong"] == "skip"
    assert '<option value="skip" selected>' in web.client.get(path).text
    assert "Your settings are saved." in web.client.get(done.headers["location"]).text
    # An empty minimum relevance clears it; so does "as the site does" for the nothing-strong choice.
    _post(web, path, **_form(min_relevance="", nothing_strong=""))
    assert _reader(web.store, rid)["min_relevance"] is None
    assert _reader(web.store, rid)["nothing_strong"] is None


def test_a_replayed_post_is_refused_and_changes_nothing(web: Site) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    body = {"csrf": csrf_of(web.client.get(path).text), **_form()}
    assert web.client.post(path, data=body).status_code == 303
    before = _reader(web.store, rid)
    replay = web.client.post(path, data={**body, "keywords": "something else"})
    assert replay.status_code == 409 and "Nothing was changed" in replay.text
    assert _reader(web.store, rid) == before


@pytest.mark.parametrize(("field", "value", "says"), [
    ("timezone", "Mars/Olympus_Mons", "unknown time zone"),
    ("timezone", "../../etc/passwd", "unknown time zone"),
    ("cadence", "hourly", "cadence must be one of"),
    ("keywords", "graph, " * 1500, "longer than 2000"),
    ("send_hour", "25", "send hour"),
    ("send_hour", "seven", "whole number"),
    ("digest_size", "0", "digest size"),
    ("format", "fax", "format must be one of"),
    ("min_relevance", "2", "minimum relevance"),
    ("min_relevance", "nan", "minimum relevance"),
    ("weekday", "someday", "weekday"),
    ("nothing_strong", "sometimes", "&#39;nothing strong&#39; must be one of note, skip"),
    ("action", "drop_tables", "unknown action"),
])
def test_bad_values_are_400_and_change_nothing(web: Site, field: str, value: str, says: str) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    csrf = csrf_of(web.client.get(path).text)
    before = _reader(web.store, rid)
    answer = web.client.post(path, data={"csrf": csrf, **_form(**{field: value})})
    assert answer.status_code == 400 and says in answer.text
    assert _reader(web.store, rid) == before
    # Nothing was used up: the same form still saves a good value.
    assert web.client.post(path, data={"csrf": csrf, **_form()}).status_code == 303


def test_bad_tokens_are_400_and_change_nothing(web: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    [rid, other] = add_readers(web.store, ("ann@example.org", ["graph"]), ("bob@example.org", ["x"]))
    path = web.settings_path(rid)
    csrf = csrf_of(web.client.get(path).text)
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    other_csrf = csrf_of(web.client.get(web.settings_path(other)).text)
    before = _reader(web.store, rid)
    cases = [
        (f"/s/{tampered}", csrf),  # tampered link
        (f"/s/{web.codec.page('archive', rid, 0)}", csrf),  # another purpose's link
        (f"/s/{web.codec.unsubscribe(rid)}", csrf),
        (path, other_csrf),  # another reader's form
        (path, "not-a-token"),
        (path, web.codec.page("settings", rid, 0)),  # a link token is not a form token
    ]
    for url, form_token in cases:
        answer = web.client.post(url, data={"csrf": form_token, **_form()})
        assert answer.status_code == 400, url
        assert web.client.get(url).status_code in (200, 400)
    later = time.time() + 2 * 86_400  # the form token is a day old: expired
    monkeypatch.setattr(time, "time", lambda: later)
    expired = web.client.post(path, data={"csrf": csrf, **_form()})
    assert expired.status_code == 400 and "expired" in expired.text
    assert _reader(web.store, rid) == before


def test_cross_site_posts_are_refused(web: Site) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    csrf = csrf_of(web.client.get(path).text)
    before = _reader(web.store, rid)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = web.client.post(path, data={"csrf": csrf, **_form()}, headers=headers)
        assert answer.status_code == 403
    assert _reader(web.store, rid) == before
    same = web.client.post(path, data={"csrf": csrf, **_form()},
                           headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


def test_script_in_every_text_field_is_escaped(web: Site) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    assert _post(web, path, **_form(name=evil, keywords=evil)).status_code == 303
    row = _reader(web.store, rid)
    assert row["name"] == evil
    page = web.client.get(path).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    bad_zone = _post(web, path, **_form(timezone=evil))
    assert bad_zone.status_code == 400 and "<script>alert" not in bad_zone.text


def test_pause_means_no_digest_until_the_day_after(web: Site) -> None:
    add_batch(web.store, GRAPH)
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    path = web.settings_path(rid)
    today = dt.datetime.now(dt.UTC).date()
    until = today + dt.timedelta(days=2)
    assert _post(web, path, action="pause", until=until.isoformat()).status_code == 303
    assert _reader(web.store, rid)["status"] == "paused"
    assert "paused through " + until.isoformat() in web.client.get(path).text
    ranker = KeywordRanker({str(rid): ["graph"]})
    now, outbox = dt.datetime.now(dt.UTC), web.store.settings.outbox_dir
    for day in range(3):  # today and the two paused days after it: nothing
        paused = send_digests(web.store, web.store.settings, now=now + dt.timedelta(days=day),
                              backend=FileBackend(outbox), ranker=ranker)
        assert paused.sent == 0 and not list(outbox.glob("*.eml"))
    back = send_digests(web.store, web.store.settings, now=now + dt.timedelta(days=3),
                        backend=FileBackend(outbox), ranker=ranker)
    assert back.sent == 1 and _reader(web.store, rid)["status"] == "active"
    # A pause that ended in the past is refused; resume works from the page.
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert _post(web, path, action="pause", until=yesterday).status_code == 400
    assert _post(web, path, action="pause", until="").status_code == 303
    assert _post(web, path, action="resume").status_code == 303
    assert _reader(web.store, rid)["status"] == "active"


def test_undo_a_like_and_reset_with_confirmation(web: Site) -> None:
    papers = add_batch(web.store, GRAPH)
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    with web.store.transaction() as session:
        record_feedback(session, rid, papers[0], "like", "email")
        record_feedback(session, rid, papers[1], "dislike", "email")
        record_feedback(session, rid, papers[2], "click", "email")
    path = web.settings_path(rid)
    page = web.client.get(path).text
    assert GRAPH[0][0] in page and GRAPH[1][0] in page
    assert _post(web, path, action="undo", paper=papers[0]).status_code == 303
    with web.store.transaction() as session:
        assert current_reactions(session, rid) == {papers[1]: "dislike"}
    assert _post(web, path, action="undo", paper=papers[0]).status_code == 400  # nothing left to undo
    ask = _post(web, path, action="reset")
    assert ask.status_code == 200 and "cannot be undone" in ask.text
    with web.store.transaction() as session:
        assert current_reactions(session, rid) == {papers[1]: "dislike"}  # the question changed nothing
    confirm = web.client.post(path, data={"csrf": csrf_of(ask.text), "action": "reset_confirm"})
    assert confirm.status_code == 303
    with web.store.transaction() as session:
        assert current_reactions(session, rid) == {}
        assert session.query(Interaction).filter_by(reader_id=rid, kind="click").count() == 0


def test_relink_revokes_every_page_link(initialised_cli: Cli, settings: Settings) -> None:
    with Store.open(settings) as store:
        [rid] = add_readers(store, ("ann@example.org", ["graph"]))
        with site(settings, store) as web:
            old = {p: web.codec.page(p, rid, 0) for p in ("settings", "archive", "feed")}
            assert web.client.get(f"/s/{old['settings']}").status_code == 200
            result = initialised_cli("users", "relink", str(rid), "--show")
            assert "generation 1" in result.stdout
            for purpose, prefix in (("settings", "/s/"), ("archive", "/a/"), ("feed", "/feed/")):
                gone = web.client.get(prefix + old[purpose])
                assert gone.status_code == 400 and "replaced by a newer one" in gone.text
            new = next(line.split(": ", 1)[1] for line in result.stdout.splitlines()
                       if line.startswith("settings: "))
            assert web.client.get(new.removeprefix(settings.base_url)).status_code == 200
    missing = initialised_cli("users", "relink", "nobody@example.org", ok=False)
    assert missing.exit_code != 0 and "no reader" in missing.stderr


def test_save_and_replay_on_both_databases(any_store: Store) -> None:
    """The conditional UPDATE that refuses a replay, and the new columns, on SQLite and PostgreSQL."""
    with site(any_store.settings, any_store) as web:
        [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
        path = web.settings_path(rid)
        body = {"csrf": csrf_of(web.client.get(path).text), **_form(min_relevance="0.25")}
        assert web.client.post(path, data=body).status_code == 303
        assert web.client.post(path, data=body).status_code == 409
        row = _reader(web.store, rid)
        assert row["settings_rev"] == 1 and row["min_relevance"] == 0.25 and row["web_notice"] is True
        until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date()
        assert _post(web, path, action="pause", until=until.isoformat()).status_code == 303
        assert _reader(web.store, rid)["paused_until"] == until


def test_simultaneous_posts_of_one_form_change_it_once(any_store: Store) -> None:
    """Ten copies of one form at once against uvicorn: exactly one is applied, the rest get 409."""
    import concurrent.futures

    import httpx
    from conftest import free_port
    from paperdigest.core import load_settings
    from paperdigest.web import create_app
    from test_digest_web import serve

    port = free_port()
    settings = load_settings(env={"PAPERDIGEST_HOME": str(any_store.settings.home),
                                  "PAPERDIGEST_DATABASE_URL": any_store.settings.database_url,
                                  "PAPERDIGEST_BASE_URL": f"http://127.0.0.1:{port}"})
    [rid] = add_readers(any_store, ("ann@example.org", ["graph"]))
    gen = serve(create_app(settings, any_store), port)
    next(gen)
    try:
        from paperdigest.digest import TokenCodec

        url = f"http://127.0.0.1:{port}/s/{TokenCodec(any_store.secret_keys()).page('settings', rid, 0)}"
        body = {"csrf": csrf_of(httpx.get(url).text), **_form()}
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            codes = sorted(pool.map(lambda _: httpx.post(url, data=body, timeout=30).status_code, range(10)))
    finally:
        next(gen, None)
    assert codes == [303] + [409] * 9
    assert _reader(any_store, rid)["settings_rev"] == 1
