"""Checks of the `hugepages { }` block: sizes, nodes, duplicates, kernel support, totals."""
from __future__ import annotations

from hostspec.model import GiB, KiB, MiB, Pool
from hostspec.language.units import format_nodes, format_size
from hostspec.checks.context import Context, Diagnostics

PAGE_SIZES = {
    "x86_64": (2 * MiB, GiB),
    # arm64 with the 4K granule: contiguous PTE, PMD, contiguous PMD, PUD.
    "aarch64": (64 * KiB, 2 * MiB, 32 * MiB, GiB),
}
HUGEPAGES = ("host", "hugepages")
PER_NODE_KERNEL = (5, 16)


def sizes_text(arch: str) -> str:
    return ", ".join(f"`{format_size(s)}`" for s in PAGE_SIZES[arch])


def _pools(ctx: Context):
    return enumerate(ctx.spec.host.hugepages.pools)


def page_sizes_for_arch(ctx: Context) -> Diagnostics:
    """Pool and `default-size` sizes the architecture does not have."""
    arch = ctx.spec.host.arch
    places = [(pool.path + ("size",), pool.size) for _, pool in _pools(ctx)]
    if ctx.spec.host.hugepages.default_size is not None:
        places.append((HUGEPAGES + ("default-size",), ctx.spec.host.hugepages.default_size))
    for path, size in places:
        if size not in PAGE_SIZES[arch]:
            yield ctx.diag("HS0304", f"`{format_size(size)}` is not a huge page size on `{arch}`",
                           ctx.value(path), hint=f"use one of {sizes_text(arch)}",
                           labels=[ctx.label(("host", "arch"), "the architecture is set here")])


def pool_nodes_in_range(ctx: Context) -> Diagnostics:
    """A pool `node` that is not one of the host's nodes 0..numa-nodes-1."""
    count = ctx.spec.host.numa_nodes
    for _, pool in _pools(ctx):
        missing = [n for n in pool.nodes or () if n >= count]
        if missing:
            yield ctx.diag(
                "HS0305", f"pool of {format_size(pool.size)} on {format_nodes(missing)}, "
                          f"but the host has {_host_nodes(count)}",
                ctx.value(pool.path + ("nodes",)),
                hint="the kernel ignores the whole `hugepages=` argument when one node is "
                     "missing; use nodes below `numa-nodes` or raise `numa-nodes`",
                labels=[ctx.label(("host", "numa-nodes"), "the node count is set here")])


def _host_nodes(count: int) -> str:
    return "1 NUMA node (0)" if count == 1 else f"{count} NUMA nodes (0-{count - 1})"


def duplicate_pools(ctx: Context) -> Diagnostics:
    """Two pools of one size on one node, or one size both spread and per node."""
    first: dict[int, Pool] = {}
    claimed: dict[tuple[int, int], Pool] = {}
    for _, pool in _pools(ctx):
        earlier = first.setdefault(pool.size, pool)
        size = format_size(pool.size)
        if earlier is not pool and (pool.nodes is None or earlier.nodes is None):
            both = pool.nodes is None and earlier.nodes is None
            message = (f"a second `{size}` pool without `node`" if both else
                       f"`{size}` pools mix the spread form (no `node`) and the per-node form")
            yield _duplicate(ctx, message, pool, earlier)
            continue
        overlap = [n for n in pool.nodes or () if (pool.size, n) in claimed]
        if overlap:
            yield _duplicate(ctx, f"two `{size}` pools claim {format_nodes(overlap)}",
                             pool, claimed[pool.size, overlap[0]])
        for node in pool.nodes or ():
            claimed.setdefault((pool.size, node), pool)


def _duplicate(ctx: Context, message: str, pool: Pool, earlier: Pool):
    return ctx.diag("HS0306", message, ctx.at(pool.path),
                    hint="declare each size either once without `node`, or per node with each "
                         "node in one pool only",
                    labels=[ctx.label(earlier.path, "the other pool is declared here")])


def default_size_has_pool(ctx: Context) -> Diagnostics:
    """`default-size` must be the size of a declared pool."""
    hugepages = ctx.spec.host.hugepages
    if hugepages.default_size is not None and hugepages.default_size not in hugepages.sizes():
        size = format_size(hugepages.default_size)
        have = ", ".join(f"`{format_size(s)}`" for s in hugepages.sizes()) or "none"
        yield ctx.diag("HS0307", f"`default-size {size}` names a size no pool has (pools: {have})",
                       ctx.at(HUGEPAGES + ("default-size",)),
                       hint=f"add `pool {size} count N` or set `default-size` to a pool's size")


