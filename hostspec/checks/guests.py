"""Checks of each guest: its backing, its memory sizes and its balloon.

Guests of one template or range share statements, so each check groups the
guests with the same problem at the same statement into one diagnostic.
"""
from __future__ import annotations

from hostspec.model import Guest
from hostspec.language.units import format_nodes, format_size
from hostspec.checks.context import Context, Diagnostics, by_statement, guest_names, verb
from hostspec.checks.hugepages import PAGE_SIZES, sizes_text


def _hugepage_guests(ctx: Context):
    return [g for g in ctx.spec.guests if g.backing.hugepages]


def _names(guests: list[Guest]) -> list[str]:
    return [g.name for g in guests]


def backing_size_has_pool(ctx: Context) -> Diagnostics:
    """An explicit backing size must be valid for the arch and have a pool."""
    arch, sizes = ctx.spec.host.arch, ctx.spec.host.hugepages.sizes()
    unserved = [(ctx.at(g.backing.path), g) for g in _hugepage_guests(ctx)
                if g.backing.size is not None and g.backing.size not in sizes]
    for span, guests in by_statement(unserved, lambda g: g.backing.size):
        size, names = guests[0].backing.size, _names(guests)
        backed = f"{guest_names(names)} {verb(names, 'is', 'are')} backed by `{format_size(size)}` pages"
        if size not in PAGE_SIZES[arch]:
            yield ctx.diag("HS0304", f"{backed}, which `{arch}` does not have",
                           ctx.value(guests[0].backing.path + ("size",)),
                           hint=f"use one of {sizes_text(arch)}")
        else:
            yield ctx.diag("HS0311", f"{backed}, but no pool has that size", span,
                           hint=f"add `pool {format_size(size)} count N` to `hugepages`, "
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
    ragged = [(ctx.at(g.path + ("memory",)), (g, ctx.spec.page_size(g)))
              for g in _hugepage_guests(ctx)
              if ctx.spec.page_size(g) and g.memory % ctx.spec.page_size(g)]
    for span, items in by_statement(ragged, lambda item: (item[0].memory, item[1])):
        (guest, size), names = items[0], [g.name for g, _ in items]
        below, above = guest.memory // size * size, (guest.memory // size + 1) * size
        options = " or ".join(f"`memory {format_size(m)}`" for m in (below, above) if m > 0)
        yield ctx.diag(
            "HS0312", f"{guest_names(names)} {verb(names, 'has', 'have')} "
                      f"`memory {format_size(guest.memory)}`, not a whole number of "
                      f"{format_size(size)} pages",
            span, hint=f"use {options}",
            labels=[ctx.label(guest.backing.path, "the page size comes from here")])


def backing_nodes_in_range(ctx: Context) -> Diagnostics:
    """A guest's `node` must be one of the host's nodes."""
    count = ctx.spec.host.numa_nodes
    stray = [(ctx.at(g.backing.path), g) for g in _hugepage_guests(ctx)
             if any(n >= count for n in g.backing.nodes or ())]
    for span, guests in by_statement(stray, lambda g: g.backing.nodes):
        missing, names = [n for n in guests[0].backing.nodes if n >= count], _names(guests)
        yield ctx.diag(
            "HS0325", f"{guest_names(names)} {verb(names, 'is', 'are')} bound to "
                      f"{format_nodes(missing)}, but the host has {count} NUMA "
                      f"node{'s' if count > 1 else ''}",
            ctx.value(guests[0].backing.path + ("nodes",)),
            hint=f"use {format_nodes(range(count))}, or raise `numa-nodes`",
            labels=[ctx.label(("host", "numa-nodes"), "the node count is set here")])


def current_memory_above_memory(ctx: Context) -> Diagnostics:
    """`current-memory` may not exceed `memory` (libvirt would clamp it silently)."""
    over = [(ctx.at(g.path + ("current-memory",)), g) for g in ctx.spec.guests
            if g.current_memory > g.memory]
    for span, guests in by_statement(over, lambda g: (g.memory, g.current_memory)):
        guest, names = guests[0], _names(guests)
        yield ctx.diag(
            "HS0314", f"{guest_names(names)} {verb(names, 'has', 'have')} `current-memory "
                      f"{format_size(guest.current_memory)}` above `memory "
                      f"{format_size(guest.memory)}`",
            span, hint="lower `current-memory`, or raise `memory` (libvirt would silently "
                       "clamp it)",
            labels=[ctx.label(guest.path + ("memory",), "`memory` is set here")])


def current_memory_needs_balloon(ctx: Context) -> Diagnostics:
    """Below `memory`, only a balloon can hold the rest."""
    short = [(ctx.at(g.path + ("current-memory",)), g) for g in ctx.spec.guests
             if g.current_memory < g.memory and g.balloon.model == "none"]
    for span, guests in by_statement(short, lambda g: (g.memory, g.current_memory)):
        guest, names = guests[0], _names(guests)
        yield ctx.diag(
            "HS0315", f"{guest_names(names)} {verb(names, 'starts', 'start')} with "
                      f"{format_size(guest.current_memory)} of {format_size(guest.memory)}, "
                      "but `balloon none` leaves nothing to hold the rest",
            span, hint="use `balloon virtio`, or drop `current-memory`",
            labels=[ctx.label(guest.balloon.path, "the balloon is turned off here")])


def balloon_useful(ctx: Context) -> Diagnostics:
    """A balloon in a hugepage-backed or locked guest gives nothing back to the host."""
    ballooned = [(_balloon_span(ctx, g), g) for g in ctx.spec.guests
                 if g.balloon.model == "virtio" and (g.backing.hugepages or g.locked)]
    for span, guests in by_statement(ballooned):
        why = ("hugepage-backed" if all(g.backing.hugepages for g in guests) else
               "locked" if all(g.locked for g in guests) else "hugepage-backed or locked")
        first = guests[0]
        yield ctx.diag(
            "HS0316", f"a virtio balloon in {why} {guest_names(_names(guests))} "
                      "returns nothing useful to the host",
            span, hint="write `balloon none`: pages it frees stay in the huge page pool or "
                       "pinned; the balloon is the default, so it is there unless turned off",
            labels=[ctx.label(first.backing.path, "backed by huge pages here")
                    if first.backing.hugepages else None,
                    ctx.label(first.path + ("locked",), "locked here") if first.locked else None])


def _balloon_span(ctx: Context, guest: Guest):
    """The `balloon` statement, or the reason a default balloon is unwanted."""
    if ctx.written(guest.balloon.path):
        return ctx.at(guest.balloon.path)
    if guest.backing.hugepages:
        return ctx.at(guest.backing.path)
    return ctx.at(guest.path + ("locked",))


CHECKS = (backing_size_has_pool, backing_size_decidable, memory_whole_pages,
          backing_nodes_in_range, current_memory_above_memory, current_memory_needs_balloon,
          balloon_useful)
