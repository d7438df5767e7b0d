"""doctune's MMLU log-likelihood scoring gives lm-evaluation-harness's numbers, item by item.

The harness runs offline on the tiny model with a local task per subject that includes the
harness's own MMLU template (`lm_eval/tasks/mmlu/default/_default_template_yaml`, by absolute
path) and reads the fixture CSVs with pandas: a parser independent of doctune's. Its
per-item contexts, log-likelihoods, choices and accuracies are compared with doctune's.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from doctune.evaluate.mmlu import MMLUSuite, description, load_items
from doctune.foundation.config import ModelSettings
from doctune.foundation.config.evaluate import MMLUSettings
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.experiments import ModelRef
from doctune.models.loglik import continuation_logprobs
from doctune.models.spec import parse_spec

FIXTURES = Path(__file__).parent / "mmlu_fixtures"
SUBJECTS = ("college_chemistry", "process_engineering")
COLUMNS = ("question", "A", "B", "C", "D", "letter")

# The harness's cais/mmlu rows have `choices` and an integer `answer`; the CSV's columns are
# mapped to that shape, so the harness's template renders them unchanged.
CSV_DOCS = """
def text(value):
    return value


def process_docs(dataset):
    def one(doc):
        return {
            "question": doc["question"],
            "choices": [doc["A"], doc["B"], doc["C"], doc["D"]],
            "answer": "ABCD".index(doc["letter"].strip().upper()),
        }

    return dataset.map(one, remove_columns=dataset.column_names)
"""


def write_tasks(root: Path, cache_dir: Path) -> list[str]:
    import lm_eval

    template = Path(lm_eval.__file__).parent / "tasks/mmlu/default/_default_template_yaml"
    assert template.is_file()
    root.mkdir()
    (root / "csv_docs.py").write_text(CSV_DOCS)
    names = []
    for subject in SUBJECTS:
        files = {s: str(FIXTURES / s / f"{subject}_{s}.csv") for s in ("dev", "test")}
        # Every column read as text (converters), nothing turned into NaN: "7.00" stays "7.00".
        converters = "\n".join(f"    {c}: !function csv_docs.text" for c in COLUMNS)
        (root / f"{subject}.yaml").write_text(
            textwrap.dedent(f"""\
            include: {template}
            task: doctune_mmlu_{subject}
            dataset_path: csv
            dataset_name: null
            process_docs: !function csv_docs.process_docs
            description: "The following are multiple choice questions (with answers) about {subject.replace("_", " ")}.\\n\\n"
            dataset_kwargs:
              cache_dir: {cache_dir}
              data_files:
                dev: {files["dev"]}
                test: {files["test"]}
              header: null
              column_names: [{", ".join(COLUMNS)}]
              keep_default_na: false
              converters:
            """)
            + converters
            + "\n"
        )
        names.append(f"doctune_mmlu_{subject}")
    return names


def run_lm_eval(model_dir: Path, tmp_path: Path, few_shot: int) -> dict[str, Any]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    names = write_tasks(tmp_path / "tasks", tmp_path / "datasets-cache")
    return lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir}",
        tasks=names,
        num_fewshot=few_shot,
        batch_size=1,
        device="cpu",
        log_samples=True,
        task_manager=TaskManager(include_path=str(tmp_path / "tasks")),
    )


def harness_mmlu_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks/mmlu/default"


def test_installed_harness_template_is_the_one_doctune_follows() -> None:
    """A drift alarm: if the harness changes its MMLU default, doctune's copy must follow."""
    import yaml

    template = yaml.safe_load((harness_mmlu_dir() / "_default_template_yaml").read_text())
    assert template["doc_to_text"] == (
        "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}"
        "\nD. {{choices[3]}}\nAnswer:"
    )
    assert template["doc_to_choice"] == ["A", "B", "C", "D"]
    assert (template["fewshot_split"], template["fewshot_config"]) == (
        "dev",
        {"sampler": "first_n"},
    )
    assert "target_delimiter" not in template and "fewshot_delimiter" not in template


def test_descriptions_equal_the_harness_subject_files() -> None:
    import yaml

    files = sorted(harness_mmlu_dir().glob("mmlu_*.yaml"))
    assert len(files) == 57
    for path in files:
        config = yaml.safe_load(path.read_text())
        assert description(config["dataset_name"]) == config["description"], path.name


@pytest.mark.slow
def test_loglikelihood_scoring_equals_lm_evaluation_harness(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    few_shot = 5
    harness = run_lm_eval(tiny_model_dir, tmp_path, few_shot)

    settings = MMLUSettings(dir=str(FIXTURES), few_shot=few_shot, scoring="loglikelihood")
    items = load_items(settings)
    from doctune.models.hf import HFBackend

    backend = HFBackend(parse_spec(f"hf:{tiny_model_dir}"), ModelSettings())
    client = ModelClient(backend, cache=CallCache(tmp_path / "calls.sqlite"))
    ref = ModelRef(label="tiny", spec=backend.spec, kind="base")
    results = asyncio.run(MMLUSuite(settings).evaluate(ref, client, items, "plain"))

    chosen_letters = set()
    for subject in SUBJECTS:
        task = f"doctune_mmlu_{subject}"
        samples = {s["doc_id"]: s for s in harness["samples"][task]}
        mine = [(i, r) for i, r in zip(items, results, strict=True) if i.meta["subject"] == subject]
        assert sorted(samples) == list(range(len(mine)))
        for index, (item, result) in enumerate(mine):
            sample = samples[index]
            contexts = {arg[0] for arg in sample["arguments"]}
            assert contexts == {item.meta["prompt"]}, item.id  # the same prompt, to the byte
            assert [arg[1] for arg in sample["arguments"]] == [" A", " B", " C", " D"]
            theirs = [float(r[0]) for r in sample["filtered_resps"]]
            ours = continuation_logprobs(
                backend.model, backend.tokenizer, item.meta["prompt"], [" A", " B", " C", " D"]
            )
            # Same weights, same ops, same order: the floats are equal, not merely close.
            assert ours == theirs, item.id
            assert len(set(theirs)) == 4  # the comparison is not between ties
            assert result.extracted == "ABCD"[theirs.index(max(theirs))], item.id
            assert result.scores["correct"] == sample["acc"], item.id
            chosen_letters.add(result.extracted)
        accuracy = sum(r.scores["correct"] or 0.0 for _, r in mine) / len(mine)
        assert accuracy == harness["results"][task]["acc,none"]
    assert chosen_letters  # every item above was compared
