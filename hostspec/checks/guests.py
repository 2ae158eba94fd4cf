"""Checks of each guest: its backing, its memory sizes and its balloon."""
from __future__ import annotations

from ..model import Guest
from ..units import format_nodes, format_size
from .context import Context, Diagnostics, by_statement, guest_names
from .hugepages import PAGE_SIZES, sizes_text


def _hugepage_guests(ctx: Context):
    return [g for g in ctx.spec.guests if g.backing.hugepages]


def backing_size_has_pool(ctx: Context) -> Diagnostics:
    """An explicit backing size must be valid for the arch and have a pool."""
    arch, sizes = ctx.spec.host.arch, ctx.spec.host.hugepages.sizes()
    for guest in _hugepage_guests(ctx):
        size, path = guest.backing.size, guest.backing.path
        if size is None or size in sizes:
            continue
        text = format_size(size)
        if size not in PAGE_SIZES[arch]:
            yield ctx.diag("HS0304", f"guest `{guest.name}` is backed by `{text}` pages, "
                                     f"which `{arch}` does not have",
                           ctx.value(path + ("size",)), hint=f"use one of {sizes_text(arch)}")
        else:
            yield ctx.diag("HS0311", f"guest `{guest.name}` is backed by `{text}` pages, "
                                     f"but no pool has that size",
                           ctx.at(path), hint=f"add `pool {text} count N` to `hugepages`, "
                                              "or back the guest with a pool's size",
                           labels=[ctx.label(("host", "hugepages"), "the pools are declared here")])


def backing_size_decidable(ctx: Context) -> Diagnostics:
    """`backing hugepages` without a size needs a default or a single pool size."""
    hugepages = ctx.spec.host.hugepages
    if hugepages.default_size is not None or len(hugepages.sizes()) == 1:
        return
    have = ", ".join(f"`{format_size(s)}`" for s in hugepages.sizes())
    why = f"pools of {have} and no `default-size`" if have else "no huge page pools"
    vague = [(ctx.at(g.backing.path), g.name) for g in _hugepage_guests(ctx)
             if g.backing.size is None]
    for span, names in by_statement(vague):
        yield ctx.diag("HS0313", f"`backing hugepages` on {guest_names(names)} has no size, "
                                 f"and the host has {why}",
                       span, hint="write the size (`backing hugepages 2MiB`), or set "
                                  "`default-size` in `hugepages`")


def memory_whole_pages(ctx: Context) -> Diagnostics:
    """Guest memory must be a whole number of its huge pages."""
    for guest in _hugepage_guests(ctx):
        size = ctx.spec.page_size(guest)
        if size is None or guest.memory % size == 0:
            continue
        below, above = guest.memory // size * size, (guest.memory // size + 1) * size
        options = " or ".join(f"`memory {format_size(m)}`" for m in (below, above) if m > 0)
        yield ctx.diag(
            "HS0312", f"guest `{guest.name}` has `memory {format_size(guest.memory)}`, "
                      f"not a whole number of {format_size(size)} pages",
            ctx.at(guest.path + ("memory",)), hint=f"use {options}",
            labels=[ctx.label(guest.backing.path, "the page size comes from here")])


def backing_nodes_in_range(ctx: Context) -> Diagnostics:
    """A guest's `node` must be one of the host's nodes."""
    count = ctx.spec.host.numa_nodes
    for guest in _hugepage_guests(ctx):
        missing = [n for n in guest.backing.nodes or () if n >= count]
        if missing:
            yield ctx.diag(
                "HS0325", f"guest `{guest.name}` is bound to {format_nodes(missing)}, "
                          f"but the host has {count} NUMA node{'s' if count > 1 else ''}",
                ctx.value(guest.backing.path + ("nodes",)),
                hint=f"use {format_nodes(range(count))}, or raise `numa-nodes`",
                labels=[ctx.label(("host", "numa-nodes"), "the node count is set here")])


def current_memory_bounds(ctx: Context) -> Diagnostics:
    """`current-memory` at most `memory`; below it only with a balloon to hold the rest."""
    for guest in ctx.spec.guests:
        current = ctx.at(guest.path + ("current-memory",))
        if guest.current_memory > guest.memory:
            yield ctx.diag(
                "HS0314", f"guest `{guest.name}` has `current-memory "
                          f"{format_size(guest.current_memory)}` above `memory "
                          f"{format_size(guest.memory)}`",
                current, hint="lower `current-memory`, or raise `memory` (libvirt would "
                              "silently clamp it)",
                labels=[ctx.label(guest.path + ("memory",), "`memory` is set here")])
        elif guest.current_memory < guest.memory and guest.balloon.model == "none":
            yield ctx.diag(
                "HS0315", f"guest `{guest.name}` starts with {format_size(guest.current_memory)} "
                          f"of {format_size(guest.memory)}, but has `balloon none` to hold the rest",
                current, hint="use `balloon virtio`, or drop `current-memory`",
                labels=[ctx.label(guest.balloon.path, "the balloon is turned off here")])


def balloon_useful(ctx: Context) -> Diagnostics:
    """A balloon in a hugepage-backed or locked guest gives nothing back to the host."""
    ballooned = [(_balloon_span(ctx, g), g) for g in ctx.spec.guests
                 if g.balloon.model == "virtio" and (g.backing.hugepages or g.locked)]
    for span, guests in by_statement(ballooned):
        why = ("hugepage-backed" if all(g.backing.hugepages for g in guests) else
               "locked" if all(g.locked for g in guests) else "hugepage-backed or locked")
        yield ctx.diag(
            "HS0316", f"a virtio balloon in {why} {guest_names([g.name for g in guests])} "
                      "returns nothing useful to the host",
            span, hint="write `balloon none`: pages it frees stay in the huge page pool or "
                       "pinned; the balloon is the default, so it is there unless turned off",
            labels=[ctx.label(guests[0].backing.path, "backed by huge pages here")
                    if guests[0].backing.hugepages else None,
                    ctx.label(guests[0].path + ("locked",), "locked here")
                    if guests[0].locked else None])


def _balloon_span(ctx: Context, guest: Guest):
    """The `balloon` statement, or the reason a default balloon is unwanted."""
    if ctx.written(guest.balloon.path):
        return ctx.at(guest.balloon.path)
    if guest.backing.hugepages:
        return ctx.at(guest.backing.path)
    return ctx.at(guest.path + ("locked",))


CHECKS = (backing_size_has_pool, backing_size_decidable, memory_whole_pages,
          backing_nodes_in_range, current_memory_bounds, balloon_useful)
