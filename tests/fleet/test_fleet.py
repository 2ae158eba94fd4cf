"""The hostspec.fleet collection on two real guests, over SSH, with real Ansible.

One module-scoped pair of virtme-ng guests (tests/vng) on this machine's
kernel under TCG:

- hv-a: two NUMA nodes, a 2M boot pool on node 0 and a runtime pool on
  node 1, boot target grub (/boot on its own disk, real update-grub);
- hv-b: one node, KSM running, THP madvise, boot target kernel-install
  (entries in /boot/loader/entries on its own disk, real kernel-install),
  and two guests, web and db, defined in the real libvirtd it runs
  (qemu:///system, definitions kept in /etc/libvirt/qemu across the reboot).

The collection is built with ansible-galaxy and installed into a scratch
collections path; ansible-playbook reaches the guests on loopback ports.
The steps build on each other through cached fixtures, so any one test can
run alone (-k) and still see the state it needs.
"""

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from vngharness import VM, boot_all, stop_all

FLEET = Path(__file__).resolve().parent
REPO = FLEET.parents[1]
COLLECTION = REPO / "ansible" / "ansible_collections" / "hostspec" / "fleet"
SPECS = FLEET / "specs"
BIN = Path(sys.executable).parent

# What the guests are booted with, and which disk holds each one's /boot.
GUESTS = {
    "hv-a": dict(numa=["768M", "768M"]),
    "hv-b": dict(memory="1G"),
}
# How each guest's boot stack (and hv-b's libvirtd) is laid out before the first run.
LIBVIRT = (FLEET / "libvirthost.sh").read_text()
SETUP = {"hv-a": (FLEET / "grubhost.sh").read_text(),
         "hv-b": (FLEET / "kihost.sh").read_text() + LIBVIRT}
# libvirt's persistent definitions, which a host keeps across reboots.
LIBVIRT_STATE = "/etc/libvirt/qemu"
# What a host keeps across a reboot besides /boot (on its own disk).
KEPT = ["/etc/hostspec", "/etc/kernel", "/etc/default/grub", "/etc/default/grub.d",
        "/etc/sysctl.d", "/etc/modprobe.d", "/etc/systemd/system",
        "/usr/lib/systemd/system-preset", "/usr/libexec/hostspec",
        "/usr/share/hostspec", "/var/lib/hostspec", LIBVIRT_STATE]
# Files the --check run must leave alone, in every guest.
WATCHED = "/etc /usr/libexec/hostspec /usr/share/hostspec /var/lib/hostspec /boot"


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: pip install '.[test]'")
    return found


