"""Recipe `knowledge_distillation`: the topic x facet tree of `distillation`, as a recipe."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

from doctune.foundation.config import SynthesizeConfig
from doctune.foundation.records import Chunk
from doctune.foundation.results import CallEstimate
from doctune.generation.common import RecipeOutput, Teacher
from doctune.generation.recipes import distillation
from doctune.generation.recipes.base import IsCached, Recipe
from doctune.generation.schemas import TopicOverview
from doctune.models.tokens import estimate_tokens

# Typical reply sizes in tokens, for estimates only (the limits in schemas.py are far higher).
TOPIC_REPLY_TOKENS = 700
QUESTION_TOKENS = 35
ANSWER_TOKENS = 180
# The instructions around the context of a question or answer call.
INSTRUCTION_TOKENS = 450


class KnowledgeDistillation(Recipe):
    name = distillation.RECIPE

    async def generate(
        self, chunks: Sequence[Chunk], config: SynthesizeConfig, teacher: Teacher
    ) -> RecipeOutput:
        return await distillation.generate(chunks, config.knowledge_distillation, teacher)

    def estimate(
        self,
        chunks: Sequence[Chunk],
        config: SynthesizeConfig,
        teacher: Teacher,
        cached: IsCached,
    ) -> CallEstimate:
        """Approximate: the topic count is only known once the teacher has listed the topics, so
        every document is assumed to yield its share of `max_topics`. A document whose topics
        call is in the cache (its request is known before any call) gets the same topics back,
        so its questions and answers calls are the same requests as last time: the cache has
        them too, and they count as `cached_calls` (the share of documents cached, of all)."""
        kd = config.knowledge_distillation
        docs = distillation.documents(chunks)
        limit = min(distillation.TOPICS_PER_DOCUMENT, kd.max_topics)
        topic_prompt = hits = 0
        for doc in docs:
            messages = distillation.topics_messages(doc, limit)
            request = teacher.request(
                messages, TopicOverview, distillation.topics_reply_chars(limit)
            )
            if cached(request):
                hits += 1
                continue
            topic_prompt += estimate_tokens("".join(m.content for m in messages))
        new = (len(docs) - hits) / len(docs) if docs else 1.0
        topics = min(kd.max_topics, len(docs) * limit)
        cells = topics * len(kd.facets)
        answers = min(kd.target_size, cells * kd.max_questions_per_facet)
        question_calls = min(cells, answers)
        # Each question call asks for the quota plus one (see distillation's module doc).
        asked = min(
            kd.max_questions_per_facet,
            distillation.quota(kd.target_size, cells, kd.max_questions_per_facet)[0] + 1,
        )
        chunk_tokens = mean(c.n_tokens or estimate_tokens(c.text) for c in chunks) if chunks else 0
        context = int(kd.context_chunks * chunk_tokens) + INSTRUCTION_TOKENS
        planned = len(docs) + question_calls + answers
        calls = len(docs) - hits + round((question_calls + answers) * new)
        note = f"{self.name}: ~{topics} topics x {len(kd.facets)} facets, "
        note += f"target {kd.target_size} records"
        return CallEstimate(
            "teacher",
            calls=calls,
            prompt_tokens=topic_prompt + round((question_calls + answers) * context * new),
            completion_tokens=round(
                new
                * (
                    len(docs) * TOPIC_REPLY_TOKENS
                    + question_calls * asked * QUESTION_TOKENS
                    + answers * ANSWER_TOKENS
                )
            ),
            exact=False,
            note=note + (f"; {hits} of {len(docs)} documents' topics cached" if hits else ""),
            cached_calls=planned - calls,
        )

    def expected_size(self, n_chunks: int, config: SynthesizeConfig) -> int:
        return config.knowledge_distillation.target_size

    def sources_per_record(self, config: SynthesizeConfig) -> int:
        return config.knowledge_distillation.context_chunks
