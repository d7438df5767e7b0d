"""Synthesis prompts fitted to the teacher's context: a chunk too long loses its start and still
gives its records, a prompt that cannot fit is not sent and its record is rejected with the
reason, counted in the summary, and the stage finishes. Distillation context drops the chunks
farthest from the focus first."""

from __future__ import annotations

from pathlib import Path

from doctune.foundation.config import ModelSettings
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import QARecord, RejectedRecord
from doctune.generation.common import Teacher, context_layout, kept_chunks
from doctune.generation.recipes import pdf_synthetic
from doctune.generation.schemas import qa_pairs_model
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.fitting import Room, fit
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import TEACHER, context, make_chunks, make_project, run, user_text

N = 2
LONG = "Filtration and drying of the crude product follow the quench step. " * 120


def pdf_project(tmp_path: Path, context_length: int) -> Path:
    return make_project(
        tmp_path,
        {
            "synthesize": {
                "recipes": ["pdf_synthetic"],
                "pdf_synthetic": {"questions_per_chunk": N},
            },
            "models": {"settings": {TEACHER: {"context_length": context_length}}},
        },
    )


def prompt_tokens(chunk) -> tuple[int, int]:
    """(prompt tokens, reply budget) of a chunk's first request as the openai backend counts it."""
    teacher = Teacher(TEACHER, 0.7, 0, 1024, "x")
    request = teacher.request(
        pdf_synthetic.messages_for(chunk, N), qa_pairs_model(N), pdf_synthetic.reply_chars(N)
    )
    backend = OpenAIBackend(parse_spec(TEACHER), ModelSettings(base_url="http://127.0.0.1:9/v1"))
    return backend.prompt_tokens(request), int(request.params.max_tokens or 0)


def test_a_chunk_too_long_loses_its_start_and_still_gives_records(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    chunks[2] = chunks[2].model_copy(update={"text": LONG + chunks[2].text})
    budget = max(prompt_tokens(c)[0] for i, c in enumerate(chunks) if i != 2)
    size = budget + prompt_tokens(chunks[0])[1]  # the others fit with their full reply budget
    ctx = context(pdf_project(tmp_path, size), chunks)
    result = run(ctx, "synthesize")
    summary = result.summary["pdf_synthetic"]
    assert summary["fitted_prompts"] == 1 and summary["prompt_exceeds_context"] == 0
    assert result.summary["pdf_synthetic_records"] == N * len(chunks)
    sent = [user_text(b) for b in fake_openai.bodies]
    long_prompt = next(t for t in sent if "quench" in t)
    assert "Hydrolysis of the nitrile finally gives ibuprofen." in long_prompt  # the end stays
    assert long_prompt.count("quench step") < 120
    assert "Write exactly 2 question-and-answer pairs" in long_prompt


def test_a_prompt_that_cannot_fit_is_rejected_with_its_reason_and_the_stage_goes_on(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    chunks = make_chunks()
    chunks[0] = chunks[0].model_copy(update={"text": LONG})
    fixed, _ = prompt_tokens(chunks[1])
    # 100 tokens beyond the shortest prompt: less than the 256-token reply floor for every one.
    ctx = context(pdf_project(tmp_path, fixed + 100), chunks)
    result = run(ctx, "synthesize")
    summary = result.summary["pdf_synthetic"]
    assert summary["prompt_exceeds_context"] == len(chunks)
    assert result.summary["pdf_synthetic_records"] == 0  # finished, with nothing to write
    assert fake_openai.completions == 0
    rejected = read_jsonl(
        ctx.path(ctx.manifest.one("rejected", stage="synthesize", recipe="pdf_synthetic")),
        RejectedRecord,
    )
    assert {r.reason for r in rejected} == {"prompt_exceeds_context"}
    assert all(r.detail.startswith("prompt exceeds context (") for r in rejected)
    records = read_jsonl(
        ctx.path(ctx.manifest.one("dataset", stage="synthesize", recipe="pdf_synthetic")),
        QARecord,
    )
    assert records == []


def words(request: ChatRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages)


def test_distillation_context_drops_the_chunks_farthest_from_the_focus_first() -> None:
    chunks = make_chunks()  # boots_route.md 0..2, bromination.pdf 0..1, bhc_route.txt
    focus = chunks[3]  # bromination, index 0
    ranked = [focus, chunks[0], chunks[4], chunks[5]]  # other documents are farthest

    def render(kept: list) -> list[Message]:
        return [Message(role="user", content=" ".join(c.text for c in kept))]

    layout = context_layout(ranked, render)
    full = words(ChatRequest(messages=tuple(render(ranked))))
    request = ChatRequest(messages=(), params=GenerationParams(max_tokens=4))
    room = full + 4 - len(chunks[0].text.split())  # one chunk must go
    fitted = fit(request, layout, Room(room, words))
    assert fitted.steps == ("dropped 1 of 3 chunks",)
    # Equally far (other documents), the lower-ranked goes first: bhc_route, not boots.
    assert kept_chunks(ranked, fitted.kept) == [focus, chunks[0], chunks[4]]
    two = fit(request, layout, Room(room - len(chunks[0].text.split()), words))
    assert kept_chunks(ranked, two.kept) == [focus, chunks[4]]  # the same document's stays
    alone = fit(request, layout, Room(len(focus.text.split()) + 4, words))
    assert alone.steps == ("dropped 3 of 3 chunks",)
    assert kept_chunks(ranked, alone.kept) == [focus]
    # The focus may lose its start, never all but MIN_MATERIAL_CHARS of it: then not sent.
    none = fit(request, layout, Room(20, words))
    assert none.request is None and none.excluded is not None
