"""One policy's run through the real product: ingest, hourly ticks, file outbox, real HTTP feedback.

Every day the batch is written to a JSON file and ingested (stamped with the simulated clock), the
scheduler's ``tick`` runs once per simulated hour, each reader whose send hour it is gets a digest in
the file outbox, opens its ``.eml``, and presses "More like this" (a real ``POST`` to the feedback app
under uvicorn on a loopback port) on every paper among their hidden saves and, with a set
probability, "Less like this" on the others. The hybrid's model folds that feedback in at the next
tick as in production (``ranking.load_model``: the saved model plus the light update with every
reaction since its fit); a full refit every ``refit_every`` days (default 1: before each day, as
production's ``refit_hours = 24``; 0: only the first fit, the fold-in alone carries the feedback).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from paperdigest.core import Settings, load_settings
from paperdigest.core.files import make_private_dir
from paperdigest.simulate.data import SimulationData

__all__ = ["DayResult", "ReaderDay", "run_policy"]

_ITEM = re.compile(r"^(\d+)\. (.+)$")
_MORE = re.compile(r"^\s+More like this: (\S+)$")
_LESS = re.compile(r"^\s+Less like this: (\S+)$")


@dataclass(frozen=True)
class ReaderDay:
    """What one reader got on one day."""

    reader: str
    hour: int
    sent: int  # papers in the digest
    hits: int  # of them, papers the reader saved
    relevant: int  # the reader's saves in the day's batch


@dataclass
class DayResult:
    day: int
    readers: list[ReaderDay] = field(default_factory=list)
    posts: int = 0
    seconds: float = 0.0


class _Server:
    """The feedback app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, settings: Settings, store: Any) -> None:
        import uvicorn
        from paperdigest.web import create_app

        config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=0,
                                log_level="error", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the feedback app did not start on 127.0.0.1")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _settings(home: Path, digest_size: int, content: str) -> Settings:
    # The policies are compared at one digest size: the baselines have no calibrated probability, so
    # the minimum-relevance cut (which may shorten a hybrid digest) is off for every run.
    env = {"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DELIVERY": "file", "PAPERDIGEST_SOURCES": "watch",
           "PAPERDIGEST_DIGEST_SIZE": str(digest_size), "PAPERDIGEST_CONTENT_BACKEND": content,
           "PAPERDIGEST_MIN_RELEVANCE": "0"}
    return load_settings(env=env)


def _write_batch(path: Path, ids: list[str], data: SimulationData, day: dt.date) -> None:
    rows = data.papers.loc[ids]
    # The product requires an abstract; a title-only dataset (citeulike-a) repeats the title.
    items = [{"title": t, "abstract": a or t, "url": f"https://papers.example.org/sim/{pid}",
              "date": day.isoformat()}
             for pid, t, a in zip(rows["id"], rows["title"], rows["abstract"], strict=True)]
    path.write_text(json.dumps(items), encoding="utf-8")


def _ingest(store: Any, path: Path, ids: list[str], when: dt.datetime) -> dict[str, str]:
    """Ingest one batch file; returns store paper id -> dataset id."""
    from paperdigest.ingest import ingest_batch, parse_file

    result = ingest_batch(store, parse_file(path, fmt="json", today=when.date()), now=when)
    # Titles that normalise alike become one paper: the first dataset id stands for all of them.
    out: dict[str, str] = {}
    for store_id, data_id in zip(result.paper_ids, ids, strict=True):
        out.setdefault(store_id, data_id)
    return out


