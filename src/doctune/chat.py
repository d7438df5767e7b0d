"""The QA chatbot the customization is for: one model, a conversation, optionally retrieval.

A notebook uses `ChatSession.ask`; `doctune chat` wraps it in a line-by-line loop over stdin, so
it works typed at a terminal and piped from a file alike. With a project, the model settings,
call cache and system prompt are the project's (the system prompt is the one the training
examples carried, so the fine-tuned model is asked the way it was taught), and a model can be
named by its experiment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from doctune.evaluate.rag import Retriever, embedding_model_path, with_context
from doctune.foundation.config import ROLES, ClientConfig, ModelSettings
from doctune.foundation.errors import ConfigError, InputError, ModelError
from doctune.foundation.jsonl import read_jsonl
from doctune.foundation.records import Chunk
from doctune.models import ChatRequest, GenerationParams, Message, ModelClient, load_backend
from doctune.models.experiments import ExperimentTable
from doctune.models.streaming import stream_reply

COMMANDS_HELP = "/reset forgets the conversation, /exit ends it"


@dataclass
class Reply:
    text: str
    sources: list[Chunk] = field(default_factory=list)


@dataclass
class ChatSession:
    """A conversation with one model. The history keeps the user's questions as typed: retrieved
    passages go into the current turn only, so old context never crowds out the new."""

    client: ModelClient
    system: str = ""
    retriever: Retriever | None = None
    k: int = 3
    history: list[Message] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    async def ask(self, question: str) -> Reply:
        messages, sources = self._prompt(question)
        response = await self.client.chat(messages, **self.params)
        self._remember(question, response.text)
        return Reply(text=response.text, sources=sources)

    async def ask_streamed(self, question: str) -> AsyncIterator[str]:
        """`ask`, the answer yielded piece by piece as the model writes it (in one piece from a
        backend that cannot stream); the history takes the answer once it is complete."""
        messages, _ = self._prompt(question)
        request = ChatRequest(messages=tuple(messages), params=self.client.params(**self.params))
        parts = []
        async for piece in stream_reply(self.client, request):
            parts.append(piece)
            yield piece
        self._remember(question, "".join(parts))

    def _prompt(self, question: str) -> tuple[list[Message], list[Chunk]]:
        # The evaluation's retriever and context template: the chatbot answers the way the
        # +RAG rows of the report were measured.
        sources = self.retriever.search(question, self.k) if self.retriever else []
        turn = Message(role="user", content=with_context(question, sources))
        system = [Message(role="system", content=self.system)] if self.system else []
        return [*system, *self.history, turn], sources

    def _remember(self, question: str, answer: str) -> None:
        self.history += [
            Message(role="user", content=question),
            Message(role="assistant", content=answer),
        ]

    def reset(self) -> None:
        self.history.clear()


def source_label(chunk: Chunk) -> str:
    """Where a passage comes from: "process.pdf p. 3-4 (Synthesis > Bromination)"."""
    label = chunk.path
    if chunk.pages:
        first, last = min(chunk.pages), max(chunk.pages)
        label += f" p. {first}" if first == last else f" p. {first}-{last}"
    if chunk.section:
        label += f" ({chunk.section})"
    return label


def resolve_model(name: str, ctx: Any | None) -> str:
    """A spec as given; with a project, also a role (student, teacher, judge) or an experiment
    name or id from its experiments table."""
    if ctx is None:
        return name
    if name in ROLES:
        return ctx.spec(name)
    table = ExperimentTable(ctx.out_dir)
    found = table.find(name)
    if len(found) > 1:
        ids = ", ".join(sorted(r.id for r in found))
        raise ConfigError(f"'{name}' names {len(found)} experiments ({ids}); use an id")
    if found:
        return table.spec(found[0])
    if ":" not in name:
        known = ", ".join(sorted(r.name for r in table.rows.values())) or "none"
        raise ConfigError(
            f"'{name}' is neither a model spec, a role nor an experiment (experiments: {known})"
        )
    return name


def project_retriever(ctx: Any) -> Retriever:
    """Retrieval over the project's chunks, configured as evaluate.rag configures it."""
    artifacts = ctx.inputs("chunks", stage="ingest") or ctx.inputs("chunks")
    if not artifacts:
        raise InputError(f"{ctx.manifest.path}: no chunks for --rag (run `doctune ingest` first)")
    chunks = [c for a in artifacts for c in read_jsonl(ctx.path(a), Chunk)]
    rag = ctx.config.evaluate.rag
    model_path = embedding_model_path(rag.embedding_model) if rag.embeddings else None
    return Retriever(chunks, embeddings=rag.embeddings, model_path=model_path)


def standalone_client(spec: str) -> ModelClient:
    """A client without a project: default settings, no call cache (a chat is not a dataset)."""
    config = ClientConfig()
    settings = ModelSettings()
    return ModelClient(
        load_backend(spec, settings, config),
        settings=settings,
        defaults=GenerationParams(
            temperature=config.temperature, max_tokens=settings.max_new_tokens, seed=config.seed
        ),
        stage="chat",
    )


async def repl(session: ChatSession, lines: Iterable[str], write: Callable[[str], None]) -> int:
    """Answer each line until EOF or /exit; returns how many turns failed. A failed turn is
    reported and the conversation goes on (the client has already retried)."""
    failures = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line in ("/exit", "/quit"):
            break
        if line == "/reset":
            session.reset()
            write("(conversation reset)")
            continue
        try:
            reply = await session.ask(line)
        except ModelError as exc:
            failures += 1
            write(f"error: {exc}")
            continue
        write(reply.text)
        if reply.sources:
            write(
                "sources: "
                + "; ".join(f"[{i}] {source_label(c)}" for i, c in enumerate(reply.sources, 1))
            )
        write("")
    return failures
