"""The interface of a dataset recipe: what synthesize runs, what the dry run prices, and what
the later stages plan with before the recipe has written anything."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from doctune.foundation.config import SynthesizeConfig
from doctune.foundation.records import Chunk, QARecord
from doctune.foundation.results import CallEstimate
from doctune.generation.common import RecipeOutput, Teacher
from doctune.models.base import ChatRequest

# Whether the first request of a call is already in the cache (then the dry run does not price it).
IsCached = Callable[[ChatRequest], bool]


class Recipe(ABC):
    """One way to turn chunks into a dataset; the dataset, its files and the config section
    that tunes it (`synthesize.<name>`, where it has one) are named after `name`."""

    name: ClassVar[str]
    # The schema of its records, as curate, split and export read them.
    record_type: ClassVar[type[QARecord]] = QARecord

    @abstractmethod
    async def generate(
        self, chunks: Sequence[Chunk], config: SynthesizeConfig, teacher: Teacher
    ) -> RecipeOutput:
        """The records in a deterministic order, the calls that failed, a summary."""

    @abstractmethod
    def estimate(
        self,
        chunks: Sequence[Chunk],
        config: SynthesizeConfig,
        teacher: Teacher,
        cached: IsCached,
    ) -> CallEstimate:
        """The teacher calls and tokens `generate` would spend, for --dry-run."""

    @abstractmethod
    def expected_size(self, n_chunks: int, config: SynthesizeConfig) -> int:
        """About how many records it writes from `n_chunks` chunks (later stages' dry runs)."""

    def sources_per_record(self, config: SynthesizeConfig) -> int:
        """Curation's need: the chunks each record is grounded in, which the judge filter reads
        with it (the size of its prompt before the records exist)."""
        return 1
