"""Errors a user can act on. Each carries one line naming the file or setting and the problem,
and maps to a process exit code so scripts can tell bad input from a failed endpoint."""

from __future__ import annotations


class DoctuneError(Exception):
    """Base of every error doctune reports as one line (no traceback) and an exit code."""

    exit_code = 1


class ConfigError(DoctuneError):
    """The config file or a flag is wrong."""

    exit_code = 2


class InputError(DoctuneError):
    """A document, record file or artifact is missing or malformed."""

    exit_code = 3


class ModelError(DoctuneError):
    """A model endpoint failed after every retry, or a model spec cannot be loaded.

    `transient`: the failure may pass (timeouts, lost connections, 408/409/429/5xx after the
    retries), so evaluation excludes the one item and goes on; anything else (a model that does
    not exist, a refused key) stops the stage at once.
    """

    exit_code = 4

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StageOrderError(DoctuneError):
    """A stage reads an artifact no earlier stage writes; raised before any model is called."""

    exit_code = 2


class RunLockedError(DoctuneError):
    """Another doctune process holds the output folder's lock (one run per output folder)."""

    exit_code = 5


EXIT_INTERRUPTED = 130
