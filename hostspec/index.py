"""From document paths back to source spans.

Lowering (and the JSON reader) record, for every path in the document, the
span of the statement or member that set it and the span of its value, so a
schema error on `("guests", 3, "memory")` is reported at the line that wrote
it.  Paths are tuples of keys and list indices.
"""
from __future__ import annotations

from typing import Optional

import attrs

from .source import Span

Path = tuple


@attrs.define
class SpanIndex:
    statements: dict[Path, Span] = attrs.field(factory=dict)
    values: dict[Path, Span] = attrs.field(factory=dict)
    keys: dict[Path, Span] = attrs.field(factory=dict)

    def record(self, path: Path, statement: Span, value: Optional[Span] = None,
               key: Optional[Span] = None) -> None:
        self.statements[path] = statement
        self.values[path] = value if value is not None else statement
        if key is not None:
            self.keys[path] = key

    def at(self, path: Path) -> Optional[Span]:
        """The statement that set `path`, or of its nearest recorded ancestor."""
        return _nearest(self.statements, path)

    def value(self, path: Path) -> Optional[Span]:
        """The value written for `path`, or the nearest ancestor's."""
        return _nearest(self.values, path)

    def key(self, path: Path) -> Optional[Span]:
        """The key token of `path` (falls back to the statement)."""
        return self.keys.get(tuple(path)) or self.at(path)

    def has(self, path: Path) -> bool:
        return tuple(path) in self.statements


def _nearest(table: dict[Path, Span], path: Path) -> Optional[Span]:
    path = tuple(path)
    while path:
        if path in table:
            return table[path]
        path = path[:-1]
    return table.get(())
