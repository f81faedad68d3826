"""The toolkit's one family of errors; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

import signal

# Exit codes, documented in the README. The CLI is the only place that maps errors to them.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_ENGINE = 3
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130; a termination signal exits 128 + its number (SIGTERM: 143)


class S3MetaError(Exception):
    """Base class. `exit_code` says how the CLI ends when this error reaches it."""

    exit_code = EXIT_ENGINE


class BadInput(S3MetaError):
    """Anything the user can fix by changing what they typed or pointed at."""

    exit_code = EXIT_BAD_INPUT


class CatalogError(BadInput):
    """An unknown query name, or a query file that is malformed."""


class ParamError(BadInput):
    """A parameter value that does not have the declared type or form."""

    def __init__(self, query: str | None, param: str, message: str):
        self.query, self.param = query, param
        where = f"query {query!r}, parameter {param!r}" if query else f"parameter {param!r}"
        super().__init__(f"{where}: {message}")


class OutOfRange(BadInput, ValueError):
    """A value beyond what the toolkit can represent (a duration of a million years). A ValueError
    too, so that parsers which turn ValueErrors into a message naming the parameter still do."""


class DataError(BadInput):
    """Missing or unreadable data, or data whose schema is not the S3 Metadata schema."""


class SQLRefused(BadInput):
    """Ad-hoc SQL that is not a read-only query, or SQL the engine cannot parse or bind."""


class QueryError(BadInput):
    """A valid statement that failed as it ran, on the data or its own values: a failed cast, an
    overflow, error(). The query is the user's to fix."""


class EngineError(S3MetaError):
    """The engine failed on a valid request (I/O, memory, a remote service)."""


class QueryFailed(EngineError):
    """A remote query ended FAILED, CANCELLED or timed out. Athena's user errors (a syntax error,
    a missing table or permission) exit 2; everything else exits 3."""

    def __init__(self, message: str, user_error: bool = False, query_id: str | None = None):
        super().__init__(message)
        self.query_id = query_id
        self.exit_code = EXIT_BAD_INPUT if user_error else EXIT_ENGINE


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread by the CLI's handler. A KeyboardInterrupt, so
    that everything that stops work on Ctrl-C (a running query, a temp file) stops it here too."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Interrupted(S3MetaError):
    """Ctrl-C or a termination signal, after the running query was stopped. Exit 128 + the signal:
    130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum

    @classmethod
    def by(cls, interrupt: KeyboardInterrupt, what: str) -> "Interrupted":
        """The error for `interrupt` (Ctrl-C or Terminated), saying what was stopped."""
        signum = getattr(interrupt, "signum", signal.SIGINT)
        return cls(f"{signal_text(signum)}: {what}", signum)


def signal_text(signum: int) -> str:
    """'interrupted' for Ctrl-C, 'terminated (SIGTERM)' and the like for the others."""
    if signum == signal.SIGINT:
        return "interrupted"
    return f"terminated ({signal.Signals(signum).name})"
