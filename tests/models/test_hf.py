"""The hf: backend on tiny random models built offline: batching, determinism, usage, stop
strings, adapters, load errors, and schema-constrained output that a random model cannot break."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import BaseModel, Field
from transformers import AutoModelForCausalLM, AutoTokenizer

from doctune.foundation.config import ClientConfig, ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models import load_backend
from doctune.models.base import ChatRequest, GenerationParams, Message
from doctune.models.client import ModelClient
from doctune.models.constrained import (
    DEFAULT_CAPS,
    Caps,
    GrammarCache,
    allowed_tokens,
    bound_schema,
    plan,
    worst_case_tokens,
)
from doctune.models.hf import HFBackend
from doctune.models.spec import parse_spec
from doctune.models.structured import schema_for


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny matrices gain nothing from intra-op threads, and on a shared 2-core machine thread
    hand-offs make every step about ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lively_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with its weights scaled up: still random, but its attention now carries
    the prompt through, so different prompts give different greedy replies (at the standard
    0.02 init every prompt gives the same one, which would hide a batching mix-up)."""
    dest = tmp_path_factory.mktemp("lively") / "model"
    shutil.copytree(tiny_model_dir, dest)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.mul_(5.0)
    model.save_pretrained(dest)
    return dest


@pytest.fixture(scope="module")
def lively(lively_model_dir: Path) -> HFBackend:
    return HFBackend(parse_spec(f"hf:{lively_model_dir}"), ModelSettings(batch_size=4))


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


PROMPTS = [
    f"Question {i}: why is the yield low? " + "Explain the step. " * (i % 4) for i in range(10)
]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(lively: HFBackend) -> None:
    client = ModelClient(lively, concurrency=32)

    async def together() -> list:
        return await asyncio.gather(
            *[client.chat(user(p), max_tokens=8 + i) for i, p in enumerate(PROMPTS)]
        )

    async def one_by_one() -> list:
        return [await client.chat(user(p), max_tokens=8 + i) for i, p in enumerate(PROMPTS)]

    lively.batch_sizes.clear()
    batched = asyncio.run(together())
    assert max(lively.batch_sizes) == 4 and sum(lively.batch_sizes.values()) < len(PROMPTS)
    alone = asyncio.run(one_by_one())
    assert len({r.text for r in alone}) > len(PROMPTS) // 2, "prompts should give different replies"
    # Left padding and positions must leave every row exactly as if it had run alone.
    assert [r.text for r in batched] == [r.text for r in alone]
    for i, response in enumerate(batched):
        assert response.usage.completion_tokens <= 8 + i
        if response.finish_reason == "length":
            assert response.usage.completion_tokens == 8 + i


def test_greedy_is_deterministic_and_sampling_follows_the_seed(lively: HFBackend) -> None:
    client = ModelClient(lively)

    async def ask(**params: object) -> str:
        return (
            await client.chat(user("Describe the hydrogenation."), max_tokens=24, **params)
        ).text

    assert asyncio.run(ask(temperature=0)) == asyncio.run(ask(temperature=0))
    first = asyncio.run(ask(temperature=1.0, seed=7))
    assert first == asyncio.run(ask(temperature=1.0, seed=7))
    assert first != asyncio.run(ask(temperature=1.0, seed=8))
    assert asyncio.run(ask(temperature=0.8, top_p=0.5, seed=7)) == asyncio.run(
        ask(temperature=0.8, top_p=0.5, seed=7)
    )


