"""The talk's "orthogonal experiment results" as fixture scores, and a project on disk whose
evaluate, train and export stages look done, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from doctune.context import USAGE_NAME, RunContext
from doctune.export.stats import build_stats, dataset_stats
from doctune.foundation.evalrecords import ItemResult, JudgeVerdict, Paired, SuiteScore
from doctune.foundation.jsonl import write_json, write_jsonl
from doctune.foundation.records import Provenance, QARecord
from doctune.models.experiments import ExperimentRow, ExperimentTable

GPT = "openai:gpt-4o-mini"
QWEN = "hf:Qwen/Qwen2.5-7B-Instruct"
JUDGE = "openai:gpt-4o"
PROMPT_HASH = "a1b2c3d4"
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
N_QUIZ = 87
RUBRIC = {
    "accuracy": "Are the facts, numbers and units right?",
    "completeness": "Does it cover what the reference covers?",
    "clarity": "Is it clear and well organised?",
}

GPT_BASE = f"{GPT} (base)"
QWEN_BASE = f"{QWEN} (base)"
GPT_PDF = "gpt-pdf (pdf_synthetic)"
GPT_KD = "gpt-kd (knowledge_distillation)"
QWEN_KD = "qwen-kd (knowledge_distillation)"
BIOMEDLM = "openai:BioMedLM"

# (train QA, test QA, rephrased QA) judge means of the talk, before and after.
TALK_QA = {
    GPT_PDF: ((5.86, 5.25, 5.88), (7.29, 5.96, 7.16)),
    GPT_KD: ((5.86, 5.25, 5.88), (7.18, 7.29, 7.31)),
    QWEN_KD: ((4.40, 4.38, 3.62), (6.18, 5.58, 5.89)),
}
# Task successes before, after; task + prompting after; MMLU accuracy before, after.
TALK_TASK = {
    GPT_PDF: (58, 50, 65, 0.560, 0.518),
    GPT_KD: (58, 57, 70, 0.560, 0.555),
    QWEN_KD: (54, 58, 70, 0.203, 0.237),
}
QA_SUITES = ("train_qa", "test_qa", "rephrased_qa")


def judge_score(
    model: str, spec: str, kind: str, suite: str, dataset: str, mean: float, **kw: Any
) -> SuiteScore:
    return SuiteScore(
        model=model,
        spec=spec,
        kind=kind,  # type: ignore[arg-type]
        suite=suite,
        dataset=dataset,
        metric="judge",
        n=kw.pop("n", 25),
        excluded=kw.pop("excluded", 0),
        mean=mean,
        ci_low=round(mean - 0.4, 2),
        ci_high=round(mean + 0.4, 2),
        judge=JUDGE,
        prompt_hash=PROMPT_HASH,
        rubric=RUBRIC,
        extra={"token_f1": round(mean / 20, 3), "rouge_l": 0.35},
        **kw,
    )


def rate_score(
    model: str, spec: str, kind: str, suite: str, k: int, n: int = N_QUIZ, **kw: Any
) -> SuiteScore:
    metric = "accuracy" if suite == "mmlu" else "success_rate"
    return SuiteScore(
        model=model,
        spec=spec,
        kind=kind,  # type: ignore[arg-type]
        suite=suite,
        metric=metric,
        n=n,
        mean=k / n,
        ci_low=max(0.0, k / n - 0.1),
        ci_high=min(1.0, k / n + 0.1),
        successes=k,
        chance=0.25,
        **kw,
    )


def paired(versus: str, before: float, after: float, spread: float = 0.3) -> Paired:
    diff = after - before
    return Paired(
        versus=versus,
        n=25,
        before=before,
        after=after,
        diff=diff,
        ci_low=diff - spread,
        ci_high=diff + spread,
    )


def _base_scores(
    label: str, spec: str, datasets: list[str], qa: tuple[float, ...], task: tuple
) -> list[SuiteScore]:
    out = [
        judge_score(label, spec, "base", suite, d, mean, base=spec)
        for d in datasets
        for suite, mean in zip(QA_SUITES, qa, strict=True)
    ]
    k_task, _, _, mmlu, _ = task
    out.append(rate_score(label, spec, "base", "task", k_task, base=spec))
    out.append(rate_score(label, spec, "base", "task_prompted", k_task + 3, base=spec))
    out.append(rate_score(label, spec, "base", "mmlu", round(mmlu * 1000), n=1000, base=spec))
    return out


def _finetuned_scores(
    label: str, base_label: str, base_spec: str, dataset: str
) -> list[SuiteScore]:
    (before, after), task = TALK_QA[label], TALK_TASK[label]
    spec = f"hf:{label}" if base_spec.startswith("hf:") else f"openai:ft:{label}"
    common = {"base": base_spec, "trained_on": dataset, "experiment": label.split()[0]}
    out = [
        judge_score(
            label, spec, "finetuned", suite, dataset, a, paired=paired(base_label, b, a), **common
        )
        for suite, b, a in zip(QA_SUITES, before, after, strict=True)
    ]
    k_before, k_after, k_prompted, mmlu_before, mmlu_after = task
    out.append(
        rate_score(
            label,
            spec,
            "finetuned",
            "task",
            k_after,
            paired=paired(base_label, k_before / N_QUIZ, k_after / N_QUIZ, 0.12),
            **common,
        )
    )
    out.append(rate_score(label, spec, "finetuned", "task_prompted", k_prompted, **common))
    out.append(
        rate_score(
            label,
            spec,
            "finetuned",
            "mmlu",
            round(mmlu_after * 1000),
            n=1000,
            paired=paired(base_label, mmlu_before, mmlu_after, 0.02),
            **common,
        )
    )
    return out


def talk_scores() -> list[SuiteScore]:
    """The talk's table as SuiteScores, plus a +RAG row and the BioMedLM baseline."""
    scores = _base_scores(
        GPT_BASE,
        GPT,
        ["pdf_synthetic", "knowledge_distillation"],
        TALK_QA[GPT_PDF][0],
        TALK_TASK[GPT_PDF],
    )
    scores += _finetuned_scores(GPT_PDF, GPT_BASE, GPT, "pdf_synthetic")
    scores += _finetuned_scores(GPT_KD, GPT_BASE, GPT, "knowledge_distillation")
    scores += _base_scores(
        QWEN_BASE, QWEN, ["knowledge_distillation"], TALK_QA[QWEN_KD][0], TALK_TASK[QWEN_KD]
    )
    scores += _finetuned_scores(QWEN_KD, QWEN_BASE, QWEN, "knowledge_distillation")
    scores.append(
        judge_score(
            GPT_BASE, GPT, "base", "test_qa", "pdf_synthetic", 6.40, base=GPT, variant="rag"
        )
    )
    scores += [
        judge_score(
            BIOMEDLM, BIOMEDLM, "baseline", suite, "knowledge_distillation", mean, excluded=2
        )
        for suite, mean in zip(QA_SUITES, (3.13, 2.71, 3.01), strict=True)
    ]
    scores.append(rate_score(BIOMEDLM, BIOMEDLM, "baseline", "task", 44))
    return scores


