"""``paperdigest serve --workers 2``: the real command, two uvicorn worker processes on one SQLite file.

Every POST answered 200 must be stored (issue #14 item 10: 0 acknowledged POSTs lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from _digest_helpers import add_batch, add_readers
from conftest import free_port
from paperdigest.core import load_settings
from paperdigest.digest import TokenCodec
from paperdigest.store import Store
from paperdigest.store.feedback import current_reactions


@pytest.mark.slow
def test_serve_with_two_workers_stores_every_acknowledged_post(home: Path) -> None:
    env = {"PAPERDIGEST_HOME": str(home)}
    store, _ = Store.initialise(load_settings(env=env))
    papers = add_batch(store, [(f"Worker paper {i}", f"Abstract {i}.") for i in range(60)])
    [rid] = add_readers(store, ("ann@example.org", ["graph"]))
    codec = TokenCodec(store.secret_keys())
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAPERDIGEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "paperdigest", "serve", "--port", str(port),
                             "--workers", "2"], env={**clean, **env}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve --workers 2 did not answer"
            time.sleep(0.2)

        def post(paper: str) -> int:
            kind = "like" if int(paper.rsplit("-", 1)[-1], 16) % 2 else "dislike"
            token = codec.feedback(rid, paper, kind, None)
            return httpx.post(f"http://127.0.0.1:{port}/f/{token}", timeout=30).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(post, papers * 2))  # every link twice, concurrently
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert codes == [200] * len(codes)
    with store.transaction() as session:
        reactions = current_reactions(session, rid)
    expected = {p: "like" if int(p.rsplit("-", 1)[-1], 16) % 2 else "dislike" for p in papers}
    assert reactions == expected
    store.close()
