"""Self-test of the virtme-ng harness: one TCG boot with two NUMA nodes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vngharness import VM, VMError, find_kernel


@pytest.fixture(scope="module")
def guest(vng_tools, tmp_path_factory):
    vm = VM("vngself", numa=["512M", "512M"], append="hugepagesz=2M hugepages=0:6,1:3 hostspec.vngtest=1",
            workdir=tmp_path_factory.mktemp("vng"))
    vm.boot()
    yield vm
    vm.stop()


def test_appended_words_reach_the_kernel_once(guest):
    words = guest.cmdline.split()
    assert words.count("hostspec.vngtest=1") == 1
    assert words.count("hugepages=0:6,1:3") == 1


def test_numa_nodes_hold_the_boot_pools(guest):
    nodes = guest.ssh("ls -d /sys/devices/system/node/node[0-9]*").stdout.split()
    assert [Path(n).name for n in nodes] == ["node0", "node1"]
    counts = [guest.read(f"/sys/devices/system/node/node{n}/hugepages/hugepages-2048kB/nr_hugepages").strip()
              for n in (0, 1)]
    assert counts == ["6", "3"]


def test_guest_is_the_named_host_on_this_kernel(guest):
    assert guest.ssh("hostname").stdout.strip() == "vngself"
    assert guest.ssh("uname -r").stdout.strip() == find_kernel().name.removeprefix("vmlinuz-")
    assert "-cpu max" in " ".join(guest.command())
    assert "--disable-kvm" in guest.command()


def test_boot_and_etc_are_copy_on_write(guest):
    marker = "/boot/hostspec-vng-selftest"
    guest.write(marker, "written in the guest\n")
    guest.write("/etc/hostspec-vng-selftest", "x\n")
    assert guest.read(marker) == "written in the guest\n"
    assert not Path(marker).exists()
    assert not Path("/etc/hostspec-vng-selftest").exists()


def test_save_and_restore_carry_files(guest, tmp_path):
    guest.write("/etc/vng-save/a.conf", "kept\n", mode="0600")
    archive = guest.save(["/etc/vng-save", "/etc/does-not-exist"], tmp_path / "state.tar")
    guest.ssh("rm -rf /etc/vng-save")
    guest.restore(archive)
    assert guest.read("/etc/vng-save/a.conf") == "kept\n"
    assert guest.ssh("stat -c %a /etc/vng-save/a.conf").stdout.strip() == "600"


def test_a_failing_command_raises(guest):
    with pytest.raises(VMError, match="exited 3"):
        guest.ssh("exit 3")
    assert guest.ssh("exit 3", check=False).returncode == 3


def test_ansible_reaches_the_guest(guest, tmp_path):
    inventory = tmp_path / "hosts.yml"
    import json
    inventory.write_text(json.dumps({"all": {"hosts": {"vngself": guest.ansible_vars()}}}))
    bindir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible"), "vngself", "-i", str(inventory), "-m", "command", "-a", "cat /proc/cmdline"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hostspec.vngtest=1" in result.stdout


def test_stop_reaps_qemu(vng_tools, tmp_path):
    vm = VM("vngbad", kernel=tmp_path / "vmlinuz-missing", workdir=tmp_path, boot_timeout=60)
    with pytest.raises(VMError, match="vngbad"):
        vm.boot()
    vm.stop()
    assert not vm.running
