"""Capacity analysis as data: huge page pools per node, ordinary memory, overcommit.

Everything here is a pure function of the model, shared by the capacity checks
and `hostspec explain`.  Huge page demand is decided exactly with a small
max-flow per page size (guest groups -> NUMA nodes); see `hugepage_fit`.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Optional

from hostspec import records
from hostspec.checks.flow import Network
from hostspec.model import Guest, Spec

SOURCE, SINK, FIRST_GROUP = 0, 1, 2


def spread_pages(count: int, node_count: int) -> list[int]:
    """How the kernel spreads a pool without `node`: round-robin from node 0."""
    return [count // node_count + (1 if node < count % node_count else 0)
            for node in range(node_count)]


@records.frozen
class Cell:
    """One page size on one NUMA node: pages reserved and the guests placed there.

    When demand does not fit, `used_by` is the most that can be placed.
    """

    size: int
    node: int
    reserved: int
    used_by: tuple[tuple[str, int], ...] = ()

    @property
    def used(self) -> int:
        return sum(pages for _, pages in self.used_by)

    @property
    def left(self) -> int:
        return self.reserved - self.used


@records.frozen
class Demand:
    """A hugepage-backed guest: pages of one size, drawn from a set of nodes."""

    guest: int  # index into spec.guests
    name: str
    size: int
    pages: int
    nodes: tuple[int, ...]


@records.frozen
class Shortfall:
    """A node set whose confined guests need more pages than it holds."""

    size: int
    nodes: tuple[int, ...]
    needed: int
    reserved: int
    guests: tuple[int, ...]  # indices into spec.guests, in document order
    # Smaller node sets inside `nodes` that are short on their own, as
    # (nodes, pages short): where some of the missing pages must go.
    within: tuple[tuple[tuple[int, ...], int], ...] = ()

    @property
    def short(self) -> int:
        return self.needed - self.reserved


@records.frozen
class SizeFit:
    """The outcome for one page size: cells per node, one split, or the shortfalls."""

    size: int
    cells: tuple[Cell, ...]
    demands: tuple[Demand, ...]
    split: Optional[dict[int, dict[int, int]]]  # guest index -> {node: pages}; None: no fit
    shortfalls: tuple[Shortfall, ...] = ()

    @property
    def fits(self) -> bool:
        return self.split is not None


@records.frozen
class Capacity:
    """The whole memory budget of a host."""

    memory: int
    reserve: int
    pool_bytes: int
    guest_overhead: int
    guest_count: int
    normal_demand: int      # summed `memory` of `backing normal` guests
    locked_demand: int      # the part of it that is `locked` (never reclaimable)
    reclaim: tuple[str, ...]  # "ksm", "balloon", "swap"
    sizes: tuple[SizeFit, ...]
    max_ratio: float = 1.0
    overhead_total: Optional[int] = None  # with per-guest `guest-overhead`: the sum over guests

    @property
    def overhead_bytes(self) -> int:
        """QEMU's memory over all guests: each guest's `guest-overhead`, or the host's."""
        if self.overhead_total is not None:
            return self.overhead_total
        return self.guest_overhead * self.guest_count

    @property
    def overhead_uniform(self) -> bool:
        """Every guest counts the host's `guest-overhead` (the total is N x it)."""
        return self.overhead_bytes == self.guest_overhead * self.guest_count

    def overhead_words(self) -> str:
        """`12 x 256MiB`, or `14GiB over 12 guests` when guests set their own."""
        from hostspec.language.units import format_amount, format_size

        if self.overhead_uniform:
            return f"{self.guest_count} x {format_size(self.guest_overhead)}"
        return f"{format_amount(self.overhead_bytes)} over {self.guest_count} guests"

    @property
    def ordinary(self) -> int:
        """memory - reserve - pools - guest-overhead x guests (may be negative)."""
        return self.memory - self.reserve - self.pool_bytes - self.overhead_bytes

    @property
    def ratio(self) -> Optional[Fraction]:
        """Normal guests' memory over ordinary memory, exact; None without ordinary memory."""
        if self.ordinary <= 0:
            return None
        return Fraction(self.normal_demand, self.ordinary)

    @property
    def max_fraction(self) -> Fraction:
        return Fraction(repr(self.max_ratio))


