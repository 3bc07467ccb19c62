"""Shared pieces of the web tests: the app in process (Starlette's TestClient), page scraping."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from paperdigest.core import Settings, load_settings
from paperdigest.digest import TokenCodec
from paperdigest.store import Store
from paperdigest.web import create_app
from starlette.testclient import TestClient


@dataclass
class Site:
    store: Store
    client: TestClient
    codec: TokenCodec

    def settings_path(self, reader_id: int, generation: int = 0) -> str:
        return f"/s/{self.codec.page('settings', reader_id, generation)}"


@contextmanager
def site(settings: Settings, store: Store | None = None, **env: str) -> Iterator[Site]:
    """The app on ``settings`` (plus PAPERDIGEST_* overrides in ``env``) without a server."""
    if env:
        base = {"PAPERDIGEST_HOME": str(settings.home), **env}
        settings = load_settings(env=base)
    own = store is None
    the_store = store if store is not None else Store.initialise(settings)[0]
    app = create_app(settings, the_store)
    with TestClient(app, base_url=settings.base_url, follow_redirects=False) as client:
        yield Site(the_store, client, TokenCodec(the_store.secret_keys()))
    if own:
        the_store.close()


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no form token on the page"
    return html.unescape(match.group(1))