def _read_digest(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """(recipient, [(title, more url, less url)]) of one ``.eml``."""
    # compat32 parsing: the default policy's header objects made opening a digest cost 28 ms.
    message = email.message_from_bytes(path.read_bytes())
    plain = next((part for part in message.walk() if part.get_content_type() == "text/plain"), None)
    payload = plain.get_payload(decode=True) if plain is not None else b""
    text = payload.decode(plain.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
    items: list[list[str]] = []
    for line in text.splitlines():
        if (m := _ITEM.match(line)) and not line.startswith(" "):
            items.append([m.group(2), "", ""])
        elif items and (m := _MORE.match(line)):
            items[-1][1] = m.group(1)
        elif items and (m := _LESS.match(line)):
            items[-1][2] = m.group(1)
    return str(message["To"]), [(t, more, less) for t, more, less in items if more and less]


def run_policy(home: Path, data: SimulationData, policy: str, *, feedback: bool, digest_size: int,
               dislike_rate: float, content: str, seed: int, refit_every: int = 0,
               log: Callable[[str], None] = lambda _m: None) -> list[DayResult]:
    """Simulate every day for one policy in the fresh data folder ``home``."""
    import httpx
    from paperdigest.digest.compose import TITLE_CHARS
    from paperdigest.digest.render import shorten
    from paperdigest.ranking import load_model
    from paperdigest.scheduler.service import SchedulerService
    from paperdigest.simulate.policies import make_policy
    from paperdigest.store import Store
    from paperdigest.store.feedback import record_feedback
    from paperdigest.store.readers import ReaderFields, add_reader

    make_private_dir(home)  # a data folder: 0700, as the store expects
    settings = _settings(home, digest_size, content)
    store, _ = Store.initialise(settings)
    rng = np.random.default_rng(seed)
    # Readers are created now (wall clock); the simulated days start the next UTC midnight after.
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                      microsecond=0)
    batches = home / "batches"
    batches.mkdir()
    hours = {r: int(h) for r, h in zip(data.readers, rng.permutation(len(data.readers)) % 24, strict=True)}
    emails: dict[str, str] = {}
    with store.transaction() as session:
        ids = {}
        for reader in data.readers:
            address = f"reader{reader}@example.org"
            row = add_reader(session, ReaderFields(email=address, cadence="daily", send_hour=hours[reader],
                                                   timezone="UTC", digest_size=digest_size))
            ids[reader], emails[address] = row.id, reader
    _write_batch(batches / "history.json", data.history, data, (start - dt.timedelta(days=30)).date())
    to_data = _ingest(store, batches / "history.json", data.history, start - dt.timedelta(days=30))
    to_store = {v: k for k, v in to_data.items()}
    with store.transaction() as session:
        for reader in data.readers:
            for pid in data.seeds[reader]:
                record_feedback(session, ids[reader], to_store[pid], "like", "cli",
                                when=start - dt.timedelta(days=1))
    clock = {"now": start}
    service = SchedulerService(store, settings, clock=lambda: clock["now"], fetchers={})
    if policy == "hybrid":
        def ranker() -> Any:  # the saved model with the feedback since its fit folded in
            return load_model(store, service.settings)
    else:
        ranker = partial(lambda fixed: fixed, make_policy(policy, store, random_state=seed, content=content,
                                                   cache_dir=settings.cache_dir))
    results: list[DayResult] = []
    try:
        with _Server(settings, store) as base_url:
            settings = dataclasses.replace(settings, base_url=base_url)
            service.settings = settings
            if policy == "hybrid":
                _check(service.refit(), "refit")
            done: set[str] = set()  # digests already opened
            with httpx.Client(timeout=30) as client:
                for day, day_ids in enumerate(data.days, start=1):
                    began = time.perf_counter()
                    when = start + dt.timedelta(days=day - 1)
                    path = batches / f"day{day:02d}.json"
                    _write_batch(path, day_ids, data, when.date())
                    day_map = _ingest(store, path, day_ids, when)
                    to_data.update(day_map)
                    titles = {shorten(data.papers.at[d, "title"], TITLE_CHARS): d for d in day_ids}
                    if policy == "hybrid" and refit_every and feedback and day > 1 \
                            and (day - 1) % refit_every == 0:
                        _check(service.refit(), "refit")  # a full refit, as refit_hours=24 does nightly
                    result = DayResult(day)
                    for hour in range(24):
                        clock["now"] = when + dt.timedelta(hours=hour, minutes=1)
                        _tick(service, clock["now"], ranker)
                        for eml in sorted(settings.outbox_dir.glob("*.eml")):
                            if eml.name in done:
                                continue
                            done.add(eml.name)
                            result.posts += _open_digest(eml, emails, titles, data, set(day_ids), hours,
                                                         result, client, feedback, dislike_rate, rng)
                    result.seconds = time.perf_counter() - began
                    results.append(result)
                    log(f"  {policy}{'' if feedback else ' (no feedback)'} day {day}: "
                        f"{_precision(result):.3f} precision, {len(result.readers)} digests, "
                        f"{result.posts} posts, {result.seconds:.1f} s")
    finally:
        store.close()
    return results


def _open_digest(eml: Path, emails: dict[str, str], titles: dict[str, str], data: SimulationData,
                 batch: set[str], hours: dict[str, int], result: DayResult, client: Any,
                 feedback: bool, dislike_rate: float, rng: np.random.Generator) -> int:
    address, items = _read_digest(eml)
    reader = emails[address.split("<")[-1].rstrip(">").strip()]
    truth = data.truth[reader]
    hits = posts = 0
    for title, more, less in items:
        paper = titles.get(title)
        if paper is None:
            raise RuntimeError(f"{eml.name}: paper {title!r} is not in the day's batch")
        liked = paper in truth
        hits += liked
        if not feedback:
            continue
        url = more if liked else (less if rng.random() < dislike_rate else None)
        if url is not None:
            response = client.post(url)
            if response.status_code != 200:
                raise RuntimeError(f"feedback POST {url} answered {response.status_code}")
            posts += 1
    result.readers.append(ReaderDay(reader, hours[reader], len(items), hits, len(truth & batch)))
    return posts


def _tick(service: Any, now: dt.datetime, ranker: Callable[[], Any]) -> None:
    """The scheduler's tick, batch-first: every due digest in one ``send_digests`` call.

    The due list comes from the scheduler (``SchedulerService.due``); ranking, rendering and delivery
    are ``digest.send_digests``, called once for all due readers with one ranker, so a tick costs
    one ``rank`` call instead of one per reader.
    """
    from paperdigest.digest import send_digests

    due = service.due(now)
    if not due:
        return
    periods = {d.reader_id: d.period for d in due}
    send_digests(service.store, service.settings, now=now, readers=list(periods),
                 period_for=lambda reader, _now: periods[reader.id], ranker=ranker())


def _check(result: dict[str, Any], step: str) -> None:
    if result.get("status") in ("error", "skipped"):
        raise RuntimeError(f"simulation step '{step}' failed: {result.get('error') or result.get('reason')}")


def _precision(result: DayResult) -> float:
    sent = sum(r.sent for r in result.readers)
    return sum(r.hits for r in result.readers) / sent if sent else 0.0
