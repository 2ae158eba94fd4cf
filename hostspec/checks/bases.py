"""A guest's `base` domain XML: read it safely, then check it against the guest.

`check` and `compile` both run this (they reach one verdict); the loaded
roots reach the libvirt backend through its Context, so a base is read once.

The base is untrusted input.  Its size is checked on the open file before
any byte is read, it is parsed without entity expansion, DTD loading or
network access, and a DOCTYPE of any kind is refused outright, so no file or
URL it names can be read, and nothing from one can reach the output.
"""
from __future__ import annotations

import os
import pathlib
import re
import stat
from typing import Optional

import attrs

from lxml import etree

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.language.units import shown, size_text
from hostspec.language.paths import allowed_roots, confined, outside_tree
from hostspec.model import Guest, Spec

MAX_BASE_BYTES = 1024 * 1024

_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False,
                       dtd_validation=False, huge_tree=False, remove_blank_text=False)


@attrs.frozen
class _Where:
    """What reading a base needs besides the guest: spans and the spec's directory."""

    index: SpanIndex
    base_dir: pathlib.Path
    include_paths: tuple = ()  # `--include-path`: a base may also come from there


def load_bases(spec: Spec, index: SpanIndex, base_dir: pathlib.Path,
               include_paths=()) -> tuple[dict, list[Diagnostic]]:
    """The root `<domain>` of every guest's base that reads cleanly, by guest name,
    and every problem found reading the bases or in what they say against the spec."""
    where, roots, problems = _Where(index, pathlib.Path(base_dir), tuple(include_paths)), {}, []
    for guest in spec.guests:
        if guest.base is None:
            continue
        root, found = load_base(guest, where)
        problems += found
        if root is not None:
            problems += base_conflicts(root, spec, guest, where)
            roots[guest.name] = root
    return roots, problems


class _TooLarge(Exception):
    pass


def load_base(guest: Guest, ctx) -> tuple[Optional[etree._Element], list[Diagnostic]]:
    """The root `<domain>` of the guest's base file, or diagnostics at `base`."""
    span = ctx.index.at(guest.path + ("base",))
    file_name = shown(guest.base)
    try:
        path = confined(ctx.base_dir, guest.base, allowed_roots(ctx.base_dir, getattr(ctx, "include_paths", ())))
        if path is None:
            return None, [outside_tree("`base` file", file_name,
                                       ctx.index.value(guest.path + ("base",)))]
        data = _read_limited(path)
    except _TooLarge:
        return None, [diag("HS0406", f"`base` file `{file_name}` is larger than 1 MiB", span,
                           hint="point `base` at a single libvirt domain XML file")]
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in a JSON document's path
        reason = shown(getattr(exc, "strerror", None) or str(exc))
        return None, [diag("HS0402", f"cannot read `base` file `{file_name}`: {reason}", span,
                           hint="check the path (relative to the spec's directory) "
                                "and its permissions")]
    root, problem = _parse(data, file_name, span)
    if problem is not None:
        return None, [problem]
    problem = _not_the_domain(root, guest, file_name, span)
    return (None, [problem]) if problem is not None else (root, [])


def _read_limited(path: pathlib.Path) -> bytes:
    """At most MAX_BASE_BYTES of a regular file; the size is checked before reading."""
    # O_NONBLOCK: a FIFO named as base must fail, not hang the compiler.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > MAX_BASE_BYTES:
            raise _TooLarge()
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_BASE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BASE_BYTES:  # the file grew while we read it
        raise _TooLarge()
    return data


def _parse(data: bytes, file_name: str, span) -> tuple[Optional[etree._Element],
                                                       Optional[Diagnostic]]:
    """Parse without entities, DTDs or network; refuse any DOCTYPE."""
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        return None, diag("HS0403", f"`base` file `{file_name}` is not well-formed XML: "
                          f"{shown(exc.msg, 160)}", span,
                          hint="fix the XML; `virsh dumpxml --inactive NAME` writes a clean copy")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        return None, diag("HS0403", f"`base` file `{file_name}` has a DOCTYPE declaration", span,
                          hint="remove the `<!DOCTYPE ...>`: hostspec reads no DTDs or entities")
    return root, None


