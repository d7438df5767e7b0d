"""`doctune chat` against the loopback OpenAI-compatible server, lines fed through stdin: the
answers come back, the history and the system prompt reach the model, and with --rag the
retrieved passages are in the request and their sources are printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from doctune.cli import main
from doctune.context import RunContext
from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.records import Chunk
from doctune.models.experiments import ExperimentRow, ExperimentTable
from doctune.testing.fake_openai import FakeOpenAIServer, Faults

SYSTEM = "You are an expert assistant for pharmaceutical manufacturing processes."
TEXTS = {
    "bromination": (
        "Bromination of isobutylbenzene with N-bromosuccinimide uses a 1:1.05 molar ratio; "
        "for 0.2 mol of substrate, 0.21 mol of NBS is charged at 82 °C."
    ),
    "hydrogenation": (
        "The BHC route hydrogenates 4-isobutylacetophenone over Raney nickel at 70 °C and 5 bar."
    ),
}


def numbered(body: dict[str, Any]) -> str:
    """A reply that says which turn it answers: the number of messages it was sent."""
    return f"answer to {len(body['messages'])} messages"


def make_project(tmp_path: Path, config: dict[str, Any] | None = None) -> RunContext:
    project = tmp_path / "proj"
    project.mkdir()
    base = {"name": "ibuprofen", "export": {"system_prompt": SYSTEM}}
    (project / "doctune.yaml").write_text(yaml.safe_dump({**base, **(config or {})}))
    ctx = RunContext(project, show_progress=False)
    chunks = [
        Chunk(
            id=f"c-{name}",
            doc_id="doc1",
            path="process.md",
            index=i,
            text=text,
            pages=[i + 3],
            section=f"Synthesis > {name.title()}",
            start=0,
            end=len(text),
            n_tokens=len(text) // 4,
            sha256=name,
        )
        for i, (name, text) in enumerate(TEXTS.items())
    ]
    path = ctx.out_dir / "ingest" / "chunks.jsonl"
    write_jsonl(path, chunks)
    ctx.manifest.replace_stage("ingest", [ctx.manifest.artifact("ingest", "chunks", path)], "fp")
    return ctx


def chat(*args: str, input: str) -> Any:
    return CliRunner().invoke(main, ["chat", *args], input=input)


def test_piped_questions_get_answers_with_history(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = numbered
    result = chat("openai:fake-model", "--system", "Be brief.", input="First?\n\nSecond?\n")
    assert result.exit_code == 0, result.output
    # system + question; then system + question + answer + question.
    assert result.output.split("\n\n")[:2] == ["answer to 2 messages", "answer to 4 messages"]
    first, second = fake_openai.bodies
    assert first["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First?"},
    ]
    assert second["messages"][1:] == [
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "answer to 2 messages"},
        {"role": "user", "content": "Second?"},
    ]
    assert second["model"] == "fake-model"


def test_reset_forgets_and_exit_stops(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.responder = numbered
    result = chat("openai:fake-model", input="One?\n/reset\nTwo?\n/exit\nNever asked?\n")
    assert result.exit_code == 0, result.output
    assert "(conversation reset)" in result.output
    assert [len(b["messages"]) for b in fake_openai.bodies] == [1, 1]  # no system prompt given
    assert all("Never asked?" not in str(b) for b in fake_openai.bodies)


def test_rag_context_reaches_the_server_and_sources_are_shown(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    ctx = make_project(tmp_path)
    question = "How much N-bromosuccinimide for the bromination of isobutylbenzene?"
    result = chat(
        "openai:fake-model", "--project", str(ctx.project_dir), "--rag", "-k", "1",
        input=f"{question}\nAt what pressure is it hydrogenated over Raney nickel?\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    first, second = fake_openai.bodies
    assert first["messages"][0] == {"role": "system", "content": SYSTEM}  # the project's
    turn = first["messages"][-1]["content"]
    assert TEXTS["bromination"] in turn and question in turn
    assert TEXTS["hydrogenation"] not in turn  # k=1: the one best passage
    assert TEXTS["hydrogenation"] in second["messages"][-1]["content"]
    # The history keeps the question as typed; passages go into the current turn only.
    assert second["messages"][1] == {"role": "user", "content": question}
    assert "sources: [1] process.md p. 3 (Synthesis > Bromination)" in result.output
    assert "sources: [1] process.md p. 4 (Synthesis > Hydrogenation)" in result.output


def test_without_rag_the_project_chunks_stay_out(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    ctx = make_project(tmp_path)
    result = chat("openai:fake-model", "--project", str(ctx.project_dir), input="Bromination?\n")
    assert result.exit_code == 0, result.output
    assert fake_openai.bodies[0]["messages"][-1] == {"role": "user", "content": "Bromination?"}
    assert "sources:" not in result.output


def test_an_experiment_name_resolves_to_its_model(
    fake_openai: FakeOpenAIServer, tmp_path: Path
) -> None:
    ctx = make_project(tmp_path)
    ExperimentTable(ctx.out_dir).upsert(
        ExperimentRow(
            id="gpt-4o-mini--pdf_synthetic--exp3",
            name="exp3",
            student="openai:gpt-4o-mini",
            dataset="pdf_synthetic",
            route="hosted",
            method="hosted",
            epochs=3,
            batch_size=8,
            learning_rate=1e-4,
            status="succeeded",
            output="ft:gpt-4o-mini:org:exp3",
        )
    )
    result = chat("exp3", "--project", str(ctx.project_dir), input="Hello?\n")
    assert result.exit_code == 0, result.output
    assert fake_openai.bodies[0]["model"] == "ft:gpt-4o-mini:org:exp3"

    unknown = chat("exp9", "--project", str(ctx.project_dir), input="Hello?\n")
    assert unknown.exit_code == 2
    assert "exp3" in unknown.output  # names what does exist


def test_rag_needs_a_project() -> None:
    result = chat("openai:fake-model", "--rag", input="Hello?\n")
    assert result.exit_code == 2
    assert "--project" in result.output


def test_a_failed_turn_is_reported_and_the_chat_goes_on(tmp_path: Path, monkeypatch: Any) -> None:
    ctx = make_project(tmp_path, {"client": {"max_retries": 0, "cache": False}})
    with FakeOpenAIServer(faults=Faults(rate_500=1.0)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = chat("openai:m", "--project", str(ctx.project_dir), input="One?\nTwo?\n")
    assert server.counts["500"] == 2  # both questions were asked
    assert result.exit_code == 4
    assert result.output.count("error:") >= 2


@pytest.mark.parametrize("spec", ["nonsense", "hf:"])
def test_a_bad_spec_is_a_one_line_error(spec: str) -> None:
    result = chat(spec, input="Hello?\n")
    assert result.exit_code == 2
    assert "model spec" in result.output
