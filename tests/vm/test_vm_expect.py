"""The state comparisons on made-up states (no VM needed)."""

from vmharness.expect import meminfo_mismatches, reservation_mismatches, selected, value_mismatches

MIB2 = 2 * 1024**2
GIB1 = 1024**3
STATE = {
    "node0.2048kB.nr_hugepages": "64", "node1.2048kB.nr_hugepages": "32",
    "node0.1048576kB.nr_hugepages": "0", "node1.1048576kB.nr_hugepages": "1",
    "meminfo.Hugepagesize": "2048 kB", "meminfo.HugePages_Total": "96",
    "meminfo.Hugetlb": "1245184 kB",
}
EXPECTED = {MIB2: {0: 64, 1: 32}, GIB1: {1: 1}}


def test_matching_state_has_no_mismatches():
    assert reservation_mismatches(STATE, EXPECTED) == []
    assert meminfo_mismatches(STATE, EXPECTED, MIB2) == []


def test_wrong_node_is_reported():
    assert reservation_mismatches(STATE, {MIB2: {0: 32, 1: 64}, GIB1: {1: 1}}) == [
        "2048kB node0: 64 pages, expected 32", "2048kB node1: 32 pages, expected 64"]


def test_pages_of_an_unexpected_size_are_reported():
    assert reservation_mismatches(STATE, {MIB2: {0: 64, 1: 32}}) == ["1048576kB node1: 1 pages, expected 0"]


def test_spread_pool_compares_the_total_only():
    assert reservation_mismatches(STATE, {MIB2: {None: 96}, GIB1: {None: 1}}) == []
    assert len(reservation_mismatches(STATE, {MIB2: {None: 95}, GIB1: {None: 1}})) == 1


def test_wrong_default_size_is_reported():
    assert meminfo_mismatches(STATE, EXPECTED, GIB1) == [
        "meminfo.Hugepagesize: '2048 kB', expected '1048576 kB'",
        "meminfo.HugePages_Total: '96', expected '1'"]


def test_selected_and_values():
    assert selected("always defer [defer+madvise] madvise never") == "defer+madvise"
    assert value_mismatches({"a": "1"}, {"a": "1", "b": "2"}) == ["b: '<missing>', expected '2'"]
