"""lark LALR: text -> tree, and lark's errors -> diagnostics.

LALR stops at the first syntax error, so exactly one is reported, as precisely
as the parser state allows (an unclosed `{`, nesting too deep, a bad string).
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Optional

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.source import SourceFile

_TOKEN_NAMES = {"LBRACE": "`{`", "RBRACE": "`}`", "SEMICOLON": "`;`", "_NL": "a line break",
                "ATOM": "a word", "STRING": "a string", "$END": "the end of the file"}


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process (and cached on disk by lark)."""
    grammar = resources.files("hostspec.language").joinpath("grammar.lark").read_text("utf-8")
    # Every span is built from tokens, which carry their own positions;
    # propagating positions to tree nodes would cost a third of the parse.
    return Lark(grammar, parser="lalr", propagate_positions=False,
                maybe_placeholders=False, cache=_cache_path(grammar))


def _cache_path(grammar: str) -> Optional[str]:
    """A per-user cache file for the compiled grammar, or None (no cache)."""
    import hashlib
    import os
    import tempfile

    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"hostspec-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, f"grammar-{digest}.lark.cache")


def parse(source: SourceFile) -> tuple[Optional[Tree], list[Diagnostic]]:
    """Parse one file; a syntax error becomes exactly one diagnostic."""
    try:
        if source.included_from is not None:
            return _parse_shared(source.text), []
        return parser().parse(source.text), []
    except UnexpectedInput as error:
        return None, [_syntax_error(source, error)]


@functools.lru_cache(maxsize=16)
def _parse_shared(text: str) -> Tree:
    """An included file's tree, parsed once per process: every host of a fleet
    includes the same templates.  Trees hold only tokens, never the source."""
    return parser().parse(text)



def _syntax_error(source: SourceFile, error: UnexpectedInput) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(source, error)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    if token.type == "$END":
        return _unclosed(source)
    span = source.span(token.start_pos, token.end_pos) if token.start_pos is not None \
        else source.span(len(source.text))
    if token.type == "LBRACE":
        broken = _broken_range(source, token.start_pos)
        if broken is not None:
            return broken
    if token.type == "LBRACE" and _depth_at(source, token.start_pos) >= 2:
        return diag("HS0105", "blocks nest at most two levels deep", span,
                    hint="a block inside `host`, `template` or `guest` holds only statements")
    if token.type == "RBRACE":
        return diag("HS0102", "unexpected `}` with no open block", span,
                    hint="remove it, or add the `{` it should close")
    expected = sorted(_TOKEN_NAMES.get(t, t) for t in error.expected if not t.startswith("__"))
    return diag("HS0102", f"unexpected {_TOKEN_NAMES.get(token.type, repr(str(token)))}", span,
                hint=f"expected {', '.join(expected)}" if expected else None)


_ATTACHED_BRACES = re.compile(r"(?<=[A-Za-z0-9_.-])\{[^{}\s]*\}")


def _broken_range(source: SourceFile, offset: int) -> Optional[Diagnostic]:
    """`web-{1..}`, `{a..c}`, `{1...3}`: braces stuck to a name on this line, read
    as a block, make the real block's `{` unexpected; name the range instead."""
    line_start = source.text.rfind("\n", 0, offset) + 1
    found = _ATTACHED_BRACES.search(source.text, line_start, offset)
    if found is None:
        return None
    return diag("HS0229", f"`{found.group()}` is not a guest range", source.span(*found.span()),
                hint="a range is two whole numbers: `web-{1..20}`, or `web-{01..20}` for fixed width")


def _bad_character(source: SourceFile, error: UnexpectedCharacters) -> Diagnostic:
    pos = error.pos_in_stream
    char = source.text[pos]
    span = source.span(pos, pos + 1)
    if char == '"':
        end = source.text.find("\n", pos)
        span = source.span(pos, len(source.text) if end < 0 else end)
        return diag("HS0106", "unterminated string", span,
                    hint='close the string with `"` on the same line')
    shown = repr(char) if not char.isprintable() or char.isspace() else f"`{char}`"
    return diag("HS0103", f"unexpected character {shown}", span,
                hint="names use letters, digits, `_`, `.` and `-`; strings go in double quotes")


def _unclosed(source: SourceFile) -> Diagnostic:
    opening = _open_braces(source, len(source.text))
    start = opening[-1] if opening else max(len(source.text) - 1, 0)
    return diag("HS0104", "this `{` is never closed", source.span(start, start + 1),
                hint="add the missing `}`")


def _depth_at(source: SourceFile, offset: int) -> int:
    return len(_open_braces(source, offset))


def _open_braces(source: SourceFile, offset: int) -> list[int]:
    """Offsets of the `{` still open at `offset` (strings and comments skipped)."""
    stack: list[int] = []
    text, i = source.text, 0
    while i < offset:
        ch = text[i]
        if ch in "#\"":
            i = _skip(text, i)
            continue
        if ch == "{" and not _is_range(text, i):
            stack.append(i)
        elif ch == "}" and stack and not _is_range_end(text, i):
            stack.pop()
        i += 1
    return stack


def _skip(text: str, i: int) -> int:
    """Past a comment (to the newline) or a string (to its closing quote)."""
    if text[i] == "#":
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    j = i + 1
    while j < len(text) and text[j] not in '"\n':
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _is_range(text: str, i: int) -> bool:
    import re
    return re.match(r"\{[0-9]+\.\.[0-9]+\}", text[i:i + 40]) is not None


def _is_range_end(text: str, i: int) -> bool:
    import re
    return re.search(r"\{[0-9]+\.\.[0-9]+\}$", text[max(0, i - 40):i + 1]) is not None
