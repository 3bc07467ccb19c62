"""``paperdigest demo``: the whole loop, offline, in a new folder, in well under a minute.

It drives the real scheduler jobs (:class:`scheduler.service.SchedulerService`) on the embedded default
(SQLite, file outbox): sample batches are dropped into the watched folder and polled, three readers with
different interests subscribe (cadence ``each_batch``) and like two papers each, the model is trained,
a tick sends each reader a digest into the outbox, the demo clicks "more / less like this" for them, a
new batch lands, and the next tick sends digests shaped by that feedback.

The sample batches in ``scheduler/demo_data`` were written for this project (invented papers); the
seed pages in ``../shared/seeds`` are added when that folder exists.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from paperdigest.core import Settings, load_settings
from paperdigest.core.errors import InvalidInput, PaperdigestError
from paperdigest.core.files import make_private_dir
from paperdigest.scheduler.service import SchedulerService
from paperdigest.store import Store
from paperdigest.store.feedback import record_feedback
from paperdigest.store.models import Reader
from paperdigest.store.papers import find_paper, papers_since
from paperdigest.store.readers import ReaderFields, add_reader, list_readers

__all__ = ["DEMO_MARKER", "DEMO_READERS", "DemoResult", "run_demo"]

DEMO_MARKER = ".paperdigest-demo"
# (email, name, topic of the sample data they like, keywords)
DEMO_READERS = (
    ("ada@example.org", "Ada (graph learning)", "graph", ["graph neural networks", "message passing"]),
    ("ben@example.org", "Ben (computer vision)", "vision", ["segmentation", "depth", "images"]),
    ("cleo@example.org", "Cleo (language models)", "language", ["language models", "decoding"]),
)


@dataclass
class DemoResult:
    """Where the demo put things and what each round sent (reader email -> titles)."""

    home: Path
    outbox: Path
    archive: Path
    rounds: list[dict[str, list[str]]]
    on_topic: list[dict[str, float]]  # per round: email -> on-topic papers / the best possible
    seconds: float
    best: list[dict[str, int]] = field(default_factory=list)  # per round: email -> best possible hits
    commands: list[str] = field(default_factory=list)  # the "next steps" printed, ready to paste


def _prepare_folder(folder: Path) -> Path:
    folder = folder.expanduser().absolute()
    if folder.exists():
        if not folder.is_dir():
            raise InvalidInput(f"demo folder {folder} exists and is not a folder")
        if any(folder.iterdir()):
            if not (folder / DEMO_MARKER).exists():
                raise InvalidInput(
                    f"refusing to use {folder}: it is not empty and not a paperdigest demo folder"
                    " (choose another --dir)"
                )
            shutil.rmtree(folder)  # an earlier demo run: start fresh
    make_private_dir(folder)  # 0700: it will hold reader addresses and feedback
    (folder / DEMO_MARKER).write_text("created by 'paperdigest demo'; safe to delete\n")
    return folder


def _demo_files() -> list[Path]:
    base = resources.files("paperdigest.scheduler") / "demo_data"
    return sorted(Path(str(p)) for p in base.iterdir() if p.name.endswith(".json"))


def _seed_pages() -> list[Path]:
    here = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    for seeds in (here, Path.cwd().parent / "shared" / "seeds"):
        if seeds.is_dir():
            return sorted(seeds.glob("*.txt"))
    return []


def _topics(files: list[Path]) -> dict[str, str]:
    out = {}
    for path in files:
        for item in json.loads(path.read_text(encoding="utf-8")):
            out[item["title"]] = item.get("topic", "")
    return out


# The simulated readers judge papers the sample data has no topic label for (the real seed pages)
# by words in the title, so a graph reader does not press "less like this" on a real graph paper.
_TOPIC_WORDS = {
    "graph": re.compile(r"\b(graphs?|gnns?|message[- ]passing|node|nodes|link prediction)\b", re.I),
    "vision": re.compile(r"\b(images?|vision|visual|video|segmentation|depth|nerf|pixels?|3d|"
                         r"camera|detection|scene|diffusion)\b", re.I),
    "language": re.compile(r"\b(language models?|llms?|text|tokens?|decoding|reasoning|"
                           r"translation|dialogue|chat)\b", re.I),
}


def _is_on_topic(title: str, topic: str, labels: dict[str, str]) -> bool:
    if title in labels:
        return labels[title] == topic
    return bool(_TOPIC_WORDS[topic].search(title))


def _settings(home: Path) -> Settings:
    # The embedded default, whatever this shell's PAPERDIGEST_* say; only the content backend may be
    # chosen (tests pick the fast TF-IDF one).
    env = {k: v for k, v in os.environ.items() if k == "PAPERDIGEST_CONTENT_BACKEND"}
    env.update({"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_DELIVERY": "file",
                "PAPERDIGEST_SOURCES": "watch", "PAPERDIGEST_DIGEST_SIZE": "5"})
    return load_settings(env=env)


def _check(step: str, result: dict[str, object]) -> dict[str, object]:
    if result.get("status") in ("error", "skipped"):
        raise PaperdigestError(f"demo step '{step}' failed: {result.get('error') or result.get('reason')}")
    return result


def _drop(paths: list[Path], inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, inbox / path.name)


def _newest_digests(store: Store) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """email -> (digest id, [(paper id, title)]) of each reader's newest sent digest."""
    from paperdigest.store.digests import list_digests

    out: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    with store.transaction() as session:
        for digest in list_digests(session, limit=1000):
            if digest.status != "sent":
                continue
            reader = session.get(Reader, digest.reader_id)
            if reader is None or (reader.email in out and out[reader.email][0] > digest.id):
                continue
            out[reader.email] = (digest.id, [(i.paper.id, i.paper.title) for i in digest.items])
    return out


