"""Diagnostics renderers: rustc-style text, JSON lines, SARIF 2.1.0. Pure functions."""
from __future__ import annotations

import json
from typing import Sequence

import attrs

from hostspec.version import __version__
from hostspec.diagnostics.codes import CODES
from hostspec.diagnostics import Diagnostic, Severity
from hostspec.diagnostics.source import Span

_COLORS = {Severity.ERROR: "\x1b[1;31m", Severity.WARNING: "\x1b[1;33m", Severity.NOTE: "\x1b[1;36m"}
_BLUE, _BOLD, _RESET = "\x1b[1;34m", "\x1b[1m", "\x1b[0m"


def render(diagnostics: Sequence[Diagnostic], fmt: str = "text", color: bool = False) -> str:
    if fmt == "json":
        return "".join(json.dumps(to_json(d), sort_keys=False) + "\n" for d in diagnostics)
    if fmt == "sarif":
        return json.dumps(to_sarif(diagnostics), indent=2) + "\n"
    return "".join(to_text(d, color) + "\n" for d in diagnostics) + _summary(diagnostics)


def _summary(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.severity == Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity == Severity.WARNING for d in diagnostics)
    if not errors and not warnings:
        return ""
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
    return f"{', '.join(parts)} reported\n"


def printable(text: str) -> str:
    """Text safe for a terminal: control characters become visible escapes."""
    return "".join(ch if ch.isprintable() or ch in "\t\n" else ch.encode("unicode_escape").decode()
                   for ch in text)


