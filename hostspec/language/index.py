"""From document paths back to source spans.

Lowering (and the JSON reader) record, for every path in the document, the
span of the statement or member that set it and the span of its value, so a
schema error on `("guests", 3, "memory")` is reported at the line that wrote
it.  Paths are tuples of keys and list indices.
"""
from __future__ import annotations

from typing import Optional

import attrs

from hostspec import records
from hostspec.diagnostics.source import Span

Path = tuple


@records.define
class SpanIndex:
    statements: dict[Path, Span] = attrs.field(factory=dict)
    values: dict[Path, Span] = attrs.field(factory=dict)
    keys: dict[Path, Span] = attrs.field(factory=dict)
    # Tables shared by many paths: a guest range mounts one table for all its guests.
    mounts: dict[Path, dict] = attrs.field(factory=dict)
    # Guests whose body is the same object as an earlier guest's (one range).
    shared_bodies: set[int] = attrs.field(factory=set)

    def record(self, path: Path, statement: Span, value: Optional[Span] = None,
               key: Optional[Span] = None) -> None:
        self.statements[path] = statement
        self.values[path] = value if value is not None else statement
        if key is not None:
            self.keys[path] = key

    def mount(self, prefix: Path, statement: Span, name: Span, table: dict) -> None:
        """Record `prefix` and share `table` (relative path -> (statement, value, key))."""
        self.record(prefix, statement, statement)
        self.record(prefix + ("name",), statement, name)
        self.mounts[prefix] = table

    def _lookup(self, path: Path, slot: int) -> Optional[Span]:
        path = tuple(path)
        for depth in range(len(path), 0, -1):
            found = self._exact(path[:depth], slot)
            if found is not None:
                return found
        return self._exact((), slot)

    def _exact(self, path: Path, slot: int) -> Optional[Span]:
        table = (self.statements, self.values, self.keys)[slot]
        if path in table:
            return table[path]
        mounted = self.mounts.get(path[:2]) if len(path) > 2 else None
        if mounted is not None and path[2:] in mounted:
            return mounted[path[2:]][slot]
        return None

    def at(self, path: Path) -> Optional[Span]:
        """The statement that set `path`, or of its nearest recorded ancestor."""
        return self._lookup(path, 0)

    def value(self, path: Path) -> Optional[Span]:
        """The value written for `path`, or the nearest ancestor's."""
        return self._lookup(path, 1)

    def key(self, path: Path) -> Optional[Span]:
        """The key token of `path` (falls back to the statement)."""
        return self._exact(tuple(path), 2) or self.at(path)

    def has(self, path: Path) -> bool:
        return self._exact(tuple(path), 0) is not None