def node_pages(spec: Spec, size: int) -> list[int]:
    """Pages of `size` reserved on each host node, boot and runtime pools alike.

    Nodes outside the host are dropped: a separate check reports them.
    """
    count = spec.host.numa_nodes
    pages = [0] * count
    for pool in spec.host.hugepages.pools:
        if pool.size != size:
            continue
        if pool.nodes is None:
            pages = [have + add for have, add in zip(pages, spread_pages(pool.count, count))]
        else:
            for node in pool.nodes:
                if node < count:
                    pages[node] += pool.count
    return pages


def demands(spec: Spec) -> list[Demand]:
    """Every hugepage-backed guest whose size has a pool and whose nodes exist.

    Guests left out here (no pool of their size, undecidable size, only missing
    nodes) get their own diagnostics instead of a misleading shortfall.
    """
    sizes = set(spec.host.hugepages.sizes())
    every_node = tuple(range(spec.host.numa_nodes))
    made = []
    for index, guest in enumerate(spec.guests):
        size = spec.page_size(guest)
        if size is None or size not in sizes:
            continue
        nodes = _allowed_nodes(guest, every_node)
        if nodes:
            made.append(Demand(index, guest.name, size, -(-guest.memory // size), nodes))
    return made


def _allowed_nodes(guest: Guest, every_node: tuple[int, ...]) -> tuple[int, ...]:
    if guest.backing.nodes is None:
        return every_node
    return tuple(n for n in guest.backing.nodes if n < len(every_node))


def hugepage_fit(size: int, reserved: list[int], wanted: list[Demand]) -> SizeFit:
    """Place every demand on its nodes, or find the node sets that are short.

    Guests with the same node set form one group; the flow source -> group ->
    node -> sink has one edge per (group, node), so 2,000 guests cost little.
    """
    groups: dict[tuple[int, ...], list[Demand]] = {}
    for demand in wanted:
        groups.setdefault(demand.nodes, []).append(demand)
    keys = list(groups)
    node_vertex = {node: FIRST_GROUP + len(keys) + node for node in range(len(reserved))}
    net = _network(keys, groups, reserved, node_vertex)
    placed = net.max_flow(SOURCE, SINK)
    split = _split(net, keys, groups, node_vertex)
    cells = _cells(size, reserved, split, wanted)
    if placed == sum(d.pages for d in wanted):
        return SizeFit(size, cells, tuple(wanted), split)
    shortfalls = _shortfalls(net, keys, groups, reserved, size)
    return SizeFit(size, cells, tuple(wanted), None, shortfalls)


def _network(keys, groups, reserved: list[int], node_vertex) -> Network:
    net = Network(FIRST_GROUP + len(keys) + len(reserved))
    for g, key in enumerate(keys):
        net.add(SOURCE, FIRST_GROUP + g, sum(d.pages for d in groups[key]))
        for node in key:
            net.add(FIRST_GROUP + g, node_vertex[node], None)
    for node, pages in enumerate(reserved):
        net.add(node_vertex[node], SINK, pages)
    return net


def _split(net: Network, keys, groups, node_vertex) -> dict[int, dict[int, int]]:
    """Hand each group's flow per node to its guests, in document order."""
    split: dict[int, dict[int, int]] = {}
    for g, key in enumerate(keys):
        offer = {node: net.flow(FIRST_GROUP + g, node_vertex[node]) for node in key}
        for demand in groups[key]:
            need, share = demand.pages, {}
            for node in key:
                take = min(need, offer[node])
                if take:
                    share[node], offer[node], need = take, offer[node] - take, need - take
            if share:
                split[demand.guest] = share
    return split


def _cells(size: int, reserved: list[int], split, wanted) -> tuple[Cell, ...]:
    names = {d.guest: d.name for d in wanted}
    used: list[list[tuple[str, int]]] = [[] for _ in reserved]
    for guest in sorted(split):
        for node, pages in sorted(split[guest].items()):
            used[node].append((names[guest], pages))
    return tuple(Cell(size, node, pages, tuple(used[node])) for node, pages in enumerate(reserved))


def _shortfalls(net: Network, keys, groups, reserved, size) -> tuple[Shortfall, ...]:
    """The min cut, split into independent node sets, each short on its own.

    Groups still reachable from the source after the max flow are confined to
    the reachable nodes, and those nodes are full: the deficit of each
    connected piece is exactly the demand it cannot place.
    """
    reach = net.reachable(SOURCE)
    short_groups = [g for g in range(len(keys)) if FIRST_GROUP + g in reach]
    pieces = _connected(short_groups, keys)
    made = []
    for piece in pieces:
        nodes = tuple(sorted({n for g in piece for n in keys[g]}))
        guests = tuple(sorted(d.guest for g in piece for d in groups[keys[g]]))
        needed = sum(d.pages for g in piece for d in groups[keys[g]])
        made.append(Shortfall(size, nodes, needed, sum(reserved[n] for n in nodes), guests,
                              _short_within(nodes, [keys[g] for g in piece], groups, reserved)))
    return tuple(sorted(made, key=lambda s: s.nodes))


MAX_NODES_SEARCHED = 8  # subsets of a short node set looked at: 2**8, at most


def _short_within(nodes, piece_keys, groups, reserved) -> tuple:
    """Proper subsets of `nodes` whose confined guests alone need more than they
    hold (Hall's condition, subset by subset), leaving out any that a smaller
    one already implies.  Only for a few nodes: beyond, the total must do."""
    if len(nodes) > MAX_NODES_SEARCHED:
        return ()
    found: list[tuple[tuple[int, ...], int]] = []
    for width in range(1, len(nodes)):
        for subset in itertools.combinations(nodes, width):
            inside = set(subset)
            need = sum(d.pages for key in piece_keys if set(key) <= inside for d in groups[key])
            short = need - sum(reserved[n] for n in subset)
            if short > 0 and not any(set(s) < inside and k >= short for s, k in found):
                found.append((subset, short))
    return tuple(found)


def _connected(group_ids: list[int], keys) -> list[list[int]]:
    """Groups that share a node, transitively (union-find over nodes)."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for g in group_ids:
        first = keys[g][0]
        for node in keys[g][1:]:
            parent[root(node)] = root(first)
    pieces: dict[int, list[int]] = {}
    for g in group_ids:
        pieces.setdefault(root(keys[g][0]), []).append(g)
    return list(pieces.values())


def reclaim_paths(spec: Spec) -> tuple[str, ...]:
    """What can give back memory from unlocked `backing normal` guests."""
    movable = [g for g in spec.guests if not g.backing.hugepages and not g.locked]
    paths = []
    if spec.host.ksm.run == "on" and any(g.share_pages for g in movable):
        paths.append("ksm")
    if any(g.balloon.model == "virtio" for g in movable):
        paths.append("balloon")
    if spec.host.swap.size > 0 and movable:
        paths.append("swap")
    return tuple(paths)


def analyse(spec: Spec) -> Capacity:
    """The capacity of a host: pools per node and size, ordinary memory, overcommit."""
    host, wanted = spec.host, demands(spec)
    fits, pool_bytes = [], 0
    for size in host.hugepages.sizes():
        reserved = node_pages(spec, size)
        pool_bytes += sum(reserved) * size
        fits.append(hugepage_fit(size, reserved, [d for d in wanted if d.size == size]))
    normal = [g for g in spec.guests if not g.backing.hugepages]
    return Capacity(
        memory=host.memory, reserve=host.reserve, pool_bytes=pool_bytes,
        guest_overhead=host.guest_overhead, guest_count=len(spec.guests),
        normal_demand=sum(g.memory for g in normal),
        locked_demand=sum(g.memory for g in normal if g.locked),
        reclaim=reclaim_paths(spec), sizes=tuple(fits), max_ratio=host.overcommit.max_ratio,
        overhead_total=sum(spec.overhead(g) for g in spec.guests))
