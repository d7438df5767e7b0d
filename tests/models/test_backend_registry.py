"""The backend registry: a backend is one `ChatBackend` class plus one `register_backend` line,
and a spec with its prefix answers through the client for any stage; capabilities, not prefixes,
decide what callers do with it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.curate.factories import chunks, make_project, read_lines, record

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.foundation.errors import ConfigError
from doctune.models.base import ChatBackend, ChatRequest, ChatResponse
from doctune.models.spec import (
    BackendType,
    Capabilities,
    ModelSpec,
    backend_type,
    capabilities,
    parse_spec,
    register_backend,
    unregister_backend,
)
from doctune.models.tokens import tokenizer_for_spec
from doctune.pipeline import get_stage, run_pipeline


class UnitsJudge(ChatBackend):
    """A toy judge: an answer that states a unit (°C) is good training data, others are not."""

    def __init__(self, spec: ModelSpec, settings: ModelSettings, client: ClientConfig) -> None:
        self.spec, self.asked = str(spec), 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.asked += 1
        score = 9 if "°C" in request.messages[-1].content.split("Answer:", 1)[-1] else 1
        marks = {"clarity": score, "correctness": score, "self_contained": score}
        return ChatResponse(text=json.dumps({"rationale": "units", **marks, "score": score}))


@pytest.fixture
def units_backend() -> Iterator[None]:
    register_backend(BackendType("units", Capabilities(), UnitsJudge))
    yield
    unregister_backend("units")


def test_a_registered_backend_judges_in_the_curate_stage(
    tmp_path: Path, units_backend: None
) -> None:
    records = [
        record(
            "hot",
            "At what temperature is the ester hydrolysed?",
            "The ester is hydrolysed with 2 M sodium hydroxide at 60–65 °C.",
            ["c-hydro"],
        ),
        record(
            "vague",
            "How is the ester hydrolysed?",
            "The ester is hydrolysed with sodium hydroxide, then acidified.",
            ["c-hydro"],
        ),
    ]
    config = {
        "models": {"judge": "units:strict"},
        "curate": {"judge_filter": {"enabled": True, "threshold": 5}},
    }
    ctx = make_project(
        tmp_path, config, chunk_list=list(chunks().values()), datasets={"pdf_synthetic": records}
    )
    (result,) = asyncio.run(run_pipeline(ctx, [get_stage("curate")]))
    summary = result.summary
    assert summary["judged"] == 2 and summary["judge_score"] == 1
    kept = [r["id"] for r in read_lines(ctx.out_dir / "curate" / "pdf_synthetic.jsonl")]
    assert kept == ["hot"]


def test_capabilities_not_prefixes_decide(units_backend: None) -> None:
    assert capabilities("hf:Qwen/Qwen2.5-0.5B").loglikelihood
    assert not capabilities("openai:gpt-4o-mini").loglikelihood
    assert capabilities("openai:gpt-4o-mini").fine_tuning == "hosted"
    assert tokenizer_for_spec("hf:org/m+./adapter") == "org/m"
    assert tokenizer_for_spec("units:strict") is None  # not local: no tokenizer to load
    assert parse_spec("units:a+b").model == "a+b"  # adapters only where the weights are local


def test_an_unknown_backend_names_the_known_ones(units_backend: None) -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'vllm' \(known: openai, hf, units\)"):
        backend_type("vllm")
