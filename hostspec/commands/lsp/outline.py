"""What an editor asks about the text as typed: blocks, words and positions.

Everything here reads the text with a forgiving scan (braces, strings and
comments), so it answers while the file does not parse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

_SCAN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\{[0-9]+\.\.[0-9]+\}|[{}\n;]')
_WORD = re.compile(r'"(?:[^"\\\n]|\\.)*"?|(?:[A-Za-z0-9_.+%,:/*=-]|\{[0-9]+\.\.[0-9]+\})+')


@dataclass
class Block:
    """A `{ ... }` block: its head words, where they are, and what it holds."""

    words: list[tuple[str, int, int]]  # (text, start, end) of each head word
    start: int  # the head's first character
    open: int  # the `{`
    end: int  # one past the `}` (the text's end when never closed)
    children: list["Block"] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.words[0][0] if self.words else ""

    @property
    def name(self) -> str:
        return self.words[1][0] if len(self.words) > 1 else ""


def statement_words(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """The words of text[start:end] (one statement's head), comments left out."""
    cut = text.find("#", start, end)
    while cut >= 0 and text.count('"', start, cut) % 2:  # a `#` inside a string
        cut = text.find("#", cut + 1, end)
    stop = end if cut < 0 else cut
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text, start, stop)]


def outline(text: str) -> list[Block]:
    """The top-level blocks, each with its nested blocks."""
    top: list[Block] = []
    stack: list[Block] = []
    statement_start = 0
    for found in _SCAN.finditer(text):
        token = found.group()
        if token in ("\n", ";"):
            statement_start = found.end()
        elif token == "{":
            block = Block(statement_words(text, statement_start, found.start()),
                          _skip_space(text, statement_start), found.start(), len(text))
            (stack[-1].children if stack else top).append(block)
            stack.append(block)
            statement_start = found.end()
        elif token == "}":
            if stack:
                stack.pop().end = found.end()
            statement_start = found.end()
    return top


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def enclosing(text: str, offset: int) -> list[Block]:
    """The blocks open at `offset`, outermost first."""
    chain, blocks = [], outline(text)
    while True:
        inner = next((b for b in blocks if b.open < offset < b.end
                      or (b.open < offset and b.end == len(text))), None)
        if inner is None:
            return chain
        chain.append(inner)
        blocks = inner.children


def line_words(text: str, offset: int) -> tuple[list[tuple[str, int, int]], int]:
    """The words of the statement the cursor is in, up to the cursor, and its start."""
    start = text.rfind("\n", 0, offset) + 1
    for found in _SCAN.finditer(text, start, offset):
        if found.group() in (";", "{", "}"):
            start = found.end()
    return statement_words(text, start, offset), start


def word_at(text: str, offset: int) -> Optional[tuple[str, int, int]]:
    """The word under the cursor (or just before it)."""
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    for word in statement_words(text, start, len(text) if end < 0 else end):
        if word[1] <= offset <= word[2]:
            return word
    return None


# -- positions ---------------------------------------------------------------

def line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def to_offset(text: str, starts: list[int], line: int, character: int) -> int:
    """A 0-based LSP (line, UTF-16 character) -> a character offset."""
    if line >= len(starts):
        return len(text)
    begin = starts[line]
    end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
    segment = text[begin:end]
    if segment.isascii():
        return begin + min(character, len(segment))
    units = 0
    for i, ch in enumerate(segment):
        if units >= character:
            return begin + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return end


def to_position(text: str, starts: list[int], offset: int) -> tuple[int, int]:
    """A character offset -> a 0-based LSP (line, UTF-16 character)."""
    import bisect

    offset = max(0, min(offset, len(text)))
    line = bisect.bisect_right(starts, offset) - 1
    segment = text[starts[line]:offset]
    return line, len(segment) if segment.isascii() else len(segment.encode("utf-16-le")) // 2
