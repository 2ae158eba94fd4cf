"""Spec-driven VM tests: compile each spec in specs/, boot its artifacts.

These need the compiler: ``compile_spec`` runs `python -m hostspec compile
SPEC --out DIR` and ``export_spec`` runs `python -m hostspec export SPEC`.
Until both work these tests fail; they are never skipped.

Per spec, one boot of a VM sized like the spec (memory, numa-nodes) with
the compiled etc/hostspec/kernel-cmdline appended, and the compiled tree
at /artifacts.  The guest then runs, in order:

  sysctl           systemd-sysctl etc/sysctl.d/90-hostspec.conf
  sysctl-values    every vm.* value the spec or the file sets, read back
  ksm-on           echo 1 > ksm/run (the test's doing, not the spec's)
  merge-pages      a process with identical mergeable pages; wait until shared
  check-before     apply-memory --check          (must exit 1)
  before-apply     full state dump
  apply            apply-memory                  (must exit 0, "old -> new")
  apply-again      apply-memory                  (must change nothing)
  check-after      apply-memory --check          (must exit 0)

Expectations come from the exported JSON (specexpect), never from the
compiled files.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from specexpect import SPECS_DIR, SpecExpectation, from_export
from vmharness import BootResult, Machine, steps
from vmharness.expect import (meminfo_mismatches, reservation_mismatches, selected, size_label,
                              value_mismatches)

SPEC_FILES = sorted(SPECS_DIR.glob("*.mem"))
KSM = "/sys/kernel/mm/ksm"
KERNEL_CMDLINE = "etc/hostspec/kernel-cmdline"
SYSCTL_CONF = "etc/sysctl.d/90-hostspec.conf"


@dataclass(frozen=True)
class SpecRun:
    """A spec's expectations, its compiled tree and the boot that ran it."""

    spec: SpecExpectation
    tree: Path
    cmdline: str
    sysctl_file: dict[str, str]
    vm: BootResult


def read_sysctl_file(path: Path) -> dict[str, str]:
    """`key = value` lines of a sysctl.d file ({} when there is none)."""
    if not path.is_file():
        return {}
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = [line.split("=", 1) for line in lines if line and line[0] not in "#;"]
    return {key.strip().lstrip("-"): value.strip() for key, value in pairs}


def proc_sys(key: str) -> str:
    """The /proc/sys file of a sysctl key: vm.swappiness -> /proc/sys/vm/swappiness."""
    return "/proc/sys/" + key.replace(".", "/")


def spec_steps(sysctl_keys) -> list[steps.Step]:
    """The guest's steps, the same for every spec (see the module docstring)."""
    return [
        steps.apply_sysctl("sysctl"),
        steps.read_values("sysctl-values", {key: proc_sys(key) for key in sorted(sysctl_keys)}),
        steps.write("ksm-on", f"{KSM}/run", "1"),
        steps.merge_pages("merge-pages"),
        steps.apply_memory("check-before", "--check"),
        steps.state("before-apply"),
        steps.apply_memory("apply"),
        steps.apply_memory("apply-again"),
        steps.apply_memory("check-after", "--check"),
    ]


@pytest.fixture(scope="module", params=SPEC_FILES, ids=lambda path: path.stem)
def run(request, export_spec, compile_spec, boot_vm) -> SpecRun:
    """Export, compile and boot one spec; every test below shares the boot."""
    spec = from_export(export_spec(request.param))
    tree = compile_spec(request.param)
    assert tree.name == spec.host, f"compiled tree {tree} is not named after host {spec.host}"
    cmdline_file = tree / KERNEL_CMDLINE
    cmdline = cmdline_file.read_text().strip() if cmdline_file.is_file() else ""
    sysctl_file = read_sysctl_file(tree / SYSCTL_CONF)
    machine = Machine(mem_mib=spec.mem_mib, nodes=spec.nodes, timeout=150)
    vm = boot_vm(f"spec-{request.param.stem}", cmdline, spec_steps(set(spec.sysctl) | set(sysctl_file)),
                 tree, machine)
    return SpecRun(spec, tree, cmdline, sysctl_file, vm)


def test_spec_files_exist():
    assert [p.name for p in SPEC_FILES] == ["vm-runtime-pool.mem", "vm-sysctl-pool.mem", "vm-two-node.mem"]


# (a) boot pools, per size and node, and the default size -----------------

def test_compiled_command_line_reaches_the_guest(run):
    assert "\n" not in run.cmdline
    assert run.vm.boot["cmdline"].endswith(" " + run.cmdline)


