"""Sections of the data stages: ingest, synthesize, curate, split, evalsets, export."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from doctune.foundation.config.base import Section
from doctune.foundation.recipes import BUILTIN_RECIPES, RecipeName


class IngestConfig(Section):
    chunk_tokens: int = Field(384, gt=16, description="Target chunk size in tokens.")
    overlap_tokens: int = Field(
        48, ge=0, description="Tokens repeated between neighbouring chunks."
    )
    tokenizer: str | None = Field(
        None,
        description="hf tokenizer (hub id or path) for counting; default: the teacher's if it is "
        "hf:, else an estimate of ~4 characters per token.",
    )
    include: list[str] = Field(
        default_factory=lambda: [
            "**/*.pdf",
            "**/*.md",
            "**/*.markdown",
            "**/*.txt",
            "**/*.html",
            "**/*.htm",
            "**/*.docx",
            "**/*.csv",
            "**/*.jsonl",
        ],
        description="Glob patterns, relative to the documents folder, of the files to read.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Glob patterns of files to skip, even if included."
    )
    pdf_passwords: dict[str, SecretStr] = Field(
        default_factory=dict, description="File name (or glob) -> password for encrypted PDFs."
    )
    min_chars: int = Field(40, ge=0, description="Chunks shorter than this are dropped.")
    workers: int | None = Field(
        None,
        ge=1,
        description="Processes reading documents at once; default: one per CPU core. With 1, "
        "doctune's own process chunks the documents that process reads (a corpus of "
        "fewer than 16 files is read in doctune's own process). The chunks are the same "
        "whatever the number.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestConfig:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        return self


class PdfSyntheticConfig(Section):
    questions_per_chunk: int = Field(
        3, gt=0, le=20, description="QA pairs the teacher writes from each chunk."
    )
    max_chunks: int | None = Field(None, gt=0, description="Use at most this many chunks.")


DEFAULT_FACETS = [
    "description",
    "function",
    "conditions of reaction",
    "reactant properties",
    "influential factors",
]


class DistillationConfig(Section):
    facets: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FACETS),
        description="Aspects asked about each topic (the topic x facet tree).",
    )
    target_size: int = Field(300, gt=0, description="Approximate number of QA records to write.")
    max_topics: int = Field(
        40, gt=0, description="Topics kept across the corpus, the most mentioned first."
    )
    context_chunks: int = Field(3, gt=0, description="Chunks given to the teacher per question.")
    context_window: int = Field(
        4,
        gt=0,
        description="Context comes from one window of this many consecutive chunks of one "
        "document, so records of different windows share no source and the split can keep "
        "test knowledge out of training.",
    )
    max_questions_per_facet: int = Field(
        8, gt=0, description="Questions asked at most per topic and facet."
    )

    @model_validator(mode="after")
    def _context_fits_window(self) -> DistillationConfig:
        if self.context_chunks > self.context_window:
            raise ValueError("context_chunks cannot exceed context_window")
        return self


class SynthesizeConfig(Section):
    recipes: list[RecipeName] = Field(
        default_factory=lambda: list(BUILTIN_RECIPES),
        description="Datasets to synthesize, by recipe (see doctune.generation.recipes).",
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Default: client.temperature.")
    pdf_synthetic: PdfSyntheticConfig = Field(
        default_factory=PdfSyntheticConfig, description="QA grounded in one chunk each."
    )
    knowledge_distillation: DistillationConfig = Field(
        default_factory=DistillationConfig,
        description="Topic x facet questions answered from a window of the corpus.",
    )


class JudgeFilterConfig(Section):
    enabled: bool = Field(False, description="Have the judge score each record and drop weak ones.")
    threshold: float = Field(6.0, ge=0, le=10, description="Minimum judge score (0-10) to keep.")


class CurateConfig(Section):
    near_duplicate_threshold: float = Field(
        0.85,
        gt=0,
        le=1,
        description="Jaccard similarity (word 3-grams) above which a question is a near-duplicate.",
    )
    grounding: bool = Field(
        True, description="Every number-with-unit in an answer must occur in its sources."
    )
    judge_filter: JudgeFilterConfig = Field(
        default_factory=JudgeFilterConfig, description="An optional LLM-judge quality filter."
    )
    min_question_chars: int = Field(10, ge=0, description="Shorter questions are rejected.")
    max_question_chars: int = Field(1000, gt=0, description="Longer questions are rejected.")
    min_answer_chars: int = Field(20, ge=0, description="Shorter answers are rejected.")
    max_answer_chars: int = Field(6000, gt=0, description="Longer answers are rejected.")


class SplitSizes(Section):
    """Either ratios summing to 1 (0.8/0.1/0.1) or whole counts (the talk: 101/30/25)."""

    train: float = Field(0.8, description="Share (or count) of records for training.")
    validation: float = Field(0.1, description="Share (or count) for validation (the loss).")
    test: float = Field(0.1, description="Share (or count) held out for the test suites.")

    @property
    def values(self) -> tuple[float, float, float]:
        return (self.train, self.validation, self.test)

    @property
    def is_count(self) -> bool:
        return all(float(v).is_integer() for v in self.values) and sum(self.values) > 1

    @model_validator(mode="after")
    def _consistent(self) -> SplitSizes:
        if any(v < 0 for v in self.values):
            raise ValueError("split sizes must not be negative")
        if not self.is_count and abs(sum(self.values) - 1.0) > 1e-6:
            raise ValueError(
                f"split sizes are ratios summing to 1 or whole counts, got {self.values}"
            )
        return self


class SplitConfig(Section):
    seed: int = Field(
        42,
        description="Seed of the hash that places each group of records (by its smallest chunk id) in a split.",
    )
    sizes: dict[RecipeName, SplitSizes] = Field(
        default_factory=dict, description="Per recipe; recipes not named use `default`."
    )
    default: SplitSizes = Field(
        default_factory=SplitSizes, description="Sizes of a recipe not named in `sizes`."
    )
    leak_threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Jaccard similarity of a test/validation question to a train question that counts as a leak.",
    )

    def sizes_for(self, recipe: str) -> SplitSizes:
        return self.sizes.get(recipe, self.default)


class RephraseConfig(Section):
    k: int = Field(1, gt=0, le=10, description="Rephrased variants per question.")
    splits: list[Literal["train", "validation", "test"]] = Field(
        default_factory=lambda: ["test", "train"],
        description="Splits whose questions are rephrased.",
    )
    max_similarity: float = Field(
        0.9,
        gt=0,
        le=1,
        description="A variant this similar (word Jaccard) to the original is rejected.",
    )


class QuizConfig(Section):
    count: int = Field(87, gt=0, description="Quizzes to write (the talk used 87).")
    numeric_tolerance: float = Field(
        0.01, gt=0, description="Relative tolerance when checking a computed option."
    )


class EvalSetsConfig(Section):
    rephrase: RephraseConfig = Field(
        default_factory=RephraseConfig, description="Rephrased questions (generalisation)."
    )
    quiz: QuizConfig = Field(
        default_factory=QuizConfig, description="Checked multiple-choice quizzes (the task)."
    )


class ExportConfig(Section):
    # Names of the export stage's format registry (doctune.export.registry), checked there and
    # by the pre-flight check: the foundation knows no stage.
    formats: list[str] = Field(
        default_factory=lambda: ["sharegpt", "openai", "alpaca"],
        description="Export formats (sharegpt, openai, alpaca, llamafactory); llamafactory: one "
        "LLaMA-Factory training YAML per local experiment (needs sharegpt, added when missing).",
    )
    system_prompt: str = Field(
        "You are an expert assistant for pharmaceutical manufacturing.",
        description="System message of every exported conversation ('' for none).",
    )
    max_tokens_per_example: int = Field(
        65536, gt=0, description="OpenAI fine-tuning limit per example (checked before upload)."
    )
    tokenizer: str | None = Field(
        None, description="hf tokenizer for token counts; default: the student's."
    )
