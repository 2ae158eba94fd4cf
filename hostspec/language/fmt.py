"""The canonical printer of the `.mem` language, comments kept (`hostspec fmt`).

Canonical form: `hostspec 1` first, a blank line between top-level entries,
four spaces per level, one statement per line, switches as `on`/`off`, sizes
in the largest exact binary unit, durations in `s` when whole, bare names.
Statements keep their order; comments stay with the statement they follow on
its line, or before the one they precede; a run of blank lines inside a block
becomes one.  Values that cannot be read are kept as written.
"""
from __future__ import annotations

import functools
from typing import Optional

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from hostspec.language import values as v
from hostspec.diagnostics import Diagnostic
from hostspec.language.words import GUEST_BLOCKS, GUEST_KEYS, HOST_BLOCKS, HOST_KEYS
from hostspec.language.parse import _syntax_error
from hostspec.diagnostics.source import SourceFile

INDENT = "    "
_UNITS = (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1))


class _Comments(list):
    """Collects COMMENT tokens while lark lexes (the grammar ignores them)."""


@functools.lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _Comments]:
    from importlib import resources

    grammar = resources.files("hostspec.language").joinpath("grammar.lark").read_text("utf-8")
    comments = _Comments()
    parser = Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False,
                  lexer_callbacks={"COMMENT": comments.append})
    return parser, comments


def format_source(source: SourceFile) -> tuple[Optional[str], list[Diagnostic]]:
    """The canonical text of a source, or None and the syntax error."""
    parser, comments = _parser()
    comments.clear()
    try:
        tree = parser.parse(source.text)
    except UnexpectedInput as error:
        return None, [_syntax_error(source, error)]
    printer = _Printer(source.text, list(comments))
    return printer.document(tree), []


class _Printer:
    def __init__(self, text: str, comments: list[Token]):
        self.text = text
        self.comments = sorted(comments, key=lambda t: t.start_pos)
        self.used: set[int] = set()
        self.lines: list[str] = []

    # -- comments and blank lines ----------------------------------------------
    def comments_between(self, start: int, end: int) -> list[Token]:
        found = [c for c in self.comments if start <= c.start_pos < end and id(c) not in self.used]
        self.used.update(id(c) for c in found)
        return found

    def trailing(self, end: int) -> str:
        """A comment on the same line after `end`, if nothing else stands between."""
        line_end = self.text.find("\n", end)
        line_end = len(self.text) if line_end < 0 else line_end
        for comment in self.comments:
            if end <= comment.start_pos < line_end and id(comment) not in self.used:
                if self.text[end:comment.start_pos].strip(" \t;"):
                    return ""
                self.used.add(id(comment))
                return "  " + str(comment).rstrip()
        return ""

    def blank_before(self, start: int, previous_end: int) -> bool:
        return self.text.count("\n", previous_end, start) >= 2 and previous_end > 0

    def leading(self, start: int, previous_end: int, indent: str) -> None:
        found = self.comments_between(previous_end, start)
        for comment in found:
            if self.blank_before(comment.start_pos, previous_end) and self.lines and self.lines[-1]:
                self.lines.append("")
            self.lines.append(indent + str(comment).rstrip())
            previous_end = comment.end_pos
        if found and self.text.count("\n", previous_end, start) >= 2:
            self.lines.append("")

    # -- structure ----------------------------------------------------------------
    def document(self, tree: Tree) -> str:
        previous_end, first = 0, True
        for child in tree.children:
            start = child.meta.start_pos
            if not first:
                self.lines.append("")
            self.leading(start, previous_end, "")
            self.entry(child, "", HOST_KEYS, None)
            previous_end, first = child.meta.end_pos, False
        rest = self.comments_between(previous_end, len(self.text) + 1)
        if rest and self.lines:
            self.lines.append("")
        self.lines += [str(c).rstrip() for c in rest]
        return "\n".join(self.lines).rstrip("\n") + "\n"

    def entry(self, node: Tree, indent: str, keys: dict, blocks: Optional[dict]) -> None:
        head = node.children[0] if node.data != "stmt" else node.children[0]
        key, *words = head.children
        text = indent + " ".join([str(key)] + self.words(str(key), words, blocks))
        if node.data == "stmt":
            self.lines.append(text + self.trailing(head.meta.end_pos if words else key.end_pos))
            return
        body = node.children[1]
        self.block(node, body, text, indent, str(key))

    def block(self, node: Tree, body: Tree, text: str, indent: str, key: str) -> None:
        open_end = self.text.find("{", node.children[0].meta.end_pos) + 1
        close = node.meta.end_pos - 1
        inner_keys, inner_blocks = _tables(key, indent)
        children = [c for c in body.children if isinstance(c, Tree)]
        if not children and not self.comments_between_peek(open_end, close):
            self.lines.append(f"{text} {{}}" + self.trailing(close + 1))
            return
        self.lines.append(f"{text} {{" + self.trailing(open_end))
        previous_end = open_end
        for child in children:
            start = child.meta.start_pos
            if self.blank_before(start, previous_end) and self.lines[-1].strip() != text.strip() + " {":
                self.lines.append("")
            self.leading(start, previous_end, indent + INDENT)
            self.entry(child, indent + INDENT, inner_keys, inner_blocks)
            previous_end = child.meta.end_pos
        for comment in self.comments_between(previous_end, close):
            self.lines.append(indent + INDENT + str(comment).rstrip())
        self.lines.append(indent + "}" + self.trailing(close + 1))

    def comments_between_peek(self, start: int, end: int) -> bool:
        return any(start <= c.start_pos < end and id(c) not in self.used for c in self.comments)

    # -- values -------------------------------------------------------------------
    def words(self, key: str, words: list[Token], blocks) -> list[str]:
        return [canonical_word(key, i, w, words) for i, w in enumerate(words)]


