"""generation/expected.py's first-run keep rate: a share of the records plus a bounded number of
repeated ones, so it falls with the corpus's size; checked against a real synthesis and
curation on a corpus other than the one it was calibrated on."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from doctune.foundation.records import Chunk, text_sha256
from doctune.foundation.results import CallEstimate
from doctune.generation import expected
from doctune.testing.fake_openai import FakeOpenAIServer

from .helpers import context, make_project, run

PROSE = (
    "The reactor is charged with isobutylbenzene and acetic anhydride before the catalyst is "
    "added slowly while the jacket keeps the mixture cold and the stirrer runs at full speed "
    "so that no hot spots form near the wall of the vessel during the addition"
)
WORDS = PROSE.split()


def prose_chunks(count: int, seed: int = 3) -> list[Chunk]:
    """`count` chunks of 3-6 distinct sentences each, one document per 10 chunks (seeded)."""
    rng = random.Random(seed)
    chunks = []
    for i in range(count):
        path = f"doc_{i // 10}.md"
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = " ".join(rng.sample(WORDS, rng.randint(9, 14)))
            sentences.append(f"Batch {rng.randint(1, 9999)}: {words} at {rng.randint(5, 90)} °C.")
        text = " ".join(sentences)
        chunks.append(
            Chunk(
                id=f"{text_sha256(path)[:12]}-{i % 10}",
                doc_id=text_sha256(path)[:12],
                path=path,
                index=i % 10,
                text=text,
                section=f"Step {i}",
                start=0,
                end=len(text),
                n_tokens=len(text) // 4,
                sha256=text_sha256(text),
            )
        )
    return chunks


def test_the_example_calibration_is_reproduced() -> None:
    # examples/ibuprofen's first run: 77 of 231 pdf_synthetic records, 107 of 320 over 40 cells.
    assert round(231 * expected.first_run_keep_rate("pdf_synthetic", 231)) == 77
    rate = expected.first_run_keep_rate("knowledge_distillation", 320, 40)
    assert round(320 * rate) == 107


def test_the_rate_falls_with_the_records_toward_the_share_and_never_passes_one() -> None:
    share = expected.FIRST_RUN_KEEP["pdf_synthetic"].share
    rates = [expected.first_run_keep_rate("pdf_synthetic", n) for n in (18, 231, 3141, 10**6)]
    assert rates[0] == 1.0  # fewer records than the repeated ones kept: all are kept
    assert rates == sorted(rates, reverse=True) and rates[1] > rates[2] > rates[3]
    assert rates[3] == pytest.approx(share, abs=1e-3)
    # More cells for the same records: more of them kept (each cell's own repeats are kept once).
    few = expected.first_run_keep_rate("knowledge_distillation", 400, 40)
    assert expected.first_run_keep_rate("knowledge_distillation", 400, 120) > few
    assert expected.first_run_keep_rate("no_such_recipe", 500) == expected.DEFAULT_KEEP_RATE
    assert expected.first_run_keep_rate("pdf_synthetic", 0) == 1.0


def test_the_dry_run_rate_is_within_a_fifth_of_a_real_curation(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    # 150 chunks of other prose than the example's: 450 records, 2x the calibration's.
    config = {
        "synthesize": {"recipes": ["pdf_synthetic"]},
        "curate": {"near_duplicate_threshold": 0.85, "grounding": True},
    }
    project = make_project(tmp_path / "p", config)
    ctx = context(project, prose_chunks(150))
    rate, source = expected.keep_rate(ctx, "pdf_synthetic")
    assert source == "first-run keep rate"
    assert rate == expected.first_run_keep_rate("pdf_synthetic", 450)
    run(ctx, "synthesize")
    run(ctx, "curate")
    counts = context(project).manifest.stage_state("curate").summary["recipes"]["pdf_synthetic"]
    assert counts["records"] == 450
    real = counts["kept"] / counts["records"]
    assert 0.8 < rate / real < 1.2, (rate, real)
    # After that run the project's own rate is used.
    assert expected.keep_rate(context(project), "pdf_synthetic") == (real, "last run's keep rate")


def test_split_shares_blend_the_last_draw_with_the_configured_by_what_carries_over(
    tmp_path: Path,
) -> None:
    # 20 chunks x 3 pairs, half kept last time (30), split 6/12/12 where 0.6/0.2/0.2 is asked.
    config = {
        "synthesize": {"recipes": ["pdf_synthetic"]},
        "split": {"default": {"train": 0.6, "validation": 0.2, "test": 0.2}},
    }
    project = make_project(tmp_path / "p", config)
    chunks = prose_chunks(20)
    ctx = context(project, chunks)
    summaries = {
        "synthesize": {},
        "curate": {"recipes": {"pdf_synthetic": {"records": 60, "kept": 30}}},
        "split": {
            "recipes": {
                "pdf_synthetic": {
                    "records": 30,
                    "sizes": {"train": 6, "test": 12, "validation": 12},
                }
            }
        },
    }
    for stage, summary in summaries.items():
        ctx.manifest.replace_stage(stage, [], "a-last-run", summary)
    last = {"train": 6, "validation": 12, "test": 12}
    configured = {"train": 18, "validation": 6, "test": 6}
    # Synthesis will not rerun: its records carry over, and so does the draw.
    assert expected.split_sizes(ctx, "pdf_synthetic") == (
        last,
        "last run's keep rate 0.50, last run's split shares",
    )

    def rerun_with(calls: int, cached: int) -> tuple[dict[str, int], str]:
        with expected.rerunning(["synthesize", "curate", "split"]):
            est = CallEstimate("teacher", calls, 0, 0, cached_calls=cached)
            assert expected.with_last_run(ctx, "pdf_synthetic", est, chunks) is est
            return expected.split_sizes(ctx, "pdf_synthetic")

    assert rerun_with(0, 20) == (last, "last run's keep rate 0.50, last run's split shares")
    sizes, source = rerun_with(20, 0)
    assert sizes == configured and source.endswith(
        "configured split shares (no record carries over)"
    )
    sizes, source = rerun_with(15, 5)  # a quarter carries over
    assert sizes == {"train": 15, "validation": 8, "test": 8} and source.endswith(
        "25% the last run's"
    )
