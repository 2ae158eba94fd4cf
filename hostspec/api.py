"""The one way through: read -> parse -> lower -> schema -> model -> checks.

Each stage returns its result and diagnostics; only the driver decides to stop.
"""
from __future__ import annotations

import pathlib
import sys
from typing import Optional, Sequence

import attrs

from . import model as model_mod, records
from .codes import diag
from .diagnostics import Diagnostic, has_errors, sort_diagnostics
from .index import SpanIndex
from .source import SourceFile

MAX_SOURCE_BYTES = 16 * 1024 * 1024


@records.define
class Result:
    """Everything known about one input file after a stage ran."""

    name: str
    base_dir: pathlib.Path
    source: Optional[SourceFile] = None
    document: Optional[dict] = None
    index: SpanIndex = attrs.field(factory=SpanIndex)
    spec: Optional[model_mod.Spec] = None
    diagnostics: list[Diagnostic] = attrs.field(factory=list)

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict)


def read_source(name: str, stdin: Optional[bytes] = None) -> tuple[Optional[SourceFile], list[Diagnostic]]:
    """Read and decode an input file; `-` is standard input."""
    display = "<stdin>" if name == "-" else name
    try:
        raw = stdin if stdin is not None else (
            sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1) if name == "-" else _read_limited(name))
    except OSError as exc:
        return None, [diag("HS0902", f"cannot read `{display}`: {exc.strerror or exc}", None,
                           hint="check the path and its permissions", file_name=display)]
    return decode_source(display, raw)


def _read_limited(name: str) -> bytes:
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


def load(name: str, include_paths: Sequence[str] = (), stdin: Optional[bytes] = None) -> Result:
    """Run the front end: everything that is syntax or structure."""
    from . import lower, schema

    base = pathlib.Path.cwd() if name == "-" else pathlib.Path(name).resolve().parent
    result = Result(name="<stdin>" if name == "-" else name, base_dir=base)
    source, problems = read_source(name, stdin)
    result.source, result.diagnostics = source, problems
    if source is None:
        return result
    if is_json(source):
        from . import jsonform

        document, index, problems = jsonform.read(source)
    else:
        document, index, problems = lower.lower_source(source, base, include_paths)
    result.document, result.index = document, index
    result.diagnostics += problems
    if document is not None:
        structural = schema.validate(document, index)
        result.diagnostics += structural
        if not structural and not has_errors(problems):
            result.spec = model_mod.from_document(document)
    result.diagnostics = sort_diagnostics(result.diagnostics)
    return result


def check(name: str, include_paths: Sequence[str] = (), stdin: Optional[bytes] = None) -> Result:
    """The front end, then every semantic check."""
    from .checks import run_checks

    result = load(name, include_paths, stdin)
    if result.spec is not None:
        result.diagnostics = sort_diagnostics(result.diagnostics + run_checks(result.spec, result.index))
    return result
