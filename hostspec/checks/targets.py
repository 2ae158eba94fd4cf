"""What a target cannot express: sizes libvirt would round, a locked guest with
no room for QEMU above its memory.  These are checks, not backend work, so
`check` reaches the verdict `compile` does without building an artifact."""
from __future__ import annotations

from typing import Iterator

from hostspec.checks.context import Context
from hostspec.diagnostics import Diagnostic
from hostspec.diagnostics.codes import diag


def domain_sizes(ctx: Context) -> Iterator[Diagnostic]:
    """Sizes libvirt would round, and a locked guest with no room above its memory."""
    for guest in ctx.spec.guests:
        yield from _inexpressible(ctx.spec, guest, ctx)


def _inexpressible(spec, guest, ctx: Context) -> list[Diagnostic]:
    """Settings libvirt would round or that cannot make a domain that starts."""
    found = []
    sizes = [("memory", guest.memory)]
    if guest.current_memory != guest.memory:
        sizes.append(("current-memory", guest.current_memory))
    page = spec.page_size(guest)
    if page is not None:
        sizes.append(("backing", page))
    for key, size in sizes:
        if size % 1024:
            found.append(diag("HS0407", f"`{key}` of guest `{guest.name}` is {size} bytes, "
                              "not a whole number of KiB", ctx.index.value(guest.path + (key,)),
                              hint="libvirt rounds sizes up to KiB: give a multiple of 1KiB"))
    if guest.locked and spec.overhead(guest) == 0:
        whose = "the host's" if guest.guest_overhead is None else "its"
        found.append(diag("HS0407", f"locked guest `{guest.name}` needs a memory hard limit above "
                          f"its memory, but {whose} `guest-overhead` is 0",
                          ctx.index.at(guest.path + ("locked",)),
                          hint=f"set {whose} `guest-overhead` to QEMU's own memory for the guest"))
    return found


CHECKS = (domain_sizes,)
