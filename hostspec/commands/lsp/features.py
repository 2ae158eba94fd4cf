"""Hover, completion, definition and symbols, from the text and the last check."""
from __future__ import annotations

import pathlib
import re
from typing import Optional

from lsprotocol import types

from hostspec.language import values as v
from hostspec.language.units import format_size
from . import keys as K
from .outline import Block, enclosing, line_starts, line_words, outline, to_position, word_at

_SIZE = re.compile(r"[0-9]+(?:KiB|MiB|GiB|TiB|K|M|G|T)")
_POOL = re.compile(r"^[ \t]*pool[ \t]+([0-9]+[A-Za-z]*)", re.M)
_TEMPLATE = re.compile(r"^[ \t]*template[ \t]+([^\s{]+)", re.M)


def context_of(chain: list[Block]) -> Optional[str]:
    """The block path keys.py names ("host", "host.kvm", "guest", ...), "" at the top."""
    if not chain:
        return ""
    kinds = [block.kind for block in chain]
    outer = {"host": "host", "template": "guest", "guest": "guest"}.get(kinds[0])
    if outer is None or len(kinds) > 2:
        return None
    return outer if len(kinds) == 1 else f"{outer}.{kinds[1]}"


def _range(text: str, start: int, end: int, starts=None) -> types.Range:
    starts = starts or line_starts(text)
    (l1, c1), (l2, c2) = to_position(text, starts, start), to_position(text, starts, end)
    return types.Range(types.Position(l1, c1), types.Position(l2, c2))


# -- hover -------------------------------------------------------------------------------

def hover(text: str, offset: int, spec=None, pool_sizes=()) -> Optional[types.Hover]:
    word = word_at(text, offset)
    if word is None:
        return None
    chain = enclosing(text, word[1])
    head = next((b for b in _all_blocks(outline(text)) if b.words and b.words[0][1] == word[1]), None)
    statement, _ = line_words(text, word[2])
    body = _hover_body(text, word, chain, head, statement, spec, pool_sizes)
    if body is None:
        return None
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, body), _range(text, word[1], word[2]))


def _all_blocks(blocks):
    for block in blocks:
        yield block
        yield from _all_blocks(block.children)


def _hover_body(text, word, chain, head, statement, spec, pool_sizes) -> Optional[str]:
    token = word[0]
    first = statement[0] if statement else None
    if head is not None and head.kind == "host" and not chain and spec is not None:
        return _host_hover(spec)
    guest_head = next((b for b in outline(text) if b.kind == "guest" and len(b.words) > 1
                       and b.words[1][1] == word[1]), None)
    if guest_head is not None and spec is not None:
        return _guest_hover(spec, guest_head.name)
    context = context_of(chain)
    if first is not None and first[1] == word[1] and context is not None and (context, token) in K.KEYS:
        values, default, meaning = K.KEYS[context, token]
        return f"**`{token}`** ({values})\n\n{meaning}\n\nDefault: {default}"
    if head is not None and context is not None and (context, head.kind) in K.KEYS and head.kind == token:
        values, default, meaning = K.KEYS[context, token]
        return f"**`{token}`** ({values})\n\n{meaning}\n\nDefault: {default}"
    if _SIZE.fullmatch(token):
        return _size_hover(token, pool_sizes)
    return None


def _size_hover(token: str, pool_sizes) -> Optional[str]:
    try:
        size = v.size(token, "size")
    except v.BadValue:
        return None
    lines = [f"**{token}** = {size:,} bytes".replace(",", "\u2009")]
    for page in sorted(set(pool_sizes)):
        whole, rest = divmod(size, page)
        pages = "page" if whole == 1 else "pages"
        lines.append(f"- {whole} {pages} of {format_size(page)}" + (
            "" if not rest else f" and {format_size(rest)} more (not a whole number of pages)"))
    return "\n".join(lines)


def _host_hover(spec) -> str:
    from hostspec.checks.demand import analyse
    from hostspec.commands.explain import _capacity_section, to_markdown

    section = _capacity_section(spec, analyse(spec))
    return to_markdown([section]).replace("### Capacity", f"### Capacity of host `{spec.host.name}`", 1)


def _guest_hover(spec, name: str) -> Optional[str]:
    from hostspec.commands.explain import _flags, backing_words

    match = re.fullmatch(r"(.*?)\{([0-9]+)\.\.([0-9]+)\}(.*)", name)
    if match:
        prefix, low, high, suffix = match.groups()
        width = len(low) if low.startswith("0") else 0
        names = [f"{prefix}{str(i).zfill(width)}{suffix}" for i in range(int(low), int(high) + 1)]
    else:
        names = [name]
    guests = [g for g in spec.guests if g.name in set(names)]
    if not guests:
        return None
    g = guests[0]
    title = f"guest `{g.name}`" if len(guests) == 1 else f"{len(guests)} guests `{guests[0].name}` .. `{guests[-1].name}`, each"
    return "\n".join([f"**{title}** (after templates)", "",
                      f"- memory {format_size(g.memory)}, current {format_size(g.current_memory)}",
                      f"- vcpus {g.vcpus}",
                      f"- backing {backing_words(spec, g)}",
                      f"- {_flags(g)}",
                      f"- share pages (KSM) {'on' if g.share_pages else 'off'}, locked {'on' if g.locked else 'off'}"])


# -- completion --------------------------------------------------------------------------

