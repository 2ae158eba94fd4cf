"""Diagnostics: what every stage returns besides its result."""
from __future__ import annotations

import enum
from typing import Iterable, Optional

from hostspec import records
from hostspec.diagnostics.source import Span


class Severity(enum.IntEnum):
    NOTE = 0
    WARNING = 1
    ERROR = 2

    def __str__(self) -> str:
        return self.name.lower()


@records.frozen
class Label:
    """A secondary span with a short note ("first set here")."""

    span: Span
    message: str = ""


@records.frozen
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Optional[Span]
    hint: Optional[str] = None
    labels: tuple[Label, ...] = ()
    file_name: str = ""  # used when there is no span (unreadable input)

    def sort_key(self) -> tuple:
        """By position: in an included file, at the include line of the top file,
        then by position in each included file down to the span itself."""
        if self.span is None:
            return (self.file_name, (), self.code, "")
        chain = [*reversed(self.span.file.include_chain()), self.span]
        return (chain[0].file.name, tuple((s.start, s.end) for s in chain), self.code, self.message)


def has_errors(diagnostics: Iterable[Diagnostic], strict: bool = False) -> bool:
    """True when a build must fail: any error, or any warning with --strict."""
    floor = Severity.WARNING if strict else Severity.ERROR
    return any(d.severity >= floor for d in diagnostics)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique, seen = [], set()
    for diag in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (diag.sort_key(), diag.message)
        if key not in seen:
            seen.add(key)
            unique.append(diag)
    return unique