def test_boot_pools_per_size_and_node(run):
    assert reservation_mismatches(run.vm.boot, run.spec.boot_pools) == []


def test_meminfo_shows_default_size_and_its_boot_pages(run):
    assert meminfo_mismatches(run.vm.boot, run.spec.boot_pools, run.spec.default_size) == []


# (b) THP mode on the command line -----------------------------------------

def test_thp_enabled_is_the_bracketed_mode_after_boot(run):
    assert "thp.enabled" in run.spec.thp, "every VM test spec sets thp enabled"
    assert selected(run.vm.boot["thp.enabled"]) == run.spec.thp["thp.enabled"]


# (c) apply-memory on the real /sys ------------------------------------------

def expected_changes(spec: SpecExpectation, before: dict[str, str]) -> list[tuple[str, str]]:
    """(sysfs file name, new value) for each value apply-memory has to change."""
    changes = [(key.split(".", 1)[1], new) for key, new in spec.ksm.items() if before.get(key) != new]
    changes += [(key.split(".", 1)[1], new) for key, new in spec.thp.items()
                if selected(before.get(key, "")) != new]
    for size, per_node in spec.all_pools.items():
        for node, count in per_node.items():
            key = f"node{node}.{size_label(size)}.nr_hugepages"
            if node is not None and before.get(key) != str(count):
                changes.append(("nr_hugepages", str(count)))
    return changes


def says_change(lines: list[str], name: str, new: str) -> bool:
    """Whether some line names NAME and reads 'OLD -> NEW'."""
    pattern = re.compile(rf"\b{re.escape(name)}\b.*\S\s*->\s*{re.escape(new)}(\s|$)")
    return any(pattern.search(line) for line in lines)


def test_check_exits_1_before_apply(run):
    assert run.vm.step("check-before").rc == 1, run.vm.step("check-before").output


def test_apply_sets_every_ksm_and_thp_value(run):
    assert run.vm.step("apply").rc == 0, run.vm.step("apply").output
    assert value_mismatches(run.vm.after, run.spec.ksm) == []
    assert {key: selected(run.vm.after[key]) for key in run.spec.thp} == run.spec.thp


def test_every_pool_is_reserved_after_the_artifacts_ran(run):
    assert reservation_mismatches(run.vm.after, run.spec.all_pools) == []


def test_apply_says_old_and_new_for_each_change(run):
    changes = expected_changes(run.spec, run.vm.step("before-apply").values)
    assert changes, "every VM test spec must leave apply-memory something to do"
    lines = run.vm.step("apply").lines
    assert [c for c in changes if not says_change(lines, *c)] == [], "\n".join(lines)


def test_second_run_changes_nothing(run):
    again = run.vm.step("apply-again")
    assert again.rc == 0, again.output
    assert [line for line in again.lines if "->" in line] == []


def test_check_exits_0_after_apply(run):
    assert run.vm.step("check-after").rc == 0, run.vm.step("check-after").output


def test_merge_across_nodes_changes_while_ksm_runs_with_shared_pages(run):
    merged, before = run.vm.step("merge-pages"), run.vm.step("before-apply").values
    assert merged.rc == 0 and int(merged.values["ksm.pages_shared"]) > 0, merged.output
    assert (before["ksm.run"], before["ksm.merge_across_nodes"]) == ("1", "1")
    assert run.spec.ksm["ksm.merge_across_nodes"] == "0", "every VM test spec turns it off"
    assert run.vm.step("apply").rc == 0, run.vm.step("apply").output
    assert run.vm.after["ksm.merge_across_nodes"] == "0"


# (d) sysctl.d applied by systemd-sysctl ---------------------------------------

def test_sysctl_file_sets_each_value_of_the_spec(run):
    assert run.vm.step("sysctl").rc == 0, run.vm.step("sysctl").output
    assert value_mismatches(run.vm.step("sysctl-values").values, run.spec.sysctl) == []


def test_every_line_of_the_sysctl_file_reads_back(run):
    # systemd-sysctl exits 0 for an unknown key: only a read-back proves a value took.
    assert run.sysctl_file, f"{SYSCTL_CONF} missing or empty in {run.tree}"
    assert value_mismatches(run.vm.step("sysctl-values").values, run.sysctl_file) == []


def test_sysctl_values_still_hold_after_apply_memory(run):
    assert value_mismatches(run.vm.after, run.spec.sysctl) == []
