"""A real HTTP server on loopback serving the ingest fixtures, plus misbehaving endpoints."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def make_app() -> tuple[Starlette, Counter[str]]:
    """Fixture endpoints in each real format; ``hits`` counts requests per path for retry tests."""
    hits: Counter[str] = Counter()

    def _file(name: str, media: str) -> Response:
        return Response((FIXTURES / name).read_bytes(), media_type=media)

    async def daily(request: Request) -> Response:
        hits["daily"] += 1
        day = request.query_params.get("date")
        if day == "2025-07-03":
            return _file("hf_daily.json", "application/json")
        if day == "2025-07-05":
            return Response(b"[]", media_type="application/json")
        if day == "2025-07-04":  # the same day's papers, one of them with an empty summary
            items = json.loads((FIXTURES / "hf_daily.json").read_text())
            items[1]["paper"]["summary"] = "  "
            return Response(json.dumps(items).encode(), media_type="application/json")
        return PlainTextResponse("no such day", status_code=404)

    async def query(request: Request) -> Response:
        hits["query"] += 1
        if request.query_params.get("search_query") != "cat:cs.LG":
            return PlainTextResponse("unknown category", status_code=400)
        assert request.headers["user-agent"].startswith("paperdigest/")
        return _file("arxiv_atom.xml", "application/atom+xml")

    async def rss(request: Request) -> Response:
        return _file("arxiv_rss.xml", "application/rss+xml")

    async def status(request: Request) -> Response:
        code = int(request.path_params["code"])
        hits[f"status/{code}"] += 1
        headers = {"Retry-After": "1"} if request.query_params.get("retry_after") else {}
        return PlainTextResponse(f"status {code}", status_code=code, headers=headers)

    async def flaky(request: Request) -> Response:
        # 503 twice, then the page: a retried fetch succeeds.
        hits["flaky"] += 1
        if hits["flaky"] <= 2:
            return PlainTextResponse("busy", status_code=503)
        return _file("page.txt", "text/plain")

    async def big(request: Request) -> Response:
        chunk = b"x" * (1024 * 1024)

        async def body() -> Iterator[bytes]:  # type: ignore[misc]
            for _ in range(40):
                yield chunk

        return StreamingResponse(body(), media_type="text/plain")  # type: ignore[arg-type]

    async def slow(request: Request) -> Response:
        import asyncio

        await asyncio.sleep(3)
        return PlainTextResponse("late")

    routes = [
        Route("/api/daily_papers", daily), Route("/api/query", query), Route("/rss/cs.LG", rss),
        Route("/status/{code:int}", status), Route("/flaky", flaky), Route("/big", big),
        Route("/slow", slow), Route("/files/{name}", lambda r: _file(r.path_params["name"], "text/plain")),
    ]
    return Starlette(routes=routes), hits


class Server:
    """uvicorn in a thread on a loopback port."""

    def __init__(self, port: int) -> None:
        import uvicorn

        self.app, self.hits = make_app()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="error",
                                lifespan="off", ws="none", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class DroppingServer:
    """Accepts connections and closes them at once, before any response: a dropped connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/papers.json"
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.accepted = 0
        self.stop = threading.Event()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(1024)

    def __enter__(self) -> DroppingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
