"""Load every dataset of a doctune ShareGPT export through LLaMA-Factory's own data pipeline.

Run by scripts/check_llamafactory.sh inside the LLaMA-Factory virtual environment (it imports
llamafactory, which is not a doctune dependency):

    python scripts/llamafactory_load.py EXPORT_DIR MODEL_DIR [TEMPLATE]

For each entry of EXPORT_DIR/dataset_info.json it parses arguments the way `llamafactory-cli
train` does (`get_train_args`), loads the tokenizer and chat template, and calls `get_dataset`
for the SFT stage. LLaMA-Factory drops an example it cannot parse with only a log warning, so the
check compares the number of tokenized examples with the number of lines in the file, and checks
that every example has trained (non-ignored) label tokens that decode to its answer.
Prints one PASS/FAIL line per dataset and a summary; exits 0 only if every dataset passes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def expected_examples(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def check_dataset(
    name: str, entry: dict[str, Any], export_dir: Path, model_dir: Path, template: str, work: Path
) -> list[str]:
    """The problems found loading one dataset_info entry; empty when it loads as expected."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.extras.constants import IGNORE_INDEX
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    source = expected_examples(export_dir / entry["file_name"])
    model_args, data_args, training_args, _, _ = get_train_args(
        {
            "stage": "sft",
            "do_train": True,
            "model_name_or_path": str(model_dir),
            "finetuning_type": "full",
            "dataset": name,
            "dataset_dir": str(export_dir),
            "template": template,
            "cutoff_len": 8192,
            "overwrite_cache": True,
            "output_dir": str(work / name),
            "report_to": "none",
        }
    )
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    chat_template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(
        chat_template, model_args, data_args, training_args, "sft", **tokenizer_module
    )
    train = module["train_dataset"]

    if len(train) != len(source):  # examples were dropped: the rest no longer line up
        return [f"{len(train)} examples loaded, {len(source)} lines in {entry['file_name']}"]
    problems = []
    for index, (example, row) in enumerate(zip(train, source, strict=True)):
        trained = [t for t in example["labels"] if t != IGNORE_INDEX]
        answer = row["conversations"][-1]["value"]
        if not trained:
            problems.append(f"example {index}: no trained label tokens")
        elif answer.strip() not in tokenizer.decode(trained, skip_special_tokens=True):
            problems.append(f"example {index}: trained labels do not decode to its answer")
        if len(problems) >= 5:
            break
    return problems


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    export_dir, model_dir = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    template = argv[3] if len(argv) == 4 else "qwen"
    info = json.loads((export_dir / "dataset_info.json").read_text(encoding="utf-8"))
    if not info:
        print(f"FAIL: {export_dir / 'dataset_info.json'} names no dataset")
        return 1

    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="doctune-llamafactory-") as tmp:
        work = Path(tmp)
        # A private datasets cache: nothing from an earlier export can be read back by mistake.
        os.environ["HF_DATASETS_CACHE"] = str(work / "datasets-cache")
        for name, entry in info.items():
            try:
                results[name] = check_dataset(name, entry, export_dir, model_dir, template, work)
            except Exception as exc:  # any loader failure is a FAIL for that dataset, not a crash
                results[name] = [f"{type(exc).__name__}: {exc}"]

    print("\n== LLaMA-Factory data loader check ==")
    for name, problems in results.items():
        lines = len(expected_examples(export_dir / info[name]["file_name"]))
        status = "PASS" if not problems else "FAIL"
        print(f"{status}  {name}: {lines} examples  ({info[name]['file_name']})")
        for problem in problems:
            print(f"      - {problem}")
    failed = [n for n, p in results.items() if p]
    verdict = "PASS" if not failed else "FAIL"
    print(
        f"{verdict}: {len(results) - len(failed)}/{len(results)} datasets load through "
        f"LLaMA-Factory's get_dataset (template {template})"
    )
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
