"""The student's tokenizer is looked for on disk (a folder, or the hub cache's layout) before
transformers is imported: an export that ends in estimates anyway should not pay seconds of
imports to learn that the tokenizer is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from doctune.foundation.errors import ConfigError
from doctune.models.tokens import get_token_counter
try:
    count = get_token_counter(sys.argv[1])("Ibuprofen is made in three steps.")
    error = None
except ConfigError as exc:
    count, error = None, str(exc)
print(json.dumps({"count": count, "error": error, "transformers": "transformers" in sys.modules}))
"""


def probe(name: str, cache: Path) -> dict[str, object]:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, name], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_tokenizer_in_no_folder_and_no_cache_is_refused_without_importing_transformers(
    tmp_path: Path,
) -> None:
    found = probe("acme/never-downloaded", tmp_path / "hub")
    assert found["count"] is None and found["transformers"] is False
    assert found["error"] == (
        "tokenizer 'acme/never-downloaded' is not in the local hub cache and the hub cannot be "
        "reached (HF_HUB_OFFLINE is set)"
    )


@pytest.mark.slow
def test_a_tokenizer_in_the_hub_cache_layout_is_found_and_loaded(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    found = probe("acme/tiny", cache)
    assert found["error"] is None and found["transformers"] is True
    assert isinstance(found["count"], int) and found["count"] > 0
    # A cache folder with no snapshot in it is not a tokenizer.
    shutil.rmtree(repo / "snapshots" / "0123abcd")
    assert probe("acme/tiny", cache)["error"] is not None
