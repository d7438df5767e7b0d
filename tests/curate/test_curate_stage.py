"""The curate stage on a project: files, manifest, the reason for every drop, the summary."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from doctune import pipeline
from doctune.curate.judge_filter import QualityJudgement
from doctune.curate.stage import curate_records, estimate, run
from doctune.foundation.config import CurateConfig
from doctune.foundation.errors import InputError
from doctune.testing.fake_openai import FakeOpenAIServer

from .factories import chunks, fake_judge, make_project, read_lines, record

BOOTS_Q = (
    "In the Boots process for ibuprofen, at what temperature is isobutylbenzene acylated with "
    "acetic anhydride and aluminium chloride?"
)
BOOTS_A = (
    "The Friedel-Crafts acylation of isobutylbenzene in the Boots process is carried out at "
    "0–5 °C with 1.1 equivalents of aluminium chloride."
)

PDF = [
    record("p1", BOOTS_Q, BOOTS_A, ["c-boots"]),
    record("p2", BOOTS_Q.lower() + "  ", BOOTS_A.replace(" ", "  "), ["c-boots"]),  # duplicate
    record(
        "p3",
        BOOTS_Q.replace("chloride?", "trichloride?"),  # near-duplicate of p1
        "It is run at 0-5 °C and gives 4-isobutylacetophenone in 85 % yield after 2 h.",
        ["c-boots"],
    ),
    record(
        "p4",
        "How long does the hydrogenation step of the BHC process take?",
        "The hydrogenation of 4-isobutylacetophenone over Raney nickel takes 6 h at 70 °C and "
        "5 bar.",  # 6 h is not in the source
        ["c-bhc"],
    ),
    record("p5", "Yield?", "The acylation gives 85 % of 4-isobutylacetophenone.", ["c-boots"]),
    record(
        "p6",
        "Describe the carbonylation step of the BHC process in detail.",
        "The alcohol is carbonylated at 130 °C and 65 bar of carbon monoxide. " * 6,
        ["c-bhc"],
    ),
    record(
        "p7",
        "What is the molar mass of ibuprofen?",
        "Ibuprofen has a molar mass of 206.28 g/mol.",
        ["c-csv"],
    ),
    record(
        "p8",
        "How much NBS is charged for 0.2 mol of isobutylbenzene in the bromination?",
        "With the 1:1.05 molar ratio, 0.21 mol of N-bromosuccinimide is charged for 0.2 mol of "
        "isobutylbenzene.",
        ["c-brom"],
    ),
]
KD = [
    record(
        "k1",
        "How do the Boots and BHC routes begin, and what conditions does the BHC hydrogenation use?",
        "Both start from isobutylbenzene; the Boots acylation runs at 0–5 °C and gives 85 % "
        "yield, and the BHC route hydrogenates the ketone over Raney nickel at 70 °C and 5 bar.",
        ["c-boots", "c-bhc"],
        recipe="knowledge_distillation",
    ),
    record(
        "k2",
        "Under what conditions is the ester hydrolysed and what is the melting point of ibuprofen?",
        "The ester is hydrolysed with 2 M sodium hydroxide at 60–65 °C for 1.5 h and acidified "
        "to pH 1–2; ibuprofen melts at 75–77 °C.",
        ["c-hydro", "c-csv"],
        recipe="knowledge_distillation",
    ),
    record(
        "k3",
        "At what temperature is the bromination of isobutylbenzene with NBS refluxed?",
        "The mixture is refluxed in acetonitrile at 85 °C for 3 h.",  # the source says 82 °C
        ["c-brom"],
        recipe="knowledge_distillation",
    ),
]
CONFIG: dict[str, Any] = {"models": {"judge": "openai:judge"}, "curate": {"max_answer_chars": 300}}


def run_curate(ctx: Any) -> Any:
    (result,) = asyncio.run(pipeline.run_pipeline(ctx, [pipeline.get_stage("curate")]))
    return result


def test_curate_writes_datasets_and_the_reason_for_every_drop(tmp_path: Path) -> None:
    ctx = make_project(
        tmp_path,
        CONFIG,
        chunk_list=list(chunks().values()),
        datasets={"pdf_synthetic": PDF, "knowledge_distillation": KD},
    )
    result = run_curate(ctx)
    out = ctx.out_dir / "curate"
    assert [r["id"] for r in read_lines(out / "pdf_synthetic.jsonl")] == ["p1", "p7", "p8"]
    assert [r["id"] for r in read_lines(out / "knowledge_distillation.jsonl")] == ["k1", "k2"]
    rejected = {r["id"]: r for r in read_lines(out / "pdf_synthetic.rejected.jsonl")}
    assert {k: v["reason"] for k, v in rejected.items()} == {
        "p2": "duplicate",
        "p3": "near_duplicate",
        "p4": "ungrounded",
        "p5": "too_short",
        "p6": "too_long",
    }
    assert "p1" in rejected["p2"]["detail"]
    assert "p1" in rejected["p3"]["detail"] and "Jaccard 0.88" in rejected["p3"]["detail"]
    assert rejected["p4"]["detail"] == "not in the source chunks: 6 h"
    assert rejected["p4"]["record"]["answer"] == PDF[3].answer  # the whole record is kept
    (k3,) = read_lines(out / "knowledge_distillation.rejected.jsonl")
    assert (k3["id"], k3["reason"], k3["detail"]) == (
        "k3",
        "ungrounded",
        "not in the source chunks: 85 °C",
    )

    kinds = {(a.kind, a.recipe, a.path, a.records) for a in ctx.manifest.find_stage("curate")}
    assert kinds == {
        ("dataset", "pdf_synthetic", "curate/pdf_synthetic.jsonl", 3),
        ("rejected", "pdf_synthetic", "curate/pdf_synthetic.rejected.jsonl", 5),
        ("dataset", "knowledge_distillation", "curate/knowledge_distillation.jsonl", 2),
        ("rejected", "knowledge_distillation", "curate/knowledge_distillation.rejected.jsonl", 1),
    }
    summary = result.summary
    assert (summary["records"], summary["kept"], summary["rejected"]) == (11, 5, 6)
    assert (summary["ungrounded"], summary["duplicate"], summary["near_duplicate"]) == (2, 1, 1)
    assert summary["recipes"]["pdf_synthetic"]["too_long"] == 1
    assert summary["judged"] == 0 and "judge" not in summary
    assert estimate(ctx) == []


def test_grounding_can_be_switched_off(tmp_path: Path) -> None:
    config = {**CONFIG, "curate": {"grounding": False, "max_answer_chars": 300}}
    ctx = make_project(
        tmp_path, config, chunk_list=list(chunks().values()), datasets={"pdf_synthetic": PDF}
    )
    result = run_curate(ctx)
    assert result.summary["ungrounded"] == 0 and result.summary["kept"] == 4


def test_the_kept_record_does_not_depend_on_file_order() -> None:
    config = CurateConfig(max_answer_chars=300)
    shuffled = list(PDF)
    random.Random(3).shuffle(shuffled)
    a = asyncio.run(curate_records(PDF, chunks(), config))
    b = asyncio.run(curate_records(shuffled, chunks(), config))
    assert [r.id for r in a.kept] == [r.id for r in b.kept] == ["p1", "p7", "p8"]
    assert sorted((r.id, r.reason, r.detail) for r in a.rejected) == sorted(
        (r.id, r.reason, r.detail) for r in b.rejected
    )


def test_judge_filter_in_the_stage(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responders[QualityJudgement.__name__] = fake_judge
    extra = [
        record("v1", "What about the vague thing there?", "It gives 85 % of it.", ["c-boots"]),
        record(
            "x1",
            "BROKEN: what pressure does the carbonylation use?",
            "The carbonylation uses 65 bar of carbon monoxide at 130 °C.",
            ["c-bhc"],
        ),
    ]
    config = {
        **CONFIG,
        "curate": {"max_answer_chars": 300, "judge_filter": {"enabled": True, "threshold": 5}},
    }
    ctx = make_project(
        tmp_path,
        config,
        chunk_list=list(chunks().values()),
        datasets={"pdf_synthetic": PDF + extra},
    )
    (est,) = estimate(ctx)
    assert (est.role, est.calls, est.exact) == ("judge", len(PDF) + 2, False)
    assert est.prompt_tokens > est.calls * 100

    summary = run_curate(ctx).summary
    # Only what survived the cheap checks is judged: p1, p7, p8, v1, x1.
    assert summary["judged"] == 5 and summary["judge_score"] == 1
    assert summary["judge_invalid"] == 1
    assert summary["recipes"]["pdf_synthetic"]["judge_invalid_ids"] == ["x1"]
    assert summary["judge"]["prompt"] == "judge_quality@1" and summary["judge"]["threshold"] == 5
    kept = [r["id"] for r in read_lines(ctx.out_dir / "curate" / "pdf_synthetic.jsonl")]
    assert kept == ["p1", "p7", "p8", "x1"]  # the unscored record is kept, and flagged
    rejected = read_lines(ctx.out_dir / "curate" / "pdf_synthetic.rejected.jsonl")
    assert [r["detail"][:10] for r in rejected if r["reason"] == "judge_score"] == ["score 2 < "]
    assert ctx.manifest.stage_state("curate").summary["judge_invalid"] == 1


def test_estimate_before_synthesis_extrapolates(tmp_path: Path) -> None:
    config = {**CONFIG, "curate": {"judge_filter": {"enabled": True}}}
    config["synthesize"] = {
        "pdf_synthetic": {"questions_per_chunk": 2},
        "knowledge_distillation": {"target_size": 50},
    }
    ctx = make_project(tmp_path, config, chunk_list=list(chunks().values()), datasets={})
    (est,) = estimate(ctx)
    assert est.calls == 5 * 2 + 50 and not est.exact and "extrapolated" in est.note


def test_missing_inputs_are_one_line_errors(tmp_path: Path) -> None:
    ctx = make_project(tmp_path, CONFIG, chunk_list=[], datasets={})
    with pytest.raises(InputError, match="no synthesized datasets"):
        asyncio.run(run(ctx))
    ctx = make_project(tmp_path / "b", CONFIG, chunk_list=[], datasets={"pdf_synthetic": PDF})
    ctx.manifest.replace_stage("ingest", [], "fp-ingest")
    with pytest.raises(InputError, match="no chunks"):
        asyncio.run(run(ctx))
