"""`hostspec import` on live kernels: four VMs with different boot lines and
runtime state, each importing its own live `/`; then four fresh VMs booted
with the compiled kernel arguments, modprobe.d, sysctl.d and apply-memory
applied, audited against the imported spec.

The VMs are virtme-ng boots of this machine's kernel and userspace under
qemu TCG (`vng`, PyPI `virtme-ng`): the host's file system is shared
copy-on-write, so the test's own Python and this checkout run inside, on the
VM's own /proc and /sys.  Results come back through a shared scratch
directory (`--rwdir`) in the checkout (virtme-ng lays overlays on /tmp and
/var).  Two VMs boot at a time.
"""
from __future__ import annotations

import concurrent.futures
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
KERNELS = sorted(pathlib.Path("/boot").glob("vmlinuz-*"))

# name: (memory per NUMA node in MiB, kernel command line, shell run before the import)
SCENARIOS = {
    "gig-default": ([4096],  # 1GiB-aligned free memory above the 4GiB PCI hole
                    "default_hugepagesz=1G hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=64 "
                    "transparent_hugepage=never",
                    "echo 200 > /sys/kernel/mm/ksm/pages_to_scan; "
                    "echo 500 > /sys/kernel/mm/ksm/sleep_millisecs; echo 1 > /sys/kernel/mm/ksm/run; "
                    "echo 10 > /proc/sys/vm/swappiness"),
    "two-node-mixed": ([1536, 1536],
                       "hugepagesz=2M hugepages=0:32 transparent_hugepage=madvise kvm_amd.nested=0",
                       "echo 16 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages; "
                       "echo 1 > /proc/sys/vm/overcommit_memory"),
    # Node 0 holds the memory below the PCI hole and the kernel: 1GiB pages go on node 1.
    # Node 1 spans [4GiB, 8.5GiB): room for 2 aligned 1GiB pages and more, so the
    # reservation does not depend on where the kernel put its own data.
    "two-node-gig": ([1536, 5120],
                     "hugepagesz=1G hugepages=1:2 transparent_hugepage=never",
                     "echo 40 > /proc/sys/vm/nr_hugepages; "
                     "echo 0 > /sys/kernel/mm/ksm/merge_across_nodes; "
                     "echo 1 > /sys/kernel/mm/ksm/use_zero_pages; echo 100 > /proc/sys/vm/swappiness"),
    "modprobe-d": ([2048],
                   "hugepages=48",
                   "echo 'options kvm_amd npt=0' > /etc/modprobe.d/kvm-amd.conf; "
                   "modprobe -r kvm_amd; modprobe kvm_amd; "
                   "echo defer > /sys/kernel/mm/transparent_hugepage/defrag; "
                   "echo 1000 > /sys/kernel/mm/ksm/sleep_millisecs; echo 1 > /sys/kernel/mm/ksm/run; "
                   "echo 1 > /proc/sys/vm/overcommit_memory"),
}

# Runs inside the VM, in one Python process (each start costs seconds under TCG):
# the import of the live `/`, check, audit, a copy of every file and directory the
# importer read, the import of that copy, and a compile.  Each step's exit status
# goes to STEP.rc in the scenario's directory.
DRIVER = """
import contextlib, io, pathlib, sys
from hostspec.commands import cli
from hostspec.live.host import read_host
from hostspec.live.root import Root

where, name, step = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def run(rc, argv, stdout=None):
    with open(where / stdout, 'w') if stdout else contextlib.nullcontext() as out:
        with contextlib.redirect_stdout(out) if out else contextlib.nullcontext():
            status = cli.main(argv)
    (where / (rc + '.rc')).write_text(f'{status}\\n')

if step == 'import':
    (where / 'domains').mkdir(exist_ok=True)
    run('import', ['import', '--domains', str(where / 'domains'), '--name', name, '-o', str(where / 'live.mem')])
    run('check', ['check', str(where / 'live.mem')])
    run('audit', ['audit', str(where / 'live.mem'), '--format', 'json'], 'audit.json')
    facts, errors = read_host(Root(pathlib.Path('/')))
    for path in facts.read:
        target = where / 'root' / path.rstrip('/')
        if path.endswith('/'):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(open('/' + path, 'rb').read())
    run('copy', ['import', '--root', str(where / 'root'), '--domains', str(where / 'domains'),
                 '--name', name, '-o', str(where / 'copy' / 'live.mem')])
    run('compile', ['compile', str(where / 'live.mem'), '--out', str(where / 'out')])
else:
    run('again', ['audit', str(where / 'live.mem'), '--format', 'json'], 'again.json')
"""

IMPORT = """{setup}
{py} {driver} {dir} {name} import > {dir}/import.log 2>&1
"""

REPRODUCE = """cd {dir}
tree=out/{name}
if [ -f $tree/etc/modprobe.d/hostspec-kvm.conf ]; then
    cp $tree/etc/modprobe.d/hostspec-kvm.conf /etc/modprobe.d/; modprobe -r kvm_amd; modprobe kvm_amd
fi
[ -f $tree/etc/sysctl.d/90-hostspec.conf ] && sysctl -p $tree/etc/sysctl.d/90-hostspec.conf
[ -f $tree/usr/libexec/hostspec/apply-memory ] && sh $tree/usr/libexec/hostspec/apply-memory
{py} {driver} {dir} {name} again > {dir}/again.log 2>&1
"""