def run_demo(folder: Path, *, echo: Callable[[str], None] = print, debug: bool = False) -> DemoResult:
    """Run the demo in ``folder`` (created; refused if it holds anything but an earlier demo)."""
    started = time.perf_counter()
    home = _prepare_folder(folder)
    settings = _settings(home)
    files = _demo_files()
    topics = _topics(files)
    seeds = _seed_pages()
    store, _ = Store.initialise(settings)
    try:
        service = SchedulerService(store, settings)
        echo(f"paperdigest demo in {home}")
        with store.transaction() as session:
            for email, name, _topic, keywords in DEMO_READERS:
                add_reader(session, ReaderFields(email=email, name=name, cadence="each_batch",
                                                 keywords=keywords, digest_size=5))
        _drop(files[:2] + seeds, settings.watch_dir or home / "inbox")
        poll = _check("poll", service.poll())
        echo(f"1. Ingested {poll.get('batches', 0)} batches ({poll.get('papers', 0)} papers) from the "
             f"watched folder{' incl. the seed pages' if seeds else ''}.")
        # Two likes each from the first sample batch give the recommender something to learn from.
        seeded: dict[str, set[str]] = {}
        with store.transaction() as session:
            readers = {r.email: r.id for r in list_readers(session)}
            for email, _name, topic, _kw in DEMO_READERS:
                liked = [t for t, tp in topics.items() if tp == topic][:2]
                seeded[email] = set(liked)
                for title in liked:
                    paper = find_paper(session, title)
                    record_feedback(session, readers[email], paper.id, "like", "cli")
        with store.transaction() as session:
            first_pool = [p.title for p in papers_since(session, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))]
        refit = _check("refit", service.refit())
        echo(f"2. Trained the recommender ({refit.get('status')}, {refit.get('seconds', '?')} s).")
        first = _check("first digests", service.tick())
        round1 = _newest_digests(store)
        echo(f"3. First digests: {first.get('sent', 0)} sent into the outbox.")
        # Feedback as if each reader pressed the buttons: like on-topic papers, dislike the rest.
        likes = dislikes = 0
        with store.transaction() as session:
            for email, _name, topic, _kw in DEMO_READERS:
                digest_id, items = round1.get(email, (None, []))
                for paper_id, title in items[:4]:
                    kind = "like" if _is_on_topic(title, topic, topics) else "dislike"
                    record_feedback(session, readers[email], paper_id, "click", "email",
                                    digest_id=digest_id)
                    record_feedback(session, readers[email], paper_id, kind, "email", digest_id=digest_id)
                    likes += kind == "like"
                    dislikes += kind == "dislike"
        echo(f"4. Simulated feedback: {likes} 'More like this' and {dislikes} 'Less like this' clicks.")
        _drop(files[2:], settings.watch_dir or home / "inbox")
        polled_at = dt.datetime.now(dt.UTC)
        _check("poll", service.poll())
        with store.transaction() as session:
            second_pool = [p.title for p in papers_since(session, polled_at)]
        second = _check("next digests", service.tick())
        round2 = _newest_digests(store)
        echo(f"5. A new batch arrived; next digests: {second.get('sent', 0)} sent, with the feedback "
             "folded in.")
        rounds: list[dict[str, list[str]]] = []
        on_topic: list[dict[str, float]] = []
        best: list[dict[str, int]] = []
        # The fair measure of a digest is how close it comes to the best it could have been: every
        # on-topic paper the batch offered, up to the digest size (minus papers already liked).
        for result, pool in ((round1, first_pool), (round2, second_pool)):
            rounds.append({email: [t for _, t in items] for email, (_, items) in result.items()})
            best.append({email: min(5, sum(_is_on_topic(t, topic, topics) and t not in seeded[email]
                                           for t in pool))
                         for email, _n, topic, _k in DEMO_READERS})
            on_topic.append({
                email: (sum(_is_on_topic(t, topic, topics) for t in rounds[-1].get(email, []))
                        / max(1, best[-1][email]))
                for email, _n, topic, _k in DEMO_READERS
            })
        commands = _next_steps(home)
        _report(echo, settings, rounds, best, commands, home)
        return DemoResult(home, settings.outbox_dir, settings.archive_dir, rounds, on_topic,
                          time.perf_counter() - started, best, commands)
    finally:
        store.close()


