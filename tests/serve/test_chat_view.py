"""The Chat page against the loopback OpenAI-compatible server: a plain form POST answers with
the page (history carried in the form, the project's system prompt sent), RAG puts the retrieved
passage into the request and on the page, the stream endpoint sends the passages before the
answer and the answer in pieces (cached like a plain one), and a model that is neither spec, role nor experiment is one clear line."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from doctune.foundation.jsonl import write_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import Chunk
from doctune.serve.app import create_app
from doctune.testing.fake_openai import FakeOpenAIServer

SYSTEM = "You answer questions on ibuprofen manufacturing."
TEXTS = {
    "bromination": "Bromination of isobutylbenzene uses 1.05 equivalents of NBS at 82 °C.",
    "hydrogenation": "The BHC route hydrogenates 4-isobutylacetophenone over Raney nickel at 5 bar.",
}


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    config = {
        "name": "chat-test",
        "export": {"system_prompt": SYSTEM},
        "evaluate": {"rag": {"k": 1}},
    }
    (project / "doctune.yaml").write_text(yaml.safe_dump(config))
    manifest = Manifest(project / "out")
    chunks = [
        Chunk(id=f"c-{name}", doc_id="d", path="process.md", index=i, text=text, pages=[i + 1],
              section=name.title(), start=0, end=len(text), n_tokens=20, sha256=name)
        for i, (name, text) in enumerate(TEXTS.items())
    ]  # fmt: skip
    path = manifest.out_dir / "ingest" / "chunks.jsonl"
    write_jsonl(path, chunks)
    manifest.replace_stage("ingest", [manifest.artifact("ingest", "chunks", path)], "fp")
    return project


def numbered(body: dict[str, Any]) -> str:
    return f"<b>answer</b> to {len(body['messages'])} messages"


@pytest.fixture
def client(tmp_path: Path, fake_openai: FakeOpenAIServer) -> TestClient:
    fake_openai.responder = numbered
    with TestClient(create_app(make_project(tmp_path))) as client:
        yield client


def form(client: TestClient, **fields: str) -> dict[str, str]:
    csrf = client.app.state.doctune.csrf_token  # type: ignore[attr-defined]
    return {"csrf": csrf, "model": "openai:fake-model", **fields}


def post(client: TestClient, path: str = "/chat", **fields: str):
    return client.post(path, data=form(client, **fields))


def test_plain_post_answers_and_carries_the_conversation(
    client: TestClient, fake_openai: FakeOpenAIServer
) -> None:
    assert client.get("/chat").status_code == 200
    first = post(client, question="What is made?")
    assert first.status_code == 200
    assert "&lt;b&gt;answer&lt;/b&gt; to 2 messages" in first.text  # escaped model text
    assert "answered by openai:fake-model" in first.text
    carried = first.text.split('id="chat-history" value="')[1].split('"')[0]
    history = json.loads(html.unescape(carried))
    assert history == [
        {"role": "user", "content": "What is made?"},
        {"role": "assistant", "content": "<b>answer</b> to 2 messages"},
    ]
    second = post(client, question="And then?", history=json.dumps(history))
    assert "to 4 messages" in second.text
    body = fake_openai.bodies[-1]
    assert body["messages"][0] == {"role": "system", "content": SYSTEM}
    assert body["messages"][1:] == [
        *history,
        {"role": "user", "content": "And then?"},
    ]


def test_rag_shows_and_sends_the_retrieved_passage(
    client: TestClient, fake_openai: FakeOpenAIServer
) -> None:
    page = post(client, question="At what pressure over Raney nickel?", rag="on")
    assert page.status_code == 200
    sent = fake_openai.bodies[-1]["messages"][-1]["content"]
    assert TEXTS["hydrogenation"] in sent and TEXTS["bromination"] not in sent  # k=1
    assert "Retrieved passages" in page.text
    assert 'href="/chunks/c-hydrogenation">process.md p. 2 (Hydrogenation)' in page.text


def test_stream_sends_passages_then_the_answer(client: TestClient) -> None:
    response = post(client, "/chat/stream", question="Which equivalents of NBS?", rag="on")
    assert response.status_code == 200
    events = [json.loads(line) for line in response.text.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["start", "sources"] and kinds[-1] == "answer"
    assert set(kinds[2:-1]) == {"token"}
    assert events[1]["sources"][0]["url"] == "/chunks/c-bromination"
    assert events[-1]["text"] == "<b>answer</b> to 2 messages"
    assert json.loads(events[-1]["history"])[0] == {
        "role": "user",
        "content": "Which equivalents of NBS?",
    }


def test_a_long_answer_streams_in_several_pieces_and_is_cached(
    client: TestClient, fake_openai: FakeOpenAIServer
) -> None:
    reply = "Bromination uses NBS. It runs at 82 °C. The yield is 91 % after distillation."
    fake_openai.responder = lambda body: reply
    with client.stream("POST", "/chat/stream", data=form(client, question="Which yield?")) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    tokens = [e["text"] for e in events if e["event"] == "token"]
    assert len(tokens) > 1 and "".join(tokens) == reply
    assert events[-1] == {"event": "answer", "text": reply, "history": events[-1]["history"]}
    assert fake_openai.bodies[-1]["stream"] is True
    # The streamed answer is in the call cache: the same question as a plain POST pays nothing.
    page = post(client, question="Which yield?")
    assert html.escape(reply) in page.text and fake_openai.completions == 1


def test_an_unknown_model_is_one_clear_line(client: TestClient) -> None:
    page = post(client, model="exp9", question="Hello?")
    assert page.status_code == 400
    assert "&#39;exp9&#39; is neither a model spec, a role nor an experiment" in page.text
    streamed = post(client, "/chat/stream", model="exp9", question="Hello?")
    (event,) = [json.loads(line) for line in streamed.text.splitlines()]
    assert event["event"] == "error" and "exp9" in event["message"]


def test_the_chat_clients_end_with_the_app(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    app = create_app(make_project(tmp_path))
    with TestClient(app) as client:
        assert post(client, question="Hello?").status_code == 200
        assert app.state.chat_engine._ctx is not None
    assert app.state.chat_engine._ctx is None  # closed at shutdown