def recap(stdout: str) -> dict:
    """{host: {"ok": n, "changed": n, ...}} from ansible-playbook's PLAY RECAP."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", line.strip())
        if match:
            rows[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return rows


class Fleet:
    def __init__(self, work: Path, collections: Path, guests=None, setup=None):
        self.work = work
        self.collections = collections
        self.guests = guests or GUESTS
        self.setup = setup or SETUP
        self.results = work / "results"
        self.results.mkdir()
        self.vms = {}
        self.disks = {}
        self.boots = itertools.count()
        self.reboots = []
        for name in self.guests:
            disk = work / f"{name}-boot.img"
            subprocess.run(["truncate", "-s", "64M", str(disk)], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", f"{name}-boot", str(disk)], check=True)
            self.disks[name] = disk

    def boot(self, names, appends=None):
        appends = appends or {}
        vms = []
        for name in names:
            guest = dict(self.guests[name])
            append = [*guest.pop("append", ()), *appends.get(name, ())]
            vms.append(VM(name, disks=[self.disks[name]], append=append,
                          workdir=self.work / f"{name}-{next(self.boots)}", **guest))
        boot_all(vms)
        for vm in vms:
            self.vms[vm.name] = vm
            vm.ssh(self.setup[vm.name])

    def stop(self):
        stop_all(self.vms.values())

    def inventory(self, specs: dict) -> Path:
        hosts = {}
        for name, vm in self.vms.items():
            hosts[name] = {**vm.ansible_vars(), "hostspec_spec": str(specs[name]),
                           "hostspec_cli": tool("hostspec"),
                           # as kihost.sh: no depmod for a kernel whose modules.dep exists
                           "hostspec_step_environment": {
                               "KERNEL_INSTALL_PLUGINS": "/usr/lib/kernel/install.d/90-loaderentry.install"},
                           "ansible_python_interpreter": "/usr/bin/python3"}
        path = self.work / "inventory.json"
        path.write_text(json.dumps({"all": {"hosts": hosts, "vars": {"fleet_results": str(self.results)}}}))
        return path

    def play(self, playbook, specs, *extra, ok=(0,), reboot_with=None):
        """Run ansible-playbook; answer the reboot hook's requests (playbooks/reboot_by_test.yml).

        reboot_with(name) gives the kernel arguments a guest the hook asks
        to reboot boots with; each reboot is noted in self.reboots.
        """
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
               "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_FORCE_COLOR": "0",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "1", "ANSIBLE_PIPELINING": "1",
               "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-local"),
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        for stale in self.results.iterdir():
            stale.unlink()
        out, err = self.work / "play.out", self.work / "play.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            proc = subprocess.Popen([tool("ansible-playbook"), "-i", str(self.inventory(specs)),
                                     str(playbook), *extra], stdout=stdout, stderr=stderr,
                                    stdin=subprocess.DEVNULL, text=True, env=env)
            try:
                self._serve(proc, reboot_with, deadline=time.monotonic() + 1800)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out.read_text(), err.read_text())
        assert done.returncode in ok, done.stdout[-6000:] + done.stderr[-3000:]
        return done

    def _serve(self, proc, reboot_with, deadline):
        while True:
            try:
                proc.wait(timeout=1)
                return
            except subprocess.TimeoutExpired:
                pass
            assert time.monotonic() < deadline, "ansible-playbook still runs after 30 minutes"
            for request in sorted(self.results.glob("*.reboot")):
                name = request.stem
                assert reboot_with is not None, f"the play asked to reboot {name}"
                request.unlink()
                self.reboot({name: reboot_with(name)})
                self.reboots.append(name)
                written = self.results / f"{name}.tmp"
                written.write_text(str(self.vms[name].ssh_port))
                written.rename(self.results / f"{name}.port")

    def reboot(self, words: dict):
        """Boot the named guests again with the given kernel arguments, as a host reboots.

        The guests' root is copy-on-write in their RAM: what a host keeps on
        disk across a reboot (hostspec's tree, the marks, the boot
        configuration's sources, libvirt's definitions) is carried over, and
        what systemd-sysctl and hostspec-memory.service do at boot is done.
        """
        states = {name: self.vms[name].save(KEPT, self.work / f"{name}-state.tar") for name in words}
        for name in words:
            self.vms[name].stop()
        self.boot(words, appends=words)
        for name in words:
            vm = self.vms[name]
            vm.restore(states[name])
            if name == "hv-b":
                # libvirtd started before the definitions came back: it reads them now.
                vm.ssh(LIBVIRT)
            vm.ssh("sysctl -q -p /etc/sysctl.d/90-hostspec.conf && /usr/libexec/hostspec/apply-memory")

    def result(self, name, suffix=""):
        return json.loads((self.results / f"{name}{suffix}.json").read_text())

    def checksums(self, name) -> str:
        return self.vms[name].ssh(
            f"find {WATCHED} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum").stdout

    def definitions(self, name) -> dict:
        """{guest: (inode, mtime, sha256)} of the definitions libvirt keeps in /etc/libvirt/qemu."""
        rows = {}
        out = self.vms[name].ssh(f"cd {LIBVIRT_STATE} && for f in *.xml; do [ -e \"$f\" ] || continue; "
                                 "echo \"$f $(stat -c '%i %y' \"$f\") $(sha256sum <\"$f\")\"; done").stdout
        for line in out.splitlines():
            words = line.split()
            rows[words[0].removesuffix(".xml")] = (words[1], " ".join(words[2:5]), words[5])
        return rows

    def virsh(self, name, *argv) -> str:
        return self.vms[name].ssh(["virsh", "-q", "-c", "qemu:///system", *argv]).stdout

    def memory_kib(self, name, guest) -> int:
        """The <memory> of a guest's persistent definition, as libvirt reads it back."""
        domain = ElementTree.fromstring(self.virsh(name, "dumpxml", "--inactive", guest))
        memory = domain.find("memory")
        assert memory.get("unit") == "KiB"
        return int(memory.text)


