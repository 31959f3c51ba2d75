"""Every error imagebuild reports on purpose.

    ImageBuildError                 one line for the user, exit code 1
    ├── ManifestError               bad input, located: path:line:col: target NAME: message
    │   └── StateError              imagebuild's own files (lock, journal, .imagebuild/) are
    │                               damaged or unwritable; the message says how to repair
    ├── ManifestErrors              several ManifestErrors found in one pass, one line each
    ├── UsageError                  bad command line (exit code 2)
    ├── RefusedError                the build refuses before touching anything
    │   ├── FrozenError             --frozen found work to do
    │   └── CostLimitError          --max-cost would be exceeded
    ├── ConcurrentBuildError        another build holds the manifest's build lock
    ├── SettingError                a provider setting is wrong (the manifest locates it)
    └── ProviderError               a provider failed one generation
        ├── AuthenticationError     the API key was refused
        ├── InsufficientCreditsError
        ├── InvalidRequestError     the provider rejected a request field
        ├── TaskNotFoundError       resume: the provider does not know the task id
        └── TransientError          worth retrying: timeouts, 429, 5xx, dropped connections
            └── LostSubmissionError a submit's answer was lost and may not be repeated:
                                    it may still run and bill, and cannot be collected

Anything else escaping the command line is a bug in imagebuild, not in the input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a manifest file; line and column count from 1."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class ImageBuildError(Exception):
    """Base class: the message is shown to the user as one line."""

    exit_code = 1


class ManifestError(ImageBuildError):
    """A manifest is invalid; the message names where and which target."""

    def __init__(
        self, message: str, location: Location | None = None, target: str | None = None
    ) -> None:
        self.message = message
        self.location = location
        self.target = target
        super().__init__(self.render())

    def render(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.target is not None:
            parts.append(f"target {self.target}")
        parts.append(self.message)
        return ": ".join(parts)


class StateError(ManifestError):
    """A lock, journal or state folder that cannot be read or written as it is.
    Nothing paid for is lost: the message says what to repair and what the
    next build recovers."""


class ManifestErrors(ImageBuildError):
    """Several located errors, reported one per line."""

    def __init__(self, errors: list[ManifestError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


def error_document(error: ImageBuildError) -> dict[str, object]:
    """The JSON a ``--json`` command prints when it refuses: the kind, the exit
    code, and each problem with its location and target when it has them."""
    problems = error.errors if isinstance(error, ManifestErrors) else [error]
    return {
        "error": {
            "kind": type(error).__name__,
            "exitCode": error.exit_code,
            "problems": [_problem(problem) for problem in problems],
        }
    }


def _problem(error: ImageBuildError) -> dict[str, object]:
    if not isinstance(error, ManifestError):
        return {"message": str(error)}
    location = error.location
    return {
        "message": error.message,
        "target": error.target,
        "path": location.path if location else None,
        "line": location.line if location else None,
        "column": location.column if location else None,
    }


def collected(errors: list[ManifestError]) -> ImageBuildError:
    """The error to raise for what one pass found: the error itself when alone."""
    return errors[0] if len(errors) == 1 else ManifestErrors(errors)


class UsageError(ImageBuildError):
    exit_code = 2


class RefusedError(ImageBuildError):
    """The build stopped before spending or writing anything."""


class FrozenError(RefusedError):
    pass


class CostLimitError(RefusedError):
    pass


class ConcurrentBuildError(ImageBuildError):
    pass


class SettingError(ImageBuildError):
    """One bad setting, ``key`` in ``providers.PROVIDER`` (``entry`` within it,
    for a mapping such as ``prices``); ``at_key`` says the key itself is wrong,
    not its value."""

    def __init__(
        self,
        provider: str,
        key: str,
        message: str,
        *,
        at_key: bool = False,
        entry: str | None = None,
    ) -> None:
        self.key = key
        self.at_key = at_key
        self.path = (key,) if entry is None else (key, entry)
        super().__init__(f"providers.{provider}.{'.'.join(self.path)}: {message}")


class ProviderError(ImageBuildError):
    """One generation failed; sibling generations are unaffected."""


class AuthenticationError(ProviderError):
    pass


class InsufficientCreditsError(ProviderError):
    pass


class InvalidRequestError(ProviderError):
    def __init__(self, message: str, parameter: str | None = None) -> None:
        self.parameter = parameter
        super().__init__(message)


class TaskNotFoundError(ProviderError):
    """A journaled task id the provider does not know: it never arrived, or expired."""


class TransientError(ProviderError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class LostSubmissionError(TransientError):
    """Counted apart in the build's summary: money may have been spent on it."""


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown WHAT 'NAME'``, with the closest known name when one is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {what} '{name}'{hint}"
