"""A small ibuprofen corpus as chunks, a temp project around it, and helpers for the fake
server's request bodies. Chunks are built here, not by ingest, so these tests stand alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml

from doctune.context import RunContext
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import Chunk, QARecord, text_sha256
from doctune.pipeline import StageResult, get_stage, run_stage
from doctune.testing.fake_replies import prompt_text

CORPUS: list[tuple[str, str, list[int], list[str]]] = [
    # (path, section, pages, text) per chunk; documents are grouped by path.
    (
        "boots_route.md",
        "Boots route > Acylation",
        [],
        "Isobutylbenzene is acylated with acetic anhydride in a Friedel-Crafts acylation. "
        "Aluminium chloride serves as the Lewis acid catalyst at 0 to 5 °C. "
        "The product is 4-isobutylacetophenone, obtained in 85 % yield.",
    ),
    (
        "boots_route.md",
        "Boots route > Darzens reaction",
        [],
        "4-Isobutylacetophenone undergoes a Darzens reaction with ethyl chloroacetate. "
        "Sodium ethoxide is used as the base in ethanol. "
        "The glycidic ester is hydrolysed and decarboxylated to the aldehyde.",
    ),
    (
        "boots_route.md",
        "Boots route > Nitrile",
        [],
        "The aldehyde reacts with hydroxylamine to give an oxime. "
        "The oxime is dehydrated to the nitrile with acetic anhydride. "
        "Hydrolysis of the nitrile finally gives ibuprofen.",
    ),
    (
        "bromination.pdf",
        "Bromination",
        [1],
        "1-Bromo-4-isobutylbenzene is prepared by bromination of isobutylbenzene in carbon "
        "tetrachloride. The molar ratio of isobutylbenzene to bromine is 1:1.05. "
        "The reaction is kept between 30 and 40 °C with iron powder as the catalyst.",
    ),
    (
        "bromination.pdf",
        "Workup",
        [2],
        "After the bromination the mixture is washed with water and sodium bicarbonate solution. "
        "The organic layer is dried over anhydrous sodium sulfate. "
        "Carbon tetrachloride is removed by distillation under reduced pressure.",
    ),
    (
        "bhc_route.txt",
        None,
        [],
        "The BHC route hydrogenates 4-isobutylacetophenone over a Raney nickel catalyst. "
        "The alcohol formed is carbonylated with carbon monoxide and a palladium catalyst. "
        "The BHC process reaches an atom economy of about 77 % for the whole route.",
    ),
]

TEACHER = "openai:fake-teacher"
BASE_CONFIG: dict[str, Any] = {
    "name": "synth-test",
    "models": {"teacher": TEACHER},
    "client": {"concurrency": 4, "max_retries": 0, "timeout_s": 20, "structured_retries": 1},
}


def make_chunks() -> list[Chunk]:
    chunks, counters, offsets = [], {}, {}
    for path, section, pages, text in CORPUS:
        index = counters.get(path, 0)
        start = offsets.get(path, 0)
        doc_id = text_sha256(path)[:12]
        chunks.append(
            Chunk(
                id=f"{doc_id}-{index}",
                doc_id=doc_id,
                path=path,
                index=index,
                text=text,
                pages=pages,
                section=section,
                start=start,
                end=start + len(text),
                n_tokens=len(text) // 4,
                sha256=text_sha256(text),
            )
        )
        counters[path] = index + 1
        offsets[path] = start + len(text)
    return chunks


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def make_project(root: Path, config: dict[str, Any] | None = None) -> Path:
    """A project folder with a doctune.yaml (BASE_CONFIG merged with `config`)."""
    root.mkdir(parents=True, exist_ok=True)
    data = merge(BASE_CONFIG, config or {})
    (root / "doctune.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return root


def context(project: Path, chunks: list[Chunk] | None = None) -> RunContext:
    """A fresh RunContext; with `chunks`, registers them as the ingest stage's output."""
    ctx = RunContext(project, show_progress=False)
    if chunks is not None:
        path = ctx.out_dir / "ingest" / "chunks.jsonl"
        write_jsonl(path, chunks)
        ctx.manifest.replace_stage(
            "ingest", [ctx.manifest.artifact("ingest", "chunks", path)], "test"
        )
    return ctx


def register_split(ctx: RunContext, recipe: str, split: str, records: list[QARecord]) -> None:
    path = ctx.out_dir / "split" / f"{recipe}.{split}.jsonl"
    write_jsonl(path, records)
    others = list(ctx.manifest.find_stage("split"))
    ctx.manifest.replace_stage(
        "split",
        [*others, ctx.manifest.artifact("split", "dataset", path, recipe=recipe, split=split)],
        "test",
    )


def run(ctx: RunContext, name: str) -> StageResult:
    """Run one stage through the pipeline (so the manifest records it), closing clients after."""

    async def go() -> StageResult | None:
        try:
            return await run_stage(ctx, get_stage(name), force=True)
        finally:
            await ctx.aclose()

    result = asyncio.run(go())
    assert result is not None
    return result


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["response_format"]["json_schema"]["schema"]


def items_asked(body: dict[str, Any], prop: str) -> int:
    """The exact item count a schema asks for (min = max)."""
    node = schema_of(body)["properties"][prop]
    assert node["minItems"] == node["maxItems"]
    return int(node["minItems"])


def user_text(body: dict[str, Any]) -> str:
    return prompt_text(body)


def is_reask(body: dict[str, Any]) -> bool:
    return any("That reply is not valid" in m["content"] for m in body["messages"])


def reply(data: dict[str, Any]) -> str:
    return json.dumps(data)