SPEC_V1 = {"hv-a": SPECS / "hv-a.mem", "hv-b": SPECS / "hv-b.mem"}
# The same file names, as an operator edits them: a compiled file's header
# names its source, so a new name would change every artifact.
SPEC_V2 = {"hv-a": SPECS / "next" / "hv-a.mem", "hv-b": SPECS / "next" / "hv-b.mem"}


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    """The collection as ansible-galaxy builds and installs it."""
    out = tmp_path_factory.mktemp("galaxy")
    built = subprocess.run([tool("ansible-galaxy"), "collection", "build", str(COLLECTION),
                            "--output-path", str(out)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = out / "hostspec-fleet-0.1.0.tar.gz"
    assert tarball.is_file()
    path = out / "collections"
    installed = subprocess.run([tool("ansible-galaxy"), "collection", "install", str(tarball),
                                "-p", str(path)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (path / "ansible_collections/hostspec/fleet/roles/apply/tasks/main.yml").is_file()
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, collections):
    from vngharness import missing_tools
    missing = missing_tools()
    if missing:
        pytest.fail("virtme-ng guests need: " + ", ".join(missing))
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), collections)
    fleet.boot(GUESTS)
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def first_run(fleet):
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V1)
    return done, {name: fleet.result(name) for name in GUESTS}


@pytest.fixture(scope="module")
def defined_first(fleet, first_run):
    """hv-b's libvirt definitions after the first run."""
    return fleet.definitions("hv-b")


@pytest.fixture(scope="module")
def second_run(fleet, first_run, defined_first):
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V1)
    return done, {name: fleet.result(name) for name in GUESTS}


@pytest.fixture(scope="module")
def check_run(fleet, second_run):
    before = {name: fleet.checksums(name) for name in GUESTS}
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V2, "--check", "--diff")
    after = {name: fleet.checksums(name) for name in GUESTS}
    return done, before, after


def task_lines(stdout: str, task: str) -> list[str]:
    """The per-host lines (ok: [h], changed: [h], skipping: [h] ...) under one TASK header."""
    lines, inside = [], False
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            inside = line.startswith(f"TASK [{task}]")
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


APPLY_DOMAINS = "hostspec.fleet.apply : Run apply-domains"


def boot_line(vm) -> list[str]:
    """The kernel arguments the guest's boot configuration now holds.

    hv-a: the `linux` line of the first entry of the grub.cfg update-grub
    wrote; hv-b: the `options` line of the entry kernel-install wrote.
    Without root= and ro: virtme-ng boots its own kernel image from its own
    root.
    """
    if vm.name == "hv-a":
        text = vm.read("/boot/grub/grub.cfg")
        words = next(line.split() for line in text.splitlines() if line.split()[:1] == ["linux"])[2:]
    else:
        entries = vm.ssh("ls /boot/loader/entries/").stdout.split()
        assert len(entries) == 1, entries
        text = vm.read(f"/boot/loader/entries/{entries[0]}")
        words = next(line.split() for line in text.splitlines() if line.split()[:1] == ["options"])[1:]
    return [w for w in words if not w.startswith("root=") and w not in ("ro", "rw")]


