"""Capacity checks on models: huge page demand per node set, ordinary memory, overcommit."""
from __future__ import annotations

from test_checks_support import GiB, MiB, codes, guest, hugepage_guest, messages, pool

PER_NODE_1G = {"pools": [pool(GiB, 32, [0]), pool(GiB, 32, [1])]}


# HS0301: huge page demand

def test_bound_guest_exactly_at_capacity_passes_one_page_more_fails():
    at = [hugepage_guest("db-01", 32 * GiB, GiB, [0])]
    assert codes(at, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == []
    over = [hugepage_guest("db-01", 33 * GiB, GiB, [0])]
    assert messages("HS0301", over, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == [
        "guest `db-01` needs 33 pages of 1GiB on node 0, but the host reserves 32 there"]


def test_unbound_guests_spread_over_every_node():
    fits = [hugepage_guest(f"a-{i}", 16 * GiB, GiB) for i in range(4)]
    assert codes(fits, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == []
    over = fits + [hugepage_guest("a-4", GiB, GiB)]
    assert messages("HS0301", over, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == [
        "guests `a-0`..`a-4` need 65 pages of 1GiB on nodes 0-1, but the host reserves 64 there "
        "(1 short)"]


def test_bound_guests_crowd_out_unbound_ones():
    # 40 pages must come from node 0 for db, so the unbound guest finds only 24 elsewhere.
    wanted = [hugepage_guest("db", 30 * GiB, GiB, [0]), hugepage_guest("any", 34 * GiB, GiB)]
    assert codes(wanted, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == []
    wanted[1] = hugepage_guest("any", 35 * GiB, GiB)
    assert messages("HS0301", wanted, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == [
        "guests `db`, `any` need 65 pages of 1GiB on nodes 0-1, but the host reserves 64 there "
        "(1 short)"]


def test_independent_shortfalls_are_reported_separately():
    wanted = [hugepage_guest("n0", 33 * GiB, GiB, [0]), hugepage_guest("n1", 34 * GiB, GiB, [1])]
    assert messages("HS0301", wanted, memory=256 * GiB, numa_nodes=2, hugepages=PER_NODE_1G) == [
        "guest `n0` needs 33 pages of 1GiB on node 0, but the host reserves 32 there",
        "guest `n1` needs 34 pages of 1GiB on node 1, but the host reserves 32 there"]


def test_a_node_short_on_its_own_inside_a_larger_shortfall_is_named_in_the_hint(tmp_path):
    # a alone is 2 short on node 0; with b and the unbound e the whole is 3 short.
    # "3 more on nodes 0-1" alone would let one put them on node 1 and still fail.
    from hostspec import api

    spec = tmp_path / "hall.mem"
    spec.write_text(
        "hostspec 1\nhost h {\n    cpu intel\n    memory 64GiB\n    numa-nodes 2\n"
        "    hugepages { pool 1GiB count 10 node 0; pool 1GiB count 10 node 1 }\n}\n"
        "guest a { memory 12GiB; backing hugepages 1GiB node 0; balloon none }\n"
        "guest b { memory 10GiB; backing hugepages 1GiB node 1; balloon none }\n"
        "guest e { memory 1GiB; backing hugepages 1GiB; balloon none }\n")
    (short,) = [d for d in api.check(str(spec)).diagnostics if d.code == "HS0301"]
    assert short.hint == "reserve at least 3 more 1GiB pages on nodes 0-1, at least 2 of them on node 0"
    pools = [label for label in short.labels if label.message.startswith("reserves")]
    assert [(label.span.column, label.message) for label in pools] == [(17, "reserves 10 pages on node 0"),
                                                         (44, "reserves 10 pages on node 1")]
    spec.write_text(spec.read_text().replace("count 10 node 0", "count 12 node 0")
                    .replace("count 10 node 1", "count 11 node 1"))
    assert [d.code for d in api.check(str(spec)).diagnostics if d.code == "HS0301"] == []


def test_runtime_pools_count_and_page_sizes_are_separate():
    pools = {"pools": [pool(2 * MiB, 512, [0], at="runtime"), pool(GiB, 4)]}
    fits = [hugepage_guest("a", GiB, 2 * MiB, [0]), hugepage_guest("b", 4 * GiB, GiB)]
    assert codes(fits, numa_nodes=2, hugepages=pools) == []
    over = [hugepage_guest("a", GiB + 2 * MiB, 2 * MiB, [0]), hugepage_guest("b", 4 * GiB, GiB)]
    assert codes(over, numa_nodes=2, hugepages=pools) == ["HS0301"]


def test_spread_pool_gives_the_odd_page_to_node_0():
    spread = {"pools": [pool(2 * MiB, 3)]}
    assert codes([hugepage_guest("a", 4 * MiB, 2 * MiB, [0])], numa_nodes=2, hugepages=spread) == []
    assert messages("HS0301", [hugepage_guest("a", 4 * MiB, 2 * MiB, [1])], numa_nodes=2,
                    hugepages=spread) == [
        "guest `a` needs 2 pages of 2MiB on node 1, but the host reserves 1 there"]


def test_guests_with_their_own_errors_are_not_counted_twice():
    hp = {"pools": [pool(2 * MiB, 1)]}
    assert codes([hugepage_guest("a", GiB, GiB)], hugepages=hp) == ["HS0311"]
    assert codes([hugepage_guest("a", GiB, 2 * MiB, [3])], hugepages=hp) == ["HS0325"]


# HS0323: ordinary memory

def test_no_ordinary_memory_left_for_normal_guests():
    full = {"pools": [pool(GiB, 14)]}
    assert codes([hugepage_guest("a", 14 * GiB, GiB)], memory=16 * GiB + 256 * MiB,
                 hugepages=full) == []
    assert messages("HS0323", [guest("web", GiB)], memory=16 * GiB, hugepages=full) == [
        "no ordinary memory is left: 16GiB - 2GiB (reserve) - 14GiB (pools) - 1 x 256MiB "
        "(guest overhead) = -256MiB, and 1 `backing normal` guest needs it"]


def test_overhead_of_hugepage_guests_must_fit_too():
    full = {"pools": [pool(GiB, 14)]}
    assert codes([hugepage_guest("a", 14 * GiB, GiB)], memory=16 * GiB, hugepages=full) == ["HS0323"]


def test_pools_over_memory_are_not_reported_twice():
    assert codes([guest("web", GiB)], memory=16 * GiB, hugepages={"pools": [pool(GiB, 15)]}) == [
        "HS0310"]


# HS0318 / HS0319 / HS0322: overcommit
# 16GiB - 2GiB - 2 x 256MiB = 13.5GiB of ordinary memory.

def _two(memory: int, **keys):
    return [guest("web-1", memory, **keys), guest("web-2", memory, **keys)]


def test_exactly_full_ordinary_memory_is_not_overcommit():
    assert codes(_two(6912 * MiB, balloon={"model": "none"}), memory=16 * GiB) == []
    # One MiB over: no reclaim path (HS0318) and above the default max-ratio 1.0 (HS0319),
    # both reported, so that fixing one does not just reveal the other.
    assert codes(_two(6913 * MiB, balloon={"model": "none"}), memory=16 * GiB) == ["HS0318", "HS0319"]
    assert codes(_two(6913 * MiB, balloon={"model": "none"}), memory=16 * GiB,
                 overcommit={"max-ratio": 1.5}) == ["HS0318"]


def test_overcommit_without_reclaim_path():
    assert messages("HS0318", _two(8 * GiB, balloon={"model": "none"}), memory=16 * GiB,
                    overcommit={"max-ratio": 2.0}) == [
        "ordinary memory is overcommitted 1.19x (16GiB of guest memory on 13.5GiB) with no "
        "reclaim path"]


def test_each_reclaim_path_counts():
    none = {"model": "none"}
    assert codes(_two(8 * GiB, balloon=none), memory=16 * GiB, ksm={"run": "on"},
                 overcommit={"max-ratio": 1.5}) == []
    assert codes(_two(8 * GiB), memory=16 * GiB, overcommit={"max-ratio": 1.5}) == []
    assert codes(_two(8 * GiB, balloon=none), memory=16 * GiB, swap={"size": GiB},
                 overcommit={"max-ratio": 1.5}) == []
    assert codes(_two(8 * GiB, balloon=none), memory=16 * GiB, swap={"size": 0},
                 overcommit={"max-ratio": 1.5}) == ["HS0318"]


def test_ksm_does_not_reclaim_from_opted_out_guests():
    guests = _two(8 * GiB, balloon={"model": "none"}, share_pages=False)
    assert "HS0318" in codes(guests, memory=16 * GiB, ksm={"run": "on"},
                             overcommit={"max-ratio": 1.5})


def test_max_ratio_is_the_limit():
    at_limit = {"max-ratio": 1.1852}  # 16 / 13.5 = 1.18518...
    assert codes(_two(8 * GiB), memory=16 * GiB, overcommit=at_limit) == []
    assert messages("HS0319", _two(8 * GiB), memory=16 * GiB, overcommit={"max-ratio": 1.18}) == [
        "ordinary memory is overcommitted 1.19x (16GiB of guest memory on 13.5GiB), above "
        "`max-ratio 1.18`"]


def test_default_max_ratio_is_one():
    assert codes(_two(8 * GiB), memory=16 * GiB) == ["HS0319"]


def test_note_states_ratio_and_reclaim_paths():
    found = messages("HS0322", _two(8 * GiB), memory=16 * GiB, ksm={"run": "on"},
                     swap={"size": 4 * GiB}, overcommit={"max-ratio": 1.5})
    assert found == ["ordinary memory is overcommitted 1.19x (16GiB of guest memory on 13.5GiB), "
                     "within `max-ratio 1.5`; reclaim paths: KSM, virtio balloons, swap"]


def test_locked_guests_count_in_full_and_are_never_reclaimed():
    locked = [guest("db", 14 * GiB, locked=True, balloon={"model": "none"}),
              guest("web", GiB)]
    assert messages("HS0318", locked, memory=16 * GiB, ksm={"run": "on"}, swap={"size": 64 * GiB},
                    overcommit={"max-ratio": 3.0}) == [
        "locked guest `db` needs 14GiB, more than the 13.5GiB of ordinary memory (16GiB - 2GiB "
        "(reserve) - 0B (pools) - 2 x 256MiB (guest overhead) = 13.5GiB)"]


def test_only_unlocked_guests_offer_reclaim_paths():
    guests = [guest("db", 8 * GiB, locked=True, balloon={"model": "none"}),
              guest("web", 8 * GiB, balloon={"model": "none"})]
    assert codes(guests, memory=16 * GiB, swap={"size": GiB}, overcommit={"max-ratio": 1.5}) == []
    guests[1] = guest("web", 8 * GiB, locked=True, balloon={"model": "none"})
    assert codes(guests, memory=16 * GiB, swap={"size": GiB},
                 overcommit={"max-ratio": 1.5}) == ["HS0318"]


def test_max_ratio_below_one_keeps_headroom():
    # 12GiB of guests on 13.5GiB: 0.89
    assert codes(_two(6 * GiB), memory=16 * GiB, overcommit={"max-ratio": 0.9}) == []
    assert messages("HS0319", _two(6 * GiB), memory=16 * GiB, overcommit={"max-ratio": 0.8}) == [
        "ordinary memory is committed 0.89x (12GiB of guest memory on 13.5GiB), above "
        "`max-ratio 0.8`"]


# HS0327: commit limit under `policy never`

def test_commit_limit_counts_ordinary_guests_against_ram_times_ratio_plus_swap():
    def host(**overcommit):
        return {"memory": 16 * GiB, "overcommit": {"policy": "never", **overcommit}}

    guests = [guest("g", memory=12 * GiB)]  # and the default guest overhead
    assert codes(guests, **host()) == ["HS0327"]  # 16GiB x 50% (the kernel's default ratio)
    assert codes(guests, **host(ratio=90)) == []  # 14.4GiB
    assert codes(guests, swap={"size": 8 * GiB}, **host()) == []  # 8GiB + 8GiB of swap
    assert codes(guests, **{**host(), "overcommit": {"policy": "heuristic"}}) == []
    assert codes([hugepage_guest("h", 12 * GiB, 2 * MiB)], hugepages={"pools": [pool(2 * MiB, 6144)]},
                 **host()) == []  # huge pages are not committed memory


def test_capacity_figures_are_exact_and_page_counts_singular_when_one():
    from hostspec.language.units import format_amount

    assert format_amount(1021875 * GiB // 1000) == "1021.875GiB"
    assert format_amount(1048576 * 1024 ** 4) == "1048576TiB"
    one = [hugepage_guest("g", 2 * MiB, 2 * MiB, [0])]
    assert messages("HS0301", one, numa_nodes=1, hugepages={"pools": [pool(2 * MiB, 0, [0])]}) == [
        "guest `g` needs 1 page of 2MiB on node 0, but the host reserves 0 there"]
