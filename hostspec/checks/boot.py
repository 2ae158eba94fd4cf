"""The kernel command line a spec asks for, against what carries it: its length
(`cmdline-budget`), and what bootc's kargs.d cannot carry.  The list is the one
`hostspec.model.kernel_arguments` builds for every boot target."""
from __future__ import annotations

from typing import Iterator

from hostspec.checks.context import Context
from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.codes import diag
from hostspec.language.units import format_size
from hostspec.model import boot_pools, count_argument, kernel_arguments


def cmdline_budget(ctx: Context) -> Iterator[Diagnostic]:
    """HS0410 when hostspec's own arguments are longer than `cmdline-budget` bytes.

    The boot loader hands the kernel at most COMMAND_LINE_SIZE bytes (2048 on
    x86_64 and arm64), the distribution's and the admin's arguments included,
    and the kernel cuts the rest off without a word.  Per-node pools are what
    grows: `hugepages=0:64,1:64,...` is one `N:COUNT` per node.
    """
    spec, index = ctx.spec, ctx.index
    host = spec.host
    words = [word for word, _ in kernel_arguments(spec)]
    length = len(" ".join(words))
    if length <= host.cmdline_budget:
        return
    grouped = boot_pools(spec)
    savings = []
    for size, pools in grouped.items():
        if all(pool.nodes is not None for pool in pools):
            merged = f"hugepages={sum(pool.count * len(pool.nodes) for pool in pools)}"
            savings.append((len(count_argument(pools)) - len(merged), size, pools, merged))
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
    yield diag("HS0410", message, span, hint=hint, labels=labels)


def bootc_kargs(ctx: Context) -> Iterator[Diagnostic]:
    """What bootc's set-like handling of kargs.d cannot carry (crates/lib/src/bootc_kargs.rs:
    `Cmdline::add` skips an argument already there, and an upgrade appends what it adds)."""
    spec, index = ctx.spec, ctx.index
    if spec.host.boot != "bootc":
        return
    listed = list(kernel_arguments(spec))
    words = [word for word, _ in listed]
    found = []
    boot_span = index.at(spec.host.path + ("boot",))
    seen: set[str] = set()
    for word, path in listed:
        if word in seen:
            found.append(diag(
                "HS0409", f"`{word}` appears twice on the command line, and bootc drops the second",
                index.at(path), hint="give each boot pool size a different count (or per-node counts), "
                            "or reserve one size `at runtime`",
                labels=[(boot_span, "bootc combines kernel arguments as a set")]))
        seen.add(word)
    sizes = [w for w in words if w.startswith("hugepagesz=")]
    if len(sizes) > 1 and not found:
        found.append(diag(
            "HS0411", "with more than one boot pool size, `bootc upgrade` can attach a changed "
                      "count to the wrong size", boot_span,
            hint="bootc appends a changed argument at the end of the line, after the last "
                 "`hugepagesz=`: keep one size at boot and reserve the others `at runtime`, "
                 "or change counts by a fresh install"))
    yield from found


CHECKS = (cmdline_budget, bootc_kargs)
