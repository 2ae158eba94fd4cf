"""Tree -> JSON document + span index: includes, templates and ranges resolved here.

Lowering reads each statement by its key's value kind (values.py) and records
where every document path was written.  It reports what only the text can
show (decimal units, repeated keys, unknown keys, names, includes, templates);
enumerations, ranges and required keys are left to the schema.
"""
from __future__ import annotations

import os
import pathlib
from typing import Iterable, Optional, Sequence

import attrs
from lark import Token, Tree

from hostspec import records
from hostspec.language import values as v
from hostspec.language.reader import decode_source, read_limited
from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.language.words import GUEST_BLOCKS, GUEST_KEYS, HOST_BLOCKS, HOST_KEYS, closest, did_you_mean
from hostspec.language.parse import parse
from hostspec.language.paths import allowed_roots, confined, outside_tree
from hostspec.diagnostics.source import SourceFile, Span

SUPPORTED_VERSIONS = (1,)
MAX_INCLUDE_DEPTH = 32
MAX_RANGE = 4096
MAX_GUESTS = 65536

POOL_OPTIONS = ("count", "node", "at")


@records.frozen
class Node:
    """A statement (body is None) or a block, with its spans."""

    key: Token
    words: tuple[Token, ...]
    span: Span
    source: SourceFile
    body: Optional[tuple["Node", ...]] = None

    @property
    def name(self) -> str:
        return str(self.key)

    def tspan(self, token: Token) -> Span:
        return self.source.span(token.start_pos, token.end_pos)

    @property
    def key_span(self) -> Span:
        return self.tspan(self.key)

    def values_span(self) -> Span:
        if not self.words:
            return self.key_span
        return self.tspan(self.words[0]).to(self.tspan(self.words[-1]))


@records.frozen
class Partial:
    """A lowered template or guest body: a document fragment and its spans."""

    doc: dict
    spans: dict  # relative path -> (statement span, value span, key span)


