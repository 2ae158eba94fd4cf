"""The second front door: a `.json` document, read with positions.

The standard library's json module keeps no positions, so a small lark
grammar reads the document and records the span of every member, so schema
errors land on the line that wrote them, as they do for `.mem` files.
"""
from __future__ import annotations

import decimal
import functools
import json
from typing import Optional

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from hostspec.diagnostics.codes import diag, duplicate_guest, names_differ_in_case
from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.diagnostics.source import SourceFile

_GRAMMAR = r"""
?value: object | array | STRING -> string | NUMBER -> number
      | "true" -> true | "false" -> false | "null" -> null
object: "{" [member ("," member)*] "}"
member: STRING ":" value
array: "[" [value ("," value)*] "]"
STRING: /"(?:[^"\\\x00-\x1f]|\\(?:["\\\/bfnrt]|u[0-9a-fA-F]{4}))*"/
NUMBER: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/
%ignore /[ \t\r\n]+/
"""
MAX_DEPTH = 64


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(_GRAMMAR, start="value", parser="lalr", propagate_positions=True,
                maybe_placeholders=False)


def read(source: SourceFile) -> tuple[Optional[dict], SpanIndex, list[Diagnostic]]:
    """Parse a JSON document and index the span of every path."""
    index = SpanIndex()
    try:
        tree = parser().parse(source.text)
    except UnexpectedInput as error:
        pos = getattr(error, "pos_in_stream", None) or 0
        token = getattr(error, "token", None)
        if token is not None and token.start_pos is not None:
            pos = token.start_pos
        return None, index, [diag("HS0102", "this is not valid JSON here", source.span(pos, pos + 1),
                                  "check for a missing comma, quote or bracket")]
    reader = _Reader(source, index)
    document = reader.value(tree, (), 0)
    if not isinstance(document, dict):
        reader.problems.append(diag("HS0203", "a hostspec document is a JSON object",
                                    source.span(0, len(source.text)), 'start with `{"hostspec": 1, ...}`'))
        return None, index, reader.problems
    index.record((), source.span(0, 0))
    return document, index, reader.problems + _duplicate_guests(document, index)


def _duplicate_guests(document: dict, index: SpanIndex) -> list[Diagnostic]:
    """HS0218 at each guest that reuses an earlier guest's name, as in `.mem` files."""
    found, first, folded = [], {}, {}
    for path, name in _guest_names(document):
        if name not in first:
            first[name] = path
            other = folded.setdefault(name.lower(), name)
            if other != name:
                found.append(names_differ_in_case(name, other, index.value(path), index.value(first[other])))
            continue
        found.append(duplicate_guest(name, index.value(path), index.value(first[name])))
    return found


def _guest_names(document: dict):
    """(path of the name, name) of every guest whose name is a string."""
    guests = document.get("guests")
    for i, guest in enumerate(guests if isinstance(guests, list) else ()):
        name = guest.get("name") if isinstance(guest, dict) else None
        if isinstance(name, str):
            yield ("guests", i, "name"), name


class _Reader:
    def __init__(self, source: SourceFile, index: SpanIndex):
        self.source, self.index, self.problems = source, index, []

    def span(self, node):
        if isinstance(node, Token):
            return self.source.span(node.start_pos, node.end_pos)
        return self.source.span(node.meta.start_pos, node.meta.end_pos)

    def value(self, node, path: tuple, depth: int):
        if depth > MAX_DEPTH:
            self.problems.append(diag("HS0105", f"the document nests deeper than {MAX_DEPTH} levels",
                                      self.span(node), "a hostspec document is a few levels deep"))
            return None
        kind = node.data if isinstance(node, Tree) else None
        if kind == "object":
            return self.object(node, path, depth)
        if kind == "array":
            items = [c for c in node.children if c is not None]
            return [self.child(item, path + (i,), depth) for i, item in enumerate(items)]
        return _SCALARS[kind](node.children[0] if node.children else None)

    def child(self, node, path, depth):
        self.index.record(path, self.span(node), self.span(node))
        return self.value(node, path, depth + 1)

    def object(self, node, path, depth) -> dict:
        result: dict = {}
        seen: dict[str, Token] = {}
        for member in (c for c in node.children if c is not None):
            key_token, value = member.children
            key = json.loads(key_token)
            if key in seen:
                self.problems.append(diag("HS0206", f"`{key}` is set twice in this object", self.span(key_token),
                                          "keep one of them", [(self.span(seen[key]), "first set here")]))
                continue
            seen[key] = key_token
            self.index.record(path + (key,), self.span(member), self.span(value), self.span(key_token))
            result[key] = self.value(value, path + (key,), depth + 1)
        return result


# A longer whole literal is read as a float (infinity): it is out of every
# range anyway, and past 4300 digits Python cannot even print it as an int.
_MAX_DIGITS = 300


def _number(token):
    """A JSON number as the value it means.

    JSON has one kind of number: `10`, `10.0` and `1e1` are the same whole
    number, so each reads as the int 10 and compiles exactly like `10`.  A
    fraction stays a float.  A whole number past 2**63 (beyond every maximum
    in the schema) stays as written, digits an int and an exponent a float,
    so the range error shows it legibly and `1e300` never becomes a huge int.
    """
    text = str(token)
    exact = decimal.Decimal(text)
    if exact != exact.to_integral_value():
        return _Fraction(text)
    if -2 ** 63 < exact < 2 ** 63 or text.lstrip("-").isdigit() and len(text) <= _MAX_DIGITS:
        return int(exact)
    return float(text)


class _Fraction(float):
    """A number written with a fraction, even one too fine for a float
    (`10.0000000000000001` is 10.0): never a whole number, so the schema
    rejects it where one is required."""

    def is_integer(self) -> bool:
        return False


_SCALARS = {"string": lambda t: json.loads(t), "number": _number,
            "true": lambda t: True, "false": lambda t: False, "null": lambda t: None}
