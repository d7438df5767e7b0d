"""Prompts fitted to the model under test: RAG passages dropped lowest-ranked first, MMLU's
few-shot examples dropped before its description is cut, and an item that cannot fit excluded
and counted while the others are answered. The model is the tiny local one, whose context
is set through its settings, as a user would for a model with a short context."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from evalkit import SYSTEM, chunks, quizzes

from doctune.evaluate.answer import Asker
from doctune.evaluate.items import quiz_item
from doctune.evaluate.mmlu import MMLUSuite, load_items
from doctune.evaluate.qa import answer_template
from doctune.evaluate.quiz import QuizSuite
from doctune.evaluate.rag import Retriever
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.foundation.evalrecords import EvalItem
from doctune.models.base import ChatRequest
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.hf import HFBackend
from doctune.models.loglik import encode_pair
from doctune.models.spec import parse_spec
from doctune.testing.tiny_model import build_tiny_model

FIXTURES = Path(__file__).parent / "mmlu_fixtures"
MODEL = ModelRef(label="tiny", spec="hf:tiny", kind="base")


def client_for(model_dir: Path, context: int | None = None) -> ModelClient:
    backend = HFBackend(parse_spec(f"hf:{model_dir}"), ModelSettings(context_length=context))
    return ModelClient(backend)


def tokens(client: ModelClient, messages: list) -> int:
    return client.backend.prompt_tokens(ChatRequest(messages=tuple(messages)))


QUESTION = "Which catalyst and solvent does the BHC route use for the ketone of isobutylbenzene?"


def test_rag_passages_go_lowest_ranked_first(tiny_model_dir: Path) -> None:
    retriever = Retriever(chunks())
    asker = Asker(system_prompt=SYSTEM, max_tokens=16, retriever=retriever, k=3)
    ranked = retriever.search(QUESTION, 3)
    assert len(ranked) == 3
    full = asker.messages(answer_template(), "rag", QUESTION, question=QUESTION)
    probe = client_for(tiny_model_dir)
    # Room for the reply and all but the last-ranked passage.
    context = tokens(probe, full) + 16 - len(ranked[-1].text) // 8
    client = client_for(tiny_model_dir, context)
    asked = asker.fit(client, answer_template(), "rag", QUESTION, question=QUESTION)
    assert asked.excluded is None
    assert asked.fitting == ["dropped 1 of 3 passages"]
    user = asked.messages[-1].content
    assert ranked[0].text in user and ranked[1].text in user and ranked[2].text not in user
    assert user.endswith(QUESTION)
    assert tokens(client, asked.messages) + 16 <= context


def test_a_prompt_that_fits_is_sent_unchanged(tiny_model_dir: Path) -> None:
    asker = Asker(system_prompt=SYSTEM, max_tokens=16, retriever=Retriever(chunks()), k=3)
    asked = asker.fit(
        client_for(tiny_model_dir), answer_template(), "rag", QUESTION, question=QUESTION
    )
    assert asked.fitting == [] and asked.max_tokens == 16
    assert asked.messages == asker.messages(answer_template(), "rag", QUESTION, question=QUESTION)


def test_the_start_goes_before_the_question(tiny_model_dir: Path) -> None:
    asker = Asker(system_prompt="", max_tokens=16)
    item = quiz_item("task_prompted", quizzes()[0])
    suite = QuizSuite("task_prompted", asker)
    full = suite.messages(item, "plain")
    probe = client_for(tiny_model_dir)
    client = client_for(tiny_model_dir, tokens(probe, full) + 16 - 10)
    [result] = asyncio.run(suite.evaluate(MODEL, client, [item], "plain"))
    assert result.excluded is None
    assert result.fitting[-1].startswith("cut ") and result.fitting[-1].endswith("from the left")
    assert item.question in result.prompt
    assert result.prompt.endswith("D. 0.105 mol")
    assert not result.prompt.startswith("please choose")


def test_an_item_that_cannot_fit_is_excluded_and_the_others_answered(
    tiny_model_dir: Path,
) -> None:
    asker = Asker(system_prompt="", max_tokens=8)
    short = quiz_item("task", quizzes()[0])
    long = EvalItem(
        id="long",
        suite="task",
        question="How much bromine is needed for this batch? " * 40,
        options={"A": "1 mol", "B": "2 mol", "C": "3 mol", "D": "4 mol"},
        answer="A",
    )
    suite = QuizSuite("task", asker)
    probe = client_for(tiny_model_dir)
    context = tokens(probe, suite.messages(short, "plain")) + 40
    client = client_for(tiny_model_dir, context)
    results = asyncio.run(suite.evaluate(MODEL, client, [short, long], "plain"))
    by_id = {r.item_id: r for r in results}
    assert by_id[short.id].excluded is None and by_id[short.id].completion_tokens > 0
    skipped = by_id["long"]
    assert skipped.exclusion == "prompt_exceeds_context"
    assert skipped.excluded is not None
    assert skipped.excluded.startswith("prompt exceeds context (")
    assert skipped.excluded.endswith(f"context {context})")
    assert skipped.answer == "" and skipped.completion_tokens == 0


@pytest.fixture(scope="module")
def mmlu_items() -> list[EvalItem]:
    settings = MMLUSettings(dir=str(FIXTURES), few_shot=3, max_questions_per_subject=1)
    return load_items(settings)


def test_mmlu_drops_few_shot_examples_last_first(
    tiny_model_dir: Path, mmlu_items: list[EvalItem]
) -> None:
    item = mmlu_items[0]
    shots = item.meta["shots"]
    assert len(shots) == 3
    suite = MMLUSuite(MMLUSettings(scoring="generate"), max_tokens=8)
    probe = client_for(tiny_model_dir)
    prompt = item.meta["prompt"]
    full = tokens(probe, [{"role": "user", "content": prompt}])
    without_last = prompt.replace(shots[-1], "")
    fewer = tokens(probe, [{"role": "user", "content": without_last}])
    client = client_for(tiny_model_dir, fewer + 8)  # fits with two examples, not three
    assert full + 8 > fewer + 8
    [result] = asyncio.run(suite.evaluate(MODEL, client, [item], "plain"))
    assert result.fitting == ["dropped 1 of 3 few-shot examples"]
    assert result.prompt == without_last
    assert result.prompt.startswith("The following are multiple choice questions")
    assert result.prompt.endswith("Answer:")


def test_mmlu_cuts_the_description_once_no_example_is_left(
    tiny_model_dir: Path, mmlu_items: list[EvalItem]
) -> None:
    item = mmlu_items[0]
    question = item.meta["question_text"]
    probe = client_for(tiny_model_dir)
    bare = tokens(probe, [{"role": "user", "content": question}])
    client = client_for(tiny_model_dir, bare + 8 + 8)  # the reply and a word or two
    suite = MMLUSuite(MMLUSettings(scoring="generate"), max_tokens=8)
    [result] = asyncio.run(suite.evaluate(MODEL, client, [item], "plain"))
    assert result.fitting[0] == "dropped 3 of 3 few-shot examples"
    assert result.fitting[1].startswith("cut ")
    assert result.prompt.endswith(question) and result.prompt != question
    assert item.meta["description"].endswith(result.prompt[: -len(question)])


def test_mmlu_loglikelihood_records_the_harness_left_cut(
    tmp_path_factory: pytest.TempPathFactory, mmlu_items: list[EvalItem]
) -> None:
    short = build_tiny_model(tmp_path_factory.mktemp("short") / "m", max_positions=128)
    client = client_for(short)
    suite = MMLUSuite(MMLUSettings(scoring="loglikelihood"))
    results = asyncio.run(suite.evaluate(MODEL, client, mmlu_items, "plain"))
    tokenizer = client.backend.tokenizer
    for item, result in zip(mmlu_items, results, strict=True):
        context, answer = encode_pair(tokenizer, item.meta["prompt"], " A")
        assert len(context) > 128
        # The harness scores (context + answer)[-(129):][:-1]: everything before it is cut.
        assert result.fitting == [f"cut {len(context) + len(answer) - 129} tokens from the left"]
