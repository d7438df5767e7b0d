"""A project whose output folder holds what synthesize, curate and split write, for the Datasets,
record and review pages: records of two recipes, some dropped by curation, the rest split."""

from __future__ import annotations

from pathlib import Path

import yaml

from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import Chunk, Provenance, QARecord, RejectedRecord

CHUNK_TEXT = (
    "Ibuprofen is made from isobutylbenzene. The Friedel-Crafts acylation runs at 5 °C with "
    "aluminium chloride. The BHC route hydrogenates the ketone over Raney nickel at 70 °C."
)
HOSTILE = "<script>alert('x')</script>"


def qa(i: int, recipe: str, text: str = "") -> QARecord:
    return QARecord(
        id=f"{recipe[:3]}-{i:05d}",
        recipe=recipe,
        question=f"Question {i} about {recipe}? {text}".strip(),
        answer=f"The ketone is hydrogenated over Raney nickel at 70 °C (answer {i}).",
        provenance=Provenance(
            doc_ids=["doc1"], chunk_ids=["c-1"], sources=["process.md"], pages=[3], model="fake"
        ),
    )


def make_project(tmp_path: Path, n: int = 30, dropped: int = 4) -> Path:
    """`n` pdf_synthetic records (every 7th mentions hydrogenation in its question, the first
    carries a script tag), `dropped` of them rejected by curate (duplicate, ungrounded in turn),
    the rest split train/validation/test 3:1:1; plus 3 knowledge_distillation records."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "doctune.yaml").write_text(yaml.safe_dump({"name": "review-test"}))
    out = project / "out"
    manifest = Manifest(out)
    chunk = Chunk(
        id="c-1", doc_id="doc1", path="process.md", index=0, text=CHUNK_TEXT, pages=[3],
        section="Synthesis", start=0, end=len(CHUNK_TEXT), n_tokens=40, sha256="x",
    )  # fmt: skip
    _write(manifest, "ingest", "chunks", out / "ingest" / "chunks.jsonl", [chunk])
    recipes = {
        "pdf_synthetic": [
            qa(i, "pdf_synthetic", HOSTILE if i == 0 else "hydrogenation" if i % 7 == 0 else "")
            for i in range(n)
        ],
        "knowledge_distillation": [qa(i, "knowledge_distillation") for i in range(3)],
    }
    synth, curate, split = [], [], []
    for recipe, records in recipes.items():
        synth.append(
            _artifact(
                manifest,
                "synthesize",
                "dataset",
                f"synthesize/{recipe}.jsonl",
                records,
                recipe=recipe,
            )
        )
        drop = records[1 : 1 + dropped] if recipe == "pdf_synthetic" else []
        rejected = [
            RejectedRecord(
                id=r.id,
                stage="curate",
                reason=("duplicate", "ungrounded")[k % 2],
                record=r.model_dump(mode="json"),
            )
            for k, r in enumerate(drop)
        ]
        kept = [r for r in records if r not in drop]
        curate.append(
            _artifact(manifest, "curate", "dataset", f"curate/{recipe}.jsonl", kept, recipe=recipe)
        )
        curate.append(
            _artifact(
                manifest,
                "curate",
                "rejected",
                f"curate/{recipe}.rejected.jsonl",
                rejected,
                recipe=recipe,
            )
        )
        for name, part in zip(("train", "validation", "test"), _thirds(kept), strict=True):
            records_of = [r.model_copy(update={"split": name}) for r in part]
            split.append(
                _artifact(
                    manifest,
                    "split",
                    "dataset",
                    f"split/{recipe}/{name}.jsonl",
                    records_of,
                    recipe=recipe,
                    split=name,
                )
            )
    for stage, artifacts in (("synthesize", synth), ("curate", curate), ("split", split)):
        manifest.replace_stage(stage, artifacts, "fp")
    return project


def _thirds(records: list[QARecord]) -> tuple[list[QARecord], list[QARecord], list[QARecord]]:
    train = [r for i, r in enumerate(records) if i % 5 < 3]
    validation = [r for i, r in enumerate(records) if i % 5 == 3]
    test = [r for i, r in enumerate(records) if i % 5 == 4]
    return train, validation, test


def _artifact(manifest: Manifest, stage: str, kind: str, rel: str, records: list, **labels: str):
    path = manifest.out_dir / rel
    write_jsonl(path, records)
    return manifest.artifact(stage, kind, path, **labels)


def _write(manifest: Manifest, stage: str, kind: str, path: Path, records: list) -> None:
    write_jsonl(path, records)
    manifest.replace_stage(stage, [manifest.artifact(stage, kind, path)], "fp")