def _line_for_terminal(text: str) -> str:
    """A source line with control characters shown as U+FFFD, one column each."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def to_text(diag: Diagnostic, color: bool = False) -> str:
    diag = attrs.evolve(diag, message=printable(diag.message),
                        hint=printable(diag.hint) if diag.hint else diag.hint)
    paint = (lambda code, text: f"{code}{text}{_RESET}") if color else (lambda code, text: text)
    head = paint(_COLORS[diag.severity], f"{diag.severity}[{diag.code}]") + paint(_BOLD, f": {diag.message}")
    equals = "   = "
    if diag.span is None:
        lines = [head, f"  --> {diag.file_name}"] if diag.file_name else [head]
    else:
        # One gutter for the whole diagnostic, as wide as its longest line number.
        width = max(len(str(span.line)) for span in [diag.span, *(l.span for l in diag.labels)])
        lines = [head] + _snippet(diag.span, "", paint, _COLORS[diag.severity], width)
        for label in diag.labels:
            lines += _snippet(label.span, label.message, paint, _BLUE, width, arrow=":::")
        equals = " " * (width + 1) + "= "  # under the gutter's `|`
        for include in diag.span.file.include_chain():
            lines.append(paint(_BLUE, equals) + f"note: included from {_location(include)}")
    if diag.hint:
        lines.append(paint(_BLUE, equals) + f"help: {diag.hint}")
    return "\n".join(lines) + "\n"


def _location(span: Span) -> str:
    return f"{span.file.name}:{span.line}:{span.column}"


# A source line longer than this is shown as a window around the caret, cut
# with `...` at either end (as rustc and ruff do): a minified or generated
# one-line file must not print its whole text for every diagnostic.
MAX_SHOWN = 120
_BEFORE_CARET = 40  # characters of context kept before the caret in a cut line
_CUT = "..."


def window(text: str, start: int, end: int, limit: int = MAX_SHOWN) -> tuple[str, int, int]:
    """The part of a line to show and the caret's range in it.

    A line of at most `limit` characters is shown whole.  A longer one is cut
    to about `limit` characters around [start, end), `...` marking each cut;
    carets longer than the window stop at its edge.
    """
    end = max(end, start + 1)
    if len(text) <= limit:
        return text, start, end
    left = max(0, start - _BEFORE_CARET)
    right = min(len(text), left + limit)
    left = max(0, min(left, right - limit))
    shown = text[left:right]
    shift = -left
    if left > 0:
        shown, shift = _CUT + shown, shift + len(_CUT)
    if right < len(text):
        shown += _CUT
    caret_end = min(end, right) + shift
    return shown, start + shift, max(caret_end, start + shift + 1)


def _snippet(span: Span, label: str, paint, color: str, width: int, arrow: str = "-->") -> list[str]:
    line_no = span.line
    text = _line_for_terminal(span.file.line_text(line_no))
    gutter = " " * width
    start = span.column - 1
    end = span.end_column - 1 if span.end_line == line_no else len(text)
    text, start, end = window(text, start, end)
    carets = "^" * max(1, end - start)
    prefix = "".join(ch if ch == "\t" else " " for ch in text[:start])
    caret_line = f"{prefix}{paint(color, carets)}" + (f" {paint(color, label)}" if label else "")
    return [
        f"{gutter}{paint(_BLUE, arrow)} {_location(span)}",
        f"{gutter} {paint(_BLUE, '|')}",
        f"{paint(_BLUE, str(line_no).rjust(width))} {paint(_BLUE, '|')} {text}",
        f"{gutter} {paint(_BLUE, '|')} {caret_line}",
    ]


def to_json(diag: Diagnostic) -> dict:
    span = diag.span
    return {
        "code": diag.code, "name": CODES[diag.code].name, "severity": str(diag.severity),
        "message": diag.message,
        "file": span.file.name if span else diag.file_name,
        "line": span.line if span else None, "column": span.column if span else None,
        "end_line": span.end_line if span else None, "end_column": span.end_column if span else None,
        "hint": diag.hint,
        "include_chain": [_location(s) for s in span.file.include_chain()] if span else [],
        "related": [{"message": lab.message, "file": lab.span.file.name, "line": lab.span.line,
                     "column": lab.span.column} for lab in diag.labels],
    }


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def to_sarif(diagnostics: Sequence[Diagnostic]) -> dict:
    used = sorted({d.code for d in diagnostics})
    rules = [{"id": code, "name": CODES[code].name,
              "shortDescription": {"text": CODES[code].summary},
              "defaultConfiguration": {"level": _SARIF_LEVEL[CODES[code].severity]}} for code in used]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "hostspec", "version": __version__,
                                "informationUri": "https://hostspec.dev", "rules": rules}},
            "results": _with_fingerprints([_sarif_result(d, used.index(d.code)) for d in diagnostics],
                                          diagnostics),
        }],
    }


def _with_fingerprints(results: list[dict], diagnostics: Sequence[Diagnostic]) -> list[dict]:
    """`partialFingerprints`: the same finding keeps its fingerprint when lines
    move.  It hashes the rule, the file, the statement's line as written (spaces
    trimmed) and the text the span covers, never a line number; findings that
    hash alike are told apart by their order (`:1`, `:2`, ...), as code
    scanning does with its own line hash."""
    import hashlib

    seen: dict[str, int] = {}
    for result, diag in zip(results, diagnostics):
        span = diag.span
        parts = [diag.code, span.file.name if span else diag.file_name,
                 span.file.line_text(span.line).strip() if span else "", span.text if span else ""]
        digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        seen[digest] = seen.get(digest, 0) + 1
        result["partialFingerprints"] = {"hostspecFinding/v1": f"{digest}:{seen[digest]}"}
    return results


def _sarif_result(diag: Diagnostic, rule_index: int) -> dict:
    result = {"ruleId": diag.code, "ruleIndex": rule_index, "level": _SARIF_LEVEL[diag.severity],
              "message": {"text": diag.message + (f" (help: {diag.hint})" if diag.hint else "")}}
    if diag.span is not None:
        result["locations"] = [_sarif_location(diag.span)]
        if diag.labels:
            result["relatedLocations"] = [dict(_sarif_location(lab.span), id=i, message={"text": lab.message or "related"})
                                          for i, lab in enumerate(diag.labels)]
    elif diag.file_name:
        result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": diag.file_name}}}]
    return result


def _sarif_location(span: Span) -> dict:
    return {"physicalLocation": {
        "artifactLocation": {"uri": span.file.name},
        "region": {"startLine": span.line, "startColumn": span.column,
                   "endLine": span.end_line, "endColumn": span.end_column},
    }}
