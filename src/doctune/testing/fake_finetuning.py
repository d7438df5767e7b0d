"""FakeFineTuningServer: a real HTTP server on loopback speaking OpenAI's files and fine-tuning
APIs, for tests of the hosted route (a paid service is the only place a fake belongs).

Routes (under /v1): POST /files (multipart), GET /files/{id}, GET /files/{id}/content,
POST /fine_tuning/jobs, GET /fine_tuning/jobs (limit, after, metadata[k]=v),
GET /fine_tuning/jobs/{id}, GET /fine_tuning/jobs/{id}/events (limit, after),
POST /fine_tuning/jobs/{id}/cancel. Payloads follow the SDK's types (FileObject, FineTuningJob,
FineTuningJobEvent, cursor pages), checked in the tests with the SDK's own models.

A job moves one state per retrieve, so a test controls time by polling: validating_files ->
queued -> running (one training step per poll, each with a metrics event) -> succeeded, with a
fine-tuned model id `ft:<model>:<suffix>:<job suffix>`, trained tokens and a result file (a
base64 CSV, as OpenAI serves it). A training file containing FAIL_MARKER fails validation with
an error like the real one; `hold = True` keeps running jobs running (a job in flight for a
restart test). `echo_auth_in_errors` makes error messages repeat the Authorization header, as a
careless provider might, to prove that clients scrub it.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from doctune.testing.loopback import JSONHandler, LoopbackServer, cursor_page, parse_multipart

FAIL_MARKER = "doctune-fake-fail"
ACTIVE = ("validating_files", "queued", "running")
# What "auto" resolves to (the real service picks these from the dataset size).
AUTO = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class FakeJob:
    id: str
    request: dict[str, Any]
    hyperparameters: dict[str, Any]
    created_at: int
    total_steps: int
    trained_tokens: int
    fail: bool
    status: str = "validating_files"
    step: int = 0
    error: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    result_files: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    def payload(self) -> dict[str, Any]:
        req = self.request
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": dict(self.hyperparameters),
            "model": req["model"],
            "organization_id": "org-fake",
            "result_files": list(self.result_files),
            "seed": req.get("seed") if req.get("seed") is not None else 0,
            "status": self.status,
            "trained_tokens": self.trained_tokens if self.status == "succeeded" else None,
            "training_file": req["training_file"],
            "validation_file": req.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": req.get("metadata"),
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": dict(self.hyperparameters)},
            },
            "user_provided_suffix": req.get("suffix"),
        }


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class FakeFineTuningServer(LoopbackServer):
    """Start with `with FakeFineTuningServer() as server:`; point clients at `server.base_url`."""

    thread_name = "fake-finetuning"

    def __init__(self, *, max_steps: int = 3, port: int = 0) -> None:
        super().__init__(port=port)
        self.max_steps = max_steps
        self.hold = False
        self.echo_auth_in_errors = False
        self.unavailable_models: set[str] = set()  # refused at create, as unknown models are
        self.files: dict[str, FakeFile] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.job_requests: list[dict[str, Any]] = []  # bodies of POST /fine_tuning/jobs, as sent
        self.counts: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):04d}"

    # -- files --------------------------------------------------------------------------------
    def upload(self, fields: dict[str, str], filename: str, content: bytes) -> dict[str, Any]:
        if fields.get("purpose") not in ("fine-tune", "assistants", "batch", "user_data"):
            raise ApiError(400, f"invalid purpose {fields.get('purpose')!r}", "purpose")
        with self._lock:
            self.counts["upload"] += 1
            file = FakeFile(
                self._new_id("file"), filename, fields["purpose"], content, int(time.time())
            )
            self.files[file.id] = file
        return file.payload()

    def file(self, file_id: str) -> FakeFile:
        if file_id not in self.files:
            raise ApiError(404, f"No such File object: {file_id}", "id")
        return self.files[file_id]

    # -- jobs ---------------------------------------------------------------------------------
    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        self.job_requests.append(body)
        if not body.get("model") or body["model"] in self.unavailable_models:
            message = (
                f"Model {body.get('model')} is not available for fine-tuning or does not exist."
            )
            raise ApiError(400, message, "model", "model_not_available")
        training = self._fine_tune_file(body.get("training_file"), "training_file")
        if body.get("validation_file"):
            self._fine_tune_file(body["validation_file"], "validation_file")
        if len(body.get("suffix") or "") > 64:
            raise ApiError(400, "suffix must be at most 64 characters", "suffix")
        method = body.get("method") or {"type": "supervised"}
        if method.get("type") != "supervised":
            raise ApiError(400, "this fake only knows the supervised method", "method")
        sent = (method.get("supervised") or {}).get("hyperparameters") or body.get(
            "hyperparameters", {}
        )
        hp = {k: sent.get(k, "auto") for k in AUTO}
        resolved = {k: AUTO[k] if v == "auto" else v for k, v in hp.items()}
        examples = max(1, training.content.count(b"\n"))
        steps = math.ceil(examples / resolved["batch_size"]) * resolved["n_epochs"]
        with self._lock:
            self.counts["create"] += 1
            job = FakeJob(
                id=self._new_id("ftjob"),
                request=body,
                hyperparameters=resolved,
                created_at=int(time.time()),
                total_steps=max(1, min(steps, self.max_steps)),
                trained_tokens=len(training.content) // 4 * resolved["n_epochs"],
                fail=FAIL_MARKER.encode() in training.content,
            )
            self.jobs[job.id] = job
            self._event(job, f"Created fine-tuning job: {job.id}")
        return job.payload()

    def _fine_tune_file(self, file_id: Any, param: str) -> FakeFile:
        if not isinstance(file_id, str) or file_id not in self.files:
            raise ApiError(400, f"invalid {param}: {file_id}", param, "invalid_file")
        file = self.files[file_id]
        if file.purpose != "fine-tune":
            raise ApiError(400, f"{file_id} was not uploaded for fine-tuning", param)
        return file

    def job(self, job_id: str) -> FakeJob:
        if job_id not in self.jobs:
            raise ApiError(404, f"Could not find fine tune: {job_id}", "fine_tune_id")
        return self.jobs[job_id]

    def retrieve(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        with self._lock:
            self.counts["retrieve"] += 1
            self._advance(job)
        return job.payload()

    def _advance(self, job: FakeJob) -> None:
        """One state (or one training step) per poll: the test's clock is its polling."""
        if job.status == "validating_files":
            if job.fail:
                self._fail(job)
                return
            job.status = "queued"
            self._event(job, "Files validated, moving job to queued state")
        elif job.status == "queued":
            job.status = "running"
            self._event(job, "Fine-tuning job started")
        elif job.status == "running" and not self.hold:
            job.step += 1
            self._metrics(job)
            if job.step >= job.total_steps:
                self._succeed(job)

    def _fail(self, job: FakeJob) -> None:
        job.status, job.finished_at = "failed", int(time.time())
        job.error = {
            "code": "invalid_training_file",
            # Brackets as in real messages: a client printing through rich must escape them.
            "message": "The job failed due to an invalid training file. Example 6: "
            "[/messages] is not a valid chat example.",
            "param": "training_file",
        }
        self._event(job, job.error["message"], level="error")

    def _loss(self, job: FakeJob, offset: float) -> float:
        return round(2.0 / (1 + job.step) + offset, 4)

    def _metrics(self, job: FakeJob) -> None:
        data: dict[str, Any] = {
            "step": job.step,
            "total_steps": job.total_steps,
            "train_loss": self._loss(job, 0.0),
            "train_mean_token_accuracy": round(0.5 + 0.1 * job.step, 3),
        }
        if job.request.get("validation_file"):
            data["valid_loss"] = self._loss(job, 0.1)
            if job.step >= job.total_steps:
                data["full_valid_loss"] = self._loss(job, 0.05)
        message = f"Step {job.step}/{job.total_steps}: training loss={data['train_loss']:.4f}"
        self._event(job, message, kind="metrics", data=data)

    def _succeed(self, job: FakeJob) -> None:
        suffix = job.request.get("suffix") or "fake"
        job.fine_tuned_model = f"ft:{job.request['model']}:{suffix}:{job.id.rsplit('-', 1)[-1]}"
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        for event in job.events:
            d = event.get("data") or {}
            if "step" in d:
                rows.append(
                    f"{d['step']},{d['train_loss']},{d['train_mean_token_accuracy']},"
                    f"{d.get('valid_loss', '')},"
                )
        csv_text = "\n".join(rows) + "\n"
        result = FakeFile(
            self._new_id("file"),
            "step_metrics.csv",
            "fine-tune-results",
            base64.b64encode(csv_text.encode()),
            int(time.time()),
        )
        self.files[result.id] = result
        job.result_files = [result.id]
        job.status, job.finished_at = "succeeded", int(time.time())
        self._event(job, f"New fine-tuned model created: {job.fine_tuned_model}")
        self._event(job, "The job has successfully completed")

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id)
        with self._lock:
            if job.status not in ACTIVE:
                raise ApiError(400, f"Job has already completed: status {job.status}", "id")
            self.counts["cancel"] += 1
            job.status, job.finished_at = "cancelled", int(time.time())
            self._event(job, "Fine-tuning job cancelled")
        return job.payload()

    def _event(
        self,
        job: FakeJob,
        message: str,
        *,
        level: str = "info",
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "id": self._new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data or {},
                "type": kind,
            }
        )

    def list_jobs(self, query: dict[str, str]) -> dict[str, Any]:
        wanted = {k[9:-1]: v for k, v in query.items() if k.startswith("metadata[")}
        newest_first = reversed(list(self.jobs.values()))
        jobs = [
            j
            for j in newest_first
            if all((j.request.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        return cursor_page([j.payload() for j in jobs], query, default_limit=20)

    def list_events(self, job_id: str, query: dict[str, str]) -> dict[str, Any]:
        events = list(reversed(self.job(job_id).events))  # newest first, as the API answers
        return cursor_page(events, query, default_limit=20)


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/files"), "upload"),
    ("GET", re.compile(r"/files/(?P<id>[^/]+)"), "file"),
    ("GET", re.compile(r"/files/(?P<id>[^/]+)/content"), "content"),
    ("POST", re.compile(r"/fine_tuning/jobs"), "create"),
    ("GET", re.compile(r"/fine_tuning/jobs"), "list"),
    ("GET", re.compile(r"/fine_tuning/jobs/(?P<id>[^/]+)"), "retrieve"),
    ("GET", re.compile(r"/fine_tuning/jobs/(?P<id>[^/]+)/events"), "events"),
    ("POST", re.compile(r"/fine_tuning/jobs/(?P<id>[^/]+)/cancel"), "cancel"),
]


class _Handler(JSONHandler):
    owner: FakeFineTuningServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.removeprefix("/v1")
        query = dict(parse_qsl(url.query))
        body = self.read_body()
        auth = self.headers.get("Authorization", "")
        self.owner.auth_headers.append(auth)
        try:
            if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
                raise ApiError(401, "You didn't provide an API key.")
            for verb, pattern, action in _ROUTES:
                match = pattern.fullmatch(path)
                if verb == method and match:
                    self._act(action, match.groupdict().get("id", ""), query, body)
                    return
            raise ApiError(404, f"Invalid URL ({method} {self.path})")
        except ApiError as exc:
            message = exc.message
            if self.owner.echo_auth_in_errors:
                message += f" (request authorised with '{auth}')"
            error = {
                "message": message,
                "type": "invalid_request_error",
                "param": exc.param,
                "code": exc.code,
            }
            self.send_json(exc.status, {"error": error})

    def _act(self, action: str, ident: str, query: dict[str, str], body: bytes) -> None:
        owner = self.owner
        if action == "upload":
            fields, filename, content = parse_multipart(self.headers["Content-Type"], body)
            self.send_json(200, owner.upload(fields, filename, content))
        elif action == "file":
            self.send_json(200, owner.file(ident).payload())
        elif action == "content":
            self.send_json(200, owner.file(ident).content, content_type="application/octet-stream")
        elif action == "create":
            self.send_json(200, owner.create_job(json.loads(body or b"{}")))
        elif action == "list":
            self.send_json(200, owner.list_jobs(query))
        elif action == "retrieve":
            self.send_json(200, owner.retrieve(ident))
        elif action == "events":
            self.send_json(200, owner.list_events(ident, query))
        elif action == "cancel":
            self.send_json(200, owner.cancel(ident))


FakeFineTuningServer.handler = _Handler