def test_usage_counts_match_the_tokenizer(lively: HFBackend, lively_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    messages = [
        Message(role="system", content="You write batch records."),
        Message(role="user", content="Stir 0.2 mol at 80 °C — résumé?"),
    ]
    client = ModelClient(lively, stage="usage")
    response = asyncio.run(client.chat(messages, max_tokens=12, stop=None))
    prompt = tok.apply_chat_template(
        [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False
    )
    assert response.usage.prompt_tokens == len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert response.finish_reason in ("stop", "length")
    if response.finish_reason == "length":
        assert response.usage.completion_tokens == 12
    row = client.ledger.row(client.spec, "usage")
    assert row.prompt_tokens == response.usage.prompt_tokens
    assert row.completion_tokens == response.usage.completion_tokens
    for text in ("", "Ibuprofen", '{"a": [1, 2]} 日本語 🙂', "x " * 100):
        assert lively.count_tokens(text) == len(tok(text, add_special_tokens=False)["input_ids"])


def test_stop_strings_cut_the_reply(lively: HFBackend) -> None:
    client = ModelClient(lively)
    params = {"temperature": 1.0, "seed": 11, "max_tokens": 40}
    full = asyncio.run(client.chat(user("List the reagents."), **params)).text
    assert len(full) > 20
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = asyncio.run(client.chat(user("List the reagents."), stop=(stop, "\x00"), **params))
    assert cut.text == full[: full.find(stop)]
    assert cut.finish_reason == "stop" and cut.usage.completion_tokens < 40


def test_a_prompt_too_long_fails_alone(lively: HFBackend) -> None:
    client = ModelClient(lively)
    context = lively.context
    lively.context = 120
    try:

        async def both() -> list:
            return await asyncio.gather(
                client.chat(user("short"), max_tokens=4),
                client.chat(user("long " * 200), max_tokens=4),
                return_exceptions=True,
            )

        short, long = asyncio.run(both())
    finally:
        lively.context = context
    assert short.usage.completion_tokens <= 4
    assert isinstance(long, ModelError) and "context of 120" in str(long)


# -- structured output -------------------------------------------------------------------------
class Step(BaseModel):
    kind: Literal["heat", "cool", "stir"]
    note: str = Field(max_length=24)
    minutes: int
    temperature_c: float | None = None


class Reagent(BaseModel):
    name: str = Field(min_length=2, max_length=30)
    mol: float = Field(ge=0)
    hazardous: bool


class Procedure(BaseModel):
    title: str  # no max_length: the backend has to bound it
    reagent: Reagent
    steps: list[Step] = Field(min_length=1, max_length=3)
    grade: Literal["A", "B", "C"]


@pytest.mark.slow
def test_random_model_emits_valid_records_under_the_schema(tiny_model_dir: Path) -> None:
    backend = HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings(batch_size=8))
    assert backend.enforces_schema
    client = ModelClient(backend, structured_retries=0, stage="structured")

    async def records() -> list:
        return await asyncio.gather(
            *[
                client.structured(
                    user(f"Write procedure {i} as JSON."),
                    Procedure,
                    temperature=0.0 if i % 2 else 1.0,
                    seed=i,
                    max_tokens=64,  # far below the worst case: the schema sets the budget
                )
                for i in range(8)
            ]
        )

    results = asyncio.run(records())
    assert [r.error for r in results] == [None] * 8
    for result in results:
        assert result.ok and result.attempts == 1
        assert result.responses[0].finish_reason == "stop"
        assert len(result.value.title) <= DEFAULT_CAPS.string_chars
    row = client.ledger.row(client.spec, "structured")
    assert row.invalid_replies == 0 and row.failed_structured == 0
    assert max(backend.batch_sizes) == 8
    asyncio.run(client.aclose())


def test_bounded_schema_keeps_given_bounds_and_caps_the_rest() -> None:
    schema = schema_for(Procedure)
    bounded = bound_schema(schema)
    props = bounded["properties"]
    assert props["title"]["maxLength"] == DEFAULT_CAPS.string_chars
    assert props["steps"]["maxItems"] == 3 and props["steps"]["minItems"] == 1
    step = bounded["$defs"]["Step"]["properties"]
    assert step["note"]["maxLength"] == 24
    assert step["minutes"]["maximum"] == 2**53 - 1
    reagent = bounded["$defs"]["Reagent"]["properties"]
    assert reagent["mol"]["minimum"] == 0 and reagent["mol"]["multipleOf"] > 0
    assert reagent["name"]["minLength"] == 2
    assert "maxLength" not in schema["properties"]["title"], "the caller's schema is not touched"
    worst = worst_case_tokens(bounded)
    assert worst is not None and worst > 4 * DEFAULT_CAPS.string_chars
    assert worst_case_tokens(schema) is None
    # A map gets bounded keys and entries; a free-form value cannot be bounded.
    assert worst_case_tokens(
        bound_schema({"type": "object", "additionalProperties": {"type": "integer"}})
    )
    assert worst_case_tokens(bound_schema({"type": "object", "properties": {"x": {}}})) is None


def test_plan_fits_the_worst_case_into_the_room_left() -> None:
    schema = schema_for(Procedure)
    bounded, budget = plan(schema, max_tokens=64, room=30_000)
    assert budget == worst_case_tokens(bounded) and budget <= 30_000
    small, budget = plan(schema, max_tokens=64, room=1_500)
    assert small["properties"]["title"]["maxLength"] < DEFAULT_CAPS.string_chars
    assert worst_case_tokens(small) <= budget <= 1_500
    _, budget = plan({"type": "object", "properties": {"x": {}}}, max_tokens=64, room=900)
    assert budget == 900, "an unboundable schema gets all the room there is"


def test_worst_case_bound_holds_against_an_adversarial_decoder(tiny_model_dir: Path) -> None:
    """Always taking the allowed token with the fewest bytes (or a random one) never outruns
    the computed bound: the bound is what makes every constrained reply end in time."""
    import llguidance
    import llguidance.hf

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    ll_tok = llguidance.hf.from_tokenizer(tok, eos_token=eos)
    grammars = GrammarCache(ll_tok)
    executor = llguidance.LLExecutor()
    bounded = bound_schema(schema_for(Procedure), Caps(string_chars=40, items=3))
    worst = worst_case_tokens(bounded)
    sizes = {i: len(tok.convert_ids_to_tokens(i)) for i in range(len(tok))}
    rng = random.Random(0)
    for trial in range(6):
        matcher = grammars.matcher(bounded)
        used = 0
        while not matcher.is_stopped():
            allowed = allowed_tokens([matcher], ll_tok.vocab_size, executor)[0].nonzero().flatten()
            choices = [int(t) for t in allowed if int(t) != eos]
            if not choices:
                break
            pick = min(choices, key=sizes.get) if trial % 2 == 0 else rng.choice(choices)
            assert matcher.consume_token(pick)
            used += 1
            assert used < worst, f"{used} tokens and not finished (bound {worst})"
        assert matcher.is_accepting()


# -- adapters and errors -----------------------------------------------------------------------
def test_adapter_spec_loads_a_lora_adapter_that_changes_outputs(
    lively_model_dir: Path, lively: HFBackend, tmp_path: Path
) -> None:
    from peft import LoraConfig, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(lively_model_dir)
    config = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False
    )
    adapter = tmp_path / "adapter"
    get_peft_model(base, config).save_pretrained(adapter)

    tuned = load_backend(f"hf:{lively_model_dir}+{adapter}", ModelSettings(), ClientConfig())
    assert isinstance(tuned, HFBackend) and tuned.spec.endswith(f"+{adapter}")

    async def replies(backend: HFBackend) -> list[str]:
        client = ModelClient(backend)
        answers = await asyncio.gather(*[client.chat(user(p), max_tokens=12) for p in PROMPTS[:4]])
        return [a.text for a in answers]

    assert asyncio.run(replies(tuned)) != asyncio.run(replies(lively))
    asyncio.run(tuned.aclose())


