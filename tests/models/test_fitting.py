"""Fitting prompts to a context: the order of the steps, the left cut, the reply floor, and the
prompt that is not sent. The counter here is one token per word, so every figure can be checked
by hand."""

from __future__ import annotations

from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.fitting import Fitted, Layout, Room, fit, left_cut


def words(request: ChatRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages)


PASSAGES = ["p1 " * 10, "p2 " * 10, "p3 " * 10]  # ranked best first, 10 words each
SHOTS = ["s1 " * 5, "s2 " * 5]
HEAD = "intro words that may go " * 2  # 10 words
QUESTION = "the question itself Answer:"  # 4 words


def layout() -> Layout:
    def build(keep: tuple[int, ...], cut: int) -> list[Message]:
        head = left_cut(HEAD + "".join(SHOTS[: keep[1]]), cut)
        text = "".join(PASSAGES[: keep[0]]) + head + QUESTION
        return [Message(role="user", content=text)]

    return Layout(
        build=build,
        groups=(("passages", 3), ("few-shot examples", 2)),
        cuttable=lambda keep: len(HEAD + "".join(SHOTS[: keep[1]])),
    )


def fitted(context: int, max_tokens: int | None = 10, floor: int = 64) -> Fitted:
    request = ChatRequest(messages=(), params=GenerationParams(max_tokens=max_tokens))
    return fit(request, layout(), Room(context, words), floor=floor)


def test_a_prompt_that_fits_goes_as_it_is() -> None:
    out = fitted(context=100)  # 30 + 10 + 10 + 4 = 54 words, + 10 for the reply
    assert out.steps == ()
    assert out.excluded is None
    assert out.prompt_tokens == 54
    assert out.request is not None and out.request.params.max_tokens == 10
    assert out.messages[0].content.startswith("p1")


def test_the_reply_budget_shrinks_before_anything_is_dropped() -> None:
    out = fitted(context=60, max_tokens=10, floor=4)  # 54 + 6 left, floor 4
    assert out.steps == ("reply limit lowered from 10 to 6 tokens",)
    assert out.request is not None and out.request.params.max_tokens == 6
    assert out.messages[0].content.count("p") == 30  # every passage kept


def test_passages_go_lowest_ranked_first() -> None:
    out = fitted(context=55)  # 54 does not leave the floor (10); one passage must go
    assert out.steps == ("dropped 1 of 3 passages",)
    text = out.messages[0].content
    assert "p1" in text and "p2" in text and "p3" not in text
    assert out.prompt_tokens == 44


def test_few_shot_examples_go_after_every_passage_last_first() -> None:
    out = fitted(context=33)  # no passages: 24 + 10 > 33; one shot out: 19 + 10 <= 33
    assert out.steps == ("dropped 3 of 3 passages", "dropped 1 of 2 few-shot examples")
    text = out.messages[0].content
    assert "s1" in text and "s2" not in text and "p1" not in text


def test_then_the_start_is_cut_and_the_question_kept() -> None:
    out = fitted(context=20)  # bare prompt is 14 words: 4 of the head must go
    assert out.steps[:2] == ("dropped 3 of 3 passages", "dropped 2 of 2 few-shot examples")
    assert out.steps[2] == "cut 4 tokens from the left"
    text = out.messages[0].content
    assert text.endswith(QUESTION)
    assert not text.startswith("intro")  # the start went, whole words only
    assert out.prompt_tokens == 10
    assert out.kept == (0, 0) and out.cut > 0  # what built the prompt sent


def test_a_prompt_that_cannot_fit_is_not_sent_and_says_by_how_much() -> None:
    out = fitted(context=12)  # the question alone (4) + the floor (10) is 14
    assert out.request is None
    assert out.excluded == "prompt exceeds context (4 tokens + 10 for the reply, context 12)"
    assert out.steps[-1] == "dropped 2 of 2 few-shot examples"


def test_a_fixed_prompt_longer_than_the_context() -> None:
    request = ChatRequest(messages=(), params=GenerationParams(max_tokens=8))
    message = Message(role="user", content="w " * 30)
    out = fit(request, Layout.fixed([message]), Room(20, words))
    assert out.excluded == "prompt exceeds context (30 tokens, context 20)"
    assert out.steps == ()


def test_the_floor_is_max_tokens_when_that_is_smaller() -> None:
    out = fitted(context=57, max_tokens=3)  # 54 + 3 fits exactly
    assert out.steps == () and out.request is not None


def test_unknown_context_means_no_fitting() -> None:
    request = ChatRequest(messages=(), params=GenerationParams(max_tokens=10))
    out = fit(request, layout(), Room(None, None))
    assert out.steps == () and out.request is not None
    assert out.messages[0].content.count("p3") == 10


def test_left_cut_keeps_whole_words() -> None:
    assert left_cut("alpha beta gamma", 2) == "beta gamma"
    assert left_cut("alpha beta gamma", 6) == "beta gamma"
    assert left_cut("alpha beta gamma", 0) == "alpha beta gamma"
    assert left_cut("alpha", 3) == ""