def _not_the_domain(root, guest: Guest, file_name: str, span) -> Optional[Diagnostic]:
    if root.tag != "domain":
        return diag("HS0404", f"`base` file `{file_name}` has the root element "
                    f"`<{shown(str(root.tag))}>`, not `<domain>`", span,
                    hint="point `base` at a libvirt domain XML (`virsh dumpxml --inactive NAME`)")
    names = root.findall("name")
    if not names:
        return diag("HS0405", f"`base` domain in `{file_name}` has no `<name>`", span,
                    hint=f"add `<name>{guest.name}</name>` to the base domain")
    if len(names) > 1:
        return diag("HS0405", f"`base` domain in `{file_name}` has {len(names)} `<name>` elements",
                    span, hint="keep one `<name>` in the base domain")
    found = names[0].text or ""
    if found != guest.name and found.strip() == guest.name:
        return diag("HS0405", f"`base` domain's `<name>` has spaces or line breaks around "
                    f"`{guest.name}`", span,
                    hint=f"write `<name>{guest.name}</name>` in the base domain: libvirt "
                         "refuses a name with white space around it")
    if found != guest.name:
        return diag("HS0405", f"`base` domain is named `{shown(found)}`, not `{guest.name}`", span,
                    hint="name the guest like the base domain, or point `base` at that "
                         "guest's domain")
    return None


def base_conflicts(root, spec: Spec, guest: Guest, ctx) -> list[Diagnostic]:
    """Guest settings the base domain contradicts: libvirt would keep, clamp or reject them."""
    found = []
    for problem in (_domain_type(root), _max_memory(root, guest), _cells_total(root, guest),
                    _cells_pages(root, spec, guest), _shared_access(root, guest),
                    _anonymous_hugepages(root, guest), _swap_limit(root, guest, spec),
                    _kept_hard_limit(root, guest, spec), _memnodes(root, guest),
                    _vcpus(root, guest, ctx)):
        if problem is not None:
            message, key, hint = problem
            found.append(diag("HS0407", message, ctx.index.at(guest.path + ("base",)), hint=hint,
                              labels=_labels(ctx, guest, key)))
    return found


def _labels(ctx, guest: Guest, key: Optional[str]) -> list[tuple]:
    if key is None or not ctx.index.has(guest.path + (key,)):
        return []
    span = ctx.index.at(guest.path + (key,))
    return [(span, f"`{key}` is set here")] if span is not None else []


def _domain_type(root):
    kind = root.get("type")
    if kind not in ("kvm", "qemu"):
        return (f"`base` domain has type `{shown(kind or '')}`; hostspec writes KVM domains",
                None, "use a domain of `type='kvm'` as the base")
    return None


def _max_memory(root, guest: Guest):
    ceiling = _size_of(root.find("maxMemory"))
    if ceiling is not None and ceiling < guest.memory:
        return (f"`base` `<maxMemory>` ({size_text(ceiling)}) is below the guest's memory "
                f"({size_text(guest.memory)})", "memory",
                "raise `<maxMemory>` in the base domain, or lower the guest's `memory`")
    return None


def _cells(root) -> list:
    return root.findall("cpu/numa/cell")


def _cells_total(root, guest: Guest):
    """libvirt takes a NUMA guest's memory from its cells (plus memory devices)."""
    cells = _cells(root)
    if not cells:
        return None
    sizes = [_size_of(cell, "memory") for cell in cells]
    sizes += [_size_of(size) for size in root.findall("devices/memory/target/size")]
    if None in sizes or sum(sizes) == guest.memory:
        return None
    return (f"`base` NUMA cells and memory devices hold {size_text(sum(sizes))}, "
            f"but the guest's memory is {size_text(guest.memory)}", "memory",
            "make the `<cell memory=...>` values add up to the guest's `memory`")


def _cells_pages(root, spec: Spec, guest: Guest):
    page = spec.page_size(guest)
    if page is None:
        return None
    for cell in _cells(root):
        size = _size_of(cell, "memory")
        if size is not None and size % page:
            return (f"`base` NUMA cell `{shown(cell.get('id', '?'))}` holds {size_text(size)}, "
                    f"not a whole number of {size_text(page)} pages", "backing",
                    "make every cell's memory a multiple of the guest's huge page size")
    return None


def _shared_access(root, guest: Guest):
    """memAccess='shared' needs hugepage, file or memfd backing (QEMU refuses otherwise)."""
    shared = [c for c in _cells(root) if c.get("memAccess") == "shared"]
    shared += root.findall("memoryBacking/access[@mode='shared']")
    source = root.find("memoryBacking/source")
    if not shared or guest.backing.hugepages or (
            source is not None and source.get("type") in ("file", "memfd")):
        return None
    return ("`base` domain shares guest memory (`memAccess`/`access mode='shared'`), "
            "which needs hugepage, file or memfd backing", "backing",
            "back the guest with `hugepages`, or add `<source type='memfd'/>` to the base's "
            "`<memoryBacking>`")


