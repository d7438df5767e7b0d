"""Chunks, QA records and a project on disk for the curate tests (ibuprofen manufacture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from doctune.context import RunContext
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import Chunk, Provenance, QARecord, stable_id
from doctune.testing.fake_replies import prompt_text

TEXTS = {
    "c-boots": (
        "In the Boots process isobutylbenzene is acylated with acetic anhydride and aluminium "
        "chloride (1.1 equivalents) at 0–5 °C. After 2 h, 4-isobutylacetophenone is isolated in "
        "85 % yield."
    ),
    "c-bhc": (
        "The BHC route hydrogenates 4-isobutylacetophenone over Raney nickel at 70 °C and 5 bar "
        "for 4 h. Carbonylation of the alcohol follows at 130 °C and 65 bar CO with 0.5 mol% "
        "palladium; ibuprofen forms with 99 % selectivity."
    ),
    "c-brom": (
        "Bromination of isobutylbenzene with N-bromosuccinimide (NBS) uses a 1:1.05 molar ratio; "
        "for 0.2 mol of substrate, 0.21 mol of NBS is charged. The mixture is refluxed in "
        "acetonitrile at 82 °C for 3 h and the conversion reaches 94 %."
    ),
    "c-hydro": (
        "The ester is hydrolysed with 2 M sodium hydroxide at 60–65 °C for 1.5 h. The solution "
        "is then acidified to pH 1–2 with hydrochloric acid and ibuprofen precipitates."
    ),
    "c-csv": (
        "substance: ibuprofen\nmolar_mass_g_per_mol: 206.28\nmelting_point_c: 75-77\n"
        "water_solubility_mg_per_l: 21"
    ),
}


def chunk(chunk_id: str, text: str | None = None) -> Chunk:
    body = TEXTS[chunk_id] if text is None else text
    return Chunk(
        id=chunk_id,
        doc_id="doc-" + chunk_id,
        path=f"{chunk_id}.md",
        index=0,
        text=body,
        start=0,
        end=len(body),
        n_tokens=len(body) // 4,
        sha256=stable_id(body, length=64),
    )


def chunks() -> dict[str, Chunk]:
    return {cid: chunk(cid) for cid in TEXTS}


def record(
    rid: str,
    question: str,
    answer: str,
    chunk_ids: list[str],
    recipe: str = "pdf_synthetic",
) -> QARecord:
    return QARecord(
        id=rid,
        recipe=recipe,  # type: ignore[arg-type]
        question=question,
        answer=answer,
        provenance=Provenance(
            doc_ids=[f"doc-{c}" for c in chunk_ids],
            chunk_ids=chunk_ids,
            model="openai:teacher",
            prompt="pdf_synthetic@1",
            prompt_hash="abc",
        ),
    )


def make_project(
    root: Path,
    config: dict[str, Any],
    *,
    chunk_list: list[Chunk],
    datasets: dict[str, list[QARecord]],
    dataset_stage: str = "synthesize",
) -> RunContext:
    """A project folder with doctune.yaml and a manifest holding chunks and datasets, as the
    ingest and synthesize (or curate) stages would have left them."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ctx = RunContext(root, show_progress=False)
    write_jsonl(ctx.out_dir / "ingest" / "chunks.jsonl", chunk_list)
    ingest = [ctx.manifest.artifact("ingest", "chunks", "ingest/chunks.jsonl")]
    ctx.manifest.replace_stage("ingest", ingest, "fp-ingest")
    produced = []
    for recipe, records in datasets.items():
        path = f"{dataset_stage}/{recipe}.jsonl"
        write_jsonl(ctx.out_dir / path, records)
        produced.append(ctx.manifest.artifact(dataset_stage, "dataset", path, recipe=recipe))
    ctx.manifest.replace_stage(dataset_stage, produced, f"fp-{dataset_stage}")
    return ctx


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def fake_judge(body: dict[str, Any]) -> str:
    """Scores by what the question says about itself; "BROKEN" gets an out-of-range score."""
    text = prompt_text(body)
    question = text.split("Question: ", 1)[1].split("\n", 1)[0]
    if "BROKEN" in question:
        return json.dumps(
            {"rationale": "x", "clarity": 5, "correctness": 5, "self_contained": 5, "score": 15}
        )
    score = 2 if "vague" in question else 8
    return json.dumps(
        {
            "rationale": "The answer restates the source." if score > 5 else "Too vague to learn.",
            "clarity": score,
            "correctness": score,
            "self_contained": score,
            "score": score,
        }
    )
