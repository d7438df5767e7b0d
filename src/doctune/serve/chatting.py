"""The Chat page's engine: `doctune chat`'s session (the same model resolution, system prompt,
call cache and retriever) over a conversation the page carries, so the server keeps no
per-user state between turns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from doctune.chat import ChatSession, Reply, project_retriever, resolve_model, source_label
from doctune.context import RunContext
from doctune.evaluate.rag import Retriever
from doctune.foundation.config import ROLES
from doctune.models import Message
from doctune.models.experiments import ExperimentTable
from doctune.serve.state import ServeState

# The turns a page sends back with the next question; older ones are dropped (as a long
# conversation in `doctune chat` would crowd the model's context too).
MAX_HISTORY = 20


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    content: str


def parse_history(text: str) -> list[Message]:
    """The conversation the page carried; anything malformed starts a new one (it is the
    user's own page state, not data to trust or to fail on)."""
    try:
        raw = json.loads(text) if text else []
        turns = [Turn.model_validate(t) for t in raw] if isinstance(raw, list) else []
    except (ValueError, ValidationError):
        return []
    kept = [t for t in turns if t.role in ("user", "assistant")][-MAX_HISTORY:]
    return [Message(role=t.role, content=t.content) for t in kept]  # type: ignore[arg-type]


def dump_history(messages: list[Message]) -> str:
    return json.dumps([{"role": m.role, "content": m.content} for m in messages[-MAX_HISTORY:]])


def source_view(reply: Reply) -> list[dict[str, str]]:
    return [
        {"label": source_label(c), "text": c.text, "url": f"/chunks/{c.id}"} for c in reply.sources
    ]


@dataclass
class ChatEngine:
    """One run context for the app's lifetime (its clients and call cache are reused across
    turns), re-reading the manifest when a run changed it, and the retriever built once per
    change of the chunks."""

    state: ServeState
    _ctx: RunContext | None = None
    _manifest_seen: float | None = None
    _retriever: Retriever | None = None
    _retriever_key: Any = None

    def context(self) -> RunContext:
        if self._ctx is None:
            self._ctx = RunContext(
                self.state.project,
                config=self.state.config,
                out_dir=self.state.out,
                show_progress=False,
            )
            self._manifest_seen = self.state.manifest_mtime
        elif self.state.changed_since(self._manifest_seen):
            self._ctx.reload_manifest()
            self._manifest_seen = self.state.manifest_mtime
        return self._ctx

    def models(self) -> list[str]:
        """What the model field suggests: the roles, then the trained experiments."""
        table = ExperimentTable(self.state.out)
        return [*ROLES, *sorted(r.name for r in table.rows.values())]

    def retriever(self, ctx: RunContext) -> Retriever:
        key = tuple(a.sha256 for a in ctx.inputs("chunks"))
        if self._retriever is None or key != self._retriever_key:
            self._retriever = project_retriever(ctx)
            self._retriever_key = key
        return self._retriever

    def session(self, model: str, rag: bool, history: list[Message]) -> tuple[str, ChatSession]:
        """The resolved spec and a session holding `history`; a ConfigError names a model that
        is no spec, role or experiment, an InputError a RAG chat without chunks."""
        ctx = self.context()
        spec = resolve_model(model, ctx)
        session = ChatSession(
            ctx.client_for_spec(spec, "chat"),
            system=ctx.config.export.system_prompt,
            retriever=self.retriever(ctx) if rag else None,
            k=ctx.config.evaluate.rag.k,
            history=list(history),
        )
        return spec, session

    async def aclose(self) -> None:
        if self._ctx is not None:
            await self._ctx.aclose()
            self._ctx = None


def chat_engine(app_state: Any, state: ServeState) -> ChatEngine:
    engine = getattr(app_state, "chat_engine", None)
    if engine is None:
        engine = app_state.chat_engine = ChatEngine(state)
    return engine


async def close_chat(app_state: Any) -> None:
    """End the chat's model clients with the app (an in-process model's memory, an SDK's
    connections, the call cache's file)."""
    engine = getattr(app_state, "chat_engine", None)
    if engine is not None:
        await engine.aclose()
