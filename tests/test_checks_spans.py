"""Where semantic diagnostics point: the statement that is wrong, and labels on the others."""
from __future__ import annotations

import hostspec

SPEC = """hostspec 1
host h {
    cpu amd
    memory 256GiB
    numa-nodes 2
    kvm {
        ept on
    }
    hugepages {
        pool 1GiB count 16 node 0
        pool 1GiB count 16 node 1
        pool 2MiB count 64 node 1
        pool 2MiB count 3
    }
}
guest a {
    memory 20GiB
    backing hugepages 1GiB node 0
    balloon none
}
guest b {
    memory 4GiB
    current-memory 8GiB
    backing hugepages 1GiB node 0
    balloon none
}
"""


def _found(tmp_path):
    path = tmp_path / "h.mem"
    path.write_text(SPEC)
    result = hostspec.check(str(path))
    return {d.code: d for d in result.diagnostics}


def _lines(diagnostic):
    return diagnostic.span.line, [(label.span.line, label.message) for label in diagnostic.labels]


def test_hugepage_shortfall_points_at_each_guest_and_the_pools(tmp_path):
    short = _found(tmp_path)["HS0301"]
    assert short.message == ("guests `a`, `b` need 24 pages of 1GiB on node 0, but the host "
                             "reserves 16 there (8 short)")
    assert _lines(short) == (18, [(24, "also draws on these pages"),
                                  (10, "reserves 16 pages on node 0")])


def test_vendor_key_labels_the_cpu(tmp_path):
    assert _lines(_found(tmp_path)["HS0302"]) == (7, [(3, "the CPU vendor is set here")])


def test_duplicate_pool_labels_the_other_pool(tmp_path):
    assert _lines(_found(tmp_path)["HS0306"]) == (13, [(12, "the other pool is declared here")])


def test_current_memory_labels_memory(tmp_path):
    assert _lines(_found(tmp_path)["HS0314"]) == (23, [(22, "`memory` is set here")])
