"""Source files and spans: byte-free, character-based positions.

A `Span` is a half-open character range in one `SourceFile`.  Lines and
columns are 1-based and count characters, as editors and rustc do.
"""
from __future__ import annotations

import bisect
from typing import Optional

import attrs

from hostspec import records


@records.frozen(eq=False)
class SourceFile:
    """The text of one input file and where it was included from."""

    name: str
    text: str
    included_from: Optional["Span"] = None
    raw: bytes = attrs.field(default=b"", repr=False)
    _line_starts: list[int] = attrs.field(factory=list, repr=False)

    @classmethod
    def from_text(cls, name: str, text: str, raw: bytes | None = None,
                  included_from: Optional["Span"] = None) -> "SourceFile":
        data = raw if raw is not None else text.encode("utf-8", "surrogateescape")
        starts = [0]
        index = text.find("\n")
        while index >= 0:
            starts.append(index + 1)
            index = text.find("\n", index + 1)
        return cls(name, text, included_from, data, starts)

    @property
    def digest(self) -> str:
        """sha256 of the file's bytes (computed when asked: hashlib is slow to import)."""
        import hashlib
        return hashlib.sha256(self.raw).hexdigest()

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line break (`\n` or `\r\n`)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        text = self.text[start:] if end < 0 else self.text[start:end]
        return text[:-1] if text.endswith("\r") else text

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def span(self, start: int, end: int | None = None) -> "Span":
        return Span(self, start, start if end is None else end)

    def include_chain(self) -> list["Span"]:
        """The `include` statements that led here, innermost first."""
        chain, span = [], self.included_from
        while span is not None:
            chain.append(span)
            span = span.file.included_from
        return chain


@records.frozen(eq=False)
class Span:
    """A character range [start, end) in a source file."""

    file: SourceFile
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.file.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.file.position(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.file.position(self.end)[0]

    @property
    def end_column(self) -> int:
        return self.file.position(self.end)[1]

    @property
    def text(self) -> str:
        return self.file.text[self.start:self.end]

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of `other`."""
        if other.file is not self.file:
            return self
        return Span(self.file, min(self.start, other.start), max(self.end, other.end))

    def sort_key(self) -> tuple:
        return (self.file.name, self.start, self.end)