@pytest.fixture(scope="module")
def rebooted(fleet, check_run):
    """Both guests booted again with the command line their boot configuration holds."""
    words = {name: boot_line(vm) for name, vm in fleet.vms.items()}
    fleet.reboot(words)
    fleet.play(FLEET / "playbooks/audit.yml", SPEC_V1)
    return words, {name: vm.cmdline for name, vm in fleet.vms.items()}, \
        {name: fleet.result(name, ".audit") for name in GUESTS}


@pytest.fixture(scope="module")
def defined_before_next(fleet, rebooted):
    """hv-b's libvirt definitions after the reboot, before the changed specs."""
    return fleet.definitions("hv-b")


@pytest.fixture(scope="module")
def next_run(fleet, rebooted, defined_before_next):
    """The changed specs applied for real, after the reboot."""
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V2)
    return done, {name: fleet.result(name) for name in GUESTS}


# -- 1. the first run ------------------------------------------------------------------

def test_runtime_state_is_the_spec_in_the_guests_sys_and_proc(fleet, first_run):
    a, b = fleet.vms["hv-a"], fleet.vms["hv-b"]
    node = "/sys/devices/system/node/node{}/hugepages/hugepages-2048kB/nr_hugepages"
    assert a.read(node.format(1)).strip() == "12"          # the runtime pool
    assert a.read("/proc/sys/vm/swappiness").strip() == "15"
    assert b.read("/sys/kernel/mm/transparent_hugepage/enabled").split().count("[madvise]") == 1
    assert b.read("/sys/kernel/mm/transparent_hugepage/defrag").split().count("[madvise]") == 1
    assert b.read("/sys/kernel/mm/ksm/run").strip() == "1"
    assert b.read("/sys/kernel/mm/ksm/pages_to_scan").strip() == "300"
    assert b.read("/sys/kernel/mm/ksm/sleep_millisecs").strip() == "40"
    assert b.read("/proc/sys/vm/swappiness").strip() == "25"
    assert b.read("/proc/sys/vm/overcommit_memory").strip() == "0"


def test_audit_reports_every_runtime_item_ok(first_run):
    _, results = first_run
    for name, result in results.items():
        rows = result["audit"]["rows"]
        assert rows, name
        runtime = [r for r in rows if r["file"] != "proc/cmdline"
                   and not (name == "hv-a" and r["item"] == "huge pages 2MiB node 0")]
        assert runtime and all(r["status"] == "ok" for r in runtime), (name, runtime)
    # Neither has rebooted: their arguments (and hv-a's boot pool) are not there yet.
    rows = {r["item"]: r["status"] for r in results["hv-a"]["audit"]["rows"]}
    assert rows["kernel argument hugepagesz=2M"] == "drift"
    assert rows["huge pages 2MiB node 0"] == "drift"
    rows = {r["item"]: r["status"] for r in results["hv-b"]["audit"]["rows"]}
    assert rows["kernel argument transparent_hugepage"] == "drift"


def test_every_guest_with_new_boot_arguments_waits_for_a_reboot(first_run):
    done, results = first_run
    assert results["hv-a"]["reboot_required"] is True      # boot pool on node 0
    assert results["hv-b"]["reboot_required"] is True      # transparent_hugepage=madvise
    assert "hv-a: reboot required (boot arguments changed)" in done.stdout
    assert "CUSTOM STATS" in done.stdout


def test_update_grub_put_the_arguments_on_the_guests_boot_disk(fleet, first_run):
    ours = fleet.vms["hv-a"].read("/etc/hostspec/kernel-cmdline").split()
    grub_cfg = fleet.vms["hv-a"].read("/boot/grub/grub.cfg")
    linux = [line.split() for line in grub_cfg.splitlines() if line.split()[:1] == ["linux"]]
    assert linux
    for words in linux:
        start = words.index(ours[0])
        assert words[start:start + len(ours)] == ours


def test_apply_boot_and_kernel_install_rewrote_the_entry(fleet, first_run):
    b = fleet.vms["hv-b"]
    ours = b.read("/etc/hostspec/kernel-cmdline").split()
    assert ours == ["transparent_hugepage=madvise"]
    assert b.read("/etc/kernel/cmdline").split() == ["ro", "quiet", *ours]
    assert boot_line(b) == ["quiet", *ours]
    assert b.read("/var/lib/hostspec/boot-args").split() == ["args", *ours]


