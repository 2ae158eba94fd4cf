"""`hostspec lsp` end to end: the real server process, driven by pytest-lsp.

Every test starts `python -m hostspec lsp` and talks LSP to it over stdio.
"""
from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ERRORS = ROOT / "tests" / "errors"



@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "hostspec", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="hostspec")]))
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def examples(tmp_path) -> pathlib.Path:
    """A copy of the bundled examples (some tests add broken files beside them)."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path / "examples"


# -- helpers -------------------------------------------------------------------------------

async def diagnostics_for(client: LanguageClient, uri: str, until=lambda ds: True, timeout=30.0):
    """Wait for the diagnostics of `uri` to satisfy `until`; return them."""
    async def wait():
        while True:
            if uri in client.diagnostics and until(list(client.diagnostics[uri])):
                return list(client.diagnostics[uri])
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return await asyncio.wait_for(wait(), timeout)


def open_doc(client: LanguageClient, path: pathlib.Path, text: str | None = None) -> str:
    uri = path.resolve().as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=uri, language_id="hostspec", version=1,
        text=path.read_text("utf-8") if text is None else text)))
    return uri


_VERSIONS: dict[str, int] = {}


def change(client: LanguageClient, uri: str, text: str) -> None:
    _VERSIONS[uri] = _VERSIONS.get(uri, 1) + 1
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=_VERSIONS[uri]),
        [types.TextDocumentContentChangeWholeDocument(text=text)]))


def position(text: str, needle: str, after: int = 0) -> types.Position:
    """The position of the first `needle` in `text` (plus `after` characters)."""
    offset = text.index(needle) + after
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


# -- diagnostics ---------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_diagnostics_appear_and_clear_as_a_document_is_edited(client, examples):
    path = examples / "lab.mem"
    text = path.read_text()
    uri = open_doc(client, path)
    assert await diagnostics_for(client, uri) == []
    change(client, uri, text.replace("    memory 8GiB\n", "    memroy 8GiB\n"))
    found = await diagnostics_for(client, uri, lambda ds: len(ds) > 0)
    (typo,) = [d for d in found if d.code == "HS0201"]
    assert typo.message == "unknown key `memroy`\nhelp: did you mean `memory`?"
    assert typo.range == types.Range(position(text, "    memory 8GiB", 4), position(text, "    memory 8GiB", 10))
    assert typo.severity == types.DiagnosticSeverity.Error and typo.source == "hostspec"
    assert "HS0205" not in codes(found)  # the did-you-mean stands for the missing `memory`
    change(client, uri, text)
    assert await diagnostics_for(client, uri, lambda ds: ds == []) == []


def _cli_diagnostics(files: list[pathlib.Path]) -> dict[pathlib.Path, list[dict]]:
    run = subprocess.run([sys.executable, "-m", "hostspec", "check", "--format", "json",
                          *[f.name for f in files]], cwd=files[0].parent, capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    found: dict[pathlib.Path, list[dict]] = {}
    for line in run.stdout.splitlines():
        record = json.loads(line)
        found.setdefault((files[0].parent / record["file"]).resolve(), []).append(record)
    return found


@pytest.mark.asyncio
async def test_diagnostics_are_the_clis_for_the_whole_error_corpus(client):
    """Codes, spans, messages, hints and related locations, file by file.

    HS0101 (a byte that is not UTF-8) is left out: an editor's buffer is text,
    so the server never sees the byte the CLI reports.
    """
    files = sorted(p for p in ERRORS.glob("*.mem") if not p.name.startswith("HS0101"))
    expected = _cli_diagnostics(files)
    for path in files:
        uri = open_doc(client, path)
        await diagnostics_for(client, uri)
    await asyncio.sleep(0.5)  # the last files' includes
    compared = 0
    for path in files:
        want = [r for r in expected.get(path.resolve(), [])]
        got = [d for d in client.diagnostics[path.resolve().as_uri()]
               if not (d.related_information and d.related_information[0].message.endswith(" is here"))]
        assert [_from_lsp(d) for d in got] == [_from_cli(r, path) for r in want], path.name
        compared += len(want)
    assert compared > 60


def _from_cli(record: dict, top: pathlib.Path) -> tuple:
    related = tuple((r["message"] or "related", (top.parent / r["file"]).resolve().as_uri(),
                     r["line"] - 1, r["column"] - 1) for r in record["related"])
    return (record["code"], record["line"] - 1, record["column"] - 1, record["end_line"] - 1,
            record["end_column"] - 1, record["message"], record["hint"], related)


def _from_lsp(d: types.Diagnostic) -> tuple:
    message, _, hint = d.message.partition("\nhelp: ")
    related = tuple((r.message, r.location.uri, r.location.range.start.line, r.location.range.start.character)
                    for r in d.related_information or ())
    return (d.code, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character,
            message, hint or None, related)


@pytest.mark.asyncio
async def test_an_include_edited_in_another_buffer_rediagnoses_the_file_that_includes_it(client, examples):
    host = examples / "amd-ksm-fleet.mem"
    templates = examples / "templates" / "fleet.mem"
    host_uri = open_doc(client, host)
    baseline = codes(await diagnostics_for(client, host_uri))
    assert baseline == ["HS0322"]  # a note: the overcommit this host decides on
    templates_text = templates.read_text()
    templates_uri = open_doc(client, templates)
    # Unsaved: the disk still has `template web`.
    change(client, templates_uri, templates_text.replace("template web from", "template webby from"))
    found = await diagnostics_for(client, host_uri, lambda ds: "HS0220" in codes(ds))
    assert "HS0220" in codes(found)  # `guest ... from web`: unknown template
    assert templates.read_text() == templates_text
    # A mistake inside the included buffer shows in it, and at the include line.
    broken = templates_text.replace("    vcpus 2\n", "    vcpuz 2\n")
    change(client, templates_uri, broken)
    in_templates = await diagnostics_for(client, templates_uri, lambda ds: "HS0201" in codes(ds))
    assert in_templates[0].range.start == position(broken, "vcpuz")
    at_include = await diagnostics_for(client, host_uri, lambda ds: "HS0201" in codes(ds))
    (copy,) = [d for d in at_include if d.code == "HS0201"]
    host_text = host.read_text()
    assert copy.range.start == position(host_text, "include")
    assert copy.related_information[0].location.uri == templates_uri
    assert copy.related_information[0].location.range.start == position(broken, "vcpuz")
    # The template file alone has no host: it is not reported as one.
    assert "HS0216" not in codes(in_templates)
    change(client, templates_uri, templates_text)
    assert codes(await diagnostics_for(client, host_uri, lambda ds: codes(ds) == baseline)) == baseline
    assert await diagnostics_for(client, templates_uri, lambda ds: ds == []) == []


# -- hover ---------------------------------------------------------------------------------

async def _hover(client, uri, text, needle, after=0):
    result = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), position(text, needle, after)))
    return result.contents.value if result else None


@pytest.mark.asyncio
async def test_hover_shows_keys_sizes_guests_and_the_host_capacity(client, examples):
    path = examples / "lab.mem"
    text = path.read_text()
    uri = open_doc(client, path)
    await diagnostics_for(client, uri)
    reserve = await _hover(client, uri, text, "reserve 4GiB", 2)
    assert "Default: `2GiB`" in reserve and "host's own kernel" in reserve
    size = await _hover(client, uri, text, "memory 8GiB", 8)
    assert "8\u2009589\u2009934\u2009592 bytes" in size and "4096 pages of 2MiB" in size
    guest = await _hover(client, uri, text, "guest scratch", 7)
    assert "memory 4GiB, current 2GiB" in guest and "vcpus 2" in guest and "balloon virtio" in guest
    ci = await _hover(client, uri, text, "guest ci-runner", 7)
    assert "backing 2MiB pages on any node" in ci and "balloon none" in ci
    host = await _hover(client, uri, text, "host lab-01", 1)
    assert "installed RAM | 32GiB" in host and "| page size | node | reserved | used | left | used by |" in host
    assert "| 2MiB | 0 | 1024 | 1024 | 0 | ci-runner 1024 |" in host


@pytest.mark.asyncio
async def test_hover_on_a_guest_from_templates_shows_its_effective_shape(client, examples):
    path = examples / "amd-ksm-fleet.mem"
    text = path.read_text()
    uri = open_doc(client, path)
    await diagnostics_for(client, uri)
    name = next(line.split()[1] for line in text.splitlines() if line.startswith("guest ") and " from web" in line)
    shape = await _hover(client, uri, text, f"guest {name}", 7)
    # `web` from templates/fleet.mem: 6GiB, current 4GiB, two vCPUs, a balloon with options.
    assert "memory 6GiB, current 4GiB" in shape and "vcpus 2" in shape, shape


# -- completion ----------------------------------------------------------------------------

async def _complete(client, uri, text, needle, after):
    result = await client.text_document_completion_async(types.CompletionParams(
        types.TextDocumentIdentifier(uri), position(text, needle, after)))
    items = result.items if isinstance(result, types.CompletionList) else result
    return [item.label for item in items]


@pytest.mark.asyncio
async def test_completion_of_keys_values_templates_and_pool_sizes(client, examples):
    path = examples / "amd-ksm-fleet.mem"
    original = path.read_text()
    uri = open_doc(client, path)
    await diagnostics_for(client, uri)
    text = original.replace("    reserve 6GiB\n", "    reserve 6GiB\n    \n", 1)
    text = text.replace("        defrag madvise\n", "        defrag madvise\n        enabled \n", 1)
    text += "\nguest extra from \n\nguest extra-2 {\n    backing hugepages \n    locked \n}\n"
    change(client, uri, text)
    host_keys = await _complete(client, uri, text, "reserve 6GiB\n    \n", len("reserve 6GiB\n    "))
    assert {"cpu", "numa-nodes", "hugepages", "ksm", "overcommit"} <= set(host_keys)
    assert "vcpus" not in host_keys
    assert await _complete(client, uri, text, "enabled \n", len("enabled ")) == ["always", "madvise", "never"]
    templates = await _complete(client, uri, text, "guest extra from ", len("guest extra from "))
    assert {"ballooned", "web"} <= set(templates)  # declared in the included file
    assert await _complete(client, uri, text, "backing hugepages \n", len("backing hugepages ")) == ["2MiB"]
    assert await _complete(client, uri, text, "locked \n", len("locked ")) == ["on", "off"]
    guest_keys = await _complete(client, uri, text, "guest extra-2 {\n", len("guest extra-2 {\n"))
    assert {"memory", "vcpus", "backing", "balloon", "base"} <= set(guest_keys) and "cpu" not in guest_keys
    top = await _complete(client, uri, text, "guest extra from \n\n", len("guest extra from \n"))
    assert {"host", "guest", "template", "include"} <= set(top)


# -- definition and symbols ----------------------------------------------------------------

@pytest.mark.asyncio
async def test_definition_of_include_from_and_base(client, examples):
    path = examples / "amd-ksm-fleet.mem"
    (examples / "domains").mkdir()
    (examples / "domains" / "web.xml").write_text("<domain type='kvm'><name>x</name></domain>\n")
    text = path.read_text() + '\nguest based {\n    memory 1GiB\n    base "domains/web.xml"\n}\n'
    uri = open_doc(client, path, text)
    fleet = (examples / "templates" / "fleet.mem")

    async def where(needle, after):
        found = await client.text_document_definition_async(types.DefinitionParams(
            types.TextDocumentIdentifier(uri), position(text, needle, after)))
        return found[0] if isinstance(found, list) else found

    include = await where('include "templates/fleet.mem"', 12)
    assert include.uri == fleet.resolve().as_uri()
    template = await where(" from web", 7)
    assert template.uri == fleet.resolve().as_uri()
    assert template.range.start == position(fleet.read_text(), "template web from", 9)
    base = await where('base "domains/web.xml"', 8)
    assert base.uri == (examples / "domains" / "web.xml").resolve().as_uri()


@pytest.mark.asyncio
async def test_document_symbols_list_host_templates_and_guests(client, examples):
    path = examples / "templates" / "fleet.mem"
    uri = open_doc(client, path)
    found = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        types.TextDocumentIdentifier(uri)))
    assert [(s.name, s.kind) for s in found] == [("ballooned", types.SymbolKind.Class),
                                                 ("web", types.SymbolKind.Class)]
    assert found[1].detail == "template from ballooned"
    lab = examples / "lab.mem"
    found = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        types.TextDocumentIdentifier(open_doc(client, lab))))
    assert [s.name for s in found] == ["lab-01", "devbox", "ci-runner", "scratch"]
    assert [c.name for c in found[0].children] == ["kvm", "hugepages", "thp", "overcommit"]


# -- formatting ----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_formatting_gives_what_hostspec_fmt_writes(client, examples):
    path = examples / "lab.mem"
    messy = path.read_text().replace("    cpu intel\n", "cpu    intel\n").replace("    vcpus 4\n", "\tvcpus   4 ;\n")
    uri = open_doc(client, path, messy)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        types.TextDocumentIdentifier(uri), types.FormattingOptions(tab_size=4, insert_spaces=True)))
    (edit,) = edits
    assert edit.range.start == types.Position(0, 0)
    messy_file = examples / "messy.mem"
    messy_file.write_text(messy)
    subprocess.run([sys.executable, "-m", "hostspec", "fmt", str(messy_file)], check=True)
    assert edit.new_text == messy_file.read_text() != messy
    change(client, uri, edit.new_text)
    again = await client.text_document_formatting_async(types.DocumentFormattingParams(
        types.TextDocumentIdentifier(uri), types.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert list(again) == []


# -- code actions --------------------------------------------------------------------------

def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start = offsets[edit.range.start.line] + edit.range.start.character
        end = offsets[edit.range.end.line] + edit.range.end.character
        text = text[:start] + edit.new_text + text[end:]
    return text


@pytest.mark.parametrize("broken, title", [
    (lambda t: t.replace("    memory 8GiB\n", "    memroy 8GiB\n"), "Replace `memroy` with `memory`"),
    (lambda t: t.replace("enabled always", "enabled alwys"), "Replace `alwys` with `always`"),
    (lambda t: t.replace("hostspec 1\n", "", 1), "Add `hostspec 1` as the first statement"),
    (lambda t: t.replace("    hugepages {\n", "    hugepages {\n        default-size 1GiB\n"),
     "Set `default-size` to `2MiB`"),
])
@pytest.mark.asyncio
async def test_code_actions_fix_what_the_hint_says(client, examples, broken, title):
    path = examples / "lab.mem"
    good = path.read_text()
    text = broken(good)
    uri = open_doc(client, path, text)
    found = await diagnostics_for(client, uri, lambda ds: len(ds) > 0)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), found[0].range, types.CodeActionContext(diagnostics=list(found))))
    (action,) = [a for a in actions if a.title == title]
    assert action.kind == types.CodeActionKind.QuickFix
    fixed = _apply(text, action.edit.changes[uri])
    change(client, uri, fixed)
    after = await diagnostics_for(client, uri, lambda ds: found[0].code not in codes(ds))
    assert found[0].code not in codes(after)
    if "hostspec 1" not in title and "default-size" not in title:
        assert fixed == good


# -- robustness ----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_malformed_messages_and_a_10_mib_document_do_not_kill_the_server(client, examples):
    stdin = client._server.stdin
    for body in (b"{not json", b'{"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": 7}',
                 b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": 1}}',
                 "{\"jsonrpc\": \"2.0\", \"method\": \"x\u00e9\"}".encode()):
        stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await stdin.drain()
    path = examples / "lab.mem"
    text = path.read_text()
    uri = open_doc(client, path)
    assert await diagnostics_for(client, uri) == []
    big = examples / "big.mem"
    padding = "# " + "x" * 1020 + "\n"
    big_text = text + padding * (10 * 1024 * 1024 // len(padding))
    assert len(big_text) > 10 * 1024 * 1024
    big_uri = open_doc(client, big, big_text)
    # The server answers while the big document is checked, and checks it.
    hover = await asyncio.wait_for(_hover(client, uri, text, "reserve 4GiB", 2), 30)
    assert "Default" in hover
    assert await diagnostics_for(client, big_uri, timeout=120) == []
    junk = "hostspec 1\nhost h {\n" + "\u00e9\x00{{}}\"" * (10 * 1024 * 1024 // 8)
    change(client, big_uri, junk)
    found = await diagnostics_for(client, big_uri, lambda ds: len(ds) > 0, timeout=120)
    assert found[0].code.startswith("HS01")
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
        types.TextDocumentIdentifier(uri)))
    assert [s.name for s in symbols][0] == "lab-01"
    assert client._server.returncode is None


def test_hostspec_check_never_imports_the_language_server():
    probe = ("import sys\nfrom hostspec.commands import cli\n"
             "status = cli.main(['check', '-q', sys.argv[1]])\n"
             "assert status == 0, status\n"
             "loaded = [m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'cattrs')]\n"
             "assert not loaded, loaded\n"
             "assert 'hostspec.commands.lsp' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", probe, str(EXAMPLES / "lab.mem")], check=True)


def test_every_key_hover_agrees_with_the_language_reference():
    """Values and defaults in keys.py are the tables of docs/language.md."""
    from hostspec.commands.lsp.keys import KEYS
    import re

    doc = (ROOT / "docs" / "language.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| (.*?) \| (.*?) \|$", doc, re.M)
    host_table = doc[doc.index("## `host NAME"):doc.index("Blocks:")]
    guest_table = doc[doc.index("## `template NAME"):doc.index("A guest takes every key")]
    checked = 0
    for name, values, default in rows:
        where = "host" if f"| `{name}` | {values} |" in host_table else "guest"
        assert f"| `{name}` | {values} |" in (host_table if where == "host" else guest_table)
        assert KEYS[where, name][1] == default, (where, name)
        checked += 1
    assert checked == 18
