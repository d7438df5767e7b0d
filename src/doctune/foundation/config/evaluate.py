"""Sections of evaluation and the report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from doctune.foundation.config.base import Section
from doctune.foundation.config.train import RecipeName
from doctune.foundation.suites import DEFAULT_SUITES, find_suite, unknown_suite_message


class RagSettings(Section):
    k: int = Field(3, gt=0, description="Chunks retrieved per question.")
    embeddings: bool = Field(False, description="Hybrid BM25 + sentence-embedding retrieval.")
    embedding_model: str | None = Field(None, description="Local sentence-transformers folder.")


class MMLUSettings(Section):
    dir: str | None = Field(
        None, description="MMLU folder ({dev,val,test}/<subject>_<split>.csv); default $MMLU_DIR."
    )
    subjects: list[str] = Field(
        default_factory=list, description="Subjects to run ([] = all found)."
    )
    few_shot: int = Field(5, ge=0, description="Examples from the dev split before each question.")
    max_questions_per_subject: int | None = Field(
        None, gt=0, description="Questions per subject (a seeded sample); unset: all."
    )
    scoring: Literal["auto", "generate", "loglikelihood"] = Field(
        "auto", description="auto: log-likelihood for hf: models, generation for the others."
    )


SUITES = DEFAULT_SUITES


class EvaluateConfig(Section):
    models: list[str] = Field(
        default_factory=lambda: ["base", "best"],
        description="Specs, experiment names, 'base' (the students) or 'best' (best run per student x dataset).",
    )
    baselines: list[str] = Field(
        default_factory=list, description="Extra model rows (the talk: BioMedLM)."
    )
    suites: list[str] = Field(
        default_factory=lambda: list(SUITES),
        description=f"Suites to run: {', '.join(SUITES)}, or one registered in "
        "doctune.evaluate.suites.",
    )
    variants: list[Literal["plain", "rag"]] = Field(
        default_factory=lambda: ["plain"],
        description="'rag' adds retrieval over the chunks to every suite.",
    )
    datasets: list[RecipeName] = Field(
        default_factory=list, description="QA sets to use ([] = all)."
    )
    max_items: int | None = Field(
        100, gt=0, description="Items per suite and dataset (a seeded sample)."
    )
    rephrased_from: list[Literal["train", "validation", "test"]] = Field(
        default_factory=lambda: ["train"],
        description="Splits whose rephrased questions make the rephrased_qa suite.",
    )
    answer_max_tokens: int = Field(
        512, gt=0, description="Tokens a model may answer with (longer replies are cut off)."
    )
    extraction: Literal["rules", "rules+model"] = Field(
        "rules+model",
        description="How multiple-choice replies are read: by rules only, or with the judge "
        "model deciding the replies the rules cannot settle.",
    )
    extraction_audit: int = Field(
        20,
        ge=0,
        description="rules+model: per row, replies the rules settled that the judge model reads "
        "too, to report how often the two agree (0 = off).",
    )
    second_judge: str | None = Field(None, description="A second judge for agreement statistics.")
    bootstrap_samples: int = Field(2000, gt=99, description="Resamples for the 95 % intervals.")
    seed: int = Field(0, description="Seed of the item sample and the bootstrap.")
    select_by: str = Field(
        "validation_loss",
        description="How 'best' is chosen: validation_loss, or a suite name once scored "
        "(choosing by a suite the table also reports, e.g. test_qa, biases that cell upward).",
    )
    rag: RagSettings = Field(
        default_factory=RagSettings, description="Retrieval for the rag variant."
    )
    mmlu: MMLUSettings = Field(
        default_factory=MMLUSettings, description="The MMLU suite (forgetting)."
    )

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, suites: list[str]) -> list[str]:
        # Checked against the suite registry rather than a Literal, so a suite registered by
        # the evaluate stage is accepted without listing its name here.
        unknown = next((s for s in suites if find_suite(s) is None), None)
        if unknown is not None:
            raise ValueError(unknown_suite_message(unknown))
        return suites


class ReportConfig(Section):
    title: str | None = Field(None, description="Report title (default: from the project name).")
    smoke: bool = Field(
        False,
        description="A smoke run (the machinery end to end, scores are noise): the report says "
        "so in a banner and in results.csv. Runs using a make-tiny-model model are marked anyway.",
    )
    samples: int = Field(
        5, ge=0, description="Side-by-side answers before/after fine-tuning per dataset."
    )