def test_files_land_with_the_manifests_modes(fleet, first_run):
    a = fleet.vms["hv-a"]
    manifest = json.loads(a.read("/usr/share/hostspec/hostspec-manifest.json"))
    for artifact in manifest["artifacts"]:
        mode = a.ssh(["stat", "-c", "%a %U:%G", "/" + artifact["path"]]).stdout.split()
        assert mode == [artifact["mode"].lstrip("0"), "root:root"], artifact["path"]


def test_the_first_run_defines_both_guests_in_the_guests_own_libvirtd(fleet, first_run, defined_first):
    done, _ = first_run
    assert "changed: [hv-b]" in task_lines(done.stdout, APPLY_DOMAINS)
    # A new virsh, a new connection: libvirtd has them, and keeps them on disk.
    assert sorted(fleet.virsh("hv-b", "list", "--all", "--name").split()) == ["db", "web"]
    assert sorted(defined_first) == ["db", "web"]
    assert fleet.memory_kib("hv-b", "web") == 128 * 1024
    assert fleet.memory_kib("hv-b", "db") == 128 * 1024
    recorded = dict(line.split() for line in fleet.vms["hv-b"].read("/var/lib/hostspec/domains").splitlines())
    assert sorted(recorded) == ["db", "web"]
    # hv-a has no guests: no apply-domains, no libvirt step.
    assert fleet.vms["hv-a"].ssh("test -e /usr/libexec/hostspec/apply-domains", check=False).returncode == 1


def test_second_run_changes_nothing(second_run):
    done, results = second_run
    rows = recap(done.stdout)
    assert set(rows) == set(GUESTS)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in rows.values()), rows
    # still waiting: the guests have not rebooted
    assert results["hv-a"]["reboot_required"] is True
    assert results["hv-b"]["reboot_required"] is True


def test_the_second_run_defines_no_guest(fleet, second_run, defined_first):
    done, _ = second_run
    assert not any(line.startswith("changed:") for line in task_lines(done.stdout, APPLY_DOMAINS))
    assert fleet.definitions("hv-b") == defined_first   # same inodes, mtimes and bytes


# -- 3. --check --diff -------------------------------------------------------------------

def test_check_diff_prints_the_plan_and_writes_nothing(check_run):
    done, before, after = check_run
    assert before == after
    out = done.stdout
    assert "-vm.swappiness = 15" in out and "+vm.swappiness = 35" in out   # hv-a's diff
    assert "hugepages=0:20" in out                                      # its new boot pool
    assert "Most disruptive step (boot)" in out                         # hv-a's plan
    assert "`KSM pages_to_scan` 300 -> 500" in out                      # hv-b's plan
    assert "guest `db`: `memory` 128MiB -> 192MiB" in out
    assert "guest `web`" not in out                                     # its domain is the same
    assert "Most disruptive step (guest-restart)" in out


# -- 2. the reboot, in effect ---------------------------------------------------------------

def test_reboot_with_the_boot_line_puts_the_arguments_on_proc_cmdline_once(fleet, rebooted):
    words, cmdlines, _ = rebooted
    for name, vm in fleet.vms.items():
        ours = vm.read("/etc/hostspec/kernel-cmdline").split()
        assert ours and all(w in words[name] for w in ours), (name, words[name])
        on_line = cmdlines[name].split()
        for word in ours:
            assert on_line.count(word) == 1, (name, word, cmdlines[name])
    node0 = fleet.vms["hv-a"].read("/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")
    assert node0.strip() == "16"            # the boot pool, reserved by the kernel
    thp = fleet.vms["hv-b"].read("/sys/kernel/mm/transparent_hugepage/enabled")
    assert "[madvise]" in thp


