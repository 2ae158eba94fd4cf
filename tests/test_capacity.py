"""Capacity analysis as data: pools per node, one split, shortfalls, ordinary memory."""
from __future__ import annotations

import itertools
import time
from fractions import Fraction

from hypothesis import given, settings, strategies as st

from hostspec.checks.demand import analyse, spread_pages
from hostspec.checks import run_checks
from hostspec.language.index import SpanIndex
from hostspec.model import from_document
from hostspec.language.units import format_amount, format_nodes, format_size
from test_checks_support import GiB, MiB, document, guest, hugepage_guest, pool

SIZES = (2 * MiB, GiB)


def test_formatting():
    assert [format_size(v) for v in (GiB, 1536 * MiB, -2 * GiB, 0, 5)] == [
        "1GiB", "1536MiB", "-2GiB", "0B", "5B"]
    assert format_amount(13824 * MiB) == "13.5GiB" and format_amount(1025 * MiB) == "1025MiB"
    assert [format_nodes(n) for n in ([0], [0, 1, 2], [0, 2])] == ["node 0", "nodes 0-2", "nodes 0,2"]


def test_spread_pool_round_robin_from_node_0():
    assert spread_pages(10, 4) == [3, 3, 2, 2]
    assert spread_pages(3, 1) == [3]


def test_cells_split_and_ordinary_memory_of_a_two_node_host():
    doc = document(
        [hugepage_guest("db", 40 * GiB, GiB, [0]), hugepage_guest("any", 20 * GiB, GiB),
         guest("web-1", 8 * GiB), guest("web-2", 8 * GiB, locked=True)],
        memory=256 * GiB, reserve=8 * GiB, numa_nodes=2, ksm={"run": "on"},
        hugepages={"pools": [pool(GiB, 48, [0]), pool(GiB, 16, [1]), pool(2 * MiB, 1025)]})
    capacity = analyse(from_document(doc))
    one_g = capacity.sizes[1]
    assert one_g.fits and one_g.split == {0: {0: 40}, 1: {0: 8, 1: 12}}
    assert [(c.node, c.reserved, c.used, c.left) for c in one_g.cells] == [(0, 48, 48, 0), (1, 16, 12, 4)]
    assert one_g.cells[0].used_by == (("db", 40), ("any", 8))
    assert [c.reserved for c in capacity.sizes[0].cells] == [513, 512]
    assert capacity.pool_bytes == 64 * GiB + 1025 * 2 * MiB
    assert capacity.ordinary == 256 * GiB - 8 * GiB - capacity.pool_bytes - 4 * 256 * MiB
    assert (capacity.normal_demand, capacity.locked_demand) == (16 * GiB, 8 * GiB)
    assert capacity.ratio == Fraction(16 * GiB, capacity.ordinary)
    assert capacity.reclaim == ("ksm", "balloon")


def test_shortfall_names_node_set_demand_and_guests():
    doc = document([hugepage_guest("a", 20 * GiB, GiB, [0]), hugepage_guest("b", 20 * GiB, GiB, [0, 1]),
                    hugepage_guest("c", 4 * GiB, GiB, [2])],
                   memory=512 * GiB, numa_nodes=3,
                   hugepages={"pools": [pool(GiB, 16, [0, 1]), pool(GiB, 8, [2])]})
    fit = analyse(from_document(doc)).sizes[0]
    assert not fit.fits and fit.split is None
    ((short,),) = [fit.shortfalls]
    assert (short.nodes, short.needed, short.reserved, short.short, short.guests) == ((0, 1), 40, 32, 8, (0, 1))


def _random_host(draw):
    nodes = draw(st.integers(1, 4))
    pools = []
    for size in SIZES:
        if draw(st.booleans()):
            pools.append(pool(size, draw(st.integers(0, 24))))
        else:
            for node in range(nodes):
                if draw(st.booleans()):
                    pools.append(pool(size, draw(st.integers(0, 12)), [node],
                                      at=draw(st.sampled_from(["boot", "runtime"]))))
    return nodes, pools


