"""What `compile` writes, once applied, is what `audit` expects.

The compiled tree is applied to a scratch root the way the host would apply
it: apply-memory runs under dash against the root's /sys, kmod's modprobe
reads the modprobe.d file, the kernel-cmdline file becomes /proc/cmdline and
the sysctl.d lines become /proc/sys files.  The audit of that root must find
no drift: the audit's expected values and the artifacts agree.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from hostspec.commands import cli
from test_audit import MATCHING, SPEC

# Where a kernel that has not been configured yet starts: its defaults.
UNCONFIGURED = {
    "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "0\n",
    "sys/kernel/mm/transparent_hugepage/enabled": "[always] madvise never\n",
    "sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise [madvise] never\n",
    "sys/kernel/mm/ksm/run": "0\n",
    "sys/kernel/mm/ksm/pages_to_scan": "100\n",
    "sys/kernel/mm/ksm/sleep_millisecs": "20\n",
    "sys/kernel/mm/ksm/merge_across_nodes": "1\n",
    "sys/kernel/mm/ksm/use_zero_pages": "0\n",
}
# What the kernel itself sets up from the command line and the CPU.
FROM_THE_KERNEL = ("proc/cpuinfo", "sys/devices/system/node/node0/hugepages/hugepages-1048576kB/"
                   "nr_hugepages", "sys/devices/system/node/node1/hugepages/"
                   "hugepages-1048576kB/nr_hugepages")


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package}")
    return found


def write(root: pathlib.Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def compiled(tmp_path) -> tuple[pathlib.Path, pathlib.Path]:
    """(the spec file, the host's compiled tree)."""
    spec = tmp_path / "hv-audit.mem"
    spec.write_text(SPEC)
    assert cli.main(["compile", str(spec), "--out", str(tmp_path / "out")]) == 0
    return spec, tmp_path / "out" / "hv-audit"


def unconfigured_root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "root"
    for relative in FROM_THE_KERNEL:
        write(root, relative, MATCHING[relative])
    for relative, text in UNCONFIGURED.items():
        write(root, relative, text)
    return root


def apply_tree(tree: pathlib.Path, root: pathlib.Path) -> None:
    """Apply the compiled tree to `root` with the tools a host uses."""
    write(root, "proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz ro "
          + (tree / "etc/hostspec/kernel-cmdline").read_text())
    for line in (tree / "etc/sysctl.d/90-hostspec.conf").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("="))
            write(root, "proc/sys/" + key.replace(".", "/"), value + "\n")
    for module, key, value in module_options(tree / "etc/modprobe.d"):
        write(root, f"sys/module/{module}/parameters/{key}", "YN"[value == "0"] + "\n")
    script = tree / "usr/libexec/hostspec/apply-memory"
    done = subprocess.run([tool("dash", "dash"), str(script)], capture_output=True, text=True,
                          env={**os.environ, "HOSTSPEC_SYSFS": str(root / "sys")}, timeout=60)
    assert done.returncode == 0, done.stderr


def module_options(conf_dir: pathlib.Path) -> list[tuple[str, str, str]]:
    """(module, key, value) of the first kvm options line, as kmod reads the directory."""
    done = subprocess.run([tool("modprobe", "kmod"), "-C", str(conf_dir), "-c"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if re.match(r"options kvm_(intel|amd) ", l))
    module, words = line.split()[1], line.split()[2:]
    return [(module, *word.split("=", 1)) for word in words]


def audit(capsys, spec: pathlib.Path, root: pathlib.Path) -> tuple[int, dict]:
    status = cli.main(["audit", str(spec), "--root", str(root), "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def test_an_applied_tree_audits_clean(capsys, tmp_path, compiled):
    spec, tree = compiled
    root = unconfigured_root(tmp_path)
    apply_tree(tree, root)
    status, report = audit(capsys, spec, root)
    assert status == 0, [item for item in report["items"] if item["status"] != "ok"]
    assert len(report["items"]) == 23


def test_before_apply_memory_runs_its_values_drift(capsys, tmp_path, compiled):
    spec, tree = compiled
    root = unconfigured_root(tmp_path)
    status, report = audit(capsys, spec, root)
    assert status == 1
    drifted = {item["item"] for item in report["items"] if item["status"] == "drift"}
    assert {"huge pages 2MiB", "THP enabled", "THP defrag", "KSM run", "KSM pages_to_scan",
            "KSM sleep_millisecs", "KSM merge_across_nodes", "KSM use_zero_pages"} <= drifted
