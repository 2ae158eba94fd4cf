"""Backends as functions of the model: what each writes, and when it writes nothing."""
from __future__ import annotations

import hashlib
import json
import pathlib
import re

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from hostspec.backends import tree as emit
from hostspec.backends import (Context, apply_script, build_artifacts, cmdline, grub, modprobe, preset,
                               sysctl, systemd)
from hostspec.model import GiB, KiB, MiB, from_document

CTX = Context("hv.mem", "ab" * 32, "9.9.9", pathlib.Path("."))


def spec_of(**host):
    doc = {"hostspec": 1, "host": {"name": "hv-01", "cpu": "intel", "memory": 256 * GiB, **host}}
    return from_document(doc)


def pools(*entries):
    return {"pools": [dict(zip(("size", "count", "nodes", "at"), entry)) for entry in entries]}


def by_path(spec):
    artifacts, problems = build_artifacts(spec, CTX)
    assert problems == []
    return {a.path: a for a in artifacts}


HOST_PATHS = {modprobe.PATH, grub.PATH, cmdline.PLAIN_PATH, sysctl.PATH,
              apply_script.PATH, systemd.PATH, preset.PATH}


# -- kernel command line ----------------------------------------------------

@pytest.mark.parametrize("size, text", [(64 * KiB, "64K"), (2 * MiB, "2M"), (32 * MiB, "32M"),
                                        (512 * MiB, "512M"), (GiB, "1G"), (16 * GiB, "16G")])
def test_kernel_size_is_written_the_kernel_way(size, text):
    assert cmdline.kernel_size(size) == text


def test_arguments_in_documented_order():
    spec = spec_of(**{"numa-nodes": 2}, thp={"enabled": "madvise"},
                   hugepages={"default-size": GiB, **pools((GiB, 64, [1]), (2 * MiB, 512, None),
                                                           (GiB, 64, [0]))})
    words = [word for word, _ in cmdline.arguments(spec)]
    assert words == ["default_hugepagesz=1G", "hugepagesz=2M", "hugepages=512",
                     "hugepagesz=1G", "hugepages=0:64,1:64", "transparent_hugepage=madvise"]


def test_per_node_form_takes_only_boot_pools_of_the_size():
    spec = spec_of(**{"numa-nodes": 3}, hugepages=pools(
        (2 * MiB, 100, [2]), (2 * MiB, 50, [0]), (2 * MiB, 7, [1], "runtime")))
    assert [w for w, _ in cmdline.arguments(spec)] == ["hugepagesz=2M", "hugepages=0:50,2:100"]


def test_pool_on_a_node_set_reserves_on_each_node():
    spec = spec_of(**{"numa-nodes": 2}, hugepages=pools((2 * MiB, 64, [0, 1])))
    assert [w for w, _ in cmdline.arguments(spec)] == ["hugepagesz=2M", "hugepages=0:64,1:64"]


def test_runtime_only_pools_and_thp_defrag_give_no_kernel_arguments():
    spec = spec_of(hugepages=pools((2 * MiB, 64, None, "runtime")), thp={"defrag": "never"})
    assert grub.PATH not in by_path(spec) and cmdline.PLAIN_PATH not in by_path(spec)


def test_grub_drop_in_appends_to_the_distribution_arguments():
    spec = spec_of(hugepages={"default-size": GiB, **pools((GiB, 8, None))})
    drop_in = by_path(spec)[grub.PATH].data.decode()
    assert drop_in.splitlines()[-1] == ('GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX:+$GRUB_CMDLINE_LINUX }'
                                     'default_hugepagesz=1G hugepagesz=1G hugepages=8"')
    assert "+=" not in drop_in


def test_kernel_cmdline_is_one_line_of_arguments():
    spec = spec_of(thp={"enabled": "never"}, hugepages=pools((2 * MiB, 10, None)))
    data = by_path(spec)[cmdline.PLAIN_PATH].data
    assert data == b"hugepagesz=2M hugepages=10 transparent_hugepage=never\n"


def test_unsafe_argument_is_hs0401_and_writes_nothing():
    spec = spec_of(thp={"enabled": "madvise"})
    evil = attrs.evolve(spec, host=attrs.evolve(
        spec.host, thp=attrs.evolve(spec.host.thp, enabled='never"; reboot #')))
    artifacts, problems = cmdline.kernel_cmdline(evil, CTX)
    assert artifacts == [] and [p.code for p in problems] == ["HS0401"]