def answers(n: int = 4) -> list[ItemResult]:
    """Test-QA answers of the GPT base and its pdf_synthetic model; one answer is hostile HTML."""
    out = []
    for model, spec, score in ((GPT_BASE, GPT, 5.0), (GPT_PDF, "openai:ft:gpt-pdf", 8.0)):
        for i in range(n):
            text = (
                HOSTILE
                if (model == GPT_PDF and i == 0)
                else f"{model} answer {i}: 0.21 mol of bromine."
            )
            out.append(
                ItemResult(
                    item_id=f"item-{i}",
                    suite="test_qa",
                    dataset="pdf_synthetic",
                    model=model,
                    spec=spec,
                    question=f"Question {i}: how much bromine for 0.2 mol isobutylbenzene?",
                    reference="0.21 mol (a 1:1.05 molar ratio).",
                    answer=text,
                    scores={"judge": score + i / 10},
                    judges=[
                        JudgeVerdict(
                            judge=JUDGE,
                            prompt_hash=PROMPT_HASH,
                            accuracy=score,
                            completeness=score,
                            clarity=score,
                            rationale=f"rationale {model} {i}",
                        )
                    ],
                )
            )
    return out


def experiments() -> list[ExperimentRow]:
    common = {"epochs": 3, "batch_size": 8, "learning_rate": 2e-4, "status": "succeeded"}
    return [
        ExperimentRow(
            id="gpt-4o-mini--pdf_synthetic--gpt-pdf",
            name="gpt-pdf",
            student=GPT,
            dataset="pdf_synthetic",
            route="hosted",
            method="hosted",
            cost_usd=12.5,
            learning_rate_multiplier=1.8,
            train_loss=0.61,
            validation_loss=0.92,
            wall_s=1800.0,
            output="ft:gpt-pdf",
            **common,
        ),
        ExperimentRow(
            id="gpt-4o-mini--knowledge_distillation--gpt-kd",
            name="gpt-kd",
            student=GPT,
            dataset="knowledge_distillation",
            route="hosted",
            method="hosted",
            cost_usd=40.0,
            output="ft:gpt-kd",
            **common,
        ),
        ExperimentRow(
            id="Qwen2.5-7B-Instruct--knowledge_distillation--qwen-kd",
            name="qwen-kd",
            student=QWEN,
            dataset="knowledge_distillation",
            route="local",
            method="lora",
            train_loss=0.8,
            validation_loss=1.1,
            steps=30,
            wall_s=95.0,
            output="train/qwen-kd/adapter",
            **common,
        ),
    ]


