"""Everything checkable is checked before the first model call: specs of every role (flags,
DOCTUNE_* variables, the config), local model folders, endpoint URLs; and a corpus that yields
no chunk stops the run at ingest (exit 3). The fake endpoint counts the calls: none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.context import RunContext
from doctune.foundation.errors import ConfigError
from doctune.models.spec import parse_spec, spec_problem
from doctune.preflight import check
from doctune.testing.fake_openai import FakeOpenAIServer

MD = "# Procedure\n\n" + "\n\n".join(
    f"Step {i}: add {i + 1}.0 g of reagent at {20 + i} °C and stir for {i + 1} h." for i in range(8)
)


def project(root: Path, files: dict[str, bytes | str] | None = None, **config: object) -> Path:
    docs = root / "documents"
    docs.mkdir(parents=True)
    for name, content in (files if files is not None else {"procedure.md": MD}).items():
        if isinstance(content, bytes):
            (docs / name).write_bytes(content)
        else:
            (docs / name).write_text(content, encoding="utf-8")
    cfg = {
        "name": "preflight",
        "models": {"teacher": "openai:fake-model", "judge": "openai:fake-model"},
        "synthesize": {"recipes": ["pdf_synthetic"]},
        **config,
    }
    (root / "doctune.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return root


def run(*args: str):
    return CliRunner().invoke(main, [*args, "--no-progress"])


def test_a_misspelt_judge_exits_2_naming_role_and_prefix_with_no_model_call(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "p")
    monkeypatch.setenv("DOCTUNE_JUDGE", "opnai:gpt-4o")
    result = run("run", str(root))
    assert result.exit_code == 2, result.output
    assert (
        "DOCTUNE_JUDGE: 'opnai:gpt-4o': unknown backend 'opnai' (did you mean 'openai:'?)"
        in result.output
    )
    assert fake_openai.counts["requests"] == 0
    assert not (root / "out" / "ingest").exists()  # not even the free stages ran


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"models": {"teacher": "openai:m", "judge": "openai:m", "student": "hff:x/y"}},
         "models.student: 'hff:x/y': unknown backend 'hff' (did you mean 'hf:'?)"),
        ({"evaluate": {"second_judge": "gpt-4o"}},
         "evaluate.second_judge: 'gpt-4o': no backend prefix"),
        ({"evaluate": {"baselines": ["hf:org/model", "vlm:biomedlm"]}},
         "evaluate.baselines[1]: 'vlm:biomedlm': unknown backend 'vlm'"),
        ({"train": {"students": ["hf:"]}}, "train.students[0]: 'hf:': no model after 'hf:'"),
    ],
)  # fmt: skip
def test_every_role_is_checked_with_where_it_came_from(
    tmp_path: Path, config: dict, where: str
) -> None:
    ctx = RunContext(project(tmp_path / "p", **config), show_progress=False)
    with pytest.raises(ConfigError) as err:
        check(ctx, ["ingest"])  # even a stage that calls no model: the run would reach them
    assert str(err.value).startswith(where)


def test_a_flag_is_named_as_the_flag(tmp_path: Path) -> None:
    result = run("synthesize", str(project(tmp_path / "p")), "--teacher", "openia:gpt-4o-mini")
    assert result.exit_code == 2
    assert "--teacher: 'openia:gpt-4o-mini': unknown backend 'openia'" in result.output


def test_missing_local_folders_are_found_before_the_stage_that_needs_them(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    ctx = RunContext(root, overrides={"student": f"hf:{tmp_path}/nowhere"}, show_progress=False)
    check(ctx, ["ingest", "synthesize"])  # the student is not needed yet
    with pytest.raises(ConfigError, match=r"--student: 'hf:.*/nowhere': no local model folder"):
        check(ctx, ["train"])
    adapter = RunContext(root, overrides={"student": "hf:org/m+./no-adapter"}, show_progress=False)
    with pytest.raises(ConfigError, match=re.escape("no adapter folder './no-adapter'")):
        check(adapter, ["evaluate"])
    # An adapter this very run will train lives in its output folder: not there yet, not wrong.
    future = f"hf:org/m+{root / 'out' / 'train' / 'e1' / 'adapter'}"
    check(RunContext(root, overrides={"student": future}, show_progress=False), ["evaluate"])


@pytest.mark.parametrize("url", ["localhost:8000/v1", "http//host/v1", "ftp://host", "http://:9"])
def test_a_malformed_base_url_is_refused_without_repeating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    ctx = RunContext(project(tmp_path / "p"), show_progress=False)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(ConfigError) as err:
        check(ctx, ["synthesize"])
    assert "models.teacher: 'openai:fake-model': OPENAI_BASE_URL is not a well-formed URL" in str(
        err.value
    )
    assert url not in str(err.value)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    check(ctx, ["synthesize"])


def test_spec_messages() -> None:
    assert spec_problem("openai:gpt-4o") is None and spec_problem("hf:a/b+./c") is None
    assert parse_spec("hf:a/b+./c").adapter == "./c"
    assert "did you mean 'hf:'" in (spec_problem("HF:Qwen/Qwen2.5-0.5B") or "")
    assert "expected 'openai:<model>' or 'hf:<model>'" in (spec_problem("zzzzzz:m") or "")
    with pytest.raises(ConfigError, match=re.escape("model spec 'hf:+x': expected")):
        parse_spec("hf:+x")


def test_a_corpus_without_one_chunk_exits_3_with_the_reasons_and_no_model_call(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    files = {
        "broken.pdf": b"%PDF-1.7\nnot really a pdf",
        "empty.md": b"",
        "blank.txt": "   \n\n",
    }
    root = project(tmp_path / "p", files, ingest={"include": ["*.pdf", "*.md", "*.txt"]})
    result = run("run", str(root))
    assert result.exit_code == 3, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and "0 chunks from 3 file(s)" in last
    for reason in ("broken.pdf: not a readable PDF", "empty.md: empty file", "blank.txt: no text"):
        assert reason in last
    assert fake_openai.counts["requests"] == 0
    assert (root / "out" / "ingest" / "report.json").is_file()  # the details stay on disk
