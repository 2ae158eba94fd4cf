"""Negative controls: a wrong command line must NOT pass as the right one.

Each test boots a command line that is wrong on purpose and shows that the
same comparison the spec-driven tests use reports the difference.  If
these ever pass with an empty mismatch list, the VM layer has stopped
seeing what the kernel does and its green results mean nothing.
"""

import pytest

from vmharness.expect import reservation_mismatches

MIB2 = 2 * 1024**2
GIB1 = 1024**3


@pytest.fixture(scope="module")
def invalid_node(boot_vm):
    """Node 2 does not exist on a two-node guest."""
    return boot_vm("negative-invalid-node", "hugepagesz=2M hugepages=0:8,2:8")


@pytest.fixture(scope="module")
def wrong_order(boot_vm):
    """hugepages= before hugepagesz=1G applies to the default size (2M) instead."""
    return boot_vm("negative-wrong-order", "hugepages=1 hugepagesz=1G")


def test_invalid_node_drops_the_whole_value(invalid_node):
    mismatches = reservation_mismatches(invalid_node.boot, {MIB2: {0: 8, 1: 8}})
    assert "2048kB node0: 0 pages, expected 8" in mismatches
    assert "2048kB node1: 0 pages, expected 8" in mismatches
    assert "HugeTLB: Invalid hugepages parameter 2:8" in invalid_node.log


def test_argument_order_is_detected(wrong_order):
    mismatches = reservation_mismatches(wrong_order.boot, {GIB1: {None: 1}})
    assert any(m.startswith("1048576kB: 0 pages in all, expected 1") for m in mismatches), mismatches
    assert "2048kB node0: 1 pages, expected 0" in mismatches or "2048kB node1: 1 pages, expected 0" in mismatches
