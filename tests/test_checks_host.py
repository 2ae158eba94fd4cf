"""Host-level checks on models: kvm keys, pools, kernel versions, tuning."""
from __future__ import annotations

from test_checks_support import GiB, MiB, codes, messages, pool

KiB = 1024


# HS0302 / HS0303 / HS0324: the kvm block

def test_intel_keys_on_amd_are_errors_and_npt_passes():
    assert codes(cpu="amd", kvm={"ept": True, "vpid": True, "npt": True, "nested": True}) == [
        "HS0302", "HS0302"]
    assert codes(cpu="amd", kvm={"npt": False, "nested": False}) == []


def test_npt_on_intel_is_an_error():
    assert messages("HS0302", cpu="intel", kvm={"npt": True}) == [
        "`npt` is a kvm_amd option, but the host has `cpu intel`"]
    assert codes(cpu="intel", kvm={"ept": True, "vpid": False, "nested": True}) == []


def test_ept_off_is_warned_only_for_itself():
    assert codes(kvm={"ept": False}) == ["HS0303"]
    assert codes(kvm={"ept": True, "vpid": False}) == []


def test_ept_off_on_amd_is_the_vendor_error_not_a_warning():
    assert codes(cpu="amd", kvm={"ept": False}) == ["HS0302"]


def test_x86_keys_on_aarch64():
    assert codes(arch="aarch64", kvm={"ept": True, "vpid": True, "npt": False}) == [
        "HS0324", "HS0324", "HS0324"]


def test_nested_on_aarch64_only_off_is_accepted():
    assert codes(arch="aarch64", kvm={"nested": False}) == []
    assert codes(arch="aarch64", kvm={"nested": True}) == ["HS0324"]


# HS0304: page sizes per architecture

def test_x86_page_sizes():
    ok = {"pools": [pool(2 * MiB, 8), pool(GiB, 1)]}
    assert codes(hugepages=ok) == []
    for size in (64 * KiB, 32 * MiB, 4 * MiB):
        assert codes(hugepages={"pools": [pool(size, 8)]}) == ["HS0304"]


def test_aarch64_page_sizes_of_the_4k_granule():
    ok = {"pools": [pool(64 * KiB, 8), pool(2 * MiB, 8), pool(32 * MiB, 2), pool(GiB, 1)]}
    assert codes(arch="aarch64", hugepages=ok) == []
    assert messages("HS0304", arch="aarch64", hugepages={"pools": [pool(512 * MiB, 1)]}) == [
        "`512MiB` is not a huge page size on `aarch64`"]


def test_default_size_must_be_valid_for_the_arch():
    assert "HS0304" in codes(hugepages={"default-size": 32 * MiB, "pools": [pool(32 * MiB, 1)]})


# HS0305 / HS0306: pool nodes and duplicates

def test_pool_node_range():
    assert codes(numa_nodes=2, hugepages={"pools": [pool(2 * MiB, 8, [0, 1])]}) == []
    assert messages("HS0305", numa_nodes=2, hugepages={"pools": [pool(2 * MiB, 8, [1, 2, 3])]}) == [
        "pool of 2MiB on nodes 2-3, but the host has 2 NUMA nodes (0-1)"]


def test_duplicate_pools():
    same_node = [pool(2 * MiB, 8, [0]), pool(2 * MiB, 8, [0, 1])]
    mixed = [pool(GiB, 1, [0]), pool(GiB, 1)]
    two_spread = [pool(2 * MiB, 8), pool(2 * MiB, 8, at="runtime")]
    for pools in (same_node, mixed, two_spread):
        assert codes(numa_nodes=2, hugepages={"pools": pools}) == ["HS0306"], pools


def test_boot_and_runtime_pools_of_one_size_on_different_nodes_pass():
    pools = [pool(2 * MiB, 8, [0]), pool(2 * MiB, 8, [1], at="runtime"), pool(GiB, 1)]
    assert codes(numa_nodes=2, hugepages={"pools": pools}) == []


# HS0307 / HS0308 / HS0309: default size, kernel versions

def test_default_size_needs_a_pool():
    assert codes(hugepages={"default-size": GiB, "pools": [pool(GiB, 2)]}) == []
    assert messages("HS0307", hugepages={"default-size": GiB, "pools": [pool(2 * MiB, 2)]}) == [
        "`default-size 1GiB` names a size no pool has (pools: `2MiB`)"]


def test_per_node_boot_pools_need_5_16():
    per_node = {"pools": [pool(2 * MiB, 8, [0])]}
    assert codes(kernel="5.16", hugepages=per_node) == []
    assert messages("HS0308", kernel="5.15", hugepages=per_node) == [
        "a per-node boot pool needs kernel 5.16 or newer, but `kernel` is 5.15"]
    runtime = {"pools": [pool(2 * MiB, 8, [0], at="runtime"), pool(GiB, 1)]}
    assert codes(kernel="4.19", hugepages=runtime) == []


def test_swappiness_above_100_needs_5_8():
    assert codes(kernel="5.7", swap={"swappiness": 100}) == []
    assert codes(kernel="5.8", swap={"swappiness": 200}) == []
    assert messages("HS0309", kernel="5.7", swap={"swappiness": 101}) == [
        "`swappiness 101` needs kernel 5.8 or newer, but `kernel` is 5.7"]


# HS0310 / HS0321 / HS0326: totals, gigantic runtime pools, reserve

def test_pools_up_to_memory_minus_reserve_pass_one_page_more_fails():
    exact = {"pools": [pool(GiB, 30, [0, 1]), pool(2 * MiB, 1024)]}
    assert "HS0310" not in codes(memory=66 * GiB, reserve=4 * GiB, numa_nodes=2, hugepages=exact)
    over = {"pools": [pool(GiB, 30, [0, 1]), pool(2 * MiB, 1025)]}
    assert messages("HS0310", memory=66 * GiB, reserve=4 * GiB, numa_nodes=2, hugepages=over) == [
        "the pools reserve 63490MiB (30 x 1GiB x 2 nodes + 1025 x 2MiB), more than "
        "`memory` - `reserve` = 66GiB - 4GiB = 62GiB"]


def test_gigantic_runtime_pools_are_warned():
    assert codes(hugepages={"pools": [pool(GiB, 2, at="runtime")]}) == ["HS0321"]
    assert codes(hugepages={"pools": [pool(GiB, 2), pool(2 * MiB, 64, at="runtime")]}) == []
    # arm64 (4KiB base pages): 32MiB pages are gigantic too (order 13 > 10); 2MiB and 64KiB are not.
    arm = {"cpu": "amd", "arch": "aarch64"}
    assert codes(hugepages={"pools": [pool(32 * MiB, 4, at="runtime")]}, **arm) == ["HS0321"]
    assert codes(hugepages={"pools": [pool(2 * MiB, 4, at="runtime"), pool(64 * 1024, 4, at="runtime")]},
                 **arm) == []


def test_reserve_must_be_below_memory():
    assert codes(memory=4 * GiB, reserve=4 * GiB) == ["HS0326"]
    assert codes(memory=4 * GiB, reserve=4 * GiB - MiB) == []


def test_default_reserve_counts_too():
    assert codes(memory=2 * GiB) == ["HS0326"]


# HS0320: overcommit ratio

def test_ratio_only_with_policy_never():
    assert codes(overcommit={"policy": "never", "ratio": 80}) == []
    assert codes(overcommit={"policy": "always", "ratio": 80}) == ["HS0320"]
    assert messages("HS0320", overcommit={"ratio": 80}) == [
        "`ratio 80` has no effect with `policy heuristic`"]
