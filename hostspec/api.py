"""The one way through: read -> parse -> lower -> schema -> model -> checks.

Each stage returns its result and diagnostics; only the driver decides to stop.
"""
from __future__ import annotations

import pathlib
from typing import Optional, Sequence

import attrs

from hostspec import model as model_mod, records
from hostspec.diagnostics import Diagnostic, has_errors, sort_diagnostics
from hostspec.language.index import SpanIndex
from hostspec.diagnostics.source import SourceFile
from hostspec.language.reader import is_json, read_source


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
    bases: dict = attrs.field(factory=dict)  # guest name -> its checked `base` <domain> root

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict)


def load(name: str, include_paths: Sequence[str] = (), stdin: Optional[bytes] = None,
         read=None, parse_top=None) -> Result:
    """Run the front end: everything that is syntax or structure.

    With `stdin`, those bytes are the text of `name` (which is still where its
    includes are found from).  `read` and `parse_top` are lowering's hooks for
    an editor: unsaved buffers of included files, a parser that reuses blocks."""
    from hostspec.language import expand, schema

    base = pathlib.Path.cwd() if name == "-" else pathlib.Path(name).resolve().parent
    result = Result(name="<stdin>" if name == "-" else name, base_dir=base)
    source, problems = read_source(name, stdin)
    result.source, result.diagnostics = source, problems
    if source is None:
        return result
    if is_json(source):
        from hostspec.language import jsonform

        document, index, problems = jsonform.read(source)
    else:
        document, index, problems = expand.lower_source(source, base, include_paths, read, parse_top)
    result.document, result.index = document, index
    result.diagnostics += problems
    if document is not None:
        structural = schema.validate(document, index)
        result.diagnostics += structural
        if not structural and not has_errors(problems):
            result.spec = model_mod.from_document(document)
    result.diagnostics = sort_diagnostics(result.diagnostics)
    return result


def check(name: str, include_paths: Sequence[str] = (), stdin: Optional[bytes] = None,
          read=None, parse_top=None) -> Result:
    """The front end, then every semantic check, the guests' `base` files included:
    the verdict `compile` reaches, without building an artifact."""
    from hostspec.checks import run_checks

    result = load(name, include_paths, stdin, read, parse_top)
    spec = result.spec
    if spec is not None:
        found = run_checks(spec, result.index)
        if any(guest.base is not None for guest in spec.guests):
            from hostspec.checks.bases import load_bases  # lxml, only for specs with bases

            result.bases, problems = load_bases(spec, result.index, result.base_dir, include_paths)
            found += problems
        result.diagnostics = sort_diagnostics(result.diagnostics + found)
    return result
