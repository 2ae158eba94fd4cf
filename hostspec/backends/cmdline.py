"""The kernel command line: the one argument list, its checks, and a plain one-line file.

Arguments, in order: `default_hugepagesz=`, then per boot pool size
(ascending) `hugepagesz=SIZE hugepages=COUNT` (or the per-node form
`hugepages=0:64,1:64`), then `transparent_hugepage=MODE`.  Every argument
must match a strict token pattern first: some targets write shell.  The boot
targets (`boot` key, backends/boot.py) only place this list.
"""
from __future__ import annotations

import pathlib
import re
from typing import Iterator

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.language.index import SpanIndex
from hostspec.language.units import format_size
from hostspec.model import KiB, Pool, Spec
from hostspec.backends import Artifact, Context, header

PLAIN_PATH = "etc/hostspec/kernel-cmdline"
SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:+-]+)?")

_UNITS = (("G", 1024 ** 3), ("M", 1024 ** 2), ("K", KiB))


def kernel_size(size: int) -> str:
    """A page size the way the kernel documents it: 64K, 2M, 32M, 1G."""
    for suffix, unit in _UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def boot_pools(spec: Spec) -> dict[int, list[Pool]]:
    """Boot pools grouped by page size, sizes ascending."""
    grouped: dict[int, list[Pool]] = {}
    for pool in sorted(spec.host.hugepages.pools, key=lambda p: p.size):
        if pool.at_boot:
            grouped.setdefault(pool.size, []).append(pool)
    return grouped


def _count_argument(pools: list[Pool]) -> str:
    """`hugepages=N` for a spread pool, `hugepages=0:N,1:M` for per-node pools."""
    spread = [pool for pool in pools if pool.nodes is None]
    if spread:
        return f"hugepages={sum(pool.count for pool in spread)}"
    per_node = {node: pool.count for pool in pools for node in pool.nodes}
    return "hugepages=" + ",".join(f"{node}:{count}" for node, count in sorted(per_node.items()))


def arguments(spec: Spec) -> Iterator[tuple[str, tuple]]:
    """(argument, document path that asked for it), in command line order."""
    hugepages = spec.host.hugepages
    if hugepages.default_size is not None:
        yield (f"default_hugepagesz={kernel_size(hugepages.default_size)}",
               hugepages.path + ("default-size",))
    for size, pools in boot_pools(spec).items():
        yield f"hugepagesz={kernel_size(size)}", pools[0].path
        yield _count_argument(pools), pools[0].path
    if spec.host.thp.enabled is not None:
        yield f"transparent_hugepage={spec.host.thp.enabled}", spec.host.thp.path + ("enabled",)


def checked_arguments(spec: Spec, ctx: Context) -> tuple[list[str], list[Diagnostic]]:
    """The arguments, and an HS0401 error for any outside the safe token pattern."""
    words, problems = [], []
    for word, path in arguments(spec):
        if SAFE_TOKEN.fullmatch(word):
            words.append(word)
        else:
            problems.append(diag("HS0401", f"kernel argument `{ascii(word)[1:-1]}` is not a safe token",
                                 ctx.index.at(path),
                                 hint="report this: every argument hostspec writes should be "
                                      "a validated number, size or choice"))
    return words, problems


def line_of(words: list[str]) -> str:
    """The arguments as one command line fragment, the way every target writes them."""
    return " ".join(words)


def budget_problems(spec: Spec, index: SpanIndex) -> list[Diagnostic]:
    """HS0410 when hostspec's own arguments are longer than `cmdline-budget` bytes.

    The boot loader hands the kernel at most COMMAND_LINE_SIZE bytes (2048 on
    x86_64 and arm64), the distribution's and the admin's arguments included,
    and the kernel cuts the rest off without a word.  Per-node pools are what
    grows: `hugepages=0:64,1:64,...` is one `N:COUNT` per node.
    """
    host = spec.host
    words = [word for word, _ in arguments(spec)]
    length = len(line_of(words))
    if length <= host.cmdline_budget:
        return []
    grouped = boot_pools(spec)
    savings = []
    for size, pools in grouped.items():
        if all(pool.nodes is not None for pool in pools):
            merged = f"hugepages={sum(pool.count * len(pool.nodes) for pool in pools)}"
            savings.append((len(_count_argument(pools)) - len(merged), size, pools, merged))
    savings.sort(key=lambda item: (-item[0], item[1]))
    chosen, left = [], length
    for saved, size, pools, merged in savings:
        if left <= host.cmdline_budget or saved <= 0:
            break
        chosen.append((size, pools, merged))
        left -= saved
    worst = chosen[0][1] if chosen else max(grouped.values(), key=len, default=())
    span = index.at(worst[0].path) if worst else index.at(host.hugepages.path)
    labels = [(index.at(pool.path), "a per-node pool on the command line")
              for _, pools, _ in chosen for pool in pools[1:6]]
    message = (f"hostspec's kernel arguments are {length} bytes, over the "
               f"{host.cmdline_budget}-byte budget (`cmdline-budget`)")
    if chosen and left <= host.cmdline_budget:
        names = " and ".join(
            f"the {format_size(size)} pools on {len({n for p in pools for n in p.nodes})} nodes "
            f"into `pool {format_size(size).replace(' ', '')} count {merged.split('=')[1]}`"
            for size, pools, merged in chosen)
        hint = (f"merge {names} (spread over the nodes, no `node`), which brings the line "
                f"to {left} bytes; or keep the per-node counts `at runtime`, or raise "
                "`cmdline-budget` (the kernel takes at most 2048 bytes, every other "
                "argument included)")
    else:
        hint = ("reserve some pools at runtime (`at runtime`) instead of at boot, or raise "
                "`cmdline-budget` (the kernel takes at most 2048 bytes, every other argument "
                "included)")
    return [diag("HS0410", message, span, hint=hint, labels=labels)]


def argument_problems(spec: Spec, index: SpanIndex) -> list[Diagnostic]:
    """What `check` reports about the command line: unsafe tokens and the budget."""
    _, unsafe = checked_arguments(spec, Context("spec", "-", "", pathlib.Path("."), index))
    return unsafe or budget_problems(spec, index)


def kernel_cmdline(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The plain argument file (every boot target gets it), or HS0401."""
    words, problems = checked_arguments(spec, ctx)
    if problems or not words:
        return [], problems
    return [Artifact(PLAIN_PATH, (line_of(words) + "\n").encode("ascii"), "kernel-cmdline", "boot",
                     summary=summary_of(words) + "; the plain line, for any boot tool")], []


def words_of(plain: list[Artifact]) -> list[str]:
    """The arguments back from the plain file (none when it was not written)."""
    return plain[0].data.decode("ascii").split() if plain else []


def summary_of(words: list[str]) -> str:
    """`kernel arguments (reserves huge pages at boot, ...); next boot`."""
    return "kernel arguments (" + _topics(words) + "); next boot"


def _topics(words: list[str]) -> str:
    """What the arguments do, in words: `reserves huge pages at boot, sets THP`."""
    topics = []
    if any(word.startswith("hugepages=") for word in words):
        topics.append("reserves huge pages at boot")
    if any(word.startswith("default_hugepagesz=") for word in words):
        topics.append("sets the default huge page size")
    if any(word.startswith("transparent_hugepage=") for word in words):
        topics.append("sets the boot THP mode")
    return ", ".join(topics)