def test_audit_after_the_reboot_is_all_ok(rebooted):
    _, _, audits = rebooted
    for name, audit in audits.items():
        assert audit["result"] == "match", (name, audit["rows"])
        assert all(r["status"] == "ok" for r in audit["rows"])


def test_libvirt_keeps_its_definitions_across_the_reboot(fleet, rebooted, defined_first, defined_before_next):
    assert sorted(fleet.virsh("hv-b", "list", "--all", "--name").split()) == ["db", "web"]
    # The same definitions, byte for byte (the files themselves are new: restored).
    assert {k: v[2] for k, v in defined_before_next.items()} == {k: v[2] for k, v in defined_first.items()}
    assert fleet.memory_kib("hv-b", "db") == 128 * 1024


def test_the_next_run_redefines_exactly_the_changed_guest(fleet, next_run, defined_before_next):
    done, _ = next_run
    assert "changed: [hv-b]" in task_lines(done.stdout, APPLY_DOMAINS)
    assert recap(done.stdout)["hv-b"]["changed"] > 0
    after = fleet.definitions("hv-b")
    assert sorted(after) == ["db", "web"]
    assert after["web"] == defined_before_next["web"]   # untouched: same inode, mtime, bytes
    assert after["db"][2] != defined_before_next["db"][2]
    assert fleet.memory_kib("hv-b", "db") == 192 * 1024
    assert fleet.memory_kib("hv-b", "web") == 128 * 1024
    # Run again, apply-domains finds nothing to define.
    again = fleet.vms["hv-b"].ssh("/usr/libexec/hostspec/apply-domains")
    assert again.stdout == ""
    assert fleet.definitions("hv-b") == after


def test_reboot_required_exactly_where_a_boot_argument_changed(fleet, next_run):
    done, results = next_run
    # hv-a's boot pool changed; hv-b's change is KSM only, at runtime.
    assert results["hv-a"]["reboot_required"] is True
    assert results["hv-b"]["reboot_required"] is False
    assert "hv-a: reboot required (boot arguments changed)" in done.stdout
    assert "hv-b: nothing waits" in done.stdout
    stats = done.stdout[done.stdout.index("CUSTOM STATS"):]
    assert "hv-a" in stats and "hv-b" not in stats
    assert fleet.vms["hv-b"].read("/sys/kernel/mm/ksm/pages_to_scan").strip() == "500"
    assert fleet.vms["hv-a"].read("/proc/sys/vm/swappiness").strip() == "35"
    assert fleet.vms["hv-a"].read(
        "/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages").strip() == "10"


def test_rolling_reboot_leaves_a_host_that_does_not_wait_alone(fleet, next_run):
    done = fleet.play("hostspec.fleet.rolling_reboot", SPEC_V2, "-e", "hostspec_hosts=hv-b")
    rows = recap(done.stdout)
    assert set(rows) == {"hv-b"}
    assert rows["hv-b"]["changed"] == 0 and rows["hv-b"]["failed"] == 0, rows
    assert "TASK [Reboot]" not in done.stdout


# -- the rolling reboot, for real ----------------------------------------------------------
#
# A later spec changes hv-b's boot arguments too, so both hosts wait.  The
# rollout reboots one host at a time through the playbook's hooks
# (playbooks/*_reboot.yml, reboot_by_test.yml: the test boots the guest again
# with the kernel arguments it is told and the play follows it to its new port).

SPEC_V3 = {"hv-a": SPECS / "next" / "hv-a.mem", "hv-b": SPECS / "later" / "hv-b.mem"}
HOOKS = ["-e", "hostspec_batch=1",
         "-e", f"hostspec_before_reboot={FLEET / 'playbooks/before_reboot.yml'}",
         "-e", f"hostspec_after_reboot={FLEET / 'playbooks/after_reboot.yml'}",
         "-e", f"hostspec_reboot_tasks={FLEET / 'playbooks/reboot_by_test.yml'}"]


def boot_id(vm) -> str:
    return vm.read("/proc/sys/kernel/random/boot_id").strip()


