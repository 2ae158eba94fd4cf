"""The kernel's own formats, read as the kernel reads them: the command line
(`hugepagesz=`/`hugepages=` as mm/hugetlb.c takes them), sizes (memparse),
module parameters, sysfs choices and /proc/cpuinfo flags."""
from __future__ import annotations

import re
from typing import Optional

import attrs

from hostspec import records
from hostspec.model import MiB

ARCH_DEFAULT_SIZE = 2 * MiB  # the PMD size, x86-64 and arm64 (4KiB pages) alike


def chosen(text: str) -> str:
    """The bracketed choice of `always [madvise] never`, else the whole value."""
    found = re.search(r"\[([^\]]*)\]", text)
    return found[1] if found else text.strip()


def cpu_flags(text: str) -> set[str]:
    """The flags every CPU of /proc/cpuinfo has (a flag one CPU lacks does not count)."""
    lines = [line.split(":", 1)[1].split() for line in text.splitlines()
             if ":" in line and line.split(":", 1)[0].strip() == "flags"]
    return set.intersection(*map(set, lines)) if lines else set()


def switch_of(text: str):
    """A module parameter as True/False: bools print Y/N, int parameters 1/0."""
    first = text.strip()[:1]
    return {"Y": True, "y": True, "1": True, "N": False, "n": False, "0": False}.get(first, text)


def kernel_bytes(text: str):
    """A size the way the kernel parses it (memparse): `2M`, `1G`, `1024M`; else the text."""
    found = re.fullmatch(r"(\d+)([KMGTPE]?)", text, re.I)
    if not found:
        return text
    return int(found[1]) * 1024 ** " KMGTPE".index(found[2].upper() or " ")


def kernel_words(text: str) -> list[str]:
    """The kernel's own arguments: words before a `--` (the rest belongs to init)."""
    words = text.split()
    return words[:words.index("--")] if "--" in words else words


ARCH_DEFAULT_SIZE = 2 * MiB  # the PMD size, x86-64 and arm64 (4KiB pages) alike


@records.define
class BootPages:
    """What the kernel's command line reserves, read as mm/hugetlb.c reads it."""

    pools: dict = attrs.field(factory=dict)  # size -> {node: count}, or {None: count} spread
    default: Optional[int] = None            # default_hugepagesz, when a valid one was given


def read_boot_pages(words: list[str], sizes: tuple[int, ...], nodes: int) -> BootPages:
    """`hugepagesz=`, `default_hugepagesz=` and `hugepages=` in order, as the kernel takes them.

    A `hugepages=` goes to the size named before it (a bare leading one to the
    default size, whichever that turns out to be); a size named twice, a second
    `hugepages=` for one size, one after an invalid size and a node the host
    does not have are ignored; within one `hugepages=` a node's last count wins.
    """
    read, parsed, valid, last, pending = BootPages(), None, True, None, None
    for word in words:
        key, _, value = word.partition("=")
        if key not in ("hugepagesz", "default_hugepagesz", "hugepages"):
            continue
        if key == "hugepages":
            target = "pending" if not read.pools else parsed
            if not valid or target == last:
                valid = True
                continue
            counts = _counts(value, nodes)
            if counts is None:
                continue  # refused whole; the next `hugepages=` for this size still counts
            if target == "pending":
                pending = counts
            else:
                read.pools[target] = counts
            last = target
            continue
        size, valid = kernel_bytes(value), False
        if size not in sizes or (key == "default_hugepagesz" and read.default is not None):
            continue
        if key == "default_hugepagesz":
            read.default, valid = size, True
            if size not in read.pools:
                read.pools[size], parsed = {}, size
            if pending is not None:
                read.pools[size], pending = pending, None
        elif size not in read.pools:
            read.pools[size], parsed, valid = {}, size, True
        elif size == read.default and not read.pools[size]:
            parsed, valid = size, True  # the default size, named again before any count
    if pending is not None:  # a bare leading count: the default size's, whatever else was said
        read.pools[read.default or ARCH_DEFAULT_SIZE] = pending
    return read


def _counts(value: str, nodes: int) -> Optional[dict]:
    """`N` -> {None: N}; `0:N,1:M` -> {0: N, 1: M}; None where the kernel refuses it."""
    if re.fullmatch(r"\d+", value):
        return {None: int(value)}
    counts: dict = {}
    for part in value.rstrip(",").split(","):
        found = re.fullmatch(r"(\d+):(\d+)", part)
        if not found or int(found[1]) >= nodes:
            return None
        counts[int(found[1])] = int(found[2])
    return counts


def live_argument(key: str, text: str) -> str:
    """The live command line's value of a plain argument: the last one wins."""
    found = [word for word in kernel_words(text) if word.partition("=")[0] == key]
    return found[-1] if found else "absent"