@settings(derandomize=True, max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([2 * MiB, GiB]), st.integers(0, 2 ** 32 - 1),
                          st.one_of(st.none(), st.sets(st.integers(0, 1023), min_size=1)),
                          st.sampled_from(["boot", "runtime"])), max_size=6))
def test_every_argument_is_a_safe_token_and_sizes_ascend(entries):
    entries = [(s, c, sorted(n) if n else None, a) for s, c, n, a in entries]
    spec = spec_of(**{"numa-nodes": 1024}, hugepages=pools(*entries))
    words = [w for w, _ in cmdline.arguments(spec)]
    assert all(cmdline.SAFE_TOKEN.fullmatch(w) for w in words)
    sizes = [w.split("=")[1] for w in words if w.startswith("hugepagesz=")]
    assert sizes == sorted(set(sizes), key=["2M", "1G"].index)


# -- modprobe.d --------------------------------------------------------------

@pytest.mark.parametrize("cpu, kvm, line", [
    ("intel", {"nested": False, "vpid": True, "ept": True}, "options kvm_intel ept=1 vpid=1 nested=0"),
    ("intel", {"vpid": False}, "options kvm_intel vpid=0"),
    ("amd", {"nested": True, "npt": True}, "options kvm_amd npt=1 nested=1"),
    ("amd", {"nested": False}, "options kvm_amd nested=0"),
])
def test_modprobe_options_fixed_order_as_1_0(cpu, kvm, line):
    data = by_path(spec_of(cpu=cpu, kvm=kvm))[modprobe.PATH].data.decode()
    assert [l for l in data.splitlines() if not l.startswith("#")] == [line]


def test_no_kvm_keys_no_modprobe_file():
    assert modprobe.PATH not in by_path(spec_of(kvm={}))


def test_no_modprobe_file_on_aarch64():
    # kvm keys on aarch64 are HS0324, a check `check` and `compile` share (checks/kvm.py);
    # the backend writes no kvm_intel/kvm_amd file for an arm64 host.
    artifacts, problems = modprobe.modprobe_options(spec_of(arch="aarch64", kvm={"nested": False}), CTX)
    assert artifacts == [] and problems == []


# -- sysctl.d ----------------------------------------------------------------

@pytest.mark.parametrize("policy, value", [("heuristic", 0), ("always", 1), ("never", 2)])
def test_overcommit_policy_values(policy, value):
    assert ("vm.overcommit_memory", value) in sysctl.settings(spec_of(overcommit={"policy": policy}))


def test_sysctl_lines_are_key_equals_value_without_inline_comments():
    spec = spec_of(swap={"swappiness": 10}, overcommit={"policy": "never", "ratio": 80},
                   hugepages=pools((2 * MiB, 300, None, "runtime")))
    lines = [l for l in by_path(spec)[sysctl.PATH].data.decode().splitlines() if not l.startswith("#")]
    assert lines == ["vm.swappiness = 10", "vm.overcommit_memory = 2", "vm.overcommit_ratio = 80",
                     "vm.nr_hugepages = 300"]


@pytest.mark.parametrize("hugepages, expected", [
    ({**pools((2 * MiB, 300, None, "runtime"))}, 300),                       # arch default 2M
    ({"default-size": GiB, **pools((2 * MiB, 300, None, "runtime"), (GiB, 1, None))}, None),
    ({"default-size": GiB, **pools((GiB, 3, None, "runtime"))}, 3),
    ({**pools((2 * MiB, 300, [0], "runtime"))}, None),                      # per node
    ({**pools((2 * MiB, 300, None))}, None),                                 # at boot
])
def test_nr_hugepages_only_for_a_spread_runtime_pool_of_the_default_size(hugepages, expected):
    found = dict(sysctl.settings(spec_of(hugepages=hugepages))).get("vm.nr_hugepages")
    assert found == expected


# -- apply-memory and its unit -----------------------------------------------