def hooks_log(fleet) -> list[str]:
    log = fleet.results / "hooks.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def later_run(fleet, next_run):
    """hv-b's THP mode changes too: both hosts now wait for a reboot."""
    done = fleet.play(FLEET / "playbooks/apply.yml", SPEC_V3)
    return done, {name: fleet.result(name) for name in GUESTS}


@pytest.fixture(scope="module")
def drifted_rollout(fleet, rebooted, later_run):
    """hv-a comes back from its reboot on the boot line it had before (a stale entry)."""
    stale, _, _ = rebooted
    ids = {name: boot_id(vm) for name, vm in fleet.vms.items()}
    fleet.reboots.clear()
    done = fleet.play("hostspec.fleet.rolling_reboot", SPEC_V3, *HOOKS, ok=(2,),
                      reboot_with=lambda name: stale[name])
    return done, ids, list(fleet.reboots), hooks_log(fleet)


@pytest.fixture(scope="module")
def rollout(fleet, drifted_rollout):
    """The rollout again; a guest the hook reboots boots what its boot configuration holds."""
    ids = {name: boot_id(vm) for name, vm in fleet.vms.items()}
    fleet.reboots.clear()
    lines = {}

    def reboot_with(name):
        lines[name] = boot_line(fleet.vms[name])
        return lines[name]

    done = fleet.play("hostspec.fleet.rolling_reboot", SPEC_V3, *HOOKS, reboot_with=reboot_with)
    return done, ids, list(fleet.reboots), hooks_log(fleet), lines


def test_both_hosts_wait_after_the_later_spec(later_run):
    done, results = later_run
    assert results["hv-a"]["reboot_required"] is True   # not rebooted since the last change
    assert results["hv-b"]["reboot_required"] is True   # transparent_hugepage=never
    assert "hv-b: reboot required (boot arguments changed)" in done.stdout


def test_a_host_that_comes_back_drifted_stops_the_rollout(fleet, drifted_rollout):
    done, before, reboots, hooks = drifted_rollout
    a, b = fleet.vms["hv-a"], fleet.vms["hv-b"]
    # hv-a, the first batch, rebooted for real through the hook, after the before-hook ...
    assert reboots == ["hv-a"]
    assert boot_id(a) != before["hv-a"]
    assert "hugepages=0:16" in a.cmdline.split()                 # the stale line
    # ... and its audit failed on what the stale line left out
    audit = done.stdout[done.stdout.index("TASK [Audit the host against its spec]"):]
    assert "fatal: [hv-a]" in audit
    assert "hv-a has drifted from its spec" in audit
    assert "huge pages 2MiB node 0" in audit                     # 16 reserved, 20 wanted
    assert recap(done.stdout)["hv-a"]["failed"] == 1
    # The rollout stopped there: no after-hook for hv-a, hv-b never touched.
    assert hooks == ["before hv-a"]
    assert boot_id(b) == before["hv-b"]
    assert recap(done.stdout).get("hv-b", {}).get("changed", 0) == 0


def test_the_rollout_reboots_the_waiting_host_and_audits_it_ok(fleet, rollout):
    done, before, reboots, hooks, lines = rollout
    a, b = fleet.vms["hv-a"], fleet.vms["hv-b"]
    # hv-a booted since its mark was made: it no longer waits and is left alone.
    assert boot_id(a) == before["hv-a"]
    assert reboots == ["hv-b"]
    assert boot_id(b) != before["hv-b"]
    assert hooks == ["before hv-b", "after hv-b"]
    # hv-b came back with the arguments its entry holds, each once, and audits ok.
    assert "transparent_hugepage=never" in lines["hv-b"]
    assert b.cmdline.split().count("transparent_hugepage=never") == 1
    assert "transparent_hugepage=madvise" not in b.cmdline.split()
    assert "[never]" in b.read("/sys/kernel/mm/transparent_hugepage/enabled")
    rows = recap(done.stdout)
    assert rows["hv-b"]["failed"] == 0 and rows["hv-a"]["failed"] == 0, rows
    assert "ok: [hv-b]" in task_lines(done.stdout, "Audit the host against its spec")
    # libvirt's definitions came through this reboot too.
    assert sorted(fleet.virsh("hv-b", "list", "--all", "--name").split()) == ["db", "web"]


