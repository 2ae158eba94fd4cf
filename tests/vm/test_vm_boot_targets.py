"""Each `boot` target's line boots: the command line the boot stack would hand
the kernel, taken from what the real tool made of hostspec's artifacts, boots
the Debian kernel under QEMU, and the kernel reserves the pools the spec asks
for, per size and node.

  grub            the normal entry's `linux` line from real grub-mkconfig
  kernel-install  the `options` of the entry real kernel-install made after apply-boot
  bls             the `options` of a kernel-install-made entry after apply-boot
  bootc           the `kargs` of usr/lib/bootc/kargs.d/50-hostspec.toml, joined
  none            etc/hostspec/kernel-cmdline

The scratch admin line is the same for grub, kernel-install and bls, so their
lines are equal and share one boot; bootc's and none's are hostspec's own
arguments and share another.  Each distinct line boots once.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from boottools import (admin_default_grub, apply_boot, compile_tree, entry_options, grub_mkconfig,
                       kernel_install_add, kernel_install_root, spec)
from specexpect import from_export
from vmharness import Machine
from vmharness.expect import reservation_mismatches

TARGETS = ("grub", "kernel-install", "bls", "bootc", "none")
POOLS = "pool 2MiB count 64 node 0; pool 2MiB count 32 node 1; pool 1GiB count 1 node 1"


def target_spec(target: str) -> str:
    return spec(target, "default-size 2MiB; " + POOLS)


def grub_line(tree: Path, work: Path) -> str:
    default = admin_default_grub("").replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"',
                                             'GRUB_CMDLINE_LINUX_DEFAULT=""')
    drop_ins = {p.name: p.read_bytes() for p in (tree / "etc/default/grub.d").iterdir()}
    lines = grub_mkconfig(work / "grub", default, drop_ins)
    return " ".join(lines[0])  # the normal entry: `root=... ro ARGS`


def entry_line(tree: Path, work: Path, admin: str, target: str) -> str:
    root = work / f"root-{target}"
    kernel_install_root(root, admin)
    kernel_install_add(root)
    if target == "bls":
        (root / "etc/default").mkdir()
        (root / "etc/default/grub").write_text(f'GRUB_CMDLINE_LINUX="{admin}"\n')
    done = apply_boot(root, tree)
    assert done.returncode == 0, done.stderr
    (options,) = set(entry_options(root).values())
    return options


@pytest.fixture(scope="module")
def lines(tmp_path_factory, export_spec) -> dict[str, str]:
    """target -> the command line its boot stack hands the kernel."""
    work = tmp_path_factory.mktemp("boot-targets")
    found = {}
    trees = {target: compile_tree(target_spec(target), work / target) for target in TARGETS}
    found["grub"] = grub_line(trees["grub"], work)
    ours = (trees["none"] / "etc/hostspec/kernel-cmdline").read_text().strip()
    assert found["grub"].endswith(" " + ours)
    admin = found["grub"][:-len(ours) - 1]  # `root=/dev/... ro`: the same admin line everywhere
    for target in ("kernel-install", "bls"):
        found[target] = entry_line(trees[target], work, admin, target)
    kargs = tomllib.loads((trees["bootc"] / "usr/lib/bootc/kargs.d/50-hostspec.toml").read_text())
    found["bootc"] = " ".join(kargs["kargs"])
    found["none"] = ours
    return found


@pytest.fixture(scope="module")
def booted(lines, boot_vm, export_spec, tmp_path_factory) -> dict[str, dict]:
    """target -> the kernel's state after booting its line; one boot per distinct line."""
    by_line: dict[str, dict] = {}
    for target in TARGETS:
        line = lines[target]
        if line not in by_line:
            vm = boot_vm(f"boot-target-{target}", line, (), None, Machine(mem_mib=4096, nodes=2,
                                                                        timeout=150))
            by_line[line] = vm.boot
    return {target: by_line[lines[target]] for target in TARGETS}


def test_the_targets_share_boots(lines):
    assert len(set(lines.values())) == 2  # grub = kernel-install = bls, and bootc = none


@pytest.mark.parametrize("target", TARGETS)
def test_each_targets_line_boots_with_the_pools_per_size_and_node(target, lines, booted,
                                                                  export_spec, tmp_path):
    expected = from_export(export_spec(target_spec(target)))
    state = booted[target]
    assert state["cmdline"].endswith(" " + lines[target])
    assert reservation_mismatches(state, expected.boot_pools) == []
    assert expected.boot_pools == {2 * 1024 ** 2: {0: 64, 1: 32}, 1024 ** 3: {1: 1}}
