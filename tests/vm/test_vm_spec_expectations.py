"""The expectations the spec-driven VM tests derive, against a hand-written reading.

The VM tests take their expectations from `hostspec export`; if export
misread a spec, the compiler and the expectation could agree and both be
wrong.  This pins what each test spec means, read by a person.  No VM.
"""

import pytest

from specexpect import SPECS_DIR, from_export

MIB2, GIB1 = 2 * 1024**2, 1024**3

HAND_WRITTEN = {
    "vm-two-node": dict(
        mem_mib=4096, nodes=2, default_size=MIB2,
        boot_pools={MIB2: {0: 64, 1: 32}, GIB1: {1: 1}},
        all_pools={MIB2: {0: 64, 1: 32}, GIB1: {1: 1}},
        thp={"thp.enabled": "madvise", "thp.defrag": "defer+madvise"},
        ksm={"ksm.run": "1", "ksm.pages_to_scan": "200", "ksm.sleep_millisecs": "50",
             "ksm.merge_across_nodes": "0", "ksm.use_zero_pages": "1"},
        sysctl={"vm.swappiness": "10", "vm.overcommit_memory": "0"}),
    "vm-runtime-pool": dict(
        mem_mib=2048, nodes=2, default_size=MIB2,
        boot_pools={MIB2: {0: 16}}, all_pools={MIB2: {0: 16, 1: 24}},
        thp={"thp.enabled": "never", "thp.defrag": "never"},
        ksm={"ksm.run": "2", "ksm.pages_to_scan": "1000", "ksm.sleep_millisecs": "100",
             "ksm.merge_across_nodes": "0", "ksm.use_zero_pages": "1"},
        sysctl={"vm.swappiness": "100", "vm.overcommit_memory": "1"}),
    "vm-sysctl-pool": dict(
        mem_mib=2048, nodes=2, default_size=MIB2,
        boot_pools={}, all_pools={MIB2: {None: 48}},
        thp={"thp.enabled": "always", "thp.defrag": "defer"},
        ksm={"ksm.run": "0", "ksm.pages_to_scan": "500", "ksm.sleep_millisecs": "10",
             "ksm.merge_across_nodes": "0", "ksm.use_zero_pages": "0"},
        sysctl={"vm.swappiness": "0", "vm.overcommit_memory": "2", "vm.overcommit_ratio": "75",
                "vm.nr_hugepages": "48"}),
}


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_export_reads_the_spec_as_written(name, export_spec):
    spec = from_export(export_spec(SPECS_DIR / f"{name}.mem"))
    assert spec.host == name
    assert {key: getattr(spec, key) for key in HAND_WRITTEN[name]} == HAND_WRITTEN[name]
