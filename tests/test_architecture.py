"""The house rules of docs/architecture.md, checked on the source: imports flow one way.

Each room may import only the rooms listed for it; only ``store`` imports SQLAlchemy; the pure
recommender imports no other room but the core. A new room must be added here and in the docs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# room -> rooms it may import (besides itself). Mirrors the table in docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "recommender": {"core"},
    "ingest": {"core", "store"},
    "ranking": {"core", "store", "recommender"},
    "digest": {"core", "store", "ranking", "recommender"},
    "reports": {"core", "store", "ranking", "digest"},
    "web": {"core", "store", "digest", "ranking", "reports"},
    "scheduler": {"core", "store", "ingest", "ranking", "digest", "recommender"},
    # The simulation drives the whole product from outside, as an operator's tool would.
    "simulate": {"core", "store", "ingest", "ranking", "digest", "recommender", "web", "scheduler"},
    "workers": {"core", "store", "ingest", "ranking", "digest", "recommender", "scheduler"},
    "admin": {"core", "store", "ingest", "ranking", "digest", "recommender", "web", "scheduler",
              "reports", "simulate", "workers"},
}
ROOMS = sorted(ALLOWED)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _sources(room: str) -> list[Path]:
    return [p for p in (ROOT / room).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("room", ROOMS)
def test_room_imports_only_what_the_rules_allow(room: str) -> None:
    bad = []
    for path in _sources(room):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "paperdigest" and len(parts) > 1 and parts[1] != room:
                if parts[1] not in ALLOWED[room]:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
            elif parts[0] in ALLOWED and parts[0] != "paperdigest":
                bad.append(f"{path.relative_to(ROOT)} imports the bare name {name}")
    assert bad == []


@pytest.mark.parametrize("room", [r for r in ROOMS if r != "store"])
def test_only_store_talks_sql(room: str) -> None:
    bad = [f"{p.relative_to(ROOT)}" for p in _sources(room)
           if any(n.split(".")[0] in {"sqlalchemy", "alembic"} for n in _imports(p))]
    assert bad == []


def test_every_room_is_a_mapped_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for room in [*ROOMS, "templates"]:
        assert f'"paperdigest.{room}" = "{room}"' in pyproject, room
        assert (ROOT / room / "__init__.py").is_file(), room
