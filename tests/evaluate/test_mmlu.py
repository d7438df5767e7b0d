"""The mmlu suite: reading the original CSV layout, lm-eval's prompt, both scorings, the skip.

The fixtures under mmlu_fixtures/ are invented questions in MMLU's layout (MMLU's own text is
not ours to ship), written with the quirks real files have: quoted commas, doubled quotes,
fields over several lines, stray spaces, lower-case answer letters.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from doctune.evaluate.mmlu import (
    MMLUSuite,
    build_prompt,
    load_items,
    mmlu_dir,
    read_split,
    skip_reason,
)
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.foundation.errors import ConfigError, InputError
from doctune.models import hf
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.loglik import argmax_first, continuation_logprobs, encode_pair
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec
from doctune.testing.fake_openai import FakeOpenAIServer
from doctune.testing.fake_replies import prompt_text

FIXTURES = Path(__file__).parent / "mmlu_fixtures"
CHEMISTRY_TEST = FIXTURES / "test" / "college_chemistry_test.csv"


@pytest.fixture(autouse=True)
def _no_ambient_mmlu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMLU_DIR", raising=False)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- reading ----------------------------------------------------------------------------------
def test_csv_with_quotes_commas_newlines_and_stray_spaces() -> None:
    rows = read_split(CHEMISTRY_TEST)
    assert len(rows) == 8
    entropy = rows[2]
    assert entropy.question == (
        "Consider the reaction\n2 H2(g) + O2(g) -> 2 H2O(l).\n"
        "Which statement about its entropy change is correct?"
    )
    assert entropy.choices[:2] == (
        "ΔS < 0, because gas moles decrease",
        "ΔS > 0, because liquid forms",
    )
    assert rows[3].question.endswith('a "greasy" acid?')
    assert rows[4].choices[2] == "  100 min  "  # kept: lm-eval renders choices as they are
    assert rows[4].answer == "B"  # "b" in the file
    assert rows[5].answer == "A"  # "A " in the file
    assert rows[7].choices[3] == "J, per mol"
    # Lines where each record starts: the entropy question spans lines 3-5.
    assert [r.line for r in rows] == [1, 2, 3, 6, 7, 8, 9, 11]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "What is 1+1?,1,2,3,4,B\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (GOOD + '"A long\nquestion",1,2,3,B\n', 2, "expected 6 columns"),
        (GOOD + GOOD + "Too many?,1,2,3,4,B,extra\n", 3, "found 7"),
        (GOOD + "Which?,1,2,3,4,E\n", 2, "answer must be one of A, B, C, D, found 'E'"),
        (GOOD + "Which?,1,2,3,4,\n", 2, "found ''"),
        (GOOD + '"Bad" quoting,1,2,3,4,A\n', 2, "malformed CSV"),
        (GOOD + '"never closed,1,2,3,4,A\n', 2, "malformed CSV"),
    ],
)
def test_malformed_rows_name_file_and_line(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = write(tmp_path / "test" / "x_test.csv", body)
    with pytest.raises(InputError) as caught:
        read_split(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}: ") and message in text
    assert "\n" not in text


def test_blank_lines_and_a_byte_order_mark_are_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "\ufeff" + GOOD + "\n" + GOOD.replace("B\n", "c\n"))
    rows = read_split(path)
    assert [r.question for r in rows] == ["What is 1+1?", "What is 1+1?"]
    assert [r.answer for r in rows] == ["B", "C"] and rows[1].line == 3


def test_missing_folder_or_file_is_one_line_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=f"^{re.escape(str(tmp_path / 'nowhere'))}: MMLU folder not found$"
    ):
        load_items(MMLUSettings(dir=str(tmp_path / "nowhere")))
    root = tmp_path / "mmlu"
    shutil.copytree(FIXTURES, root)
    expected = root / "test" / "anatomy_test.csv"
    with pytest.raises(InputError, match=f"^{re.escape(str(expected))}: MMLU file not found$"):
        load_items(MMLUSettings(dir=str(root), subjects=["anatomy"]))
    (root / "dev" / "college_chemistry_dev.csv").unlink()
    with pytest.raises(InputError, match=r"college_chemistry_dev\.csv: MMLU file not found"):
        load_items(MMLUSettings(dir=str(root), subjects=["college_chemistry"]))
    # Zero-shot needs no dev file.
    assert load_items(MMLUSettings(dir=str(root), subjects=["college_chemistry"], few_shot=0))


def test_few_shot_beyond_the_dev_file_is_an_error() -> None:
    with pytest.raises(InputError, match=r"5 examples, evaluate\.mmlu\.few_shot asks for 6"):
        load_items(MMLUSettings(dir=str(FIXTURES), few_shot=6))


# -- items and prompts ------------------------------------------------------------------------
def test_items_cover_every_subject_found_with_limits() -> None:
    items = load_items(MMLUSettings(dir=str(FIXTURES)))
    subjects = [i.meta["subject"] for i in items]
    assert subjects == ["college_chemistry"] * 8 + ["process_engineering"] * 6
    assert {i.suite for i in items} == {"mmlu"} and len({i.id for i in items}) == 14
    assert items[4].answer == "B" and items[4].options == {
        "A": "1 min",
        "B": "10 min",
        "C": "  100 min  ",
        "D": "0.1 min",
    }
    assert items[2].meta["source"] == f"{CHEMISTRY_TEST}:3"
    some = load_items(
        MMLUSettings(
            dir=str(FIXTURES), subjects=["process_engineering"], max_questions_per_subject=2
        )
    )
    assert [i.id for i in some] == ["mmlu/process_engineering/0", "mmlu/process_engineering/1"]


def test_prompt_is_lm_eval_mmlu_default_format() -> None:
    """Written out by hand from lm_eval/tasks/mmlu/default/_default_template_yaml: description,
    examples ending in " <letter>\\n\\n", question stripped, choices as they are, "Answer:"."""
    items = load_items(
        MMLUSettings(dir=str(FIXTURES), subjects=["process_engineering"], few_shot=2)
    )
    expected = (
        "The following are multiple choice questions (with answers) about process engineering.\n\n"
        "Which pump is best suited for a viscous slurry?\n"
        "A. centrifugal\nB. progressive cavity\nC. jet\nD. vacuum\nAnswer: B\n\n"
        "In a continuous stirred-tank reactor, the outlet composition equals\n"
        "A. the feed composition\nB. the tank composition\nC. zero\n"
        "D. the equilibrium composition\nAnswer: B\n\n"
        "Which of these is NOT a unit operation?\n\n(Pick one.)\n"
        "A. drying\nB. milling\nC. invoicing\nD. blending\nAnswer:"
    )
    assert items[3].meta["prompt"] == expected
    zero = load_items(MMLUSettings(dir=str(FIXTURES), subjects=["college_chemistry"], few_shot=0))
    assert zero[4].meta["prompt"] == (
        "The following are multiple choice questions (with answers) about college chemistry.\n\n"
        "The half-life of a first-order reaction with k = 0.0693 min^-1 is\n"
        "A. 1 min\nB. 10 min\nC.   100 min  \nD. 0.1 min\nAnswer:"
    )


def test_question_is_stripped_in_the_prompt(tmp_path: Path) -> None:
    question = read_split(write(tmp_path / "t.csv", '"  Padded?  ",a,b,c,d,A\n'))[0]
    assert build_prompt("x", question, []).endswith("\nPadded?\nA. a\nB. b\nC. c\nD. d\nAnswer:")


# -- skipping when no folder is configured ----------------------------------------------------
def test_unset_folder_skips_with_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = MMLUSettings()
    assert mmlu_dir(settings) is None
    reason = skip_reason(settings)
    assert reason is not None and "\n" not in reason
    assert reason.startswith("mmlu: skipped") and "MMLU_DIR" in reason
    assert "evaluate.mmlu.dir" in reason
    with pytest.raises(ConfigError, match="MMLU_DIR"):
        load_items(settings)
    monkeypatch.setenv("MMLU_DIR", str(FIXTURES))
    assert mmlu_dir(settings) == FIXTURES and skip_reason(settings) is None
    assert len(load_items(settings)) == 14
    assert mmlu_dir(MMLUSettings(dir="/elsewhere")) == Path("/elsewhere")  # config beats env


# -- generation scoring -----------------------------------------------------------------------
# What a chat model says for each process_engineering test question, and the letter meant.
REPLIES = {
    "Which separation uses": ("The answer is B.", "B"),
    'The "scale-up"': ("**B**", "B"),
    "What is the main purpose": ("A is wrong, it heats nothing. So the answer is C", "C"),
    "Which of these is NOT": ("I would choose C because invoicing is not physical.", "C"),
    "A centrifuge separates by": ("density difference", "A"),  # option text, no letter
    "Which instrument measures": ("I cannot tell.", None),
}


def last_question(body: dict[str, Any]) -> str:
    """The asked question: what follows the last example's "Answer: X\n\n"."""
    return prompt_text(body).rsplit("Answer: ", 1)[-1][len("X\n\n") :]


