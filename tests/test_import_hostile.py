"""`hostspec import` on hostile roots and domain XML: a clear message naming the
file, exit status 2, nothing written, never a traceback."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from hostspec.commands.compile import compile_file
from importroot import root_from_tree

SPEC = """hostspec 1
host hv-hostile {
    cpu amd
    memory 16GiB
    numa-nodes 2
    kvm { nested off }
    hugepages { pool 2MiB count 64 node 0 }
}
guest web { memory 1GiB }
"""


@pytest.fixture
def root(tmp_path) -> pathlib.Path:
    source = tmp_path / "spec" / "hv.mem"
    source.parent.mkdir()
    source.write_text(SPEC)
    compiled = compile_file(str(source))
    assert compiled.tree is not None
    root = tmp_path / "root"
    root_from_tree(compiled.result.spec, {p: f.data for p, f in compiled.tree.files.items()}, root)
    return root


def run_import(root: pathlib.Path, out: pathlib.Path, *extra: str, prefix: tuple = ()):
    command = [*prefix, sys.executable, "-m", "hostspec", "import", "--root", str(root),
               "-o", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[1])})


def assert_refused(done, out: pathlib.Path, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    assert "nothing written" in done.stderr
    assert not out.exists() and not (out.parent / "imported").exists()


def test_the_clean_root_imports(root, tmp_path):
    out = tmp_path / "out" / "hv.mem"
    done = run_import(root, out)
    assert done.returncode == 0, done.stderr
    assert "pool 2MiB count 64 node 0" in out.read_text()


def test_malformed_domain_xml(root, tmp_path):
    (root / "etc/libvirt/qemu/bad.xml").write_text("<domain type='kvm'><name>bad</name><memory>")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "bad.xml", "not well-formed XML")


def test_domain_xml_with_an_entity(root, tmp_path):
    (root / "etc/libvirt/qemu/evil.xml").write_text(
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<domain type='kvm'><name>evil</name><memory>&x;</memory></domain>")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "evil.xml", "DOCTYPE")


def test_huge_domain_xml(root, tmp_path):
    (root / "etc/libvirt/qemu/big.xml").write_text(
        "<domain type='kvm'><name>big</name><memory>1048576</memory><description>"
        + "x" * (2 * 1024 * 1024) + "</description></domain>")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "big.xml", "larger than 1024 KiB")


def test_domain_that_is_not_a_domain(root, tmp_path):
    (root / "etc/libvirt/qemu/net.xml").write_text("<network><name>default</name></network>")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "net.xml", "`<network>`, not `<domain>`")


def test_cmdline_of_one_mebibyte(root, tmp_path):
    (root / "proc/cmdline").write_text("hugepages=1 " * (1024 * 1024 // 12 + 1))
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "proc/cmdline", "larger than 64 KiB")


@pytest.mark.parametrize("target", ["../../outside/cmdline", "../../../../../../etc/hostname"])
def test_relative_symlink_out_of_the_root(root, tmp_path, target):
    (tmp_path / "outside").mkdir(exist_ok=True)
    (tmp_path / "outside" / "cmdline").write_text("hugepagesz=1G hugepages=64\n")
    (root / "proc/cmdline").unlink()
    (root / "proc/cmdline").symlink_to(target)
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "proc/cmdline", "out of the root")


def test_absolute_symlink_stays_in_the_root(root, tmp_path):
    """An absolute link is read as the host would read it: from the root, not from `/`."""
    (root / "proc/cmdline").rename(root / "real-cmdline")
    (root / "proc/cmdline").symlink_to("/real-cmdline")
    (root / "sys/kernel/mm/ksm/run").unlink()
    (root / "sys/kernel/mm/ksm/run").symlink_to("/etc/hostname")  # this machine's file exists
    out = tmp_path / "out" / "hv.mem"
    done = run_import(root, out)
    assert done.returncode == 0, done.stderr  # ksm/run is simply not there in the root
    assert "pool 2MiB count 64 node 0" in out.read_text()
    assert "ksm" not in out.read_text()


def test_symlinked_directory_out_of_the_root(root, tmp_path):
    shutil.move(root / "etc/libvirt/qemu", tmp_path / "qemu")
    (root / "etc/libvirt/qemu").symlink_to("../../../qemu")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "etc/libvirt/qemu", "out of the root")


def test_a_fifo_in_place_of_a_file(root, tmp_path):
    (root / "proc/meminfo").unlink()
    os.mkfifo(root / "proc/meminfo")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "proc/meminfo", "not a regular file")


def test_a_directory_in_place_of_a_file(root, tmp_path):
    (root / "proc/swaps").unlink()
    (root / "proc/swaps").mkdir()
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "proc/swaps", "not a regular file")


WRITE_ONLY = pathlib.Path("/sys/bus/pci/rescan")  # no read method: EACCES even for root


def test_unreadable_file(root, tmp_path):
    """A write-only sysfs file bound over proc/swaps in a private mount namespace:
    opening it fails with EACCES even for root."""
    assert WRITE_ONLY.exists(), f"{WRITE_ONLY} is missing: the test needs a write-only sysfs file"
    out = tmp_path / "out" / "hv.mem"
    target = root / "proc/swaps"
    done = run_import(root, out, prefix=("unshare", "-m", "sh", "-c",
                                          f'mount --bind {WRITE_ONLY} {target} && exec "$0" "$@"'))
    assert_refused(done, out, "proc/swaps", "Permission denied")


def test_unreadable_root(tmp_path):
    out = tmp_path / "out" / "hv.mem"
    done = run_import(pathlib.Path(WRITE_ONLY), out)
    assert_refused(done, out, "rescan")


def test_garbage_in_a_number_file(root, tmp_path):
    (root / "proc/sys/vm/swappiness").write_text("sixty\n")
    out = tmp_path / "out" / "hv.mem"
    assert_refused(run_import(root, out), out, "proc/sys/vm/swappiness", "not a number")


def test_not_a_linux_root(tmp_path):
    out = tmp_path / "out" / "hv.mem"
    (tmp_path / "empty").mkdir()
    assert_refused(run_import(tmp_path / "empty", out), out, "proc/cpuinfo", "missing")


def test_a_domain_name_hostspec_cannot_take_is_named(root, tmp_path):
    (root / "etc/libvirt/qemu/odd.xml").write_text(
        "<domain type='kvm'><name>my guest</name><memory unit='GiB'>2</memory></domain>")
    out = tmp_path / "out" / "hv.mem"
    done = run_import(root, out)
    assert done.returncode == 1, done.stderr
    assert "not expressible: domain `my guest`" in done.stderr and "odd.xml" in done.stderr
    assert "# not expressible: domain `my guest`" in out.read_text()


def test_what_cannot_be_said_is_a_comment_and_a_warning(root, tmp_path):
    (root / "etc/libvirt/qemu/mf.xml").write_text(
        "<domain type='kvm'><name>mf</name><memory unit='GiB'>2</memory>"
        "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
        "<devices><memballoon model='virtio-non-transitional'/></devices></domain>")
    out = tmp_path / "out" / "hv.mem"
    done = run_import(root, out)
    assert done.returncode == 1, done.stderr
    text = out.read_text()
    for said in ("memoryBacking/source type=memfd", "memoryBacking/access mode=shared",
                 "memballoon model=virtio-non-transitional"):
        assert f"# not expressible: {said}" in text
        assert f"warning: not expressible: {said}" in done.stderr
    assert str(root / "etc/libvirt/qemu/mf.xml") in done.stderr
    # The comments sit in guest mf's block.
    block = text[text.index("guest mf {"):]
    assert block.index("# not expressible: memoryBacking/source") < block.index("}")


def test_a_host_that_breaks_the_rules_still_imports_and_fails_check(root, tmp_path):
    """More huge pages demanded than reserved: the draft is written, `check` fails on it."""
    (root / "etc/libvirt/qemu/db.xml").write_text(
        "<domain type='kvm'><name>db</name><memory unit='GiB'>4</memory>"
        "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"
        "<devices><memballoon model='virtio'/></devices></domain>")
    out = tmp_path / "out" / "hv.mem"
    done = run_import(root, out)
    assert done.returncode == 1, done.stderr
    assert "error[HS0301]" in done.stderr and "warning[HS0316]" in done.stderr
    assert "backing hugepages 2MiB" in out.read_text()
    check = subprocess.run([sys.executable, "-m", "hostspec", "check", str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 1 and "HS0301" in check.stderr
