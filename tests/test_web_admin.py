"""The /admin dashboard: login, session cookie flags, rate limit, CSRF-safe logout, a real browser."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _report_helpers import populate
from conftest import Cli, free_port, need
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.web import create_app
from paperdigest.web.auth import LOGIN_FILE, MAX_FAILURES, create_login
from starlette.testclient import TestClient
from test_digest_browser import ARGS, ARTIFACTS
from test_digest_web import serve

PASSWORD = "correct horse battery"


def _store(home: Path, base_url: str) -> Store:
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_BASE_URL": base_url})
    store, _ = Store.initialise(settings)
    create_login(home / LOGIN_FILE, "ops", PASSWORD)
    return store


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    store = _store(home, "https://lab.example.org")
    with TestClient(create_app(store.settings, store), base_url="https://lab.example.org",
                    follow_redirects=False) as http:
        yield http
    store.close()


def _login(http: TestClient, password: str = PASSWORD) -> httpx.Response:
    return http.post("/admin/login", data={"user": "ops", "password": password})


def test_dashboard_needs_a_login(client: TestClient) -> None:
    response = client.get("/admin")
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert "Operator sign-in" in (client.get("/admin/login")).text


def test_login_sets_a_strict_cookie_and_shows_the_report(client: TestClient) -> None:
    response = _login(client)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    for flag in ("httponly", "secure", "samesite=strict", "path=/admin"):
        assert flag in cookie
    page = client.get("/admin")
    assert page.status_code == 200 and "Operator report" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' applies
    assert page.headers["cache-control"] == "no-store"


def test_wrong_password_then_rate_limit(client: TestClient) -> None:
    for _ in range(MAX_FAILURES):
        assert (_login(client, "wrong password!")).status_code == 401
    blocked = _login(client)  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert (client.get("/admin")).status_code == 303


def test_logout_needs_the_session_token(client: TestClient) -> None:
    _login(client)
    refused = client.post("/admin/logout", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert (client.get("/admin")).status_code == 200  # still signed in
    page = (client.get("/admin")).text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    cross = client.post("/admin/logout", data={"csrf": token},
                              headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    done = client.post("/admin/logout", data={"csrf": token})
    assert done.status_code == 303
    client.cookies.clear()
    assert (client.get("/admin")).status_code == 303


def test_dashboard_window_is_validated(client: TestClient) -> None:
    _login(client)
    assert client.get("/admin?days=7&silent_after=1").status_code == 200
    for query in ("days=0", "silent_after=abc", "silent_after=0"):
        response = client.get(f"/admin?{query}")
        assert response.status_code == 400 and "Bad request" in response.text


def test_cross_site_login_post_is_refused(client: TestClient) -> None:
    response = client.post("/admin/login", data={"user": "ops", "password": PASSWORD},
                                 headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_new_login_ends_old_sessions(client: TestClient, home: Path) -> None:
    _login(client)
    create_login(home / LOGIN_FILE, "ops", "another long password")
    assert (client.get("/admin")).status_code == 303


def test_no_login_yet_says_how_to_make_one(home: Path) -> None:
    store = _store(home, "http://127.0.0.1:8000")
    (home / LOGIN_FILE).unlink()
    with TestClient(create_app(store.settings, store), follow_redirects=False) as http:
        page = http.get("/admin/login")
        assert "paperdigest admin create-login" in page.text
        assert (http.post("/admin/login", data={"user": "x", "password": "y"})).status_code == 401
    store.close()


def test_cookie_not_secure_over_plain_http(home: Path) -> None:
    store = _store(home, "http://127.0.0.1:8000")
    with TestClient(create_app(store.settings, store), base_url="http://127.0.0.1:8000") as http:
        response = http.post("/admin/login", data={"user": "ops", "password": PASSWORD},
                             follow_redirects=False)
        assert response.status_code == 303 and "secure" not in response.headers["set-cookie"].lower()
    store.close()


def test_create_login_command(initialised_cli: Cli, home: Path) -> None:
    result = initialised_cli("admin", "create-login", "--user", "ops", "--password-stdin",
                             input=PASSWORD + "\n")
    assert "Login 'ops' saved" in result.stdout and PASSWORD not in result.stdout
    text = (home / LOGIN_FILE).read_text()
    assert text.startswith("ops\t$argon2id$") and PASSWORD not in text
    assert (home / LOGIN_FILE).stat().st_mode & 0o777 == 0o600
    short = initialised_cli("admin", "create-login", "--password-stdin", input="short\n", ok=False)
    assert short.exit_code != 0 and "at least 10 characters" in short.stderr
    assert (home / LOGIN_FILE).read_text() == text  # the old login is untouched


@pytest.fixture
def served(home: Path, tmp_path: Path) -> Iterator[tuple[Store, int]]:
    port = free_port()
    store = _store(home, f"http://127.0.0.1:{port}")
    populate(store, tmp_path / "out", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    gen = serve(create_app(store.settings, store), port)
    next(gen)
    try:
        yield store, port
    finally:
        next(gen, None)
        store.close()


@pytest.mark.browser
def test_dashboard_in_chromium(served: tuple[Store, int], chromium_path: str) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright (python) is not installed")
        return
    _, port = served
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"http://127.0.0.1:{port}/admin")
            assert page.url.endswith("/admin/login")
            page.get_by_label("Login name").fill("ops")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/admin")
            assert page.get_by_role("heading", name="Operator report").is_visible()
            charts = page.locator("svg[role=img]")
            assert charts.count() == 4
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100  # really drawn
            page.goto(f"http://127.0.0.1:{port}/admin?silent_after=1")
            assert "ann@example.org" not in page.content()  # ann reacted: not listed as silent
            assert page.get_by_role("cell", name="bob@example.org").is_visible()
            page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)
            assert errors == []  # the CSP blocked nothing the page needs
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/admin/login")
            page.goto(f"http://127.0.0.1:{port}/admin")
            assert page.url.endswith("/admin/login")
        finally:
            browser.close()
