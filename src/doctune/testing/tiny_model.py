"""A tiny randomly initialised Qwen2-style chat model with its own BPE tokenizer, built offline.

It stands in for a real instruct model in tests and smoke runs (`hf:<dir>`): same architecture
class, same tokenizer class, same special tokens and Qwen2.5's chat template byte for byte, so
everything that works on it (chat templating, batched generation, constrained decoding, TRL's
assistant-only loss, PEFT adapters) works the same way on the real thing. Its weights are random:
it emits noise, which is exactly what constrained decoding has to survive.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from doctune.models.hf_load import quiet_transformers
from doctune.models.tiny import MARKER, TINY_RANDOM_KEY

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TEXT_SUFFIXES = {".txt", ".md", ".csv", ".jsonl", ".json", ".html", ".htm", ".yaml", ".yml"}
# Qwen2.5's context; a smaller one (`--max-positions`) makes prompts that must be fitted.
DEFAULT_MAX_POSITIONS = 32768
# Enough text for ~2,000 merges; a larger corpus only slows the build down.
MAX_CORPUS_CHARS = 2_000_000

_SENTENCES = (
    "Ibuprofen is made from isobutylbenzene in three steps by the BHC route and six by the Boots route.",
    "The Friedel-Crafts acylation uses acetic anhydride with hydrogen fluoride as catalyst and solvent.",
    "Hydrogenation over Raney nickel reduces the ketone to 1-(4-isobutylphenyl)ethanol at 70 °C.",
    "Carbonylation with palladium catalyst under 16.5 bar of carbon monoxide gives ibuprofen directly.",
    "In the Boots process, the Darzens reaction with ethyl chloroacetate forms an epoxy ester.",
    "Hydrolysis and decarboxylation of the glycidic ester yield the aldehyde, which forms an oxime.",
    "The nitrile is hydrolysed with aqueous sodium hydroxide, then acidified with hydrochloric acid.",
    "Bromination of isobutylbenzene with N-bromosuccinimide proceeds under light at 25 °C.",
    "Esterification with methanol and sulfuric acid is followed by hydrolysis of the methyl ester.",
    "The yield of the acylation step was 92 % with a molar ratio of 1:1.05 of substrate to anhydride.",
    "Use 0.2 mol of isobutylbenzene and 0.21 mol of acetic anhydride; stir for 3 h at 80 °C.",
    "The atom economy of the BHC process is 77 %, against 40 % for the Boots process.",
    "Crystallise the crude product from hexane; the melting point is 75-78 °C (lit. 76 °C).",
    "Batch records note temperature, pressure (kPa), pH, mass (kg, g, mg) and volume (L, mL).",
    "Good manufacturing practice (GMP) requires validated cleaning and documented deviations.",
    "The active pharmaceutical ingredient must meet the specification for assay: 98.5-101.0 %.",
    "Residual solvents are limited by ICH Q3C; hexane is a class 2 solvent with 290 ppm limit.",
    "Question: What catalyst is used in the carbonylation step? Answer: a palladium complex.",
    "Why is hydrogen fluoride recovered and reused? Because it is both catalyst and solvent.",
    "The reaction is exothermic: add the reagent dropwise and keep the jacket below 10 °C.",
    "Sodium borohydride, lithium aluminium hydride and catalytic hydrogenation reduce ketones.",
    "The density of isobutylbenzene is 0.853 g/mL and its boiling point is 172.8 °C at 1 atm.",
    "Molar mass of ibuprofen: 206.28 g/mol; formula C13H18O2; CAS number 15687-27-1.",
    "Filtration, washing, drying under vacuum at 40 °C and milling give the final powder.",
)
# Words for generated sentences: one string split at import, easier to read than a list.
_WORD_TEXT = """
reactor temperature pressure catalyst solvent yield ratio conversion selectivity impurity
acylation hydrogenation carbonylation bromination esterification hydrolysis oxidation
reduction distillation crystallisation filtration extraction titration chromatography
ibuprofen isobutylbenzene acetophenone anhydride palladium nickel sodium hydroxide acid
ester alcohol ketone aldehyde nitrile oxime epoxide benzene toluene methanol ethanol water
batch process step route stage procedure specification assay validation deviation record the
a an of in on at with by for from to and or is are was were be has have which that this heat
cool stir add charge dissolve filter wash dry mill sieve weigh sample test release analyse
measure calibrate clean inspect approve document review audit sterilise blend granulate
compress coat pack label store ship quarantine reject rework transfer discharge vessel
column condenser pump valve jacket agitator centrifuge dryer oven balance sensor probe
spectrometer chromatograph detector filter membrane tank pipe hose flask beaker molecule
compound reagent substrate product intermediate byproduct residue mixture slurry suspension
emulsion solution crystal powder tablet capsule granule polymorph salt base chloride bromide
fluoride sulfate nitrate phosphate carbonate acetate hydride oxide hydrogen oxygen nitrogen
carbon chlorine bromine fluorine sulfur phosphorus lithium potassium calcium magnesium
aluminium iron copper zinc platinum rhodium ruthenium propionic acetic formic sulfuric
hydrochloric nitric phosphoric boric citric lactic hexane heptane acetone dichloromethane
chloroform ether tetrahydrofuran dimethylformamide kinetics equilibrium enthalpy entropy
activation energy rate constant order mechanism nucleophile electrophile radical cation
anion proton electron orbital bond ring chain aromatic aliphatic chiral racemic enantiomer
isomer stereocentre configuration optical quality control assurance manufacturing
pharmaceutical regulatory compliance guideline operator supervisor engineer chemist analyst
inspector manager laboratory plant facility minimum maximum average target limit range
tolerance accuracy precision repeatability because therefore however although while during
after before until unless whether should must may can will would could might shall need
require allow prevent ensure high low fast slow large small hot cold dry wet pure crude
fresh stable unstable toxic first second third final initial next previous total overall
partial complete
"""
_WORDS = _WORD_TEXT.split()
_SUFFIXES = ("", "", "", "s", "ed", "ing", "ly", "ion", "er", "al")
_UNITS = (
    "°C",
    "K",
    "mol",
    "mmol",
    "g",
    "kg",
    "mg",
    "mL",
    "L",
    "bar",
    "kPa",
    "h",
    "min",
    "%",
    "ppm",
)

_UNICODE = "Résumé naïve café µg ± × → ≤ ≥ α β γ Δ Ω ½ ² ³ — “quoted” 日本語 中文 한국어 Ünïcödé 🙂"


def _generated_lines(rng: random.Random, count: int) -> Iterator[str]:
    """Varied sentences, quantities and JSON records, so merges cover what tests will type."""
    for _ in range(count):
        words = " ".join(
            rng.choice(_WORDS) + rng.choice(_SUFFIXES) for _ in range(rng.randint(6, 14))
        )
        value = round(rng.uniform(0, 500), rng.randint(0, 3))
        unit = rng.choice(_UNITS)
        yield f"{words.capitalize()} at {value} {unit}."
        record = {
            "question": f"What is the {rng.choice(_WORDS)} of the {rng.choice(_WORDS)}?",
            "answer": f"It is {value} {unit}.",
            "options": {k: rng.choice(_WORDS) for k in "ABCD"},
            "answer_letter": rng.choice("ABCD"),
            "score": rng.randint(1, 5),
            "valid": rng.choice([True, False]),
            "tags": [rng.choice(_WORDS) for _ in range(rng.randint(0, 3))],
        }
        yield json.dumps(record, ensure_ascii=False)
        yield json.dumps(record, ensure_ascii=False, indent=2)


def builtin_text(seed: int = 0) -> list[str]:
    """The built-in text bank the tokenizer is trained on."""
    rng = random.Random(seed)
    lines = list(_SENTENCES) * 4
    lines += [_UNICODE, " ".join(str(i) for i in range(1000)), "{}[]:,\"'\\/\n\t  ", "None null"]
    lines += list(_generated_lines(rng, 600))
    return lines


def _corpus_text(paths: Iterable[str | Path]) -> Iterator[str]:
    budget = MAX_CORPUS_CHARS
    for root in paths:
        root = Path(root)
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if budget <= 0:
                return
            if path.is_file() and (path.suffix.lower() in TEXT_SUFFIXES or root == path):
                text = path.read_text(encoding="utf-8", errors="ignore")[:budget]
                budget -= len(text)
                yield text


def _train_bpe(texts: Sequence[str], vocab_size: int):  # -> tokenizers.Tokenizer
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    # The same normaliser and split as Qwen2Tokenizer, which rebuilds its own pipeline on load
    # and ignores the one saved in tokenizer.json: merges learned across another split would
    # never fire after reloading, and ids would differ.
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _save_tokenizer(trained, dest: Path):  # -> Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    model = json.loads(trained.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"],
        merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(SPECIAL_TOKENS),
        model_max_length=32768,
    )
    # Byte for byte Qwen2.5's template: TRL recognises it and swaps in its training variant,
    # which is what makes assistant-only loss work.
    tokenizer.chat_template = qwen2_5_chat_template
    tokenizer.save_pretrained(dest)
    return tokenizer


def _save_model(
    dest: Path, tokenizer, *, hidden_size: int, num_layers: int, seed: int, max_positions: int
) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    endoftext = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    heads = max(1, hidden_size // 32)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=im_end,
        pad_token_id=endoftext,
        **{TINY_RANDOM_KEY: True},
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    # Like Qwen2.5-Instruct: a chat turn ends at <|im_end|>, plain text at <|endoftext|>.
    model.generation_config = GenerationConfig(
        eos_token_id=[im_end, endoftext], pad_token_id=endoftext, bos_token_id=None
    )
    model.save_pretrained(dest)


def build_tiny_model(
    dest: str | Path,
    corpus_paths: Sequence[str | Path] | None = None,
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    vocab_size: int = 2000,
    seed: int = 0,
    max_positions: int = DEFAULT_MAX_POSITIONS,
) -> Path:
    """Build (or reuse) a tiny random Qwen2ForCausalLM and its tokenizer in `dest`; return it.

    Offline and a few seconds on a CPU. A folder already built with the same arguments is
    returned as it is; anything else is rebuilt in a temporary folder and moved in at the end,
    so an interrupted build never leaves a half-written model that looks finished.
    """
    dest = Path(dest)
    params = {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "vocab_size": vocab_size,
        "seed": seed,
        "max_positions": max_positions,
        "corpus": sorted(str(Path(p).resolve()) for p in corpus_paths or ()),
    }
    marker = dest / MARKER
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == params:
        return dest

    texts = builtin_text(seed) + list(_corpus_text(corpus_paths or ()))
    dest.mkdir(parents=True, exist_ok=True)
    with (
        quiet_transformers(),
        tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp,
    ):
        work = Path(tmp)
        tokenizer = _save_tokenizer(_train_bpe(texts, vocab_size), work)
        _save_model(
            work,
            tokenizer,
            hidden_size=hidden_size,
            num_layers=num_layers,
            seed=seed,
            max_positions=max_positions,
        )
        marker.unlink(missing_ok=True)
        for item in work.iterdir():
            target = dest / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
    marker.write_text(json.dumps(params, indent=2), encoding="utf-8")
    return dest