class Lowerer:
    def __init__(self, top: SourceFile, base_dir: pathlib.Path, include_paths: Sequence[str],
                 read: Optional[Callable[[pathlib.Path], bytes]] = None,
                 parse_top: Optional[Callable] = None):
        self.top = top
        # `read` (an included file's bytes) and `parse_top` (the top file's tree)
        # let an editor supply unsaved buffers and reuse unchanged blocks.
        self.read = read or (lambda target: read_limited(str(target)))
        self.parse_top = parse_top or parse
        self.roots = allowed_roots(base_dir, include_paths)
        self.diagnostics: list[Diagnostic] = []
        self.index = SpanIndex()
        self.loaded: set[pathlib.Path] = set()
        self.templates: dict[str, tuple[Node, Optional[Token], Partial]] = {}
        self.guests: list[tuple[Node, Optional[Token], Partial]] = []
        self.hosts: list[Node] = []
        self.paths: dict[int, pathlib.Path] = {}  # id(SourceFile) -> resolved path
        self.unparsed: set[int] = set()  # id(SourceFile) of files with a syntax error

    # -- reporting -------------------------------------------------------
    def error(self, code: str, message: str, span: Optional[Span], hint=None, labels=()):
        self.diagnostics.append(diag(code, message, span, hint, labels))

    def bad(self, problem: v.BadValue, span: Span) -> None:
        self.error(problem.code, problem.message, span, problem.hint)

    # -- files -----------------------------------------------------------
    def lower_file(self, source: SourceFile, path: Optional[pathlib.Path], depth: int) -> None:
        tree, problems = (self.parse_top if source is self.top else parse)(source)
        self.diagnostics += problems
        if tree is None:
            self.unparsed.add(id(source))
            return
        nodes = [to_node(child, source) for child in tree.children]
        nodes = self.version_statement(nodes, source)
        for node in nodes:
            self.top_level(node, source, path, depth)

    def version_statement(self, nodes: list[Node], source: SourceFile) -> list[Node]:
        first = nodes[0] if nodes else None
        if first is None or first.name != "hostspec" or first.body is not None:
            span = first.key_span if first else source.span(0, 0)
            self.error("HS0214", "the file does not start with `hostspec 1`", span,
                       "make `hostspec 1` the first statement")
            return nodes[1:] if first is not None and first.name == "hostspec" else nodes
        words = [str(w) for w in first.words]
        if not words:
            self.error("HS0214", "`hostspec` needs the language version", first.key_span,
                       "write `hostspec 1`")
        elif words != ["1"]:
            known = ", ".join(str(n) for n in SUPPORTED_VERSIONS)
            self.error("HS0215", f"language version `{' '.join(words)}` is not supported",
                       first.values_span() if words else first.key_span,
                       f"this build of hostspec reads version {known}: write `hostspec 1`")
        return nodes[1:]

    def top_level(self, node: Node, source: SourceFile, path, depth: int) -> None:
        is_top = source is self.top
        if node.body is None and node.name == "include":
            return self.include(node, source, path, depth)
        kind = {"host": "host", "template": "template", "guest": "guest"}.get(node.name)
        if node.body is None or kind is None:
            return self.misplaced_top(node)
        if not is_top and kind != "template":
            return self.error("HS0226", f"an included file may hold only `include` and `template`, not `{kind}`",
                              node.key_span, "move it into the file that is compiled")
        if kind == "host":
            self.hosts.append(node)
        else:
            self.declare(node, kind)

    def misplaced_top(self, node: Node) -> None:
        if node.name == "hostspec":
            return self.error("HS0231", "`hostspec` may appear only once, as the first statement",
                              node.key_span, "remove this line")
        words = ["host", "template", "guest", "include"]
        self.error("HS0201", f"unknown top-level {'block' if node.body is not None else 'statement'} `{node.name}`",
                   node.key_span, did_you_mean(node.name, words)
                   or "the top level holds `hostspec`, `include`, `host`, `template` and `guest`")

    # -- includes ----------------------------------------------------------
    def include(self, node: Node, source: SourceFile, path, depth: int) -> None:
        if len(node.words) != 1 or node.words[0].type != "STRING":
            return self.error("HS0230", "`include` takes one quoted path", node.span,
                              'write `include "templates/common.mem"`')
        try:
            relative = v.string(str(node.words[0]))
        except v.BadValue as problem:
            return self.bad(problem, node.values_span())
        if "\0" in relative:  # no file system path holds one
            return self.error("HS0222", "cannot read included file: its path holds a NUL character",
                              node.values_span(), "remove the NUL character (byte 0) from the path")
        here = path.parent if path is not None else self.roots[0]
        target = confined(here, relative, self.roots)
        if target is None:
            return self.diagnostics.append(outside_tree("`include` file", relative, node.values_span()))
        if depth + 1 > MAX_INCLUDE_DEPTH:
            return self.error("HS0225", f"includes nest deeper than {MAX_INCLUDE_DEPTH} files", node.span,
                              "flatten the include chain")
        if self.in_chain(target, source, path):
            return self.error("HS0223", f"`{relative}` includes itself through this chain", node.values_span(),
                              "remove one `include` of the cycle")
        if target in self.loaded:
            return  # already read through another include: its templates are known
        self.read_include(node, relative, target, depth)

    def in_chain(self, target: pathlib.Path, source: SourceFile, path) -> bool:
        """Is `target` the including file or one of the files that included it?"""
        chain = {path} | {self.paths.get(id(span.file)) for span in source.include_chain()}
        return target in chain

    def read_include(self, node: Node, relative: str, target: pathlib.Path, depth: int) -> None:
        try:
            raw = self.read(target)
        except OSError as exc:
            return self.error("HS0222", f"cannot read included file `{relative}`: {exc.strerror or exc}",
                              node.values_span(), "check the path; it is relative to the including file")
        source, problems = decode_source(display_name(target, self.roots[0], self.top.name), raw, included_from=node.span)
        self.diagnostics += [_at_include(p, node) for p in problems]
        if source is None:
            return
        self.loaded.add(target)
        self.paths[id(source)] = target
        self.lower_file(source, target, depth + 1)

    # -- templates and guests ---------------------------------------------------
    def declare(self, node: Node, kind: str) -> None:
        name, parent = self.header(node, kind)
        if name is None:
            return
        partial = self.lower_guest_body(node)
        if kind == "template":
            if not self.check_name(name, "template", node.tspan(node.words[0])):
                return
            if name in self.templates:
                first = self.templates[name][0]
                return self.error("HS0219", f"template `{name}` is declared twice", node.span,
                                  "rename one of them", [(first.span, "first declared here")])
            self.templates[name] = (node, parent, partial)
        else:
            self.guests.append((node, parent, partial))

    def header(self, node: Node, kind: str) -> tuple[Optional[str], Optional[Token]]:
        words = list(node.words)
        parent = None
        if len(words) == 3 and str(words[1]) == "from":
            parent = words[2]
            words = words[:1]
        if len(words) != 1:
            self.error("HS0230", f"`{kind}` takes a name and an optional `from TEMPLATE`", node.span,
                       f"write `{kind} NAME {{ ... }}` or `{kind} NAME from TEMPLATE {{ ... }}`")
            return None, None
        return name_of(words[0]), parent

    def lower_guest_body(self, node: Node) -> Partial:
        doc, spans = {}, {}
        self.lower_entries(node.body, GUEST_KEYS, GUEST_BLOCKS, doc, spans, (), self.guest_special)
        return Partial(doc, spans)

    # -- generic statement lowering --------------------------------------------
    def lower_entries(self, nodes, keys, blocks, doc, spans, prefix, special=None) -> None:
        seen: dict[str, Node] = {}
        for node in nodes:
            if node.name in seen and node.name != "pool":
                self.error("HS0206", f"`{node.name}` is set twice in this block", node.key_span,
                           "keep one of them", [(seen[node.name].span, "first set here")])
                continue
            seen[node.name] = node
            self.lower_entry(node, keys, blocks, doc, spans, prefix, special)

    def lower_entry(self, node, keys, blocks, doc, spans, prefix, special) -> None:
        if node.body is not None:
            if node.name in blocks and (node.name not in keys or node.name in ("balloon", "kernel")):
                return self.lower_block(node, blocks[node.name], doc, spans, prefix, special)
            if node.name in keys:
                return self.error("HS0231", f"`{node.name}` is a statement, not a block", node.key_span,
                                  f"write `{node.name} VALUE` on one line")
        elif node.name in blocks and node.name not in keys:
            return self.error("HS0231", f"`{node.name}` is a block", node.span,
                              f"write `{node.name} {{ ... }}`")
        if node.name not in keys:
            return self.unknown_key(node, list(keys) + list(blocks), spans, prefix)
        reader = keys[node.name]
        if reader is None:
            return special(node, doc, spans, prefix)
        self.simple(node, reader, doc, spans, prefix)

    def unknown_key(self, node: Node, known: Iterable[str], spans=None, prefix=()) -> None:
        known = sorted(set(known))
        meant = closest(node.name, known)
        self.error("HS0201", f"unknown key `{node.name}`", node.key_span,
                   f"did you mean `{meant}`?" if meant else
                   f"this block takes {', '.join(f'`{k}`' for k in known)}")
        if meant is not None and spans is not None:
            # `memroy 4GiB` is where `memory` was meant to be written: the schema
            # must not also call `memory` missing (a real `memory` line replaces it).
            spans.setdefault(prefix + (meant,), (node.span, node.values_span(), node.key_span))

    def simple(self, node: Node, reader, doc, spans, prefix, quoted: bool = False) -> None:
        """`key VALUE`: a bare value read by `reader`, or a quoted path where `quoted`."""
        if len(node.words) != 1:
            spans[prefix + (node.name,)] = (node.span, node.values_span(), node.key_span)
            what = "a value" if not node.words else "one value"
            return self.error("HS0230", f"`{node.name}` takes {what}", node.span if not node.words else node.values_span(),
                              f"write `{node.name} VALUE`")
        token = node.words[0]
        if token.type == "STRING" and not quoted:  # only `include` and `base` take a quoted path
            spans[prefix + (node.name,)] = (node.span, node.tspan(token), node.key_span)
            bare = str(token)[1:-1]
            return self.error("HS0203", f"`{node.name}` takes a bare value, not a quoted string",
                              node.tspan(token), f"write `{node.name} {bare}` without the quotes"
                              if v.NAME_RE.fullmatch(bare) or bare.isalnum() else
                              "only `include` and `base` take quoted text")
        try:
            value = v.string(str(token)) if token.type == "STRING" else reader(str(token), node.name)
        except v.BadValue as problem:
            # Keep the span: the schema must not also call this key missing.
            spans[prefix + (node.name,)] = (node.span, node.tspan(token), node.key_span)
            return self.bad(problem, node.tspan(token))
        doc[node.name] = value
        spans[prefix + (node.name,)] = (node.span, node.tspan(token), node.key_span)

    def lower_block(self, node: Node, keys, doc, spans, prefix, special) -> None:
        if node.name == "balloon":
            return self.balloon(node, doc, spans, prefix, keys)
        if node.name == "kernel":
            return self.kernel(node, doc, spans, prefix, keys)
        if node.words:
            self.error("HS0230", f"`{node.name}` takes no label", node.values_span(),
                       f"write `{node.name} {{ ... }}`")
        inner: dict = {}
        spans[prefix + (node.name,)] = (node.span, node.span, node.key_span)
        self.lower_entries(node.body, keys, {}, inner, spans, prefix + (node.name,), self.host_special)
        doc[node.name] = inner

    # -- special statements --------------------------------------------------------
    def host_special(self, node: Node, doc, spans, prefix) -> None:
        """`pool SIZE count N [node SET] [at boot|runtime]`."""
        pools = doc.setdefault("pools", [])
        path = prefix + ("pools", len(pools))
        pool = self.pool(node, path, spans)
        if pool is not None:
            pools.append(pool)
            spans[path] = (node.span, node.span, node.key_span)

    def pool(self, node: Node, path, spans) -> Optional[dict]:
        words = list(node.words)
        if not words:
            self.error("HS0230", "`pool` needs a size and a count", node.span, "write `pool 2MiB count 512`")
            return None
        pool = {}
        if str(words[0]) in POOL_OPTIONS:  # `pool count 5 2MiB`: the size must come first
            self.error("HS0209", f"`pool` starts with its page size, not `{words[0]}`",
                       node.tspan(words[0]), "write `pool 2MiB count 512 [node N] [at boot|runtime]`")
            return None
        if not self.option(node, "size", v.size, words[0], pool, spans, path):
            return None
        rest = words[1:]
        for i in range(0, len(rest), 2):
            name = str(rest[i])
            if name not in POOL_OPTIONS:
                self.error("HS0201", f"unknown pool option `{name}`", node.tspan(rest[i]),
                           did_you_mean(name, POOL_OPTIONS) or "a pool takes `count`, `node` and `at`")
                return None
            if i + 1 >= len(rest):
                self.error("HS0230", f"`{name}` needs a value", node.tspan(rest[i]), f"write `{name} VALUE`")
                return None
            key, reader = {"count": ("count", v.count), "node": ("nodes", v.nodeset), "at": ("at", v.word)}[name]
            if key in pool:
                self.error("HS0206", f"`{name}` is given twice in this pool", node.tspan(rest[i]), "keep one")
                return None
            if not self.option(node, key, reader, rest[i + 1], pool, spans, path, rest[i]):
                return None
        return pool

    def option(self, node, key, reader, token, target, spans, path, key_token=None) -> bool:
        try:
            target[key] = reader(str(token), "node" if key == "nodes" else key)
        except v.BadValue as problem:
            spans[path + (key,)] = (node.span, node.tspan(token), node.tspan(token))
            self.bad(problem, node.tspan(token))
            return False
        if reader is v.nodeset:
            self.repeated_nodes(str(token), node.tspan(token))
        key_span = node.tspan(key_token) if key_token is not None else node.tspan(token)
        spans[path + (key,)] = (node.span, node.tspan(token), key_span)
        return True

    def repeated_nodes(self, word: str, span: Span) -> None:
        """HS0233: `node 0,0,1-1` names node 0 twice; the set is {0, 1} all the same."""
        again = v.repeated_nodes(word)
        if again:
            listed = ", ".join(str(n) for n in again)
            self.diagnostics.append(diag(
                "HS0233", f"the node set `{word}` names node{'s' if len(again) > 1 else ''} {listed} "
                          "more than once", span,
                f"write `{v.format_nodeset(v.nodeset(word, 'node'))}`: each node once"))

    def guest_special(self, node: Node, doc, spans, prefix) -> None:
        if node.name == "backing":
            return self.backing(node, doc, spans, prefix)
        if node.name == "balloon":
            return self.balloon(node, doc, spans, prefix, GUEST_BLOCKS["balloon"])
        if len(node.words) != 1 or node.words[0].type != "STRING":
            return self.error("HS0230", "`base` takes one quoted path", node.span,
                              'write `base "domains/db-01.xml"`')
        self.simple(node, v.word, doc, spans, prefix, quoted=True)

    def backing(self, node: Node, doc, spans, prefix) -> None:
        path = prefix + ("backing",)
        if not node.words:
            return self.error("HS0230", "`backing` needs `normal` or `hugepages`", node.span,
                              "write `backing normal` or `backing hugepages 1GiB`")
        backing = {"type": str(node.words[0])}
        spans[path] = (node.span, node.values_span(), node.key_span)
        spans[path + ("type",)] = (node.span, node.tspan(node.words[0]), node.key_span)
        rest = list(node.words[1:])
        if rest and str(rest[0]) != "node":
            if not self.option(node, "size", v.size, rest.pop(0), backing, spans, path):
                return
        if rest:
            if str(rest[0]) != "node" or len(rest) != 2:
                return self.error("HS0230", "unexpected words after `backing`", node.tspan(rest[0]).to(node.tspan(rest[-1])),
                                  "write `backing hugepages [SIZE] [node SET]`")
            if not self.option(node, "nodes", v.nodeset, rest[1], backing, spans, path, rest[0]):
                return
        doc["backing"] = backing

    def kernel(self, node: Node, doc, spans, prefix, keys) -> None:
        """`kernel 5.14 { per-node-hugepages on }`: {"version": "5.14", "per-node-hugepages": true}."""
        path = prefix + ("kernel",)
        if len(node.words) != 1:
            return self.error("HS0230", "`kernel` takes the oldest kernel version, then its capabilities",
                              node.span, "write `kernel 5.14 { per-node-hugepages on }`")
        inner: dict = {}
        self.simple(node, v.version, inner, spans, path)
        if "kernel" in inner:  # the version read: it becomes the block's `version`
            inner["version"] = inner.pop("kernel")
            stmt, value, key = spans.pop(path + ("kernel",))
            spans[path + ("version",)] = (stmt, value, key)
        spans[path] = (node.span, node.values_span(), node.key_span)
        self.lower_entries(node.body, keys, {}, inner, spans, path)
        doc["kernel"] = inner

    def balloon(self, node: Node, doc, spans, prefix, keys) -> None:
        path = prefix + ("balloon",)
        if len(node.words) > 1 or (node.body is None and not node.words):
            return self.error("HS0230", "`balloon` takes `virtio` or `none`", node.span,
                              "write `balloon virtio`, `balloon virtio { ... }` or `balloon none`")
        model = str(node.words[0]) if node.words else "virtio"
        balloon = {"model": model}
        spans[path] = (node.span, node.values_span(), node.key_span)
        spans[path + ("model",)] = (node.span, node.values_span(), node.key_span)
        if node.body is not None:
            self.lower_entries(node.body, keys, {}, balloon, spans, path)
        doc["balloon"] = balloon

    # -- the host ----------------------------------------------------------------------
    def host(self) -> Optional[dict]:
        if not self.hosts:
            self.error("HS0216", "the file declares no `host` block", self.top.span(0, 0),
                       "add `host NAME { cpu ...; memory ... }`")
            return None
        for extra in self.hosts[1:]:
            self.error("HS0217", "a file describes exactly one host", extra.span,
                       "move the second host into its own file", [(self.hosts[0].span, "first host here")])
        node = self.hosts[0]
        if len(node.words) != 1:
            self.error("HS0230", "`host` takes one name", node.span, "write `host NAME { ... }`")
            return None
        doc, spans = {"name": name_of(node.words[0])}, {}
        self.lower_entries(node.body, HOST_KEYS, HOST_BLOCKS, doc, spans, (), None)
        self.index.record(("host",), node.span, node.span, node.key_span)
        self.index.record(("host", "name"), node.span, node.tspan(node.words[0]))
        for rel, (stmt, value, key) in spans.items():
            self.index.record(("host",) + rel, stmt, value, key)
        if not self.check_name(doc["name"], "host", node.tspan(node.words[0])):
            del doc["name"]  # reported here; the schema must not report it again
        return doc

    def check_name(self, name: str, what: str, span: Span) -> bool:
        try:
            v.check_name(name, what)
            return True
        except v.BadValue as problem:
            self.bad(problem, span)
            return False