def _anonymous_hugepages(root, guest: Guest):
    source = root.find("memoryBacking/source")
    if guest.backing.hugepages and source is not None and source.get("type") == "anonymous":
        return ("`base` `<memoryBacking>` has `<source type='anonymous'/>`, which cannot hold "
                "huge pages", "backing", "remove the `<source>` element, or use `type='memfd'`")
    return None


def _swap_limit(root, guest: Guest, spec: Spec):
    if not guest.locked:
        return None
    swap = _size_of(root.find("memtune/swap_hard_limit"))
    limit = spec.hard_limit(guest)
    if swap is not None and swap < limit:
        return (f"`base` `<swap_hard_limit>` ({size_text(swap)}) is below the hard limit a locked "
                f"guest gets ({size_text(limit)})", "locked",
                "raise or remove `<swap_hard_limit>` in the base domain")
    return None


def _kept_hard_limit(root, guest: Guest, spec: Spec):
    """An unlocked guest keeps the base's `<hard_limit>` (hostspec writes one only for
    locked guests): below the guest's memory and overhead, the kernel kills QEMU."""
    if guest.locked:
        return None
    limit = _size_of(root.find("memtune/hard_limit"))
    need = spec.hard_limit(guest)
    if limit is not None and limit < need:
        return (f"`base` `<hard_limit>` ({size_text(limit)}) is below the guest's memory and "
                f"overhead ({size_text(need)}): QEMU would be killed as the guest fills its memory",
                "memory", "raise or remove `<hard_limit>` in the base domain's `<memtune>`")
    return None


def _memnodes(root, guest: Guest):
    """A `<memnode>` kept from the base must draw on the host nodes the guest's `node` allows:
    the capacity checks count the guest's pages there and nowhere else."""
    allowed = guest.backing.nodes
    if allowed is None:
        return None
    for memnode in root.findall("numatune/memnode"):
        nodes = _nodeset(memnode.get("nodeset", ""))
        if nodes is not None and not nodes <= set(allowed):
            return (f"`base` `<memnode cellid='{shown(memnode.get('cellid', '?'))}'>` binds guest "
                    f"memory to host nodes `{shown(memnode.get('nodeset', ''))}`, outside the guest's "
                    f"`node` set", "backing",
                    "make the base's `<memnode nodeset>` a part of the guest's `node` set, or remove it")
    return None


def _nodeset(text: str) -> Optional[set[int]]:
    """libvirt's node set syntax (`0-3,^2`), or None when it does not read."""
    chosen, excluded = set(), set()
    for part in text.split(","):
        found = re.fullmatch(r"\s*(\^?)(\d+)(?:-(\d+))?\s*", part)
        if not found:
            return None
        numbers = set(range(int(found[2]), int(found[3] or found[2]) + 1))
        (excluded if found[1] else chosen).update(numbers)
    return chosen - excluded


def _vcpus(root, guest: Guest, ctx):
    """`vcpus` is not merged (cells and pinning depend on it), so it must agree."""
    if not ctx.index.has(guest.path + ("vcpus",)):
        return None
    element = root.find("vcpu")
    count = (element.text or "").strip() if element is not None else "1"
    if not (count.isdigit() and int(count) == guest.vcpus):  # libvirt reads `04` as 4
        return (f"`base` domain has {shown(count)} vcpus, but the guest sets {guest.vcpus}",
                "vcpus", "make them agree, or drop `vcpus` from the guest to keep the base's count")
    return None


def _size_of(element, attribute: Optional[str] = None) -> Optional[int]:
    """Bytes of a libvirt scaled value (an element's text, or an attribute), or None."""
    if element is None:
        return None
    value = element.get(attribute) if attribute else element.text
    return memory_bytes(value, element.get("unit"))


_POWERS = "kmgtpe"


def memory_bytes(value: Optional[str], unit: Optional[str]) -> Optional[int]:
    """Bytes of a libvirt memory value and unit (KiB when none), or None if unreadable."""
    text = (value or "").strip()
    scale = _unit_scale(unit)
    if scale is None or not re.fullmatch(r"[0-9]{1,20}", text):
        return None
    return int(text) * scale


def _unit_scale(unit: Optional[str]) -> Optional[int]:
    """libvirt's reading of a unit: case-insensitive, `KB` = 1000, `k`/`KiB` = 1024."""
    name = (unit or "KiB").strip().lower()
    if name in ("b", "byte", "bytes"):
        return 1
    if not name or name[0] not in _POWERS or name[1:] not in ("", "b", "ib"):
        return None
    return (1000 if name[1:] == "b" else 1024) ** (_POWERS.index(name[0]) + 1)
