"""Hostile requests: forged Host, headers on every response, tokens kept out of logs."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from _digest_helpers import GRAPH, add_batch, add_readers
from _web_helpers import Site, site
from conftest import free_port
from paperdigest.core import Settings, load_settings
from paperdigest.store import Store
from paperdigest.web import create_app
from paperdigest.web.common import SECURITY_HEADERS
from paperdigest.web.logs import TokenFilter, install_token_filter, mask_tokens
from test_digest_web import serve


@pytest.fixture
def web(settings: Settings, store: Store) -> Any:
    with site(settings, store) as s:
        yield s


def _has_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name)


def test_forged_host_gets_no_redirect_anywhere(home: Any) -> None:
    port = free_port()
    settings = load_settings(env={"PAPERDIGEST_HOME": str(home),
                                  "PAPERDIGEST_BASE_URL": f"http://127.0.0.1:{port}"})
    store, _ = Store.initialise(settings)
    papers = add_batch(store, GRAPH)
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    from paperdigest.digest import TokenCodec

    codec = TokenCodec(store.secret_keys())
    gen = serve(create_app(settings, store), port)
    next(gen)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": "evil.example"}) as client:
            like = codec.feedback(rid, papers[0], "like", None)
            for path in (f"/c/{codec.click(rid, papers[0], None)}/", f"/f/{like}/",
                         f"/s/{codec.page('settings', rid, 0)}/", "/healthz/", "/nothing/"):
                answer = client.get(path)
                assert answer.status_code == 404, path
                assert "evil.example" not in answer.headers.get("location", "")
                _has_headers(answer)
            # A real redirect (settings saved -> 303) points at the configured base URL.
            settings_path = f"/s/{codec.page('settings', rid, 0)}"
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(settings_path).text)
            assert csrf
            done = client.post(settings_path, data={"csrf": csrf.group(1), "action": "resume"})
            assert done.status_code == 303
            assert done.headers["location"].startswith(f"http://127.0.0.1:{port}/s/")
            _has_headers(done)
            click = client.get(f"/c/{codec.click(rid, papers[0], None)}")
            assert click.status_code == 302 and click.headers["location"] == "https://example.org/p/0"
            _has_headers(click)
    finally:
        next(gen, None)
        store.close()


def test_errors_carry_the_security_headers(web: Site) -> None:
    [rid] = add_readers(web.store, ("ann@example.org", ["graph"]))
    for answer in (web.client.get("/f/garbage"), web.client.get("/no/such/page"),
                   web.client.delete(f"/s/{web.codec.page('settings', rid, 0)}"),
                   web.client.post("/subscribe", data={"email": "a@example.org"}),
                   web.client.get("/healthz"), web.client.get("/")):
        _has_headers(answer)
    assert web.client.get("/f/garbage").status_code == 400


def test_the_server_error_page_has_the_headers_too(settings: Settings, store: Store) -> None:
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def broken(request: Any) -> Any:
        raise RuntimeError("boom")

    app = create_app(settings, store)
    app.router.routes.append(Route("/broken", broken))  # an unexpected error in any handler
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500 and "Something went wrong" in answer.text and "boom" not in answer.text
    _has_headers(answer)


def test_tokens_are_masked_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.WzEsMl0.c2lnbmF0dXJlLWJ5dGVz"
    line = f'127.0.0.1:5000 - "GET /f/{token} HTTP/1.1" 200'
    assert token not in mask_tokens(line) and "/f/eyJhbG…" in mask_tokens(line)
    for prefix in ("/u/", "/c/", "/s/", "/a/", "/feed/", "/subscribe/confirm/"):
        assert token not in mask_tokens(prefix + token + "/3")
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:1", "GET", f"/s/{token}", "1.1", 200),
                               None)
    assert TokenFilter().filter(record) and token not in record.getMessage()
    install_token_filter("paperdigest.test.web")
    with caplog.at_level(logging.INFO, logger="paperdigest.test.web"):
        logging.getLogger("paperdigest.test.web").info("GET %s", f"/a/{token}/")
    assert token not in caplog.text and "/a/eyJhbG…" in caplog.text


@pytest.mark.slow  # starts the real CLI in a subprocess (~20 s on a busy machine)
def test_serve_debug_logs_no_whole_token(initialised_cli: Any, env: dict[str, str]) -> None:
    import os
    import subprocess
    import sys
    import time

    from paperdigest.digest import TokenCodec

    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
    full_env.update(env)
    settings = load_settings(env=env)
    with Store.open(settings) as store:
        token = TokenCodec(store.secret_keys()).page("settings", 1, 0)
    proc = subprocess.Popen([sys.executable, "-m", "paperdigest", "--debug", "serve", "--port", str(port)],
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.1)
        for path in (f"/s/{token}", f"/f/{token}", f"/a/{token}/3", f"/feed/{token}"):
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert f"/s/{token[:6]}…" in output  # the requests were logged...
    assert token not in output and token[6:] not in output  # ...without the token
