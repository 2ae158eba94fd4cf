"""The harness itself, on hand-written command lines and artifact trees.

None of this needs the hostspec compiler.  It shows that the VM layer
reports what the kernel really did: per-node boot pools, the THP mode,
step exit codes and output, a sysctl file read back, a script run from an
artifact tree, and KSM refusing merge_across_nodes while pages are shared.
One boot serves every test in this module.
"""

import pytest

from vmharness import HarnessError, Machine, boot, steps
from vmharness.expect import reservation_mismatches, selected, value_mismatches

MIB2 = 2 * 1024**2
KSM = "/sys/kernel/mm/ksm"
CMDLINE = "hugepagesz=2M hugepages=0:24,1:8 transparent_hugepage=never"
SYSCTL = {"vm.swappiness": "10", "vm.overcommit_memory": "2", "vm.overcommit_ratio": "80"}

# A stand-in for the compiled apply-memory: one KSM value, the same
# contract (--check exits 1 on a difference, "old -> new" per change).
STAND_IN_SCRIPT = """#!/bin/sh
f=${HOSTSPEC_SYSFS:-/sys}/kernel/mm/ksm/use_zero_pages
old=$(cat "$f")
[ "$old" = 1 ] && exit 0
echo "use_zero_pages: $old -> 1"
[ "${1:-}" = --check ] && exit 1
echo 1 >"$f"
"""


def _write(path, text, mode=0o644):
    """Create PATH with TEXT and MODE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A hand-written artifact tree laid out like DIR/<host>/."""
    root = tmp_path_factory.mktemp("artifacts") / "vm-selftest"
    _write(root / "etc/sysctl.d/90-hostspec.conf", "".join(f"{k} = {v}\n" for k, v in SYSCTL.items()))
    _write(root / "usr/libexec/hostspec/apply-memory", STAND_IN_SCRIPT, 0o755)
    return root


SELFTEST_STEPS = [
    steps.Step("exit-code", "echo to-stdout; echo to-stderr >&2; echo answer=42; exit 3"),
    steps.apply_sysctl("sysctl"),
    steps.read_values("sysctl-values", {k: "/proc/sys/" + k.replace(".", "/") for k in SYSCTL}),
    steps.apply_memory("check-before", "--check"),
    steps.apply_memory("apply"),
    steps.apply_memory("check-after", "--check"),
    # KSM with shared pages: merge_across_nodes is EBUSY until run=2 unmerges.
    steps.write("ksm-on", f"{KSM}/run", "1"),
    steps.merge_pages("merge-pages"),
    steps.write("merge-across-nodes-while-shared", f"{KSM}/merge_across_nodes", "0"),
    steps.write("unmerge", f"{KSM}/run", "2"),
    steps.write("merge-across-nodes-after-unmerge", f"{KSM}/merge_across_nodes", "0"),
]


@pytest.fixture(scope="module")
def vm(boot_vm, tree):
    """One 1 GiB, two-node boot shared by every test below."""
    return boot_vm("harness-selftest", CMDLINE, SELFTEST_STEPS, tree)


def test_per_node_boot_pools_show_per_node(vm):
    assert reservation_mismatches(vm.boot, {MIB2: {0: 24, 1: 8}}) == []
    assert vm.boot["meminfo.HugePages_Total"] == "32"


def test_thp_never_is_the_bracketed_mode(vm):
    assert vm.boot["thp.enabled"] == "always madvise [never]"
    assert selected(vm.boot["thp.enabled"]) == "never"


def test_caller_command_line_is_the_tail_of_proc_cmdline(vm):
    assert vm.boot["cmdline"].endswith(" " + CMDLINE)


def test_step_exit_code_output_and_values(vm):
    step = vm.step("exit-code")
    assert step.rc == 3
    assert step.lines == ["to-stdout", "to-stderr", "answer=42"]
    assert step.values == {"answer": "42"}


def test_sysctl_file_values_read_back_from_proc(vm):
    assert vm.step("sysctl").rc == 0, vm.step("sysctl").output
    assert vm.step("sysctl-values").values == SYSCTL
    assert value_mismatches(vm.after, {"vm.swappiness": "10", "vm.overcommit_ratio": "80"}) == []


def test_artifact_script_runs_from_the_tree_with_its_exit_codes(vm):
    assert [vm.step(n).rc for n in ("check-before", "apply", "check-after")] == [1, 0, 0]
    assert vm.step("apply").lines == ["use_zero_pages: 0 -> 1"]
    assert (vm.boot["ksm.use_zero_pages"], vm.after["ksm.use_zero_pages"]) == ("0", "1")


def test_ksm_refuses_merge_across_nodes_while_pages_are_shared(vm):
    shared = vm.step("merge-pages")
    assert shared.rc == 0 and int(shared.values["ksm.pages_shared"]) > 0, shared.output
    assert vm.step("merge-across-nodes-while-shared").rc != 0
    assert vm.step("unmerge").rc == 0
    assert vm.step("merge-across-nodes-after-unmerge").rc == 0
    assert value_mismatches(vm.after, {"ksm.merge_across_nodes": "0", "ksm.run": "2"}) == []


def test_hard_timeout_kills_qemu_and_says_so(vm_tools):
    # 2 s is less than the kernel needs to reach /init: QEMU must be killed.
    with pytest.raises(HarnessError, match="hard timeout of 2 s"):
        boot("", [steps.Step("hang", "sleep 1000")], machine=Machine(timeout=2))
