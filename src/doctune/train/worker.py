"""`python -m doctune.train.worker <job.json>`: train one experiment in this process.

Started by the train stage, alone (launcher `local`) or once per process by `accelerate launch`.
The main process writes `result.json` next to the job, succeeded or failed with one error line;
a process killed outright writes nothing, and the stage reads its exit code and log instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from doctune.foundation.errors import DoctuneError
from doctune.foundation.jsonl import apply_umask, atomic_write_text
from doctune.train.local import RESULT_NAME, TrainJob, TrainResult, train
from doctune.train.workers import watch_parent


def is_main_process() -> bool:
    """Rank 0 of a launch (torchrun and accelerate set RANK), or a process launched alone."""
    return os.environ.get("RANK", "0") == "0"


def error_line(exc: BaseException) -> str:
    """One line for the experiments table: doctune's own message, or the exception's first."""
    if isinstance(exc, DoctuneError):
        return str(exc)
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def run(job_path: str | Path) -> int:
    job = TrainJob.model_validate_json(Path(job_path).read_text(encoding="utf-8"))
    try:
        result = train(job)
        code = 0
    except Exception as exc:
        if not isinstance(exc, DoctuneError):
            traceback.print_exc()  # into worker.log: our bug or a library's, keep the trace
        print(f"error: {error_line(exc)}", file=sys.stderr, flush=True)
        result, code = TrainResult(status="failed", error=error_line(exc)), 1
    if is_main_process():
        apply_umask(job.output_dir)  # the adapter's weights are saved 0600 by safetensors
        atomic_write_text(Path(job.output_dir) / RESULT_NAME, result.model_dump_json(indent=2))
    return code


def main(argv: list[str] | None = None) -> int:
    watch_parent()  # a worker never outlives the doctune run (or accelerate) that started it
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m doctune.train.worker <job.json>", file=sys.stderr)
        return 2
    return run(args[0])


if __name__ == "__main__":
    sys.exit(main())
