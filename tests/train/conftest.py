"""Fixtures of the train tests: `server`, the loopback fake of OpenAI's files and fine-tuning
endpoints with the SDK pointed at it (test_hosted*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.train.hosted_helpers import KEY

from doctune.testing.fake_finetuning import FakeFineTuningServer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFineTuningServer]:
    with FakeFineTuningServer() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield fake