def test_nothing_for_the_script_means_no_script_and_no_unit():
    made = by_path(spec_of(swap={"swappiness": 5}, kvm={"ept": True}))
    assert apply_script.PATH not in made and systemd.PATH not in made


@pytest.mark.parametrize("host", [
    {"thp": {"defrag": "defer"}}, {"ksm": {"sleep": 10}},
    {"hugepages": pools((2 * MiB, 4, [0], "runtime"))},
])
def test_script_is_executable_and_comes_with_its_unit(host):
    made = by_path(spec_of(**host))
    assert made[apply_script.PATH].mode == 0o755 and made[apply_script.PATH].data.startswith(b"#!/bin/sh\n")
    assert made[systemd.PATH].mode == 0o644


def test_script_values_and_ksm_order():
    spec = spec_of(**{"numa-nodes": 2}, thp={"enabled": "never", "defrag": "defer+madvise"},
                   ksm={"run": "unmerge", "pages-to-scan": 7, "sleep": 30,
                        "merge-across-nodes": True, "use-zero-pages": False},
                   hugepages=pools((GiB, 2, [1], "runtime"), (2 * MiB, 9, None, "runtime")))
    calls = apply_script.script_lines(spec)[1:]
    assert calls == [
        "set_value kernel/mm/transparent_hugepage/enabled never",
        "set_value kernel/mm/transparent_hugepage/defrag defer+madvise",
        "set_value kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 9",
        "set_value devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages 2",
        "set_value kernel/mm/ksm/pages_to_scan 7",
        "set_value kernel/mm/ksm/sleep_millisecs 30",
        "set_value kernel/mm/ksm/use_zero_pages 0",
        "set_merge_across_nodes 1 2",
        "set_value kernel/mm/ksm/run 2",
    ]


def test_script_never_names_a_read_only_ksm_counter():
    spec = spec_of(ksm={"run": "on", "pages-to-scan": 7, "sleep": 30,
                        "merge-across-nodes": True, "use-zero-pages": True})
    text = by_path(spec)[apply_script.PATH].data.decode()
    for counter in ("pages_shared", "pages_sharing", "pages_unshared", "pages_volatile",
                    "full_scans", "stable_node_chains", "general_profit"):
        assert counter not in text


def test_script_refuses_an_unsafe_word():
    with pytest.raises(ValueError):
        apply_script._word("never; reboot")


@pytest.mark.parametrize("ksm, conflicts", [({"run": "on"}, True), ({"run": "off"}, True),
                                            ({"sleep": 20}, True), ({"pages-to-scan": 100}, True),
                                            ({"merge-across-nodes": False}, False),
                                            ({"use-zero-pages": True}, False)])
def test_unit_conflicts_with_ksmtuned_when_a_value_it_writes_is_pinned(ksm, conflicts):
    # ksmtuned's loop writes run, pages_to_scan and sleep_millisecs (DOMAIN.md §3).
    unit = by_path(spec_of(ksm=ksm))[systemd.PATH].data.decode().splitlines()
    assert ("Conflicts=ksmtuned.service" in unit) == conflicts
    after = next(l for l in unit if l.startswith("After="))
    assert "ksmtuned.service" in after  # Conflicts= alone does not order the stop
    for line in ("Type=oneshot", "RemainAfterExit=yes", "WantedBy=multi-user.target",
                 "ExecStart=/usr/libexec/hostspec/apply-memory"):
        assert line in unit
    assert any(l.startswith("Before=") and "libvirtd.service" in l for l in unit)


# -- common rules -------------------------------------------------------------

FULL = dict(kvm={"ept": True}, thp={"enabled": "madvise"}, ksm={"run": "on"},
            swap={"swappiness": 1}, hugepages=pools((2 * MiB, 8, None)))


def test_text_artifacts_start_with_the_header_except_kernel_cmdline():
    made = by_path(spec_of(**FULL))
    assert set(made) == HOST_PATHS
    for path, artifact in made.items():
        text = artifact.data.decode()
        if path == cmdline.PLAIN_PATH:
            assert "#" not in text and text.count("\n") == 1
            continue
        head = "".join(text.splitlines(keepends=True)[1:3] if text.startswith("#!") else
                       text.splitlines(keepends=True)[:2])
        assert head == ("# hostspec 9.9.9 from hv.mem: generated, do not edit\n"
                        f"# source sha256 {'ab' * 32}\n"), path


