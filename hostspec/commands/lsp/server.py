"""The language server: pygls on stdio, checks in a worker thread.

Each open document that holds a `host` block, or that no open document
includes, is checked on its own exactly as `hostspec check` would check it,
with open buffers in place of files on disk.  A document that an open
document includes (a file of templates) is shown the diagnostics of the
checks that read it.  Checks run after a short pause in typing, one at a
time, off the thread that answers requests; a check made stale by a newer
edit is dropped.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import pathlib
from typing import Optional

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from hostspec import __version__
from hostspec.diagnostics.source import SourceFile
from . import features
from .checking import Checked, Checker, to_lsp
from .outline import line_starts, outline, to_offset, to_position

DEBOUNCE_SECONDS = 0.15
log = logging.getLogger("hostspec.lsp")


def uri_of(path: pathlib.Path) -> str:
    return pathlib.Path(path).as_uri()


def path_of(uri: str) -> pathlib.Path:
    return pathlib.Path(to_fs_path(uri) or uri).resolve()


class HostspecServer(LanguageServer):
    def __init__(self, include_paths=()):
        super().__init__("hostspec", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.checker = Checker(include_paths)
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="check")
        self.results: dict[str, tuple[Checked, dict[str, list[types.Diagnostic]]]] = {}
        self.published: dict[str, list[types.Diagnostic]] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}

    # -- documents -----------------------------------------------------------------------
    def open_uris(self) -> list[str]:
        return list(self.workspace.text_documents)

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def buffers(self) -> dict[pathlib.Path, str]:
        return {path_of(uri): self.text(uri) for uri in self.open_uris()}

    def included_by_other(self, uri: str) -> bool:
        path = path_of(uri)
        return any(path in checked.read for root, (checked, _) in self.results.items() if root != uri)

    def is_root(self, uri: str) -> bool:
        has_host = any(block.kind == "host" for block in outline(self.text(uri)))
        return has_host or not self.included_by_other(uri)

    # -- checking ------------------------------------------------------------------------
    def schedule(self, uri: str, delay: float = DEBOUNCE_SECONDS) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(delay, lambda: loop.create_task(self.recheck(uri)))

    async def recheck(self, changed: str) -> None:
        """Check `changed` (when it is checked on its own) and every open root that read it."""
        self.pending.pop(changed, None)
        path = path_of(changed)
        roots = [uri for uri, (checked, _) in self.results.items()
                 if uri != changed and path in checked.read and uri in self.workspace.text_documents]
        if changed in self.workspace.text_documents and self.is_root(changed):
            roots.insert(0, changed)
        elif changed in self.results:
            del self.results[changed]
        for uri in roots:
            await self.check_one(uri)
        self.publish()

    async def check_one(self, uri: str) -> None:
        if uri not in self.workspace.text_documents:
            return
        document = self.workspace.get_text_document(uri)
        version, text, buffers = document.version, document.source, self.buffers()
        loop = asyncio.get_running_loop()
        try:
            checked, found = await loop.run_in_executor(self.worker, self._check, uri, text, buffers)
        except Exception:  # noqa: BLE001 - a bug in a check must not end the server
            log.exception("checking %s failed", uri)
            return
        current = self.workspace.text_documents.get(uri)
        if current is None or current.version != version:
            return  # edited meanwhile: the newer check will publish
        self.results[uri] = (checked, found)
        # Files it includes are now shown through it, not on their own.
        for other in list(self.results):
            if other != uri and path_of(other) in checked.read and not self.is_root(other):
                del self.results[other]

    def _check(self, uri: str, text: str, buffers) -> tuple[Checked, dict]:
        checked = self.checker.check(path_of(uri), text, buffers)
        return checked, to_lsp(checked, uri_of)

    def publish(self) -> None:
        merged: dict[str, list[types.Diagnostic]] = {}
        for _, found in self.results.values():
            for uri, diagnostics in found.items():
                have = merged.setdefault(uri, [])
                seen = {(_key(d)) for d in have}
                have += [d for d in diagnostics if _key(d) not in seen]
        for uri in sorted(set(merged) | set(self.published)):
            diagnostics = merged.get(uri, [])
            if self.published.get(uri) == diagnostics:
                continue
            self.published[uri] = diagnostics
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))

    def spec_for(self, uri: str):
        entry = self.results.get(uri)
        return entry[0].result.spec if entry is not None else None


def _key(diagnostic: types.Diagnostic) -> tuple:
    r = diagnostic.range
    return (r.start.line, r.start.character, r.end.line, r.end.character, diagnostic.code, diagnostic.message)


def build(include_paths=()) -> HostspecServer:
    server = HostspecServer(include_paths)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: HostspecServer, params: types.DidOpenTextDocumentParams):
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: HostspecServer, params: types.DidChangeTextDocumentParams):
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: HostspecServer, params: types.DidSaveTextDocumentParams):
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: HostspecServer, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        ls.results.pop(uri, None)
        ls.checker.forget(path_of(uri))
        ls.schedule(uri, 0)  # whatever included it reads the disk again

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: HostspecServer, params: types.HoverParams) -> Optional[types.Hover]:
        uri = params.text_document.uri
        text = ls.text(uri)
        offset = to_offset(text, line_starts(text), params.position.line, params.position.character)
        spec = ls.spec_for(uri)
        return features.hover(text, offset, spec, features.pool_sizes(text, spec))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[" "]))
    def completion(ls: HostspecServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        text = ls.text(uri)
        offset = to_offset(text, line_starts(text), params.position.line, params.position.character)
        entry = ls.results.get(uri)
        read = entry[0].read if entry else features.includes(text, path_of(uri))
        texts = [text] + [_read(path, ls.buffers()) for path in read]
        items = features.completion(text, offset, features.template_names(texts),
                                    features.pool_sizes(text, ls.spec_for(uri)))
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: HostspecServer, params: types.DefinitionParams) -> Optional[types.Location]:
        uri = params.text_document.uri
        text = ls.text(uri)
        offset = to_offset(text, line_starts(text), params.position.line, params.position.character)
        here = path_of(uri)
        entry = ls.results.get(uri)
        buffers = ls.buffers()
        read = entry[0].read if entry else features.includes(text, here)
        sources = {path: _read(path, buffers) for path in read}
        sources.update({p: t for p, t in buffers.items() if p not in sources})
        spec_dir = entry[0].result.base_dir if entry else here.parent
        return features.definition(text, offset, here, spec_dir, sources, uri_of)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: HostspecServer, params: types.DocumentSymbolParams):
        return features.symbols(ls.text(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: HostspecServer, params: types.DocumentFormattingParams):
        from hostspec.language.fmt import format_source

        uri = params.text_document.uri
        text = ls.text(uri)
        formatted, problems = format_source(SourceFile.from_text(str(path_of(uri)), text))
        if formatted is None or formatted == text:
            return []
        starts = line_starts(text)
        end = to_position(text, starts, len(text))
        return [types.TextEdit(types.Range(types.Position(0, 0), types.Position(*end)), formatted)]

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls: HostspecServer, params: types.CodeActionParams):
        actions = []
        for diagnostic in params.context.diagnostics:
            data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
            for fix in data.get("fixes") or []:
                edits = [types.TextEdit(types.Range(types.Position(a, b), types.Position(c, d)), new)
                         for a, b, c, d, new in fix["edits"]]
                actions.append(types.CodeAction(
                    title=fix["title"], kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                    is_preferred=len(data["fixes"]) == 1,
                    edit=types.WorkspaceEdit(changes={params.text_document.uri: edits})))
        return actions

    return server


def _read(path: pathlib.Path, buffers) -> str:
    if path in buffers:
        return buffers[path]
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
