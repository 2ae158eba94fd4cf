"""Reading a spec: bytes from a file or standard input, decoded to a SourceFile
or a diagnostic at the first bad byte."""
from __future__ import annotations

import sys
from typing import Optional

from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.codes import diag
from hostspec.diagnostics.source import SourceFile

MAX_SOURCE_BYTES = 16 * 1024 * 1024


def read_source(name: str, stdin: Optional[bytes] = None) -> tuple[Optional[SourceFile], list[Diagnostic]]:
    """Read and decode an input file; `-` is standard input."""
    display = "<stdin>" if name == "-" else name
    try:
        raw = stdin if stdin is not None else (
            sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1) if name == "-" else read_limited(name))
    except OSError as exc:
        return None, [diag("HS0902", f"cannot read `{display}`: {exc.strerror or exc}", None,
                           hint="check the path and its permissions", file_name=display)]
    return decode_source(display, raw)


def read_limited(name: str) -> bytes:
    with open(name, "rb") as handle:
        return handle.read(MAX_SOURCE_BYTES + 1)


def decode_source(display: str, raw: bytes, included_from=None):
    """Bytes -> SourceFile, or a diagnostic at the first bad byte."""
    if len(raw) > MAX_SOURCE_BYTES:
        return None, [diag("HS0901", f"`{display}` is larger than 16 MiB", None,
                           hint="split shared templates into included files", file_name=display)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[:exc.start].decode("utf-8")
        source = SourceFile.from_text(display, good + "\ufffd", raw, included_from)
        span = source.span(len(good), len(good) + 1)
        return None, [diag("HS0101", f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", span,
                           hint="save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile.from_text(display, text, raw, included_from), []


def is_json(source: SourceFile) -> bool:
    return source.name.endswith(".json") or source.text.lstrip().startswith("{")
