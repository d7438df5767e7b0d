"""The judge model as the second reader of multiple-choice replies, against the loopback server:
it decides what the rules could not settle, its calls are cached, a failed call leaves the rules'
reading, the row reports both paths and their agreement, replies cut at the token limit are
cut off, and MMLU generation sends its stop sequences."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from evalkit import answering, judging, make_project, run_evaluate

from doctune.evaluate.aggregate import RowKey, Scoring, suite_score
from doctune.evaluate.answer import Asker
from doctune.evaluate.extraction import read_choice
from doctune.evaluate.extraction.model import ChoiceReader, choice_schema
from doctune.evaluate.judge import AnswerJudgement
from doctune.evaluate.mmlu import GENERATE_STOP, MMLUSuite, load_items
from doctune.evaluate.quiz import QuizSuite
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.foundation.evalrecords import EvalItem, SuiteScore
from doctune.foundation.jsonl import read_jsonl
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer, Faults

OPTIONS = {"A": "0.150 mol", "B": "0.200 mol", "C": "0.210 mol", "D": "0.250 mol"}
# Per-option notes without a verdict: the rules see four letters in play and cannot settle it.
UNSETTLED = (
    "Let's look at each option:\n- A: 0.150 mol of bromine\n- B: 0.200 mol of bromine\n"
    "- C: 0.210 mol of bromine\n- D: 0.250 mol of bromine"
)
SETTLED = "Multiplying by 1.05 gives 0.21 mol, so the answer is C."
MODEL = ModelRef(label="student", spec="openai:student", kind="base")
MMLU_FIXTURES = Path(__file__).parent / "mmlu_fixtures"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client(server: FakeOpenAIServer, cache: Path, name: str) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key="sk-test")
    backend = OpenAIBackend(parse_spec(f"openai:{name}"), settings, timeout_s=5, max_retries=0)
    return ModelClient(backend, settings=settings, cache=CallCache(cache), stage="evaluate")


def item(index: int, answer: str = "C") -> EvalItem:
    return EvalItem(
        id=f"q{index}", suite="task", question=f"How much bromine ({index})?", options=OPTIONS,
        answer=answer,
    )  # fmt: skip


def reply_of(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    return user.split("Reply to read:\n<<<", 1)[1].split(">>>", 1)[0].strip()


def test_the_model_reads_what_the_rules_cannot_and_is_cached(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    assert read_choice(UNSETTLED, options=OPTIONS).confident is False
    fake_openai.responders["ChoiceExtraction"] = lambda body: json.dumps({"choice": "C"})
    reader = ChoiceReader(client(fake_openai, tmp_path / "c.sqlite", "judge"), "rules+model")
    reading = run(reader.read(item(0), UNSETTLED, "stop"))
    assert (reading.letter, reading.extraction) == ("C", "model")
    assert fake_openai.completions == 1
    sent = fake_openai.bodies[0]
    assert UNSETTLED in sent["messages"][-1]["content"]
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["choice"]["enum"] == ["A", "B", "C", "D", "none"]
    # A settled reply is not sent; a rerun with a new client on the same cache asks nothing.
    again = ChoiceReader(client(fake_openai, tmp_path / "c.sqlite", "judge"), "rules+model")

    async def both() -> tuple[Any, Any]:
        return await again.read(item(0), SETTLED, "stop"), await again.read(
            item(0), UNSETTLED, "stop"
        )

    settled, rerun = run(both())
    assert settled.extraction == "rules" and rerun == reading
    assert fake_openai.completions == 1


def test_none_from_the_model_and_rules_only_mode(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.responders["ChoiceExtraction"] = lambda body: json.dumps({"choice": "none"})
    judge = client(fake_openai, tmp_path / "c.sqlite", "judge")

    async def both() -> tuple[Any, Any]:
        by_model = await ChoiceReader(judge, "rules+model").read(item(0), UNSETTLED, "stop")
        return by_model, await ChoiceReader(judge, "rules").read(item(1), UNSETTLED, "stop")

    by_model, rules_only = run(both())
    assert by_model.letter is None and by_model.extraction == "model"
    assert rules_only.extraction == "rules" and fake_openai.completions == 1
    assert choice_schema("ABCDE").model_validate({"choice": "E"}).choice == "E"


def test_a_failed_model_call_leaves_the_rules_reading(tmp_path: Path) -> None:
    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as down:
        reader = ChoiceReader(client(down, tmp_path / "c.sqlite", "judge"), "rules+model")
        reading = run(reader.read(item(0), UNSETTLED, "stop"))
    assert reading.extraction == "rules" and reading.letter == reading.rules.letter
    assert reading.rules.confident is False


def quiz_server(server: FakeOpenAIServer) -> None:
    """The student answers q0 unsettled and the rest settled; the judge reads C for an
    unsettled reply and, auditing, disagrees with the rules on q1 only."""

    def answering(body: dict[str, Any]) -> str:
        return UNSETTLED if "(0)" in body["messages"][-1]["content"] else SETTLED

    def extracting(body: dict[str, Any]) -> str:
        question = body["messages"][-1]["content"].split("\n", 1)[0]
        reply = reply_of(body)
        choice = "C" if reply == UNSETTLED else ("B" if "(1)" in question else "C")
        return json.dumps({"choice": choice})

    server.responder = answering
    server.responders["ChoiceExtraction"] = extracting


def test_the_row_reports_both_readers_and_their_agreement(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    quiz_server(fake_openai)
    judge = client(fake_openai, tmp_path / "c.sqlite", "judge")
    reader = ChoiceReader(judge, "rules+model", audit=3, seed=7)
    suite = QuizSuite("task", Asker(system_prompt="", max_tokens=64), reader=reader)
    items = [item(i) for i in range(5)]
    student = client(fake_openai, tmp_path / "c.sqlite", "student")
    results = run(suite.evaluate(MODEL, student, items, "plain"))
    assert [r.extraction for r in results] == ["model", "rules", "rules", "rules", "rules"]
    assert [r.extracted for r in results] == ["C"] * 5
    audited = [r for r in results if r.audit_choice is not None]
    assert len(audited) == 3 and all(r.extraction == "rules" for r in audited)
    # The sample is seeded by item id: the same items for every model and every rerun.
    assert [r.item_id for r in reader.audit_sample(results)] == [r.item_id for r in audited]
    score = suite_score(MODEL, RowKey("student", "task", None, "plain"), results,
                        {i.id: i for i in items}, Scoring(samples=200, seed=0))  # fmt: skip
    agreeing = sum(r.audit_choice == "C" for r in audited)
    assert score.extra["by_rules"] == 4 and score.extra["by_model"] == 1
    assert score.extra["extraction_audited"] == 3
    assert score.extra["extraction_agreement"] == agreeing / 3
    assert ("q1" in {r.item_id for r in audited}) == (agreeing == 2)


def test_replies_cut_at_the_token_limit_are_cut_off(tmp_path: Path) -> None:
    """The fake truncates every reply and says finish_reason "length"."""
    with FakeOpenAIServer(faults=Faults(rate_truncated=1.0)) as cutting:
        cutting.responder = lambda body: "Let me weigh every option in turn before answering."
        suite = QuizSuite("task", Asker(system_prompt="", max_tokens=64))
        student = client(cutting, tmp_path / "c.sqlite", "student")
        settings = MMLUSettings(dir=str(MMLU_FIXTURES), subjects=["process_engineering"])
        mmlu_items = load_items(settings)[:2]

        async def both() -> tuple[Any, Any]:
            quiz = await suite.evaluate(MODEL, student, [item(0)], "plain")
            return quiz, await MMLUSuite(settings).evaluate(MODEL, student, mmlu_items, "plain")

        (quiz,), mmlu = run(both())
    for result in (quiz, *mmlu):
        assert result.cut_off and result.extraction == "cut_off" and result.extracted is None
    score = suite_score(MODEL, RowKey("student", "task", None, "plain"), [quiz],
                        {"q0": item(0)}, Scoring(samples=200, seed=0))  # fmt: skip
    assert score.extra["cut_off"] == 1 and score.extra["no_letter"] == 0


def test_mmlu_generation_sends_its_stop_sequences(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.responder = lambda body: "B"
    settings = MMLUSettings(dir=str(MMLU_FIXTURES), subjects=["process_engineering"])
    items = load_items(settings)[:2]
    student = client(fake_openai, tmp_path / "c.sqlite", "student")
    results = run(MMLUSuite(settings).evaluate(MODEL, student, items, "plain"))
    assert [r.extracted for r in results] == ["B", "B"]
    assert [r.extraction for r in results] == ["rules", "rules"]
    assert all(b["stop"] == list(GENERATE_STOP) for b in fake_openai.bodies)
    assert "Question:" in GENERATE_STOP and "\n\n" in GENERATE_STOP  # the harness's boundaries


def test_through_the_stage_every_quiz_row_says_how_its_letters_were_read(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: Any
) -> None:
    monkeypatch.delenv("MMLU_DIR", raising=False)
    fake_openai.responder = answering
    fake_openai.responders[AnswerJudgement.__name__] = judging
    suites = {"evaluate": {"suites": ["task"], "extraction_audit": 2}}
    project = make_project(tmp_path / "p", suites)
    run_evaluate(project)
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    assert {r.model for r in rows} == {
        "openai:base (base)",
        "exp1 (pdf_synthetic)",
        "openai:baseline",
    }
    for row in rows:  # every evalkit quiz reply is one the rules settle
        assert (row.extra["by_rules"], row.extra["by_model"]) == (4, 0)
        assert (row.extra["extraction_audited"], row.extra["extraction_agreement"]) == (2, 1.0)
    read_requests = [b for b in fake_openai.bodies if "Reply to read:" in str(b["messages"])]
    assert len(read_requests) == 2 * len(rows)
    # rules only: no reading call at all, and the rows say nothing of a second reader.
    project = make_project(
        tmp_path / "q", {"evaluate": {"suites": ["task"], "extraction": "rules"}}
    )
    served = len(fake_openai.bodies)
    run_evaluate(project)
    rows = read_jsonl(project / "out" / "evaluate" / "scores.jsonl", SuiteScore)
    assert all("Reply to read:" not in str(b["messages"]) for b in fake_openai.bodies[served:])
    assert all(r.extra["extraction_audited"] == 0 and r.extra["by_model"] == 0 for r in rows)