def _command() -> str:
    """How to call this very paperdigest from any shell: the console script next to this Python.

    A bare ``paperdigest`` fails in a shell where the virtualenv is not active; the absolute path
    works whether or not it is.
    """
    script = Path(sys.executable).parent / "paperdigest"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m paperdigest"


def _next_steps(home: Path) -> list[str]:
    cli = f"{_command()} --home {shlex.quote(str(home))}"
    return [f"{cli} serve", f"{cli} stats", f"{cli} status"]


def _report(echo: Callable[[str], None], settings: Settings, rounds: list[dict[str, list[str]]],
            best: list[dict[str, int]], commands: list[str], home: Path) -> None:
    echo("")
    echo("What each reader got (papers on their own topic, out of the best the batch allowed):")
    for email, name, topic, _kw in DEMO_READERS:
        first, second = rounds[0].get(email, []), rounds[1].get(email, [])
        labels = _topics(_demo_files())
        hits = [sum(_is_on_topic(t, topic, labels) for t in r) for r in (first, second)]
        top = (second or ["(nothing new passed the threshold)"])[0]
        echo(f"  {name:<24} first digest {hits[0]}/{best[0].get(email, 0)};"
             f" after feedback {hits[1]}/{best[1].get(email, 0)}"
             f" (of {len(first)} and {len(second)} papers sent)")
        echo(f"  {'':<24} now on top: {top}")
    echo("")
    echo("Open the results:")
    pages = sorted(settings.outbox_dir.glob("*.html"))
    echo(f"  Digest emails (.eml) and pages (.html): {settings.outbox_dir}")
    if pages:
        echo(f"  For example:                            {pages[-1]}")
    index = settings.archive_dir / "index.html"
    if index.exists():
        echo(f"  Archive index:                          {index}")
    echo("Next steps (paste into any shell):")
    notes = ("make the 'More/Less like this' links work", "per-day sends, likes, like rate by position",
             "jobs, sources, last digest run")
    for command, note in zip(commands, notes, strict=True):
        echo(f"  {command}    # {note}")
    echo(f"Demo data recorded on {dt.date.today():%Y-%m-%d}; delete {home} when done.")