# -- 5. systemd as PID 1: the role's unit branch ---------------------------------------------
#
# hv-c boots with systemd as init (vng --systemd; the harness adds the kernel
# arguments that needs, tests/vng/README.md).

SYSTEMD_HOST = {"hv-c": dict(memory="1G", systemd=True, boot_timeout=600.0)}
SPEC_SYSTEMD = {"hv-c": SPECS / "systemd" / "hv-c.mem"}


@pytest.fixture(scope="module")
def systemd_fleet(tmp_path_factory, collections):
    fleet = Fleet(tmp_path_factory.mktemp("fleet-systemd"), collections,
                  guests=SYSTEMD_HOST, setup={"hv-c": "true"})
    try:
        fleet.boot(SYSTEMD_HOST)
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def systemd_run(systemd_fleet):
    done = systemd_fleet.play(FLEET / "playbooks/apply.yml", SPEC_SYSTEMD)
    return done, systemd_fleet.result("hv-c")


def test_where_systemd_is_pid_1_the_role_drives_the_unit(systemd_fleet, systemd_run):
    done, result = systemd_run
    c = systemd_fleet.vms["hv-c"]
    assert c.read("/proc/1/comm").strip() == "systemd"
    assert "changed: [hv-c]" in task_lines(done.stdout, "hostspec.fleet.apply : Restart hostspec-memory.service")
    assert "skipping: [hv-c]" in task_lines(done.stdout, "hostspec.fleet.apply : Run apply-memory")
    # Enabled (so it runs at every boot) and run: systemd itself says so.
    state = c.ssh("systemctl is-enabled hostspec-memory.service; "
                  "systemctl show -p ActiveState -p Result -p ExecMainStatus hostspec-memory.service").stdout.split()
    assert state[0] == "enabled" and sorted(state[1:]) == [
        "ActiveState=active", "ExecMainStatus=0", "Result=success"], state
    wants = c.ssh("readlink /etc/systemd/system/multi-user.target.wants/hostspec-memory.service").stdout.strip()
    assert wants == "/etc/systemd/system/hostspec-memory.service"
    # What the unit ran left the runtime state the spec says, in the real /sys and /proc.
    assert c.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").strip() == "8"
    assert "[madvise]" in c.read("/sys/kernel/mm/transparent_hugepage/enabled")
    assert "[defer]" in c.read("/sys/kernel/mm/transparent_hugepage/defrag")
    assert c.read("/sys/kernel/mm/ksm/run").strip() == "1"
    assert c.read("/sys/kernel/mm/ksm/pages_to_scan").strip() == "200"
    assert c.read("/sys/kernel/mm/ksm/sleep_millisecs").strip() == "50"
    assert c.read("/proc/sys/vm/swappiness").strip() == "20"
    rows = [r for r in result["audit"]["rows"] if r["file"] != "proc/cmdline"]
    assert rows and all(r["status"] == "ok" for r in rows), rows


def test_the_unit_sets_the_state_again_when_systemd_starts_it(systemd_fleet, systemd_run):
    """The state a fresh kernel starts with, then systemd runs the unit, as at boot."""
    c = systemd_fleet.vms["hv-c"]
    c.ssh("echo 0 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; "
          "echo 0 > /sys/kernel/mm/ksm/run; echo always > /sys/kernel/mm/transparent_hugepage/enabled")
    c.ssh("systemctl restart hostspec-memory.service")
    assert c.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").strip() == "8"
    assert c.read("/sys/kernel/mm/ksm/run").strip() == "1"
    assert "[madvise]" in c.read("/sys/kernel/mm/transparent_hugepage/enabled")
