"""The call cache: group commit (the answers of one event-loop turn in one transaction), keys."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from doctune.models.base import ChatRequest, ChatResponse, Message
from doctune.models.cache import CallCache, Stored, request_key

SPEC = "openai:test"


def answer(n: int) -> Stored:
    request = ChatRequest(messages=(Message(role="user", content=f"question {n}"),))
    return Stored(request_key(SPEC, request), request, ChatResponse(text=f"answer {n}"), 0.001)


def on_disk(path: Path) -> set[str]:
    """Keys another process would see (its own connection)."""
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT key FROM calls")}


def commits(cache: CallCache) -> list[str]:
    seen: list[str] = []
    cache._db.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def test_answers_of_one_turn_are_committed_together_at_the_next(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    cache = CallCache(path)
    seen = commits(cache)
    first, second, third = answer(1), answer(2), answer(3)

    async def main() -> None:
        cache.put_many(SPEC, [first])
        cache.put_many(SPEC, [second, third])
        assert on_disk(path) == set()  # not yet: the turn is not over
        hit = cache.get(second.key)  # served meanwhile
        assert hit is not None and hit[0].text == "answer 2" and hit[1] == 0.001
        await asyncio.sleep(0)
        assert on_disk(path) == {first.key, second.key, third.key}
        assert len(seen) == 1

    asyncio.run(main())
    cache.close()


def test_outside_an_event_loop_an_answer_is_committed_before_put_returns(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    cache = CallCache(path)
    stored = answer(1)
    cache.put(stored.key, SPEC, stored.request, stored.response, stored.cost_usd)
    assert on_disk(path) == {stored.key}
    cache.close()


def test_close_commits_what_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    cache = CallCache(path)
    stored = answer(1)

    async def main() -> None:
        cache.put_many(SPEC, [stored])
        cache.close()  # in the same turn: nothing may be lost

    asyncio.run(main())
    assert on_disk(path) == {stored.key}
    assert CallCache(path).get(stored.key) is not None


def test_a_loop_that_ends_right_after_a_put_still_commits_it(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite"
    cache = CallCache(path)
    stored = answer(1)

    async def main() -> None:
        cache.put_many(SPEC, [stored])

    asyncio.run(main())  # the loop's shutdown runs the pending callback
    assert on_disk(path) == {stored.key}
    cache.close()


def test_a_failure_after_an_answer_in_the_same_turn_keeps_their_order(tmp_path: Path) -> None:
    """An answer clears its key's failure; a failure recorded after it must stay recorded."""
    cache = CallCache(tmp_path / "calls.sqlite")
    stored = answer(1)

    async def main() -> None:
        cache.put_many(SPEC, [stored])
        cache.record_failure(stored.key, SPEC, "invalid reply after 3 attempts")
        await asyncio.sleep(0)

    asyncio.run(main())
    assert [f.key for f in cache.failures()] == [stored.key]
    assert len(cache) == 1
    cache.close()


def reference_key(spec: str, request: ChatRequest) -> str:
    import hashlib
    import json

    payload = json.dumps({"spec": spec, "request": request.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def test_request_keys_are_those_of_the_json_dump() -> None:
    """Keys written from the fields' own values are the ones every existing cache holds."""
    from doctune.models.base import GenerationParams

    schema = {
        "type": "object",
        "properties": {"é": {"type": "string", "enum": ("a", "b")}, "n": {"type": "integer"}},
        "required": ["é"],
        "additionalProperties": False,
    }
    messages = (
        Message(role="system", content='Réponds en JSON. \u2028 "quoted" \\ back'),
        Message(role="user", content="emoji \U0001f600 and tabs\t"),
    )
    requests = [
        ChatRequest(messages=messages),
        ChatRequest(
            messages=messages,
            params=GenerationParams(temperature=0.7, max_tokens=512, top_p=0.9, seed=3),
            json_schema=schema,
            schema_name="Out",
        ),
        ChatRequest(messages=messages, params=GenerationParams(stop=("\n\n", "END"))),
        ChatRequest(messages=messages, params=GenerationParams(temperature=float("nan"))),
        ChatRequest(messages=messages, json_schema={"type": "object", "x": {1, 2}}),
    ]
    for request in requests:
        assert request_key(SPEC, request) == reference_key(SPEC, request)
    assert len({request_key(SPEC, r) for r in requests}) == len(requests)
