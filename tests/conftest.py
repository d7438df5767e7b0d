"""Session-wide fixtures: the loopback OpenAI-compatible server and the tiny local model.

No test reaches the network or a model hub: the server is a real HTTP server on 127.0.0.1 (a fake
of the paid service, named as one) and the model is randomly initialised from a local config.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctune.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ibuprofen"

# Belt and braces: nothing in the suite may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DOCTUNE_NO_PROGRESS", "1")


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    """A started FakeOpenAIServer; OPENAI_BASE_URL/OPENAI_API_KEY point at it for the test."""
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
        yield server


@pytest.fixture(autouse=True)
def _no_ambient_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own key or server must never leak into a test."""
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "DOCTUNE_TEACHER",
        "DOCTUNE_JUDGE",
        "DOCTUNE_STUDENT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2-style model with its own BPE tokenizer, built once per session."""
    from doctune.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    """A private copy of examples/ibuprofen (without any outputs) to run stages in."""
    dest = tmp_path / "ibuprofen"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("out"))
    return dest


LLAMAFACTORY_VENV = Path(os.environ.get("LLAMAFACTORY_VENV", ROOT / ".venv-llamafactory"))


@pytest.fixture
def llamafactory_venv() -> Path:
    """The separate LLaMA-Factory venv (it pins its own transformers). Missing: the test skips,
    unless DOCTUNE_REQUIRE_LLAMAFACTORY=1 (as .ci/run sets), where it fails."""
    if not (LLAMAFACTORY_VENV / "bin" / "llamafactory-cli").is_file():
        reason = (
            f"no LLaMA-Factory venv at {LLAMAFACTORY_VENV}; create it with "
            "`scripts/check_llamafactory.sh --setup`"
        )
        if os.environ.get("DOCTUNE_REQUIRE_LLAMAFACTORY") == "1":
            pytest.fail(reason + " (DOCTUNE_REQUIRE_LLAMAFACTORY=1)")
        pytest.skip(reason)
    return LLAMAFACTORY_VENV
