"""The emulated runner's log lines, kept as message keys and worded when a status is sent.

A line is worded in the language of the request that reads it (`Accept-Language: zh…` or
`en…`), else in the language of the process running the emulator (kling_nb's
`_i18n.language()`: `set_language()`, `KLING_NB_LANG`, the locale). The same job can so
be read in Chinese by one client and in English by another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._i18n import Language, language, message
from .._wire import LogEntry, LogLevel


@dataclass(frozen=True)
class LogLine:
    """One log line: its level, its message key and facts, and when it was written."""

    level: LogLevel
    key: str
    timestamp: str
    facts: dict[str, object] = field(default_factory=dict)

    def entry(self, lang: Language) -> LogEntry:
        """The line as the wire carries it, worded in `lang`."""
        return {
            "message": message(self.key, lang, **self.facts),
            "level": self.level,
            "source": "USER",
            "timestamp": self.timestamp,
        }


def language_of(accept_language: str | None) -> Language:
    """The language a request asks for by its first `Accept-Language` tag, else the process's."""
    first = (accept_language or "").split(",", 1)[0].split(";", 1)[0].strip().lower()
    if first.startswith("zh"):
        return "zh"
    if first.startswith("en"):
        return "en"
    return language()