def vng() -> str:
    found = shutil.which("vng") or shutil.which("vng", path=str(pathlib.Path(sys.executable).parent))
    if found is None:
        raise AssertionError("vng is missing: pip install virtme-ng (the `test` extra has it)")
    if shutil.which("qemu-system-x86_64") is None:
        raise AssertionError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    if not KERNELS:
        raise AssertionError("no /boot/vmlinuz-*: apt-get install linux-image-amd64")
    return found


def boot(nodes: list[int], cmdline: str, script: str, scratch: pathlib.Path) -> str:
    numa = [arg for i, mib in enumerate(nodes) for arg in ("--numa", f"{mib}M,cpus={i}")
            ] if len(nodes) > 1 else []
    command = [vng(), "--run", str(KERNELS[-1]), "--disable-kvm", "--cpus", str(len(nodes)),
               "--memory", f"{sum(nodes)}M", *numa, "--append", cmdline, "--rwdir", str(scratch),
               "--exec", script]
    env = {"PATH": f"{pathlib.Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
           "PYTHONPATH": str(REPO), "HOME": "/root"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def vms():
    vng()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix=".vm-import-", dir=REPO))
    py = f"PYTHONPATH={REPO} {sys.executable}"
    (scratch / "driver.py").write_text(DRIVER)
    try:
        def first(item):
            name, (nodes, cmdline, setup) = item
            where = scratch / name
            where.mkdir()
            return name, boot(nodes, cmdline, IMPORT.format(setup=setup, dir=where, py=py, name=name,
                                                                driver=scratch / "driver.py"),
                              scratch)

        def second(item):
            name, (nodes, _, _) = item
            where = scratch / name
            arguments = (where / f"out/{name}/etc/hostspec/kernel-cmdline")
            line = arguments.read_text().strip() if arguments.exists() else ""
            return name, boot(nodes, line or "quiet", REPRODUCE.format(dir=where, py=py, name=name,
                                                                   driver=scratch / "driver.py"),
                              scratch)

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            logs = dict(pool.map(first, SCENARIOS.items()))
            logs2 = dict(pool.map(second, SCENARIOS.items()))
        yield scratch, logs, logs2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read(path: pathlib.Path, log: str) -> str:
    logs = [p.read_text()[-3000:] for p in path.parent.glob("*.log")]
    assert path.exists(), f"{path.name} was not written; the VM's log:\n{log[-3000:]}\n{logs}"
    return path.read_text()


@pytest.mark.parametrize("name", SCENARIOS)
def test_live_import_checks_clean_and_audits_ok(vms, name):
    scratch, logs, _ = vms
    where = scratch / name
    assert _read(where / "import.rc", logs[name]).strip() == "0", logs[name][-4000:]
    assert _read(where / "check.rc", logs[name]).strip() == "0", logs[name][-4000:]
    audit = json.loads(_read(where / "audit.json", logs[name]))
    bad = [item for item in audit["items"] if item["status"] != "ok"]
    assert not bad and audit["items"], (bad, (where / "live.mem").read_text())
    assert _read(where / "audit.rc", logs[name]).strip() == "0"


@pytest.mark.parametrize("name", SCENARIOS)
def test_import_of_a_copy_of_the_files_read_is_the_same(vms, name):
    scratch, logs, _ = vms
    where = scratch / name
    assert _read(where / "copy.rc", logs[name]).strip() == "0", logs[name][-4000:]
    assert (where / "copy/live.mem").read_text() == (where / "live.mem").read_text()


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_fresh_vm_with_the_compiled_tree_reproduces_the_host(vms, name):
    scratch, _, logs = vms
    where = scratch / name
    audit = json.loads(_read(where / "again.json", logs[name]))
    bad = [item for item in audit["items"] if item["status"] != "ok"]
    assert not bad and audit["items"], (bad, logs[name][-3000:])


def test_the_scenarios_show_what_they_set(vms):
    """Each VM's draft holds the state it was given (the import did not read defaults)."""
    scratch = vms[0]
    drafts = {name: (scratch / name / "live.mem").read_text() for name in SCENARIOS}
    assert "default-size 1GiB" in drafts["gig-default"]
    assert "pool 1GiB count 1\n" in drafts["gig-default"] and "pool 2MiB count 64\n" in drafts["gig-default"]
    assert "enabled never" in drafts["gig-default"] and "pages-to-scan 200" in drafts["gig-default"]
    assert "swappiness 10" in drafts["gig-default"] and "run on" in drafts["gig-default"]
    assert "pool 2MiB count 32 node 0\n" in drafts["two-node-mixed"]
    assert "pool 2MiB count 16 node 1 at runtime" in drafts["two-node-mixed"]
    assert "nested off" in drafts["two-node-mixed"] and "policy always" in drafts["two-node-mixed"]
    assert "pool 1GiB count 2 node 1\n" in drafts["two-node-gig"]
    assert "pool 2MiB count 40 at runtime" in drafts["two-node-gig"]
    assert "merge-across-nodes off" in drafts["two-node-gig"] and "use-zero-pages on" in drafts["two-node-gig"]
    assert "npt off" in drafts["modprobe-d"] and "defrag defer" in drafts["modprobe-d"]
    assert "pool 2MiB count 48\n" in drafts["modprobe-d"]
