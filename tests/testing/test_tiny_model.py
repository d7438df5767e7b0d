"""The tiny model stands in for a real Qwen2.5 instruct model: same tokenizer class after reload,
same chat template, same end-of-turn token, built offline in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2ForCausalLM
from trl.chat_template_utils import (
    get_training_chat_template,
    qwen2_5_chat_template,
    qwen2_5_training_chat_template,
)

from doctune.cli import main
from doctune.testing.tiny_model import (
    MARKER,
    SPECIAL_TOKENS,
    _train_bpe,
    build_tiny_model,
    builtin_text,
)

TEXTS = [
    "Ibuprofen is made from isobutylbenzene by the BHC route.",
    "Stir 0.2 mol x 1.05 = 0.21 mol of acetic anhydride at 80 °C for 3 h; yield 92 %.",
    '{"question": "What is the yield?", "answer": "It is 77 %.", "score": 4, "ok": true}',
    '{\n  "tags": ["a", "b"],\n  "nested": {"x": null, "y": [1, 2.5e-3, -7]}\n}',
    "Résumé naïve café µg ± 5 × 10³ → Δ ≤ 1 ≥ α β γ Ω",
    "日本語のテキスト and 中文 and 한국어 and an emoji 🙂🧪 and a rare one 𝔘𝔫𝔦",
    "  leading spaces,\ttabs,\n\nblank lines   and trailing   ",
    "It's WE'LL they're don't I'd 1234567890 9,876.54321",
    "<|im_start|>user\nhello<|im_end|>",
]


def test_reloaded_tokenizer_gives_the_ids_it_was_trained_with(tiny_model_dir: Path) -> None:
    reloaded = AutoTokenizer.from_pretrained(tiny_model_dir)
    # Qwen2Tokenizer rebuilds its own pre-tokenizer on load: the ids only match if the BPE was
    # trained with the same split.
    assert type(reloaded).__name__ == "Qwen2Tokenizer"
    trained = _train_bpe(builtin_text(0), 2000)
    assert len(reloaded) == trained.get_vocab_size() == 2000
    for text in TEXTS:
        ids = reloaded(text, add_special_tokens=False)["input_ids"]
        assert ids == trained.encode(text).ids, text
        assert reloaded.decode(ids) == text
    specials = [reloaded.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    assert reloaded(TEXTS[-1], add_special_tokens=False)["input_ids"][0] == specials[1]
    assert reloaded.eos_token == "<|im_end|>" and reloaded.pad_token == "<|endoftext|>"


def test_chat_template_is_qwen25s_and_ends_assistant_turns(tiny_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tok.chat_template == qwen2_5_chat_template
    # TRL recognises it and swaps in the variant that marks assistant spans for the loss.
    assert get_training_chat_template(tok) == qwen2_5_training_chat_template
    convo = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What catalyses the carbonylation?"},
        {"role": "assistant", "content": "A palladium complex."},
    ]
    text = tok.apply_chat_template(convo, tokenize=False)
    assert text.endswith("<|im_start|>assistant\nA palladium complex.<|im_end|>\n")
    prompt = tok.apply_chat_template(convo[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids.count(tok.convert_tokens_to_ids("<|im_end|>")) == 3


def test_model_is_a_small_qwen2_that_stops_at_im_end(tiny_model_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert isinstance(model, Qwen2ForCausalLM)
    assert model.config.tie_word_embeddings and model.config.max_position_embeddings >= 4096
    assert model.config.vocab_size == len(tok)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    eos = model.generation_config.eos_token_id
    assert tok.convert_tokens_to_ids("<|im_end|>") in eos
    assert model.generation_config.pad_token_id == tok.pad_token_id


def test_building_again_reuses_the_model_and_the_cli_says_where(tiny_model_dir: Path) -> None:
    weights = tiny_model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    files = {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()}
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir
    # Reused, not rebuilt: no file of the folder was written again, none added.
    assert {p.name: p.stat().st_mtime_ns for p in tiny_model_dir.iterdir()} == files
    result = CliRunner().invoke(main, ["make-tiny-model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert f"hf:{tiny_model_dir}" in result.output
    assert weights.stat().st_mtime_ns == before
    assert json.loads((tiny_model_dir / MARKER).read_text())["vocab_size"] == 2000


@pytest.mark.slow
def test_fresh_build_learns_its_vocabulary_from_a_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("zylofrabinate is stirred. " * 400, encoding="utf-8")
    (corpus / "image.png").write_bytes(b"\x89PNG zylofrabinate")  # not text: ignored
    dest = tmp_path / "tiny"
    built = build_tiny_model(dest, corpus_paths=[corpus], hidden_size=64, num_layers=1, seed=3)
    tok = AutoTokenizer.from_pretrained(built)
    assert len(tok(" zylofrabinate", add_special_tokens=False)["input_ids"]) == 1
    model = AutoModelForCausalLM.from_pretrained(built)
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 1
    assert not list(tmp_path.glob(".tiny-*")), "the temporary build folder is left behind"
