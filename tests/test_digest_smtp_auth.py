"""Issue #14 item 9: credentials set but the SMTP server (aiosmtpd on loopback) offers no AUTH.

Before, every digest was 'deferred' and ``digest send`` exited 0 with nothing sent.
"""

from __future__ import annotations

import json
from typing import Any

from _digest_helpers import GRAPH, add_batch, smtp_server
from conftest import free_port
from paperdigest.core import load_settings
from paperdigest.store import Store
from paperdigest.store.digests import list_digests


def test_send_with_credentials_to_a_server_without_auth_fails_in_one_line(initialised_cli: Any) -> None:
    cli = initialised_cli
    cli.env["PAPERDIGEST_CONTENT_BACKEND"] = "tfidf"
    cli("users", "add", "ann@example.org", "-k", "graph")
    store = Store.open(load_settings(env=cli.env))
    add_batch(store, GRAPH)
    port = free_port()
    with smtp_server(port) as server:  # aiosmtpd without an authenticator: no AUTH in EHLO
        cli.env.update({"PAPERDIGEST_DELIVERY": "smtp",
                        "PAPERDIGEST_SMTP_URL": f"smtp://digest:s3cret@127.0.0.1:{port}"})
        result = cli("digest", "send", ok=False)
        assert server.handler.received == []
    message = result.stderr.strip()
    assert result.exit_code != 0 and "\n" not in message, message
    assert message.startswith("Error: PAPERDIGEST_SMTP_URL has a user name")
    assert "does not offer AUTH" in message
    assert "s3cret" not in message and "starttls=true" in message
    with store.transaction() as session:  # nothing claimed: the next good run sends it
        assert [d.status for d in list_digests(session)] in ([], ["pending"])
    with smtp_server(port) as server:  # the operator drops the credentials: it goes out
        cli.env["PAPERDIGEST_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        sent = json.loads(cli("digest", "send", "--json").stdout)
        assert len(server.handler.received) == 1
    assert sent
    store.close()