def test_what_does_not_load_is_one_line(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    (tmp_path / "empty").mkdir()
    cases = {
        f"hf:{missing}": f"no folder '{missing}'",
        "hf:some-org/not-cached-model": "HF_HUB_OFFLINE is set",
        f"hf:{tmp_path / 'empty'}": "has no config.json",
        f"hf:{tiny_model_dir}+{missing}": "cannot load adapter: no folder",
        f"hf:{tiny_model_dir}+{tmp_path / 'empty'}": "has no adapter_config.json",
    }
    for spec, expected in cases.items():
        backend = load_backend(spec, ModelSettings(), ClientConfig())  # cheap: loads nothing yet
        with pytest.raises(ModelError) as caught:
            backend.load()  # type: ignore[attr-defined]
        message = str(caught.value)
        assert "\n" not in message and message.startswith(spec) and expected in message, message


def test_closed_backend_refuses_work(tiny_model_dir: Path) -> None:
    backend = HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings(batch_size=2))
    assert backend.max_concurrency == 8
    request = ChatRequest(messages=tuple(user("hi")), params=GenerationParams(max_tokens=3))
    assert asyncio.run(backend.complete(request)).usage.completion_tokens <= 3
    asyncio.run(backend.aclose())
    with pytest.raises(ModelError, match="closed"):
        asyncio.run(backend.complete(request))


def test_cache_identity_follows_the_weights_not_just_the_path(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A model retrained in place must not be answered from the old weights' cache entries."""
    import shutil

    from doctune.models.identity import weights_fingerprint

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    before = weights_fingerprint(str(copy))
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert weights_fingerprint(str(copy)) != before
    assert weights_fingerprint("Qwen/Qwen2.5-7B-Instruct") == weights_fingerprint(None)


def test_weights_load_on_first_use_only(tiny_model_dir: Path) -> None:
    """A run answered from the call cache never loads the model."""
    backend = HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings(batch_size=2))
    assert backend._model is None
    request = ChatRequest(messages=tuple(user("hi")), params=GenerationParams(max_tokens=2))
    asyncio.run(backend.complete(request))
    assert backend._model is not None
