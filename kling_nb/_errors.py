"""Every error kling_nb raises. One root, so `except KlingError` catches them all.

    KlingError
    ├── KlingConfigError            a backend, key, language or variable is wrong
    │   ├── KlingLanguageError      (also ValueError) a language that is neither zh nor en
    │   ├── KlingDateError          (also ValueError) a date filter that is not a date
    │   └── KlingJournalError       the journal cannot be written (or read) where it is
    ├── KlingBudgetError            the estimated cost passes the budget; nothing was sent
    │   └── KlingReplayError        paid before, but its pictures are gone; nothing was sent
    ├── KlingValidationError        (also ValueError) input broke a rule; nothing was sent
    │   ├── KlingImageError         an input image can't be used, even after safe fixes
    │   ├── KlingRegionError        a region (box or mask) can't be used on its photo
    │   └── KlingNotInPanelError    (also IndexError) no such image or run in the panel
    ├── KlingConnectionError        the service could not be reached, or refused us
    │   └── KlingSubmitUnknownError a submit was sent but its answer was lost
    └── KlingJobError               a submitted job ended without images
        ├── KlingCancelledError     the wait was stopped (Ctrl-C, Cancel, cancel(), a task);
        │                           `cancel` says whether the service confirmed it
        └── KlingTimeoutError       (also TimeoutError) the deadline passed

Messages are sentences in the current language (`set_language`) that give the cause
and the remedy. No error ever holds the API key.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._i18n import message
from ._secrets import scrub, scrub_exception

if TYPE_CHECKING:
    from ._rules import Violation


class KlingError(Exception):
    """The root of every kling_nb error; its text never holds a remembered key."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(scrub(a) for a in args))
        # Raised inside an except block, the exception being handled becomes our
        # __context__ (and usually __cause__): its text may echo a key, so mask it now.
        scrub_exception(sys.exc_info()[1])

    def __str__(self) -> str:
        scrub_exception(self.__cause__ or self.__context__)
        return scrub(super().__str__())


class KlingConfigError(KlingError):
    """A backend, key, language or environment variable is missing or wrong."""


class KlingLanguageError(KlingConfigError, ValueError):
    """A language name that is neither 'zh' nor 'en'."""

    def __init__(self, variable: str, value: object):
        super().__init__(message("config.language_unknown", variable=variable, value=value))
        self.variable = variable
        self.value = value


class KlingDateError(KlingConfigError, ValueError):
    """A date filter (`since=`, `until=`) that is not a date."""


class KlingJournalError(KlingConfigError):
    """The journal cannot be written (or read) where it is; `path` names the file."""

    def __init__(self, text: str, *, path: object = None):
        super().__init__(text)
        self.path = path


class KlingValidationError(KlingError, ValueError):
    """The request broke one or more input rules; nothing was sent, nothing was billed."""

    _messages = "rule"  # the message keys of its violations: f"{_messages}.{code}"

    def __init__(self, violations: Sequence[Violation]):
        self.violations = list(violations)
        prefix = self._messages
        lines = [message(f"{prefix}.{v.code}", field=v.field, **v.facts) for v in self.violations]
        super().__init__(lines[0] if len(lines) == 1 else "\n".join(f"• {line}" for line in lines))

    @property
    def fields(self) -> list[str]:
        """The fields at fault, e.g. ['prompt', 'image_urls[1]']."""
        return [v.field for v in self.violations]


class KlingImageError(KlingValidationError):
    """An input image cannot be used, even after the fixes that are safe to make."""


class KlingRegionError(KlingValidationError):
    """A region edit's box, mask or photo cannot be used; nothing was sent, nothing was billed."""

    _messages = "region"


class KlingNotInPanelError(KlingValidationError, IndexError):
    """A number that names no image or run of the panel: refused in words."""


class KlingConnectionError(KlingError):
    """The service could not be reached, or refused the request before it became a job."""

    def __init__(self, text: str, *, host: str = "", status_code: int | None = None):
        super().__init__(text)
        self.host = host
        self.status_code = status_code


class KlingSubmitUnknownError(KlingConnectionError):
    """A submit was sent but its answer was lost: the job may exist. Not resent."""

    def __init__(self, text: str, *, host: str = "", journal_id: int | None = None):
        super().__init__(text, host=host)
        self.journal_id = journal_id


class KlingJobError(KlingError):
    """A submitted job ended without images; carries its request id and the server's word."""

    def __init__(
        self,
        text: str,
        *,
        request_id: str,
        endpoint: str,
        detail: str = "",
        error_type: str | None = None,
        status_code: int | None = None,
        cancel: str | None = None,
    ):
        super().__init__(text)
        self.request_id = request_id
        self.endpoint = endpoint
        self.detail = scrub(detail)
        self.error_type = scrub(error_type) if error_type is not None else None
        self.status_code = status_code
        # For a stopped wait: what the service said to the cancel — "confirmed" (the job
        # will not run, nothing billed), "requested" (it may still finish and be billed),
        # "unsupported", "failed" (not asked) or "too_late" (it had finished). Only
        # "confirmed" means nothing will be billed.
        self.cancel = cancel


class KlingCancelledError(KlingJobError):
    """The wait was stopped; `cancel` tells whether the service confirmed the job's end."""


class KlingTimeoutError(KlingJobError, TimeoutError):
    """The deadline passed before the job finished; `cancel` tells what became of the job."""


class KlingBudgetError(KlingError):
    """The estimated cost would pass the budget (`set_budget`); nothing was sent."""

    def __init__(self, text: str, *, cost: object = None, left: object = None):
        super().__init__(text)
        self.cost = cost
        self.left = left


class KlingReplayError(KlingBudgetError):
    """An identical request was paid before but its pictures are gone: paying again needs
    `fresh=True`; nothing was sent."""