def test_artifacts_sorted_non_empty_and_described():
    artifacts, _ = build_artifacts(spec_of(**FULL), CTX)
    assert [a.path for a in artifacts] == sorted(a.path for a in artifacts)
    assert all(a.data and a.summary for a in artifacts)


def test_only_the_manifest_for_a_spec_that_sets_nothing():
    assert by_path(spec_of()) == {}
    tree = emit.host_tree("hv-01", [], CTX)
    assert list(tree.files) == [emit.MANIFEST]


def test_manifest_shape():
    artifacts, _ = build_artifacts(spec_of(**FULL), CTX)
    data = emit.manifest("hv-01", artifacts, CTX)
    assert data.endswith(b"}\n")
    document = json.loads(data)
    assert list(document) == ["hostspec", "host", "source", "boot", "artifacts"]
    assert document["source"] == {"file": "hv.mem", "sha256": "ab" * 32}
    assert document["hostspec"] == "9.9.9" and document["host"] == "hv-01"
    assert [a["path"] for a in document["artifacts"]] == sorted(a.path for a in artifacts)
    for entry, artifact in zip(document["artifacts"], artifacts):
        assert list(entry) == ["path", "kind", "sha256", "takes_effect", "mode", "step"]
        assert entry["sha256"] == hashlib.sha256(artifact.data).hexdigest()
        assert entry["mode"] == ("0755" if artifact.path == apply_script.PATH else "0644")
        assert entry["kind"] in {"modprobe", "grub", "kernel-cmdline", "sysctl", "apply-script",
                                 "systemd-unit", "systemd-preset", "libvirt-domain", "bootc-kargs",
                                 "apply-boot"}
        assert entry["step"]
        assert entry["takes_effect"] in {"boot", "module-reload", "runtime", "guest-restart"}
    assert re.fullmatch(r"[\x20-\x7e\n]*", data.decode())


HOSTS = st.fixed_dictionaries({}, optional={
    "cpu": st.sampled_from(["intel", "amd"]),
    "kvm": st.fixed_dictionaries({}, optional={k: st.booleans() for k in ("ept", "vpid", "nested")}),
    "thp": st.fixed_dictionaries({}, optional={
        "enabled": st.sampled_from(["always", "madvise", "never"]),
        "defrag": st.sampled_from(["always", "defer", "defer+madvise", "madvise", "never"])}),
    "ksm": st.fixed_dictionaries({}, optional={
        "run": st.sampled_from(["on", "off", "unmerge"]), "pages-to-scan": st.integers(0, 2 ** 32 - 1),
        "sleep": st.integers(0, 2 ** 32 - 1), "merge-across-nodes": st.booleans(),
        "use-zero-pages": st.booleans()}),
    "swap": st.fixed_dictionaries({}, optional={"swappiness": st.integers(0, 200)}),
    "overcommit": st.fixed_dictionaries({}, optional={
        "policy": st.sampled_from(["heuristic", "always", "never"]), "ratio": st.integers(0, 100000)}),
    "hugepages": st.builds(lambda entries, default: {**pools(*entries), **default},
                           st.lists(st.tuples(st.sampled_from([2 * MiB, GiB]), st.integers(0, 10 ** 6),
                                              st.one_of(st.none(), st.just([0]), st.just([1])),
                                              st.sampled_from(["boot", "runtime"])), max_size=3),
                           st.sampled_from([{}, {"default-size": 2 * MiB}, {"default-size": GiB}])),
})


@settings(derandomize=True, max_examples=150, deadline=None)
@given(HOSTS)
def test_any_host_gives_the_same_safe_artifacts_twice(host):
    spec = spec_of(**{"numa-nodes": 2, **host})
    first, second = build_artifacts(spec, CTX), build_artifacts(spec, CTX)
    assert first == second
    artifacts, problems = first
    assert problems == []
    for artifact in artifacts:
        emit.safe_relative(artifact.path)
        assert artifact.data.decode("ascii").endswith("\n")
    made = {a.path for a in artifacts}
    assert (apply_script.PATH in made) == (systemd.PATH in made)
    assert (grub.PATH in made) == (cmdline.PLAIN_PATH in made)
