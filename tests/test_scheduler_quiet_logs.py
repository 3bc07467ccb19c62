"""`run --log-format json` with the embedding backend: every line on stdout and stderr is one JSON object.

The embedding model's loader draws a tqdm "Loading weights" bar on stderr; a fresh embedding cache
makes sure the model really loads during the refit, so the test fails if the bar gets through.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"


@pytest.mark.slow
def test_run_once_json_logs_are_pure_json(tmp_path: Path) -> None:
    from paperdigest.recommender.text import embeddings_available

    need(embeddings_available(), "sentence-transformers and the bundled MiniLM model are not installed")
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    shutil.copy(FIXTURES / "papers.json", home / "inbox" / "papers.json")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAPERDIGEST_", "TQDM_", "HF_HUB_DISABLE", "TRANSFORMERS_"))}
    env.update({"PAPERDIGEST_HOME": str(home), "PAPERDIGEST_CONTENT_BACKEND": "embedding",
                "PAPERDIGEST_SOURCES": "watch", "PAPERDIGEST_CACHE_DIR": str(tmp_path / "cache")})
    cli = [sys.executable, "-m", "paperdigest"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run([*cli, "users", "add", "ann@example.org", "-k", "graphs"], env=env, check=True,
                   capture_output=True, timeout=120)
    result = subprocess.run([*cli, "run", "--once", "--log-format", "json"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # any stray bar or warning fails here
    assert {r["job"] for r in records if "job" in r} >= {"poll", "refit", "tick"}
    refit = next(r for r in records if r.get("job") == "refit")
    assert refit["status"] == "ok" and "ann@example.org" not in result.stderr
    assert (tmp_path / "cache" / "embeddings").is_dir()  # the model really ran in this process
