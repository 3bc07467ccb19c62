"""The CLI answers at once: `--help` must not import the heavy numeric libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "implicit", "pandas", "sentence_transformers", "matplotlib")


def test_help_does_not_import_heavy_libraries() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "paperdigest", "--help"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert "Usage" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert len(imported) > 50  # the -X importtime trace really was read
    pulled = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert not pulled, f"`paperdigest --help` imports {pulled[:5]}"