def completion(text: str, offset: int, templates=(), pool_sizes=()) -> list[types.CompletionItem]:
    chain = enclosing(text, offset)
    context = context_of(chain)
    words, _ = line_words(text, offset)
    typing = bool(words) and words[-1][2] == offset  # the cursor ends a word being typed
    before = words[:-1] if typing else words
    if context is None:
        return []
    if not before:
        if context == "":
            return [_item(w, types.CompletionItemKind.Keyword) for w in K.TOP_WORDS]
        return [_key_item(context, key) for key in K.keys_in(context)]
    key = before[0][0]
    if context == "" and key in ("template", "guest") and len(before) >= 2 and before[-1][0] == "from":
        return [_item(name, types.CompletionItemKind.Class) for name in templates]
    if context == "" and key in ("template", "guest") and len(before) == 2:
        return [_item("from", types.CompletionItemKind.Keyword)]
    if (context, key) in K.ENUMS and len(before) == 1:
        return [_item(w, types.CompletionItemKind.EnumMember) for w in K.ENUMS[context, key]]
    if (context, key) in K.SWITCHES and len(before) == 1:
        return [_item(w, types.CompletionItemKind.EnumMember) for w in K.SWITCH]
    sizes = [_item(format_size(s), types.CompletionItemKind.Value) for s in sorted(set(pool_sizes))]
    if context == "guest" and key == "backing" and len(before) == 2 and before[1][0] == "hugepages":
        return sizes
    if context == "host.hugepages" and key == "default-size" and len(before) == 1:
        return sizes
    if context == "guest" and key == "balloon" and len(before) == 1:
        return [_item(w, types.CompletionItemKind.EnumMember) for w in K.ENUMS["guest", "balloon"]]
    return []


def _item(label: str, kind) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind)


def _key_item(context: str, key: str) -> types.CompletionItem:
    values, default, meaning = K.KEYS[context, key]
    kind = types.CompletionItemKind.Module if values == "block" else types.CompletionItemKind.Property
    return types.CompletionItem(label=key, kind=kind, detail=values,
                                documentation=types.MarkupContent(types.MarkupKind.Markdown,
                                                                  f"{meaning}\n\nDefault: {default}"))


def template_names(texts) -> list[str]:
    names = []
    for text in texts:
        names += [m.group(1) for m in _TEMPLATE.finditer(text) if m.group(1) not in names]
    return names


def pool_sizes(text: str, spec=None) -> list[int]:
    if spec is not None:
        return sorted(spec.host.hugepages.sizes())
    found = set()
    for match in _POOL.finditer(text):
        try:
            found.add(v.size(match.group(1), "pool"))
        except v.BadValue:
            pass
    return sorted(found)


_INCLUDE = re.compile(r'^[ \t]*include[ \t]+("(?:[^"\\\n]|\\.)*")', re.M)


def includes(text: str, here: pathlib.Path) -> list[pathlib.Path]:
    """The files `text` includes directly (before a check has said which it read)."""
    found = []
    for match in _INCLUDE.finditer(text):
        try:
            found.append((here.parent / v.string(match.group(1))).resolve())
        except (v.BadValue, OSError, ValueError):
            pass
    return found


# -- definition --------------------------------------------------------------------------

def definition(text: str, offset: int, here: pathlib.Path, spec_dir: pathlib.Path,
               sources: dict[pathlib.Path, str], uri_of) -> Optional[types.Location]:
    """`from TEMPLATE`, `include "PATH"`, `base "PATH"`: where each leads."""
    word = word_at(text, offset)
    if word is None:
        return None
    statement, _ = line_words(text, word[2])
    names = [w[0] for w in statement]
    if len(names) >= 2 and names[0] in ("include", "base") and statement[1][1] == word[1]:
        try:
            relative = v.string(word[0])
        except v.BadValue:
            return None
        origin = here.parent if names[0] == "include" else spec_dir
        target = (origin / relative).resolve()
        zero = types.Range(types.Position(0, 0), types.Position(0, 0))
        return types.Location(uri_of(target), zero) if target.exists() or target in sources else None
    if len(names) >= 3 and names[0] in ("template", "guest") and names[-2] == "from" and statement[-1][1] == word[1]:
        for path, body in [(here, text), *((p, t) for p, t in sources.items() if p != here)]:
            for block in outline(body):
                if block.kind == "template" and block.name == word[0]:
                    start, end = block.words[1][1], block.words[1][2]
                    return types.Location(uri_of(path), _range(body, start, end))
    return None


# -- symbols -----------------------------------------------------------------------------

_KINDS = {"host": types.SymbolKind.Namespace, "template": types.SymbolKind.Class,
          "guest": types.SymbolKind.Object}


def symbols(text: str) -> list[types.DocumentSymbol]:
    starts = line_starts(text)
    out = []
    for block in outline(text):
        if block.kind not in _KINDS or len(block.words) < 2:
            continue
        name_start, name_end = block.words[1][1], block.words[1][2]
        detail = block.kind + (f" from {block.words[-1][0]}" if len(block.words) >= 4 and block.words[2][0] == "from" else "")
        children = [types.DocumentSymbol(name=child.kind, kind=types.SymbolKind.Struct,
                                         range=_range(text, child.start, child.end, starts),
                                         selection_range=_range(text, child.words[0][1], child.words[0][2], starts))
                    for child in block.children if child.words]
        out.append(types.DocumentSymbol(name=block.name, detail=detail, kind=_KINDS[block.kind],
                                        range=_range(text, block.start, block.end, starts),
                                        selection_range=_range(text, name_start, name_end, starts),
                                        children=children or None))
    return out