def scripted(body: dict[str, Any]) -> str:
    question = last_question(body)
    return next(reply for start, (reply, _) in REPLIES.items() if question.startswith(start))


def openai_client(server: FakeOpenAIServer, tmp_path: Path) -> ModelClient:
    settings = ModelSettings(base_url=server.base_url, api_key="sk-test", price_input_per_mtok=1.0)
    backend = OpenAIBackend(parse_spec("openai:fake"), settings, timeout_s=5, max_retries=0)
    cache = CallCache(tmp_path / "calls.sqlite")
    return ModelClient(backend, settings=settings, cache=cache, stage="evaluate")


def test_generation_scoring_reads_letters_and_reruns_from_cache(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    fake_openai.responder = scripted
    settings = MMLUSettings(dir=str(FIXTURES), subjects=["process_engineering"], few_shot=1)
    items = load_items(settings)
    suite = MMLUSuite(settings)
    ref = ModelRef(label="chat", spec="openai:fake", kind="baseline")
    assert suite.scoring_for(ref.spec) == "generate"
    client = openai_client(fake_openai, tmp_path)
    results = run(suite.evaluate(ref, client, items, "plain"))
    expected = [letter for _, letter in REPLIES.values()]
    assert [r.extracted for r in results] == expected
    truth = [i.answer for i in items]
    assert truth == ["B", "B", "B", "C", "A", "B"]
    assert [r.scores["correct"] for r in results] == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert all(r.excluded is None for r in results)  # no letter is a wrong answer, not a gap
    sent = fake_openai.bodies[0]["messages"]
    assert len(sent) == 1 and sent[0]["role"] == "user"
    assert {b["messages"][0]["content"] for b in fake_openai.bodies} == {
        i.meta["prompt"] for i in items
    }
    assert results[0].reference == "B. distillation" and results[0].answer == "The answer is B."
    calls = fake_openai.completions
    again = run(suite.evaluate(ref, openai_client(fake_openai, tmp_path), items, "plain"))
    assert fake_openai.completions == calls
    assert [r.model_dump(exclude={"latency_s"}) for r in again] == [
        r.model_dump(exclude={"latency_s"}) for r in results
    ]


def test_loglikelihood_needs_an_in_process_model(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    settings = MMLUSettings(dir=str(FIXTURES), scoring="loglikelihood")
    suite = MMLUSuite(settings)
    ref = ModelRef(label="chat", spec="openai:fake", kind="baseline")
    with pytest.raises(ConfigError, match="needs an in-process hf: model"):
        run(
            suite.evaluate(ref, openai_client(fake_openai, tmp_path), load_items(settings), "plain")
        )
    assert fake_openai.completions == 0
    assert MMLUSuite(MMLUSettings()).scoring_for("hf:/models/x") == "loglikelihood"
    assert MMLUSuite(MMLUSettings(scoring="generate")).scoring_for("hf:/m") == "generate"


# -- log-likelihood scoring -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir: Path) -> Any:
    from doctune.models.hf import HFBackend

    return HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings())


def hf_client(backend: Any, tmp_path: Path) -> ModelClient:
    """A fresh client (ledger, cache connection) over the one loaded model."""
    return ModelClient(backend, cache=CallCache(tmp_path / "calls.sqlite"), stage="evaluate")


def test_continuation_split_follows_lm_eval(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    context, cont = encode_pair(tokenizer, "Question?\nAnswer:", " B")
    assert tokenizer.decode(cont) == " B" and len(cont) == 1
    # A trailing space of the context moves to the continuation, as the harness does.
    assert encode_pair(tokenizer, "Question?\nAnswer: ", "B") == (context, cont)
    assert argmax_first([-2.0, -1.0, -1.0, -3.0]) == 1


def test_loglikelihood_scoring_on_the_tiny_model_is_cached(
    tiny_backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = MMLUSettings(dir=str(FIXTURES), few_shot=2, max_questions_per_subject=3)
    items = load_items(settings)
    suite = MMLUSuite(settings)
    ref = ModelRef(label="tiny", spec=tiny_backend.spec, kind="base")
    client = hf_client(tiny_backend, tmp_path)
    results = run(suite.evaluate(ref, client, items, "plain"))
    backend: Any = client.backend
    for item, result in zip(items, results, strict=True):
        logprobs = continuation_logprobs(
            backend.model, backend.tokenizer, item.meta["prompt"], [" A", " B", " C", " D"]
        )
        assert all(lp < 0 for lp in logprobs) and len(set(logprobs)) == 4
        assert result.extracted == "ABCD"[argmax_first(logprobs)] == result.answer
        assert result.scores["correct"] == float(result.extracted == item.answer)
        assert result.prompt == item.meta["prompt"] and result.prompt_tokens > 0
    usage = client.ledger.row(client.spec, "evaluate")
    assert (usage.calls, usage.cache_hits) == (6, 0)

    # A rerun computes nothing: the scores come from the table in the call cache's file.
    def no_model(*args: Any, **kwargs: Any) -> list[float]:
        raise AssertionError("the model was called on a rerun")

    monkeypatch.setattr(hf, "batched_logprobs", no_model)
    again_client = hf_client(tiny_backend, tmp_path)
    again = run(suite.evaluate(ref, again_client, items, "plain"))
    assert [r.extracted for r in again] == [r.extracted for r in results]
    assert again_client.ledger.row(again_client.spec, "evaluate").cache_hits == 6