@st.composite
def hosts_and_guests(draw):
    nodes, pools = _random_host(draw)
    guests = []
    for i in range(draw(st.integers(0, 12))):
        subset = draw(st.one_of(st.none(), st.sets(st.integers(0, nodes - 1), min_size=1)))
        size = draw(st.sampled_from(SIZES))
        guests.append(hugepage_guest(f"g{i}", size * draw(st.integers(1, 10)), size,
                                     None if subset is None else sorted(subset)))
    return document(guests, memory=1024 * GiB, numa_nodes=nodes,
                    hugepages={"pools": pools, "default-size": 2 * MiB} if pools else {})


def _held(doc, size) -> list[int]:
    """Pages per node, computed independently of hostspec: spread pools round-robin."""
    count = doc["host"]["numa-nodes"]
    held = [0] * count
    for p in doc["host"].get("hugepages", {}).get("pools", []):
        if p["size"] != size:
            continue
        for node in p.get("nodes") or range(count):
            held[node] += p["count"] if "nodes" in p else (p["count"] // count + (node < p["count"] % count))
    return held


def _worst_deficiency(doc, size) -> int:
    """Hall's condition by brute force: the largest (confined demand - held) over node subsets."""
    count, held = doc["host"]["numa-nodes"], _held(doc, size)
    have_pool = any(p["size"] == size for p in doc["host"].get("hugepages", {}).get("pools", []))
    wanted = [(set(g["backing"].get("nodes", range(count))), g["memory"] // size)
              for g in doc["guests"] if g["backing"]["size"] == size]
    worst = 0
    for r in range(1, count + 1):
        for subset in itertools.combinations(range(count), r):
            confined = sum(pages for nodes, pages in wanted if nodes <= set(subset))
            worst = max(worst, confined - sum(held[n] for n in subset))
    return worst if have_pool else 0


@settings(derandomize=True, max_examples=300, deadline=None)
@given(hosts_and_guests())
def test_capacity_error_exactly_when_halls_condition_fails(doc):
    spec = from_document(doc)
    reported = [d for d in run_checks(spec, SpanIndex()) if d.code == "HS0301"]
    capacity = analyse(spec)
    for fit in capacity.sizes:
        worst = _worst_deficiency(doc, fit.size)
        assert fit.fits == (worst == 0)
        assert sum(s.short for s in fit.shortfalls) == worst
        assert all(s.short > 0 for s in fit.shortfalls)
        if fit.fits:
            _assert_valid_split(doc, fit)
    assert len(reported) == sum(len(fit.shortfalls) for fit in capacity.sizes)
    assert bool(reported) == any(_worst_deficiency(doc, size) > 0 for size in SIZES)


def _assert_valid_split(doc, fit):
    count, held = doc["host"]["numa-nodes"], _held(doc, fit.size)
    taken = [0] * count
    for index, g in enumerate(doc["guests"]):
        if g["backing"]["size"] != fit.size:
            continue
        share = fit.split[index]
        assert sum(share.values()) == g["memory"] // fit.size
        assert set(share) <= set(g["backing"].get("nodes", range(count)))
        for node, pages in share.items():
            taken[node] += pages
    assert all(t <= h for t, h in zip(taken, held))
    assert [c.used for c in fit.cells] == taken


def test_two_thousand_guests_are_checked_quickly():
    guests = [hugepage_guest(f"hp-{i:04d}", 2 * MiB * (1 + i % 7), 2 * MiB,
                             None if i % 3 == 0 else [i % 4, (i + 1) % 4])
              for i in range(1000)]
    guests += [guest(f"web-{i:04d}", GiB, share_pages=i % 2 == 0) for i in range(1000)]
    doc = document(guests, memory=4096 * GiB, numa_nodes=4, ksm={"run": "on"},
                   overcommit={"max-ratio": 2.0},
                   hugepages={"pools": [pool(2 * MiB, 990, [0, 1, 2, 3])]})  # 3960 < 3997 pages
    spec = from_document(doc)
    started = time.perf_counter()
    found = run_checks(spec, SpanIndex())
    assert time.perf_counter() - started < 2.0
    assert [d.code for d in found] == ["HS0301"]
