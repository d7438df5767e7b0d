"""End to end: `doctune run` on the example's smoke config with tiny models whose
context is short finishes every stage; prompts too long are fitted, and the counts say so.

The teacher and judge have 2,048 positions: every distillation topics prompt (2,100 to 4,000
tokens of outline with this tokenizer) must lose the start of its outline, and most synthesis
replies get a lowered limit. The student has 512: its RAG prompts (~1,000 tokens with three
passages) drop passages and MMLU's 5-shot prompts (~480 tokens, plus 64 for the reply) drop
examples. Before fitting, the first such prompt ended the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.foundation.evalrecords import ItemResult
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.manifest import Manifest

MMLU = Path(__file__).parent / "evaluate" / "mmlu_fixtures"


def tiny(dest: Path, positions: int) -> Path:
    result = CliRunner().invoke(
        main, ["make-tiny-model", str(dest), "--max-positions", str(positions)]
    )
    assert result.exit_code == 0, result.output
    return dest


def smaller(project: Path) -> Path:
    """The smoke config, smaller still (this test is about fitting, not about volume), with the
    rag variant and MMLU (the test fixtures, generate scoring) added."""
    path = project / "smoke.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["synthesize"] = {
        "pdf_synthetic": {"questions_per_chunk": 2, "max_chunks": 6},
        "knowledge_distillation": {"target_size": 6, "max_topics": 2},
    }
    cfg["evalsets"] = {"quiz": {"count": 3}}
    cfg["train"]["experiments"] = [
        {"name": "smoke", "epochs": 1, "batch_size": 4, "learning_rate": 3.0e-3}
    ]
    cfg["evaluate"].update(
        {
            "models": ["base"],
            "suites": ["test_qa", "task", "mmlu"],
            "variants": ["plain", "rag"],
            "max_items": 4,
            "mmlu": {
                "dir": str(MMLU),
                "few_shot": 5,
                "max_questions_per_subject": 2,
                "scoring": "generate",
            },
        }
    )
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def summary_counts(output: str, stage: str) -> dict[str, str]:
    line = next(line for line in output.splitlines() if line.startswith(f"{stage}: "))
    return dict(re.findall(r"(\w+)=([^,]+)", line))


@pytest.mark.slow
def test_a_short_context_fits_prompts_and_finishes_every_stage(
    example_project: Path, tmp_path: Path
) -> None:
    teacher = tiny(tmp_path / "teacher", 2048)
    student = tiny(tmp_path / "student", 512)
    config = smaller(example_project)
    args = [
        "run",
        str(example_project),
        "--config",
        str(config),
        "--teacher",
        f"hf:{teacher}",
        "--judge",
        f"hf:{teacher}",
        "--student",
        f"hf:{student}",
        "--no-progress",
    ]
    run = CliRunner().invoke(main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.output

    synth = summary_counts(run.output, "synthesize")
    assert int(synth["knowledge_distillation_fitted_prompts"]) >= 2  # every topics prompt
    assert int(synth["pdf_synthetic_records"]) > 0
    evaluate = summary_counts(run.output, "evaluate")
    assert int(evaluate["fitted"]) > 0

    out = example_project / "out-smoke"
    manifest = Manifest(out)
    results = [
        r
        for artifact in manifest.find("answers")
        for r in read_jsonl(manifest.resolve(artifact), ItemResult)
    ]
    rag = [r for r in results if r.variant == "rag" and r.suite == "test_qa"]
    assert rag and all(any(s.endswith("passages") for s in r.fitting) for r in rag)
    mmlu = [r for r in results if r.suite == "mmlu"]
    assert mmlu and all(r.fitting and "few-shot examples" in r.fitting[0] for r in mmlu)
    for r in results:  # an exclusion is counted by kind; a fitted prompt was sent
        assert (r.excluded is None) == (r.exclusion is None)
        if r.fitting and r.excluded is None:
            assert r.completion_tokens > 0
    scores = [json.loads(line) for line in (out / "evaluate" / "scores.jsonl").open()]
    for row in scores:
        assert sum(row["exclusions"].values()) == row["excluded"]
    assert (out / "report" / "index.html").is_file()
