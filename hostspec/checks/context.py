"""What every check gets: the model, the span index and the capacity analysis."""
from __future__ import annotations

import functools
import re
from typing import Iterable, Iterator, Optional, TypeVar

from hostspec import records
from hostspec.checks.demand import Capacity, analyse
from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic, Label
from hostspec.language.index import SpanIndex
from hostspec.model import Spec
from hostspec.diagnostics.source import Span

Diagnostics = Iterator[Diagnostic]
T = TypeVar("T")
_NUMBERED = re.compile(r"^(.*?)([0-9]+)([^0-9]*)$")


@records.frozen
class Context:
    spec: Spec
    index: SpanIndex

    @functools.cached_property
    def capacity(self) -> Capacity:
        return analyse(self.spec)

    def at(self, path) -> Optional[Span]:
        """The statement that set `path` (or its nearest recorded ancestor)."""
        return self.index.at(path)

    def value(self, path) -> Optional[Span]:
        """The value written for `path`, the statement when there is none."""
        return self.index.value(path)

    def written(self, path) -> bool:
        """True when the source sets `path` itself (not a default)."""
        return self.index.has(path)

    def label(self, path, message: str) -> Optional[Label]:
        """A secondary span at the statement of `path`, when the source wrote it."""
        span = self.index.at(path) if self.written(path) else None
        return Label(span, message) if span is not None else None

    def diag(self, code: str, message: str, span: Optional[Span], hint: str,
             labels=()) -> Diagnostic:
        """A diagnostic whose labels without a source position are dropped."""
        kept = [lab for lab in labels if lab is not None and lab.span is not None
                and _where(lab.span) != _where(span)]
        return diag(code, message, span, hint=hint, labels=kept)


def _where(span: Optional[Span]):
    return None if span is None else (span.file.name, span.start, span.end)


def by_statement(pairs: Iterable[tuple[Optional[Span], T]], detail=lambda item: None
                 ) -> list[tuple[Optional[Span], list[T]]]:
    """Group items by the statement they come from (and `detail`), in first-seen order.

    Guests made from one template or range share a statement; one diagnostic
    for all of them reads better than two thousand.
    """
    groups: dict = {}
    for span, item in pairs:
        groups.setdefault((_where(span), detail(item)), (span, []))[1].append(item)
    return list(groups.values())


def verb(names: list, singular: str, plural: str) -> str:
    """The verb that agrees with a list of guest names."""
    return singular if len(names) == 1 else plural


def guest_names(names: list[str]) -> str:
    """`guest `a`` or `guests `a`, `web-01`..`web-20``: every name, ranges folded."""
    parts, run = [], []
    for name in names:
        if run and _follows(run[-1], name):
            run.append(name)
            continue
        parts.extend(_fold(run))
        run = [name]
    parts.extend(_fold(run))
    return ("guest " if len(names) == 1 else "guests ") + ", ".join(parts)


def _follows(before: str, name: str) -> bool:
    a, b = _NUMBERED.match(before), _NUMBERED.match(name)
    if not (a and b and a[1] == b[1] and a[3] == b[3] and int(b[2]) == int(a[2]) + 1):
        return False
    padded = a[2].startswith("0") and len(a[2]) > 1
    return len(a[2]) == len(b[2]) or not padded


def _fold(run: list[str]) -> list[str]:
    if len(run) >= 3:
        return [f"`{run[0]}`..`{run[-1]}`"]
    return [f"`{name}`" for name in run]
