"""The recipe registry: a new recipe is one class plus one `register` line, and the pipeline runs
it (synthesize, dry run, curate, split, export) with no other change."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from doctune.dry_run import estimate
from doctune.foundation import recipes as recipe_names
from doctune.foundation.config import SynthesizeConfig, load_config
from doctune.foundation.errors import ConfigError
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk, QARecord, stable_id
from doctune.foundation.results import CallEstimate
from doctune.generation import recipes
from doctune.generation.common import RecipeOutput, Teacher
from doctune.generation.recipes import IsCached, Recipe
from doctune.generation.schemas import qa_pairs_model
from doctune.models.base import Message
from doctune.pipeline import get_stage
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_chunks, make_project, run


class PairRecord(QARecord):
    chunk_words: int  # a field of its own: curate, split and export read its records by it


class OnePairPerChunk(Recipe):
    """The toy: one teacher call per chunk for one question/answer pair."""

    name = "one_pair"
    record_type = PairRecord

    async def generate(
        self, chunks: Sequence[Chunk], config: SynthesizeConfig, teacher: Teacher
    ) -> RecipeOutput:
        out = RecipeOutput()
        for chunk in chunks:
            ask = [Message(role="user", content=f"Write one QA pair about:\n{chunk.text}")]
            reply = await teacher.ask(ask, qa_pairs_model(1), 600)
            pair = reply.value.pairs[0]  # type: ignore[union-attr]
            out.records.append(
                PairRecord(
                    id=stable_id(self.name, chunk.id),
                    recipe=self.name,
                    question=pair.question,
                    answer=pair.answer,
                    provenance=teacher.provenance([chunk]),
                    chunk_words=len(chunk.text.split()),
                )
            )
        return out

    def estimate(
        self, chunks: Sequence[Chunk], config: SynthesizeConfig, teacher: Teacher, cached: IsCached
    ) -> CallEstimate:
        return CallEstimate("teacher", len(chunks), 0, 0, exact=False, note=self.name)

    def expected_size(self, n_chunks: int, config: SynthesizeConfig) -> int:
        return n_chunks


@pytest.fixture
def toy_recipe() -> Iterator[Recipe]:
    yield recipes.register(OnePairPerChunk())
    recipes.unregister(OnePairPerChunk.name)


def test_a_registered_recipe_runs_through_synthesize_curate_split_and_export(
    tmp_path: Path, fake_openai: FakeOpenAIServer, toy_recipe: Recipe
) -> None:
    project = make_project(
        tmp_path / "p",
        {
            "synthesize": {"recipes": ["one_pair"]},
            "curate": {"grounding": False, "min_answer_chars": 0, "min_question_chars": 0},
            "split": {"sizes": {"one_pair": {"train": 4, "validation": 1, "test": 1}}},
        },
    )
    ctx = context(project, make_chunks())
    ((_, dry_run),) = estimate(ctx, [get_stage("synthesize")])
    assert (dry_run.calls, dry_run.note) == (6, "one_pair")

    assert run(ctx, "synthesize").summary["one_pair_records"] == 6
    assert fake_openai.completions == 6
    synthesized = read_jsonl(ctx.out_dir / "synthesize" / "one_pair.jsonl", PairRecord)
    assert {r.recipe for r in synthesized} == {"one_pair"}
    assert [r.chunk_words for r in synthesized] == [len(c.text.split()) for c in make_chunks()]

    for stage in ("curate", "split", "export"):
        run(context(project), stage)
    ctx = context(project)
    sizes = {a.split: a.records for a in ctx.manifest.find_stage("split") if a.kind == "dataset"}
    assert sizes == {"train": 4, "validation": 1, "test": 1}
    (train,) = [a for a in ctx.manifest.find_stage("split") if a.split == "train"]
    assert all(r.chunk_words > 0 for r in read_jsonl(ctx.path(train), PairRecord))
    exported = [a for a in ctx.manifest.find_stage("export") if a.recipe == "one_pair"]
    assert {a.split for a in exported} == {"train", "validation", "test"}


def test_unknown_recipe_names_the_known_ones_and_the_closest(tmp_path: Path) -> None:
    make_project(tmp_path, {"synthesize": {"recipes": ["pdf_synthtic"]}})
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    message = str(error.value)
    assert "synthesize.recipes.0" in message and "did you mean 'pdf_synthetic'?" in message
    assert "(known: pdf_synthetic, knowledge_distillation)" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"unknown recipe 'x' \(known: pdf_synthetic, kn"):
        recipes.get_recipe("x")


def test_split_sizes_are_keyed_by_registered_recipes_only(tmp_path: Path) -> None:
    make_project(tmp_path, {"split": {"sizes": {"one_pair": {"train": 1}}}})
    with pytest.raises(ConfigError, match="unknown recipe 'one_pair'"):
        load_config(tmp_path)


def test_the_config_knows_exactly_the_registered_recipes(toy_recipe: Recipe) -> None:
    assert recipes.registered() == [*recipe_names.BUILTIN_RECIPES, "one_pair"]
    assert recipe_names.known_recipes() == recipes.registered()
    with pytest.raises(ValueError, match="registered twice"):
        recipes.register(OnePairPerChunk())


def test_unregistering_forgets_the_name() -> None:
    recipes.register(OnePairPerChunk())
    recipes.unregister("one_pair")
    assert "one_pair" not in recipe_names.known_recipes()
    assert recipes.registered() == list(recipe_names.BUILTIN_RECIPES)