USAGE = {
    "synthesize": {
        GPT: {
            "calls": 100,
            "cache_hits": 10,
            "prompt_tokens": 50_000,
            "completion_tokens": 20_000,
            "cost_usd": 1.25,
            "new_cost_usd": 1.0,
        }
    },
    "evaluate": {
        JUDGE: {
            "calls": 300,
            "cache_hits": 0,
            "prompt_tokens": 90_000,
            "completion_tokens": 9_000,
            "cost_usd": 3.5,
            "new_cost_usd": 3.5,
        },
        GPT: {
            "calls": 200,
            "cache_hits": 200,
            "prompt_tokens": 20_000,
            "completion_tokens": 10_000,
            "cost_usd": 0.25,
            "new_cost_usd": 0.0,
        },
    },
}
# 1.25 + 3.5 + 0.25 from usage.json, 12.5 + 40 from the hosted fine-tuning jobs.
TOTAL_COST = 57.5


def export_stats() -> dict[str, Any]:
    per_dataset = {}
    for recipe, sizes in (("pdf_synthetic", (5, 2, 2)), ("knowledge_distillation", (8, 2, 1))):
        for split, n in zip(("train", "validation", "test"), sizes, strict=True):
            records = [
                QARecord(
                    id=f"{recipe}-{split}-{i}",
                    recipe=recipe,
                    split=split,  # type: ignore[arg-type]
                    question=f"What is step {i} of the Boots process?",
                    answer="Friedel-Crafts acylation of isobutylbenzene " * (i + 1),
                    provenance=Provenance(chunk_ids=[f"c{i}"]),
                )
                for i in range(n)
            ]
            per_dataset[(recipe, split)] = dataset_stats(records, lambda t: max(1, len(t) // 4))
    return build_stats(per_dataset, tokenizer=None, estimate=True, system_prompt="")


def training_log() -> dict[str, Any]:
    """A transformers trainer_state.json: log_history with training and validation losses."""
    history = [{"step": s, "loss": 2.5 / (1 + s / 5), "epoch": s / 10} for s in range(1, 31)]
    history += [{"step": s, "eval_loss": 2.0 / (1 + s / 8)} for s in (10, 20, 30)]
    return {"global_step": 30, "log_history": history}


def make_project(tmp_path: Path, *, samples: int = 3, with_extras: bool = True) -> RunContext:
    """A project whose evaluate stage is done (scores and answers in the manifest) and, with
    `with_extras`, whose train and export stages left their tables, a log and usage.json."""
    project = tmp_path / "proj"
    project.mkdir()
    config = {"name": "ibuprofen", "report": {"samples": samples}}
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    ctx = RunContext(project, show_progress=False)
    out = ctx.out_dir
    scores_path = out / "evaluate" / "scores.jsonl"
    write_jsonl(scores_path, talk_scores())
    artifacts = [ctx.manifest.artifact("evaluate", "scores", scores_path)]
    for label in (GPT_BASE, GPT_PDF):
        path = out / "evaluate" / "answers" / label.split()[0].replace(":", "_") / "test_qa.jsonl"
        write_jsonl(path, [a for a in answers() if a.model == label])
        artifacts.append(ctx.manifest.artifact("evaluate", "answers", path, name=label))
    ctx.manifest.replace_stage("evaluate", artifacts, "evaluate-fingerprint")
    if with_extras:
        table = ExperimentTable(out)
        for row in experiments():
            table.upsert(row)
        ctx.manifest.replace_stage(
            "train", [ctx.manifest.artifact("train", "experiments", table.path)], "train-fp"
        )
        write_json(out / "train" / experiments()[2].id / "trainer_state.json", training_log())
        stats_path = out / "export" / "stats.json"
        write_json(stats_path, export_stats())
        ctx.manifest.replace_stage(
            "export", [ctx.manifest.artifact("export", "stats", stats_path)], "export-fp"
        )
        (out / USAGE_NAME).write_text(json.dumps(USAGE), encoding="utf-8")
    return ctx


def counted_scores() -> list[SuiteScore]:
    """A QA cell with excluded items of every kind, and quiz cells whose replies were cut off,
    named no letter, and were read by the rules and the judge model (engineers fill these
    fields in evaluate; the report prints them)."""
    qa = judge_score(
        GPT_BASE,
        GPT,
        "base",
        "test_qa",
        "pdf_synthetic",
        6.0,
        base=GPT,
        n=20,
        excluded=5,
        exclusions={"judge_failed": 3, "prompt_exceeds_context": 1, "answer_failed": 1},
    )
    qa.extra["cut_off"] = 2.0
    quiz = rate_score(
        GPT_BASE,
        GPT,
        "base",
        "task",
        50,
        n=100,
        base=GPT,
        excluded=1,
        exclusions={"prompt_exceeds_context": 1},
        extra={
            "cut_off": 4.0,
            "no_letter": 3.0,
            "by_rules": 92.0,
            "by_model": 8.0,
            "extraction_audited": 20.0,
            "extraction_agreement": 0.95,
        },
    )
    mmlu = rate_score(
        GPT_BASE, GPT, "base", "mmlu", 600, n=1000, base=GPT, extra={"no_letter": 7.0}
    )
    return [qa, quiz, mmlu]
