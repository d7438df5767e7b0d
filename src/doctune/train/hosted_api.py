"""The SDK client of one hosted experiment's endpoint: every API error as one line with the key
scrubbed out, and uploads made once per content (file ids kept by sha256 and endpoint in
`out/train/<experiment id>/hosted_state.json`, shared between experiments)."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import openai
from openai.types.fine_tuning import FineTuningJob

from doctune.context import RunContext
from doctune.foundation.config import model_settings
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_json, write_json
from doctune.foundation.manifest import file_sha256
from doctune.models.experiments import TABLE_DIR
from doctune.models.grid import Experiment
from doctune.models.openai import PLACEHOLDER_KEY, resolve_endpoint, scrub_secret, sdk_errors

STATE_NAME = "hosted_state.json"


class HostedApi:
    """The SDK client for one experiment's endpoint, and its errors as one scrubbed line."""

    def __init__(self, ctx: RunContext, exp: Experiment) -> None:
        base_url, self.secret = resolve_endpoint(
            exp.student, model_settings(ctx.config, exp.student)
        )
        # File ids belong to one provider account: the upload cache is keyed by endpoint (a hash:
        # a base URL may carry credentials).
        self.endpoint = hashlib.sha256((base_url or "openai").encode()).hexdigest()[:12]
        self.label = exp.name
        self.client = openai.AsyncOpenAI(
            api_key=self.secret or PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=ctx.config.client.timeout_s,
            max_retries=ctx.config.client.max_retries,
        )

    def scrub(self, text: str) -> str:
        return scrub_secret(text, self.secret)

    def errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return sdk_errors(self.label, self.secret, doing)

    async def retrieve(self, job_id: str) -> FineTuningJob:
        with self.errors(f"retrieving job {job_id}"):
            return await self.client.fine_tuning.jobs.retrieve(job_id)


class HostedState:
    """`hosted_state.json` of one experiment: uploaded file ids by endpoint and content hash, and
    the jobs it created. Holds no secret (an endpoint is a hash of its base URL)."""

    def __init__(self, ctx: RunContext, exp: Experiment) -> None:
        self.root = ctx.out_dir / TABLE_DIR
        self.path = self.root / exp.id / STATE_NAME
        self.data = _load(self.path)

    def file_id(self, key: str) -> str | None:
        """This experiment's upload of the content, else another one's (six experiments of a
        grid share one training file)."""
        if key in self.data["files"]:
            return str(self.data["files"][key])
        for path in sorted(self.root.glob(f"*/{STATE_NAME}")):
            found = _load(path)["files"].get(key)
            if found:
                return str(found)
        return None

    def remember_file(self, key: str, file_id: str) -> None:
        self.data["files"][key] = file_id
        write_json(self.path, self.data)

    def remember_job(self, job_id: str, request: str) -> None:
        self.data["jobs"].append({"id": job_id, "request": request})
        write_json(self.path, self.data)


def _load(path: Path) -> dict[str, Any]:
    data = read_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a hosted-job state file")
    data.setdefault("files", {})
    data.setdefault("jobs", [])
    return data


async def upload(ctx: RunContext, api: HostedApi, state: HostedState, path: Path) -> str:
    """The file id of `path` on this endpoint, uploading only content not uploaded before."""
    key = f"{api.endpoint}:{file_sha256(path)}"
    known = state.file_id(key)
    if known and await _still_there(api, known):
        state.remember_file(key, known)
        ctx.log(f"{api.label}: {path.name} already uploaded as {known}")
        return known
    with api.errors(f"uploading {path.name}"):
        uploaded = await api.client.files.create(
            file=(path.name, path.read_bytes(), "application/jsonl"), purpose="fine-tune"
        )
    state.remember_file(key, uploaded.id)
    ctx.log(f"{api.label}: uploaded {path.name} as {uploaded.id}")
    return uploaded.id


async def _still_there(api: HostedApi, file_id: str) -> bool:
    try:
        await api.client.files.retrieve(file_id)
    except openai.NotFoundError:
        return False  # deleted on the provider since: upload again
    except openai.APIError:
        with api.errors(f"checking uploaded file {file_id}"):
            raise
    return True