def to_node(tree: Tree, source: SourceFile) -> Node:
    """A parse tree entry -> Node (statement or block)."""
    head = tree.children[0] if tree.data != "stmt" else tree.children[0]
    key, *words = head.children
    head_span = source.span(key.start_pos, (words[-1] if words else key).end_pos)
    if tree.data == "stmt":
        return Node(key, tuple(words), head_span, source)
    body = tree.children[1]
    return Node(key, tuple(words), head_span, source,
                tuple(to_node(child, source) for child in body.children))


def name_of(token: Token) -> str:
    text = str(token)
    if token.type == "STRING":
        try:
            return v.string(text)
        except v.BadValue:
            return text
    return text


def display_name(target: pathlib.Path, root: pathlib.Path, top_name: str) -> str:
    """An included file's name, said the way the top file's was: a file under the
    spec's directory beside the top file's name (`specs/templates/a.mem` for
    `specs/host.mem`), any other (from `--include-path`) absolute."""
    try:
        relative = target.relative_to(root)
    except ValueError:
        return str(target)
    folder = "" if top_name == "<stdin>" else os.path.dirname(top_name)
    return os.path.join(folder, str(relative))


def _at_include(problem: Diagnostic, node: Node) -> Diagnostic:
    return problem if problem.span is not None else attrs.evolve(problem, span=node.values_span())


__all__ = ["Lowerer", "did_you_mean"]