def per_node_pools_kernel(ctx: Context) -> Diagnostics:
    """Per-node boot pools need the `hugepages=0:N` form of Linux 5.16, or a kernel
    the spec states has it (`kernel 5.14 { per-node-hugepages on }`: backported)."""
    kernel = ctx.spec.host.kernel
    stated = ctx.spec.host.capabilities.per_node_hugepages
    if stated or (stated is None and kernel >= PER_NODE_KERNEL):
        return
    version = f"{kernel[0]}.{kernel[1]}"
    for _, pool in _pools(ctx):
        if pool.at_boot and pool.nodes is not None:
            if stated is None:
                yield ctx.diag(
                    "HS0308", f"a per-node boot pool needs kernel 5.16 or newer, "
                              f"but `kernel` is {version}",
                    ctx.at(pool.path),
                    hint="older kernels ignore the whole `hugepages=` argument; drop `node`, "
                         "use `at runtime`, or raise `kernel`; a distribution kernel with the "
                         f"node form backported says so: `kernel {version} {{ per-node-hugepages on }}`",
                    labels=[ctx.label(("host", "kernel"), "the oldest kernel is set here")])
            else:
                yield ctx.diag(
                    "HS0308", "a per-node boot pool needs a kernel with per-node boot pools, "
                              "but the spec says the kernel has none",
                    ctx.at(pool.path),
                    hint="drop `node`, or use `at runtime`",
                    labels=[ctx.label(("host", "kernel", "per-node-hugepages"),
                                      "`per-node-hugepages off` is stated here")])


def pools_fit_memory(ctx: Context) -> Diagnostics:
    """All pools together must fit in `memory - reserve`."""
    host, capacity = ctx.spec.host, ctx.capacity
    room = host.memory - host.reserve
    if room <= 0 or capacity.pool_bytes <= room:
        return
    yield ctx.diag(
        "HS0310", f"the pools reserve {format_size(capacity.pool_bytes)} ({_pool_terms(ctx)}), "
                  f"more than `memory` - `reserve` = {format_size(host.memory)} - "
                  f"{format_size(host.reserve)} = {format_size(room)}",
        ctx.index.key(HUGEPAGES),
        hint=f"lower the pool counts by {format_size(capacity.pool_bytes - room)} in total",
        labels=[ctx.label(("host", "memory"), "installed memory"),
                ctx.label(("host", "reserve"), "kept for the host")])


def _pool_terms(ctx: Context) -> str:
    count = ctx.spec.host.numa_nodes
    terms = []
    for _, pool in _pools(ctx):
        nodes = 1 if pool.nodes is None else len([n for n in pool.nodes if n < count])
        if pool.count and nodes:
            terms.append(f"{pool.count} x {format_size(pool.size)}"
                         + (f" x {nodes} nodes" if nodes > 1 else ""))
    return " + ".join(terms) if len(terms) <= 6 else f"{len(terms)} pools"


# The buddy allocator's largest block with 4KiB base pages (order 10, MAX_PAGE_ORDER):
# a larger huge page is "gigantic" and needs a contiguous range found some other way.
LARGEST_BUDDY_BLOCK = 4 * MiB


def gigantic_runtime_pools(ctx: Context) -> Diagnostics:
    """Gigantic pages (1GiB, and arm64's 32MiB) `at runtime` rarely find a free contiguous range."""
    for _, pool in _pools(ctx):
        if pool.size > LARGEST_BUDDY_BLOCK and not pool.at_boot:
            yield ctx.diag(
                "HS0321", f"a `{format_size(pool.size)}` pool `at runtime` is rarely found "
                          "contiguous after boot",
                ctx.at(pool.path),
                hint="reserve gigantic pages `at boot` (the default); the apply script reads "
                     "the count back, but a short pool starves the guests")


CHECKS = (page_sizes_for_arch, pool_nodes_in_range, duplicate_pools, default_size_has_pool,
          per_node_pools_kernel, pools_fit_memory, gigantic_runtime_pools)