def _tables(key: str, indent: str) -> tuple[dict, Optional[dict]]:
    if indent == "" and key == "host":
        return HOST_KEYS, HOST_BLOCKS
    if indent == "":
        return GUEST_KEYS, GUEST_BLOCKS
    return {}, None


_KIND_OF = {**{k: r for k, r in HOST_KEYS.items()}, **{k: r for k, r in GUEST_KEYS.items() if r},
            **{k: r for b in HOST_BLOCKS.values() for k, r in b.items() if r},
            **{k: r for b in GUEST_BLOCKS.values() for k, r in b.items()}}


def canonical_word(key: str, position: int, token: Token, words: list[Token]) -> str:
    """The canonical spelling of one value word (as written if it does not read)."""
    text = str(token)
    if token.type == "STRING":
        inner = text[1:-1]
        return inner if key in ("host", "guest", "template") and v.NAME_RE.fullmatch(inner) else text
    previous = str(words[position - 1]) if position else ""
    reader = _reader_for(key, position, previous)
    try:
        if reader is v.size:
            return size_text(v.size(text, key))
        if reader is v.switch and text in v.SWITCHES:
            return "on" if v.SWITCHES[text] else "off"
        if reader in (v.duration, v.seconds):
            return duration_text(v.duration(text, key))
    except v.BadValue:
        return text
    return text


def _reader_for(key: str, position: int, previous: str):
    if key == "pool":
        return v.size if position == 0 else None
    if key == "backing":
        return v.size if position == 1 and previous == "hugepages" else None
    if key in ("default-size",) or (key == "size" and position == 0):
        return v.size
    return _KIND_OF.get(key) if position == 0 else None


def size_text(size: int) -> str:
    for unit, power in _UNITS:
        if size % 1024 ** power == 0:
            return f"{size // 1024 ** power}{unit}"
    return f"{size}KiB"  # unreachable: every size is a whole number of KiB


def duration_text(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 and ms else f"{ms}ms"
